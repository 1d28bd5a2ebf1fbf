"""The engine: executes a compiled plan, forward and backward, on CPU or CUDA."""

from .backends import BACKENDS, DTYPES, make_runtime
from .function import DAGBackward, DAGFunction, run_network
from .runtime import CombineGroup, Group, Runtime

__all__ = [
    "run_network",
    "DAGFunction",
    "DAGBackward",
    "Runtime",
    "Group",
    "CombineGroup",
    "BACKENDS",
    "DTYPES",
    "make_runtime",
]
