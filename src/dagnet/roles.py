"""The roles of a network's nodes: inputs and outputs resolved from labels, and the nodes that cannot matter.

Inputs and outputs are checked for the errors that make a network untrainable
(unknown or repeated labels, inputs with predecessors); reachability finds the
nodes no input reaches and those that reach no output.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Sequence

import numba
import numpy as np

from .csr import group_by
from .errors import (
    DeadNodeWarning,
    DuplicateNodeError,
    EmptyGraphError,
    GraphError,
    InputHasPredecessorsError,
    NodeNotFoundError,
)
from .wiring import Wiring

__all__ = ["resolve_roles", "reachability", "dead_nodes"]


def _indices(wiring: Wiring, labels: Sequence[Hashable], role: str) -> np.ndarray:
    if isinstance(labels, (str, bytes)) or not hasattr(labels, "__iter__"):
        raise GraphError(f"'{role}' must be a list of node labels, got {labels!r}.")
    labels = list(labels)
    if wiring.labels is None:
        index = None
        out = np.empty(len(labels), dtype=np.int64)
        for k, lab in enumerate(labels):
            if (
                isinstance(lab, (bool, np.bool_))
                or not isinstance(lab, (int, np.integer))
                or not 0 <= lab < wiring.num_nodes
            ):
                raise NodeNotFoundError(
                    f"{role[:-1].capitalize()} node {lab!r} is not in the graph (nodes are 0..{wiring.num_nodes - 1})."
                )
            out[k] = lab
    else:
        index = wiring.index()
        missing = [lab for lab in labels if lab not in index]
        if missing:
            raise NodeNotFoundError(
                f"{role[:-1].capitalize()} node{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(repr, missing[:5]))} not in the graph."
            )
        out = np.array([index[lab] for lab in labels], dtype=np.int64)
    if np.unique(out).size != out.size:
        seen: set = set()
        dup = next(lab for lab in labels if lab in seen or seen.add(lab))
        raise DuplicateNodeError(f"Node {dup!r} appears twice in '{role}'; each may appear once.")
    return out


def resolve_roles(
    wiring: Wiring, inputs: Sequence[Hashable] | None, outputs: Sequence[Hashable] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Return the node indices of the inputs and of the outputs, in column order.

    Defaults: inputs are the nodes with no predecessor, outputs the nodes with no
    successor, each in node order.

    Raises
    ------
    EmptyGraphError
        If the graph has no node, or there is no input or no output.
    NodeNotFoundError, DuplicateNodeError
        For a label not in the graph, or given twice.
    InputHasPredecessorsError
        If an input has incoming edges (names the input and a predecessor).

    Examples
    --------
    >>> resolve_roles(Wiring(3, [0, 1], [2, 2]), None, None)
    (array([0, 1]), array([2]))
    """
    n = wiring.num_nodes
    if n == 0:
        raise EmptyGraphError("The graph is empty; a network needs at least one node.")
    in_deg = wiring.in_degree()
    if inputs is None:
        inp = np.flatnonzero(in_deg == 0)
    else:
        inp = _indices(wiring, inputs, "inputs")
        bad = inp[in_deg[inp] > 0]
        if bad.size:
            v = int(bad[0])
            u = int(wiring.source[np.flatnonzero(wiring.target == v)[0]])
            raise InputHasPredecessorsError(
                f"Input node {wiring.label(v)!r} has incoming edges (e.g. from "
                f"{wiring.label(u)!r}); an input must have no predecessor."
            )
    if outputs is None:
        out = np.flatnonzero(wiring.out_degree() == 0)
    else:
        out = _indices(wiring, outputs, "outputs")
    if inp.size == 0:
        raise EmptyGraphError("The network has no input node; pass inputs=[...] or add a source node.")
    if out.size == 0:
        raise EmptyGraphError("The network has no output node; pass outputs=[...] or add a sink node.")
    return inp, out


@numba.njit(cache=True)
def _propagate(order, ptr, nbr, mark):  # pragma: no cover - compiled
    for i in range(order.size):
        u = order[i]
        if mark[u]:
            for k in range(ptr[u], ptr[u + 1]):
                mark[nbr[k]] = True
    return mark


def reachability(wiring: Wiring, order: np.ndarray, inputs: np.ndarray, outputs: np.ndarray):
    """Return two boolean masks: nodes reached from an input, nodes that reach an output.

    ``order`` is a topological order of the wiring. Linear time.
    """
    n = wiring.num_nodes
    out_ptr, operm = group_by(wiring.source, n)
    fwd = np.zeros(n, dtype=np.bool_)
    fwd[inputs] = True
    fwd = _propagate(order, out_ptr, wiring.target[operm], fwd)
    in_ptr, iperm = group_by(wiring.target, n)
    bwd = np.zeros(n, dtype=np.bool_)
    bwd[outputs] = True
    bwd = _propagate(order[::-1].copy(), in_ptr, wiring.source[iperm], bwd)
    return fwd, bwd


def dead_nodes(
    wiring: Wiring, order: np.ndarray, inputs: np.ndarray, outputs: np.ndarray, warn: bool = True
) -> np.ndarray:
    """Return the indices of nodes that cannot matter, warning about them if ``warn``.

    These are non-input nodes that no input reaches (constants) and non-output
    nodes from which no output can be reached (dead weight).
    """
    fwd, bwd = reachability(wiring, order, inputs, outputs)
    is_in = np.zeros(wiring.num_nodes, dtype=bool)
    is_in[inputs] = True
    is_out = np.zeros(wiring.num_nodes, dtype=bool)
    is_out[outputs] = True
    unreached = np.flatnonzero(~fwd & ~is_in)
    useless = np.flatnonzero(~bwd & ~is_out)
    if warn:
        for nodes, what in ((unreached, "no input reaches"), (useless, "reach no output")):
            if nodes.size:
                names = ", ".join(repr(wiring.label(i)) for i in nodes[:5])
                more = f" and {nodes.size - 5} more" if nodes.size > 5 else ""
                warnings.warn(
                    f"{nodes.size} node{'s' if nodes.size > 1 else ''} {what}: {names}{more}. "
                    "They are kept; pass prune_dead=True to remove them.",
                    DeadNodeWarning,
                    stacklevel=4,
                )
    dead = np.union1d(unreached, useless)
    return dead[~is_in[dead] & ~is_out[dead]]
