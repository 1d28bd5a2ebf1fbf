"""Exceptions and warnings raised by dagnet.

Every error is a subclass of :class:`DagnetError`; errors about bad input are
also subclasses of :class:`ValueError`, so ``except ValueError`` keeps working.
Messages name the offending nodes, edges or shapes and say how to fix them.
"""

from __future__ import annotations

__all__ = [
    "DagnetError",
    "GraphError",
    "CycleError",
    "SelfLoopError",
    "EmptyGraphError",
    "NodeNotFoundError",
    "InputHasPredecessorsError",
    "DuplicateNodeError",
    "NonFiniteValueError",
    "InputShapeError",
    "DeadNodeWarning",
    "FileFormatError",
    "SizeError",
    "CheckpointMismatchError",
    "DivergenceError",
    "ReplicaMismatchError",
]


class DagnetError(Exception):
    """Base class of every exception raised by dagnet."""


class GraphError(DagnetError, ValueError):
    """The graph (or array wiring) cannot be turned into a network."""


class CycleError(GraphError):
    """The graph has a directed cycle; ``cycle`` holds its nodes in order."""

    def __init__(self, message: str, cycle: list | None = None):
        super().__init__(message)
        self.cycle = cycle


class SelfLoopError(CycleError):
    """An edge goes from a node to itself; ``nodes`` lists those nodes."""

    def __init__(self, message: str, nodes: list | None = None):
        super().__init__(message, cycle=None if not nodes else [nodes[0]])
        self.nodes = nodes


class EmptyGraphError(GraphError):
    """The graph has no nodes, or no input or no output node."""


class NodeNotFoundError(GraphError, KeyError):
    """A node label given by the user is not in the graph."""

    def __str__(self) -> str:  # KeyError would print the repr of the message
        return str(self.args[0])


class InputHasPredecessorsError(GraphError):
    """A node chosen as input has incoming edges."""


class DuplicateNodeError(GraphError):
    """A node label appears twice where each must appear once."""


class NonFiniteValueError(GraphError):
    """An initial weight or bias is NaN or infinite."""


class InputShapeError(DagnetError, ValueError):
    """A batch passed to a network has the wrong shape."""


class DeadNodeWarning(UserWarning):
    """Some nodes are unreachable from the inputs or cannot reach an output."""


class FileFormatError(DagnetError, ValueError):
    """A file cannot be loaded: empty, truncated, corrupt, foreign or inconsistent.

    ``path`` is the file (``None`` for data that did not come from a file).
    Nothing is constructed from a file that raises it.
    """

    def __init__(self, message: str, path=None):
        super().__init__(message)
        self.path = path


class SizeError(DagnetError, ValueError):
    """A requested graph or layer would not fit in memory; the message gives the edges and bytes."""


class CheckpointMismatchError(DagnetError, ValueError):
    """A training checkpoint was written for another model, optimizer or set of rules."""


class DivergenceError(DagnetError, FloatingPointError):
    """Training produced a NaN or infinite loss or parameter; the message names the epoch."""


class ReplicaMismatchError(DagnetError, RuntimeError):
    """The ranks of a data-parallel run hold different wirings (or weights) where they must be identical.

    ``ranks`` lists the ranks that differ from rank 0, ``module`` names the
    first module where they do (None: the weights, not the wiring).
    """

    def __init__(self, message: str, ranks: list | None = None, module: str | None = None):
        super().__init__(message)
        self.ranks = ranks
        self.module = module
