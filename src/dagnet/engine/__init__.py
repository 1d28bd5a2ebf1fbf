"""The engine: executes a compiled plan, forward and backward, on CPU or CUDA."""

from .backends import BACKENDS, DTYPES, make_runtime
from .function import DAGFunction
from .runtime import CombineGroup, Group, Runtime

__all__ = ["DAGFunction", "Runtime", "Group", "CombineGroup", "BACKENDS", "DTYPES", "make_runtime"]
