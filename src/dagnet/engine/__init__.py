"""The engine: executes a compiled plan, forward and backward, on CPU or CUDA."""

from .function import DAGFunction
from .runtime import BACKENDS, DTYPES, CombineGroup, Group, Runtime

__all__ = ["DAGFunction", "Runtime", "Group", "CombineGroup", "BACKENDS", "DTYPES"]
