"""dagnet: neural networks wired by any directed acyclic graph, down to single neurons.

Examples
--------
>>> import networkx as nx, torch, dagnet
>>> net = dagnet.DAGNetwork(nx.DiGraph([("x", "h"), ("h", "y"), ("x", "y")]), seed=0)
>>> net(torch.zeros(2, 1)).shape
torch.Size([2, 1])
"""

from . import data, errors, layering, topology, train
from .errors import (
    CheckpointMismatchError,
    CycleError,
    DagnetError,
    DeadNodeWarning,
    DivergenceError,
    EmptyGraphError,
    FileFormatError,
    InputHasPredecessorsError,
    InputShapeError,
    NodeNotFoundError,
    NonFiniteValueError,
    ReplicaMismatchError,
    SelfLoopError,
    SizeError,
)
from .nn import DAGNetwork, SparseLinear, sparsify
from .serialization import load, save
from .wiring import Wiring

__version__ = "0.1.0"

__all__ = [
    "sparsify",
    "DAGNetwork",
    "SparseLinear",
    "Wiring",
    "save",
    "load",
    "data",
    "errors",
    "layering",
    "topology",
    "train",
    "DagnetError",
    "CycleError",
    "SelfLoopError",
    "EmptyGraphError",
    "NodeNotFoundError",
    "InputHasPredecessorsError",
    "InputShapeError",
    "NonFiniteValueError",
    "FileFormatError",
    "SizeError",
    "CheckpointMismatchError",
    "DivergenceError",
    "ReplicaMismatchError",
    "DeadNodeWarning",
]
