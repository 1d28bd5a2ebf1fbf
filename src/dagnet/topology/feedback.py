"""Make a cyclic graph acyclic by removing a small feedback arc set."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass

import networkx as nx
import numba
import numpy as np

from ..csr import group_by
from ..errors import GraphError, NodeNotFoundError
from ..wiring import Wiring
from ._arrays import edge_arrays, select_edges

__all__ = ["FeedforwardCut", "feedforward_cut"]


# --------------------------------------------------------------------------- kernels
@numba.njit(cache=True)
def _first(key_a, node_a, key_b, node_b):  # pragma: no cover - compiled
    return key_a > key_b or (key_a == key_b and node_a < node_b)


@numba.njit(cache=True)
def _push(keys, nodes, size, key, node):  # pragma: no cover - compiled
    i = size
    keys[i] = key
    nodes[i] = node
    while i > 0:
        parent = (i - 1) // 2
        if not _first(keys[i], nodes[i], keys[parent], nodes[parent]):
            break
        keys[i], keys[parent] = keys[parent], keys[i]
        nodes[i], nodes[parent] = nodes[parent], nodes[i]
        i = parent
    return size + 1


@numba.njit(cache=True)
def _pop(keys, nodes, size):  # pragma: no cover - compiled
    key, node = keys[0], nodes[0]
    size -= 1
    keys[0] = keys[size]
    nodes[0] = nodes[size]
    i = 0
    while True:
        best = i
        for c in (2 * i + 1, 2 * i + 2):
            if c < size and _first(keys[c], nodes[c], keys[best], nodes[best]):
                best = c
        if best == i:
            break
        keys[i], keys[best] = keys[best], keys[i]
        nodes[i], nodes[best] = nodes[best], nodes[i]
        i = best
    return key, node, size


@numba.njit(cache=True)
def _greedy_order(n, out_ptr, out_nbr, out_w, in_ptr, in_nbr, in_w):  # pragma: no cover - compiled
    """Eades–Lin–Smyth: peel sinks to the back, sources to the front, else the node of largest
    out-weight minus in-weight to the front (ties: smallest index). Returns a node order."""
    indeg = in_ptr[1:] - in_ptr[:-1]
    outdeg = out_ptr[1:] - out_ptr[:-1]
    delta = np.zeros(n)
    for v in range(n):
        for k in range(out_ptr[v], out_ptr[v + 1]):
            delta[v] += out_w[k]
        for k in range(in_ptr[v], in_ptr[v + 1]):
            delta[v] -= in_w[k]
    removed = np.zeros(n, dtype=np.bool_)
    sinks = np.empty(n, dtype=np.int64)
    sources = np.empty(n, dtype=np.int64)
    num_sinks = 0
    num_sources = 0
    keys = np.empty(n + out_nbr.size + 1)
    nodes = np.empty(n + out_nbr.size + 1, dtype=np.int64)
    size = 0
    for v in range(n):
        if outdeg[v] == 0:
            sinks[num_sinks] = v
            num_sinks += 1
        elif indeg[v] == 0:
            sources[num_sources] = v
            num_sources += 1
        else:
            size = _push(keys, nodes, size, delta[v], v)
    front = np.empty(n, dtype=np.int64)
    back = np.empty(n, dtype=np.int64)
    num_front = 0
    num_back = 0
    while num_front + num_back < n:
        if num_sinks > 0:
            num_sinks -= 1
            u = sinks[num_sinks]
            if removed[u]:
                continue
            back[num_back] = u
            num_back += 1
        elif num_sources > 0:
            num_sources -= 1
            u = sources[num_sources]
            if removed[u]:
                continue
            front[num_front] = u
            num_front += 1
        else:
            while True:  # entries are stale once the node moved on; skip those
                key, u, size = _pop(keys, nodes, size)
                if not removed[u] and key == delta[u] and indeg[u] > 0 and outdeg[u] > 0:
                    break
            front[num_front] = u
            num_front += 1
        removed[u] = True
        for k in range(out_ptr[u], out_ptr[u + 1]):
            v = out_nbr[k]
            if removed[v]:
                continue
            indeg[v] -= 1
            delta[v] += out_w[k]
            if outdeg[v] > 0:
                if indeg[v] == 0:
                    sources[num_sources] = v
                    num_sources += 1
                else:
                    size = _push(keys, nodes, size, delta[v], v)
        for k in range(in_ptr[u], in_ptr[u + 1]):
            v = in_nbr[k]
            if removed[v]:
                continue
            outdeg[v] -= 1
            delta[v] -= in_w[k]
            if outdeg[v] == 0:
                sinks[num_sinks] = v
                num_sinks += 1
            elif indeg[v] > 0:
                size = _push(keys, nodes, size, delta[v], v)
    return np.concatenate((front[:num_front], back[:num_back][::-1]))


@numba.njit(cache=True)
def _search(
    start, goal, ptr, edge, far_end, active, pos, sign, bound, mark, stamp, stack, found
):  # pragma: no cover - compiled
    """Depth-first search from ``start`` over the active edges ``edge[ptr[x]:ptr[x + 1]]``
    (edge ``e`` leads to ``far_end[e]``), through nodes with ``sign * pos < sign * bound``.

    Writes the nodes visited to ``found``; returns (how many, steps taken, whether
    an edge led to ``goal``, where the search then stops).
    """
    mark[start] = stamp
    stack[0] = start
    top = 1
    count = 0
    steps = 0
    while top > 0:
        top -= 1
        x = stack[top]
        found[count] = x
        count += 1
        steps += 1 + ptr[x + 1] - ptr[x]
        for k in range(ptr[x], ptr[x + 1]):
            e = edge[k]
            y = far_end[e]
            if not active[e] or mark[y] == stamp:
                continue
            if y == goal:
                return count, steps, True
            if sign * pos[y] < sign * bound:
                mark[y] = stamp
                stack[top] = y
                top += 1
    return count, steps, False


@numba.njit(cache=True)
def _put_back(
    n, source, target, out_ptr, out_edge, in_ptr, in_edge, active, pos, candidates, budget
):  # pragma: no cover - compiled
    """Add each candidate edge to the active (acyclic) edges unless it would close a cycle.

    ``pos`` is a topological order of the active edges, kept up to date as in
    Pearce & Kelly's dynamic topological sort: for an edge ``u -> v`` with
    ``pos[v] < pos[u]``, search forward from ``v`` among nodes before ``u`` (the
    edge closes a cycle iff ``u`` is found) and backward from ``u`` among nodes
    after ``v``, then give the nodes found the same positions, those behind
    ``u`` first. ``out_edge``/``in_edge`` list edge ids grouped by node. Stops
    once the searches have made ``budget`` steps (node visits plus edge scans);
    returns whether it finished.
    """
    mark = np.zeros(n, dtype=np.int64)
    stamp = 0
    stack = np.empty(n, dtype=np.int64)
    ahead = np.empty(n, dtype=np.int64)
    behind = np.empty(n, dtype=np.int64)
    work = 0
    for c in candidates:
        if work > budget:
            return False
        u = source[c]
        v = target[c]
        if pos[v] > pos[u]:
            active[c] = True
            continue
        stamp += 1
        num_ahead, steps, cycle = _search(
            v, u, out_ptr, out_edge, target, active, pos, 1, pos[u], mark, stamp, stack, ahead
        )
        work += steps
        if cycle:
            continue
        stamp += 1
        num_behind, steps, _ = _search(
            u, -1, in_ptr, in_edge, source, active, pos, -1, pos[v], mark, stamp, stack, behind
        )
        work += steps
        moved = np.concatenate((behind[:num_behind], ahead[:num_ahead]))
        slots = np.sort(pos[moved])
        first = np.argsort(pos[moved[:num_behind]])
        second = np.argsort(pos[moved[num_behind:]]) + num_behind
        order = np.concatenate((first, second))
        for i in range(moved.size):
            pos[moved[order[i]]] = slots[i]
        active[c] = True
    return True


# --------------------------------------------------------------------------- arrays
#: Work allowed for putting edges back: node visits plus edge scans (about a second at most).
PUT_BACK_BUDGET = 10_000_000


def feedback_arcs(
    num_nodes: int,
    source: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray | None = None,
    forced: np.ndarray | None = None,
) -> tuple[np.ndarray, bool]:
    """Return ``(cut, minimal)``: a mask of edges whose removal leaves the rest acyclic.

    ``forced`` marks edges that must go whatever happens (they are in ``cut``);
    self-loops always are. ``minimal`` tells whether every other removed edge
    is needed (see :func:`feedforward_cut`).

    Examples
    --------
    >>> cut, minimal = feedback_arcs(3, np.array([0, 1, 2]), np.array([1, 2, 0]))
    >>> cut.tolist(), minimal
    ([False, False, True], True)
    """
    n = int(num_nodes)
    source = np.asarray(source, dtype=np.int64)
    target = np.asarray(target, dtype=np.int64)
    w = np.ones(source.size) if weight is None else np.asarray(weight, dtype=np.float64)
    cut = source == target
    if forced is not None:
        cut |= forced
    live = np.flatnonzero(~cut)
    s, t, wl = source[live], target[live], w[live]
    out_ptr, out_perm = group_by(s, n)
    in_ptr, in_perm = group_by(t, n)
    order = _greedy_order(n, out_ptr, t[out_perm], wl[out_perm], in_ptr, s[in_perm], wl[in_perm])
    pos = np.empty(n, dtype=np.int64)
    pos[order] = np.arange(n)
    # The greedy order removes more than needed: put back, heaviest first, every
    # edge that closes no cycle with the edges kept so far.
    back = pos[s] > pos[t]
    candidates = np.flatnonzero(back)
    candidates = candidates[np.argsort(-wl[candidates], kind="stable")]
    active = ~back
    minimal = _put_back(n, s, t, out_ptr, out_perm, in_ptr, in_perm, active, pos, candidates, PUT_BACK_BUDGET)
    cut[live[~active]] = True
    return cut, bool(minimal)


# --------------------------------------------------------------------------- public
@dataclass(frozen=True)
class FeedforwardCut:
    """What :func:`feedforward_cut` returns: the DAG and the edges it removed.

    Attributes
    ----------
    dag : networkx.DiGraph or Wiring
        The input graph without the removed edges (same kind as the input).
    removed : list of (u, v) or numpy.ndarray
        For a DiGraph, the removed edges as ``(u, v)`` pairs, in the graph's
        edge order; for a Wiring, the positions (int64) of the removed edges
        in the input wiring, so ``wiring.source[removed]`` etc. find them.
    num_edges : int
        Number of edges of the input graph.
    minimal : bool
        True when every removed edge is needed: putting any one of them back
        would close a cycle (edges into ``sources`` aside). False only when the
        put-back pass ran out of its work budget (very large, very cyclic
        graphs); the DAG is valid either way.

    Examples
    --------
    >>> cut = feedforward_cut(nx.DiGraph([(0, 1), (1, 0)]))
    >>> cut.num_removed, str(cut)
    (1, 'feedforward_cut removed 1 of 2 edges (50.0%)')
    """

    dag: nx.DiGraph | Wiring
    removed: list | np.ndarray
    num_edges: int
    minimal: bool

    @property
    def num_removed(self) -> int:
        """Number of edges removed."""
        return len(self.removed)

    def __str__(self) -> str:
        share = 100.0 * self.num_removed / self.num_edges if self.num_edges else 0.0
        return f"feedforward_cut removed {self.num_removed} of {self.num_edges} edges ({share:.1f}%)"


def feedforward_cut(
    graph: nx.DiGraph | Wiring,
    weight: str | None = None,
    sources: Iterable[Hashable] | None = None,
) -> FeedforwardCut:
    """Return a DAG made from a directed graph by removing a small set of edges that breaks every cycle.

    Finding the smallest such set (a minimum feedback arc set) is NP-hard, so
    this uses the greedy heuristic of Eades, Lin and Smyth (1993): repeatedly
    move a sink to the back of an order, a source to the front, or else the
    node with the largest out-degree minus in-degree to the front; the edges
    that point backward in the final order are the feedback arcs (at most
    ``m / 2 - n / 6`` of ``m`` edges on a connected graph with no 2-cycle), in
    O((n + m) log n) time. The greedy order removes more than it needs to, so
    each removed edge, heaviest first, is then put back unless it closes a
    cycle with the edges kept so far (a reachability search kept short by a
    dynamic topological order, Pearce & Kelly 2006). What stays removed is a
    minimal feedback arc set: no edge of it can be put back. On the C. elegans
    chemical connectome this removes 406 of 2194 edges, where the greedy order
    alone removes 523; on random graphs of up to 10 nodes it finds a minimum
    set 88% of the time. The put-back searches stop after ``PUT_BACK_BUDGET``
    (10^7) steps, about a second at most: plenty for connectomes and graphs of
    a few 10^4 edges, not for, say, a random graph with 10^6 edges and a third
    of them in the way; past the budget the remaining edges stay removed and
    ``minimal`` is False.

    Parameters
    ----------
    graph : networkx.DiGraph or Wiring
        A directed graph, cycles and self-loops allowed.
    weight : str, optional
        Edge attribute (non-negative) to weigh edges by, e.g. ``"count"`` for
        synapse counts; the greedy order then compares sums of weights, so
        heavy edges tend to be kept. Default: every edge counts 1.
    sources : iterable of nodes, optional
        Nodes that must become sources: all edges into them are removed too
        (and reported), e.g. sensory neurons meant as network inputs.

    Returns
    -------
    FeedforwardCut
        ``dag`` (the graph without the removed edges, same kind as ``graph``,
        all attributes kept), ``removed``, ``num_removed`` and ``minimal``.

    Raises
    ------
    GraphError
        If ``graph`` is not a directed graph, or a weight is negative or NaN.
    NodeNotFoundError
        If a node in ``sources`` is not in the graph.

    References
    ----------
    P. Eades, X. Lin, W. F. Smyth, "A fast and effective heuristic for the
    feedback arc set problem", Information Processing Letters 47 (1993).
    D. J. Pearce, P. H. J. Kelly, "A dynamic topological sort algorithm for
    directed acyclic graphs", ACM J. Experimental Algorithmics 11 (2006).

    Examples
    --------
    >>> g = nx.DiGraph([(0, 1), (1, 2), (2, 0), (2, 3)])
    >>> cut = feedforward_cut(g)
    >>> cut.removed, nx.is_directed_acyclic_graph(cut.dag)
    ([(2, 0)], True)
    """
    arrays = edge_arrays(graph, weight, "feedforward_cut")
    n, source, target = arrays.num_nodes, arrays.source, arrays.target
    w = None
    if weight is not None:
        w = arrays.value if arrays.value is not None else np.full(source.size, np.nan)
        bad = np.flatnonzero(~(w >= 0))
        if bad.size:
            k = int(bad[0])
            u, v = arrays.labels[source[k]], arrays.labels[target[k]]
            raise GraphError(
                f"Edge {u!r} -> {v!r} has {weight!r} = {w[k]}; feedforward_cut needs a non-negative "
                f"number on every edge (pass weight=None to count edges)."
            )
    forced = None
    if sources is not None:
        index = {lab: i for i, lab in enumerate(arrays.labels)}
        pinned = np.zeros(n, dtype=bool)
        for s in sources:
            if s not in index:
                raise NodeNotFoundError(f"Source node {s!r} given to feedforward_cut is not in the graph.")
            pinned[index[s]] = True
        forced = pinned[target]
    cut, minimal = feedback_arcs(n, source, target, w, forced)
    removed = np.flatnonzero(cut)
    keep = np.flatnonzero(~cut)
    if isinstance(graph, Wiring):
        dag = select_edges(graph, keep)
        return FeedforwardCut(dag, removed, int(source.size), minimal)
    labels = arrays.labels
    pairs = [(labels[source[k]], labels[target[k]]) for k in removed.tolist()]
    dag = graph.copy()
    dag.remove_edges_from(pairs)
    return FeedforwardCut(dag, pairs, int(source.size), minimal)
