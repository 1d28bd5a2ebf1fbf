"""Layerings: give every node of a DAG a level so that every edge goes up.

All nodes of one level can then be computed in parallel from earlier levels.
Three rules:

* :func:`asap` — as soon as possible: the longest path from the sources.
* :func:`alap` — as late as possible: the depth minus the longest path to the
  sinks, sources pinned to level 0 (4Ward's choice).
* :func:`bounded_width` — at most ``max_width`` nodes per level (above level 0),
  for memory control, by greedy list scheduling along the critical path.

Each is linear (``bounded_width``: n log n) in nodes + edges, compiled, and
works on a ``networkx.DiGraph`` (returns ``{node: level}``) or on a
:class:`dagnet.Wiring` (returns an int64 array).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

import networkx as nx
import numba
import numpy as np

from .csr import group_by
from .errors import CycleError, NodeNotFoundError, SelfLoopError
from .wiring import Wiring

__all__ = ["asap", "alap", "bounded_width", "topological_levels", "find_cycle"]


# --------------------------------------------------------------------------- kernels
@numba.njit(cache=True)
def _kahn(n, out_ptr, out_nbr, in_deg, level):  # pragma: no cover - compiled
    """Kahn's algorithm; ``level`` holds each node's minimum level and is raised
    in place to the longest-path level. Returns the topological order found
    (shorter than n when there is a cycle)."""
    deg = in_deg.copy()
    order = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    for v in range(n):
        if deg[v] == 0:
            order[tail] = v
            tail += 1
    while head < tail:
        u = order[head]
        head += 1
        lu = level[u] + 1
        for k in range(out_ptr[u], out_ptr[u + 1]):
            v = out_nbr[k]
            if level[v] < lu:
                level[v] = lu
            deg[v] -= 1
            if deg[v] == 0:
                order[tail] = v
                tail += 1
    return order[:tail]


@numba.njit(cache=True)
def _heights(order, out_ptr, out_nbr, n):  # pragma: no cover - compiled
    """Longest path from each node to a sink, over a topological order."""
    h = np.zeros(n, dtype=np.int64)
    for i in range(order.size - 1, -1, -1):
        u = order[i]
        best = 0
        for k in range(out_ptr[u], out_ptr[u + 1]):
            hv = h[out_nbr[k]] + 1
            if hv > best:
                best = hv
        h[u] = best
    return h


@numba.njit(cache=True)
def _find(parent, x):  # pragma: no cover - compiled
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@numba.njit(cache=True)
def _bounded(order, in_ptr, in_nbr, pinned, max_width, n):  # pragma: no cover - compiled
    level = np.zeros(n, dtype=np.int64)
    count = np.zeros(n + 2, dtype=np.int64)
    parent = np.arange(n + 2)  # parent[l] == l while level l has room
    for i in range(order.size):
        v = order[i]
        if pinned[v]:
            level[v] = 0
            continue
        lo = 1
        for k in range(in_ptr[v], in_ptr[v + 1]):
            lu = level[in_nbr[k]] + 1
            if lu > lo:
                lo = lu
        lv = _find(parent, lo)
        level[v] = lv
        count[lv] += 1
        if count[lv] >= max_width:
            parent[lv] = lv + 1
    return level


# --------------------------------------------------------------------------- arrays
def topological_levels(
    num_nodes: int, source: np.ndarray, target: np.ndarray, pinned: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(order, level)``: a topological order and the ASAP level of every node.

    Nodes in ``pinned`` (a boolean mask; default: every source) start at level 0,
    all other nodes at level 1 or above, so a source that is not pinned lands on
    level 1. Raises :class:`CycleError` (naming a cycle) if there is one.

    Examples
    --------
    >>> order, level = topological_levels(3, np.array([0, 1]), np.array([1, 2]))
    >>> order.tolist(), level.tolist()
    ([0, 1, 2], [0, 1, 2])
    """
    n = int(num_nodes)
    source = np.asarray(source, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    loops = source == target
    if loops.any():
        raise SelfLoopError(
            f"Self-loop on node {int(source[loops][0])}; a DAG has no edge from a node to itself.",
            nodes=np.unique(source[loops]).tolist(),
        )
    in_deg = np.bincount(target, minlength=n).astype(np.int64)
    if pinned is None:
        pinned = in_deg == 0
    level = np.where(pinned, 0, 1).astype(np.int64)
    out_ptr, perm = group_by(source, n)
    order = _kahn(n, out_ptr, target[perm], in_deg, level)
    if order.size < n:
        cycle = find_cycle(n, source, target, order)
        raise CycleError(f"The graph has a cycle: {' -> '.join(map(str, cycle + cycle[:1]))}.", cycle)
    return order, level


def find_cycle(n: int, source: np.ndarray, target: np.ndarray, order: np.ndarray) -> list[int]:
    """Return one directed cycle, as a list of node indices, among the nodes that
    are not in the (incomplete) topological ``order`` of Kahn's algorithm."""
    done = np.zeros(n, dtype=bool)
    done[order] = True
    # Every node left over has a predecessor that is left over too: walk back.
    keep = ~done[source]
    src, dst = source[keep], target[keep]
    ptr, perm = group_by(dst, n)
    pred = src[perm]
    start = int(np.flatnonzero(~done)[0])
    seen: dict[int, int] = {}
    path: list[int] = []
    v = start
    while v not in seen:
        seen[v] = len(path)
        path.append(v)
        v = int(pred[ptr[v]])
    cycle = path[seen[v] :]
    cycle.reverse()  # walked backwards along edges
    return cycle


def _arrays(graph: nx.DiGraph | Wiring, sources: Iterable[Hashable] | None):
    wiring = graph if isinstance(graph, Wiring) else Wiring.from_graph(graph)
    pinned = None
    if sources is not None:
        index = wiring.index()
        pinned = np.zeros(wiring.num_nodes, dtype=bool)
        for s in sources:
            if s not in index:
                raise NodeNotFoundError(f"Source node {s!r} is not in the graph.")
            pinned[index[s]] = True
    return wiring, pinned


def _named(graph, wiring: Wiring, level: np.ndarray):
    if isinstance(graph, Wiring):
        return level
    return dict(zip(wiring.node_labels(), level.tolist()))


def _relabel_cycle(err: CycleError, wiring: Wiring) -> CycleError:
    if isinstance(err, SelfLoopError):
        nodes = [wiring.label(i) for i in err.nodes]
        return SelfLoopError(
            f"Self-loop on node {nodes[0]!r}; a DAG has no edge from a node to itself"
            + (f" (also on {nodes[1:]!r})." if len(nodes) > 1 else "."),
            nodes=nodes,
        )
    cycle = [wiring.label(i) for i in err.cycle]
    return CycleError(
        "The graph has a cycle: "
        + " -> ".join(repr(c) for c in cycle + cycle[:1])
        + ". A network needs a DAG; dagnet.topology.feedforward_cut removes a small set of edges.",
        cycle,
    )


def _levels(wiring: Wiring, pinned: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    try:
        return topological_levels(wiring.num_nodes, wiring.source, wiring.target, pinned)
    except CycleError as err:
        raise _relabel_cycle(err, wiring) from None


def alap_levels(wiring: Wiring, pinned: np.ndarray | None, order=None, level=None) -> np.ndarray:
    """Array form of :func:`alap`."""
    if order is None:
        order, level = _levels(wiring, pinned)
    n = wiring.num_nodes
    if n == 0:
        return level
    out_ptr, perm = group_by(wiring.source, n)
    height = _heights(order, out_ptr, wiring.target[perm], n)
    depth = int(level.max())
    late = depth - height
    if pinned is None:
        pinned = np.bincount(wiring.target, minlength=n) == 0
    late[pinned] = 0
    return late


def bounded_levels(wiring: Wiring, pinned: np.ndarray | None, max_width: int, order=None, level=None) -> np.ndarray:
    """Array form of :func:`bounded_width`."""
    if isinstance(max_width, bool) or not isinstance(max_width, (int, np.integer)) or max_width < 1:
        raise ValueError(f"The 'max_width' parameter must be an int >= 1. Got {max_width!r} instead.")
    if order is None:
        order, level = _levels(wiring, pinned)
    n = wiring.num_nodes
    if pinned is None:
        pinned = np.bincount(wiring.target, minlength=n) == 0
    out_ptr, perm = group_by(wiring.source, n)
    height = _heights(order, out_ptr, wiring.target[perm], n)
    # Level by level, the most critical nodes (longest way to go) first.
    priority = np.lexsort((-height, level))
    in_ptr, iperm = group_by(wiring.target, n)
    return _bounded(priority, in_ptr, wiring.source[iperm], pinned, int(max_width), n)


# --------------------------------------------------------------------------- public
def asap(graph: nx.DiGraph | Wiring, sources: Iterable[Hashable] | None = None):
    """Return the as-soon-as-possible level of every node: its longest path from a source.

    Parameters
    ----------
    graph : networkx.DiGraph or Wiring
        A directed acyclic graph.
    sources : iterable of nodes, optional
        Nodes pinned to level 0 (default: every node with no predecessor). Other
        nodes with no predecessor are put on level 1.

    Returns
    -------
    dict or numpy.ndarray
        ``{node: level}`` for a DiGraph, an int64 array for a Wiring.

    Raises
    ------
    CycleError
        If the graph has a cycle (the message names it).

    Examples
    --------
    >>> g = nx.DiGraph([("x", "h"), ("h", "y"), ("x", "y")])
    >>> asap(g)
    {'x': 0, 'h': 1, 'y': 2}
    """
    wiring, pinned = _arrays(graph, sources)
    return _named(graph, wiring, _levels(wiring, pinned)[1])


def alap(graph: nx.DiGraph | Wiring, sources: Iterable[Hashable] | None = None):
    """Return the as-late-as-possible level of every node, sources pinned to level 0.

    A node's level is the depth of the graph minus its longest path to a sink,
    so every sink lies on the last level (4Ward's layering).

    Examples
    --------
    >>> g = nx.DiGraph([("x", "h"), ("h", "y"), ("x", "z")])
    >>> alap(g)
    {'x': 0, 'h': 1, 'y': 2, 'z': 2}
    """
    wiring, pinned = _arrays(graph, sources)
    return _named(graph, wiring, alap_levels(wiring, pinned))


def bounded_width(graph: nx.DiGraph | Wiring, max_width: int, sources: Iterable[Hashable] | None = None):
    """Return a layering with at most ``max_width`` nodes on each level above level 0.

    Nodes are placed in topological order, the ones with the longest path still
    ahead first, each on the lowest level above all its predecessors that has
    room (a union-find finds it). Level 0 holds the sources, whatever their
    number. This bounds the working memory of one level at the cost of more
    levels.

    Examples
    --------
    >>> g = nx.DiGraph([("x", "a"), ("x", "b"), ("x", "c")])
    >>> bounded_width(g, 2)
    {'x': 0, 'a': 1, 'b': 1, 'c': 2}
    """
    wiring, pinned = _arrays(graph, sources)
    return _named(graph, wiring, bounded_levels(wiring, pinned, max_width))
