"""Turn any graph into a DAG by ordering its nodes (RandWire's rule)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import networkx as nx
import numpy as np

from .._checks import check_choice
from ..errors import DuplicateNodeError, GraphError, NodeNotFoundError
from ..seeding import numpy_rng
from ..wiring import Wiring
from ._arrays import select_edges

__all__ = ["to_dag"]


def _positions(labels: list, degree: np.ndarray, order, rng_seed) -> np.ndarray:
    """Return each node's position (by node index) in the requested order."""
    n = len(labels)
    if isinstance(order, str):
        check_choice(order, "order", "to_dag", ("random", "degree"))
        if order == "random":
            return np.argsort(numpy_rng(rng_seed).permutation(n), kind="stable")
        rank = np.argsort(-degree, kind="stable")  # highest degree first, ties by node order
        return np.argsort(rank, kind="stable")
    if not isinstance(order, (Sequence, np.ndarray, range)):
        raise ValueError(
            "The 'order' parameter of to_dag must be 'random', 'degree' or a list of every node. "
            f"Got {order!r} instead."
        )
    index = {lab: i for i, lab in enumerate(labels)}
    pos = np.full(n, -1, dtype=np.int64)
    for p, lab in enumerate(order):
        i = index.get(lab)
        if i is None:
            raise NodeNotFoundError(f"Node {lab!r} in the 'order' of to_dag is not in the graph.")
        if pos[i] >= 0:
            raise DuplicateNodeError(f"Node {lab!r} appears twice in the 'order' of to_dag.")
        pos[i] = p
    if (pos < 0).any():
        missing = labels[int(np.flatnonzero(pos < 0)[0])]
        raise NodeNotFoundError(
            f"Node {missing!r} is missing from the 'order' of to_dag; the order must list every node."
        )
    return pos


def _oriented(source: np.ndarray, target: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return (kept, flip): the edges kept, and which of them are reversed.

    Self-loops are dropped; of two edges joining the same pair, the one already
    pointing forward wins, else the first.
    """
    backward = pos[source] > pos[target]
    lo = np.where(backward, target, source)
    hi = np.where(backward, source, target)
    n = pos.size
    key = lo * n + hi
    rank = np.lexsort((np.arange(key.size), backward, key))  # per pair: forward first, then file order
    first = np.ones(rank.size, dtype=bool)
    first[1:] = key[rank[1:]] != key[rank[:-1]]
    kept = np.sort(rank[first & (source[rank] != target[rank])])
    return kept, backward[kept]


def to_dag(
    graph: nx.Graph | Wiring,
    order: str | Sequence[Hashable] = "random",
    seed: int | np.random.Generator | None = None,
) -> nx.DiGraph | Wiring:
    """Return a DAG made from ``graph`` by pointing every edge from the earlier node to the later.

    RandWire's rule (papers.md §5): give the nodes an order, then orient each
    edge from its endpoint earlier in the order to the later one. Any order
    gives an acyclic graph, and every node keeps its neighbours.

    Parameters
    ----------
    graph : networkx.Graph, networkx.DiGraph or Wiring
        Any graph, undirected or directed (a multigraph's parallel edges are
        merged, keeping the first one's attributes).
    order : {"random", "degree"} or sequence of nodes
        ``"random"``: a uniform random permutation (RandWire's choice for ER).
        ``"degree"``: by decreasing degree (in + out for a directed graph),
        ties in ``graph``'s node order, so hubs come first.
        A sequence: every node exactly once, e.g. ``range(n)`` for insertion
        order (BA) or ring order (WS).
    seed : int, numpy Generator or None
        Source of randomness for ``order="random"``.

    Returns
    -------
    networkx.DiGraph or Wiring
        Same kind as ``graph`` (a ``DiGraph`` for any networkx graph), with the
        same nodes in the same order and all node, edge and graph attributes.
        A directed edge that already points forward is kept as it is; one that
        points backward is reversed, keeping its attributes. Of a reciprocal
        pair ``u -> v`` and ``v -> u`` only the forward edge survives (with its
        attributes): the backward one is dropped, not merged. Self-loops are
        dropped.

    Raises
    ------
    NodeNotFoundError
        If the order names a node not in the graph, or leaves one out.
    DuplicateNodeError
        If the order names a node twice.

    Examples
    --------
    >>> g = to_dag(nx.cycle_graph(4), order=[0, 1, 2, 3])
    >>> sorted(g.edges)
    [(0, 1), (0, 3), (1, 2), (2, 3)]
    >>> sorted(to_dag(nx.DiGraph([(1, 0), (0, 1)]), order=[0, 1]).edges)
    [(0, 1)]
    """
    if isinstance(graph, Wiring):
        labels = graph.node_labels()
        pos = _positions(labels, graph.in_degree() + graph.out_degree(), order, seed)
        kept, flip = _oriented(graph.source, graph.target, pos)
        s, t = graph.source[kept], graph.target[kept]
        return select_edges(graph, kept, np.where(flip, t, s), np.where(flip, s, t))
    if not isinstance(graph, nx.Graph):
        raise GraphError(f"to_dag expects a networkx graph or a dagnet.Wiring, got {type(graph).__name__}.")
    labels = list(graph.nodes)
    index = {lab: i for i, lab in enumerate(labels)}
    degree = np.fromiter((d for _, d in graph.degree()), dtype=np.int64, count=len(labels))
    pos = _positions(labels, degree, order, seed)
    edges = list(graph.edges(data=True))
    source = np.fromiter((index[u] for u, _, _ in edges), dtype=np.int64, count=len(edges))
    target = np.fromiter((index[v] for _, v, _ in edges), dtype=np.int64, count=len(edges))
    kept, flip = _oriented(source, target, pos)
    dag = nx.DiGraph()
    dag.graph.update(graph.graph)
    dag.add_nodes_from(graph.nodes(data=True))
    for k, f in zip(kept.tolist(), flip.tolist()):
        u, v, data = edges[k]
        dag.add_edge(*((v, u) if f else (u, v)), **data)
    return dag
