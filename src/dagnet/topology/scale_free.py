"""Scale-free DAGs: Barabási–Albert preferential attachment, oriented in insertion order."""

from __future__ import annotations

import networkx as nx
import numba
import numpy as np

from .._checks import check_int
from ..seeding import numpy_rng
from ..wiring import Wiring
from ._budget import SCALE_FREE_EDGE, check_graph_size
from ._sampling import with_draws

__all__ = ["scale_free_dag"]


@numba.njit(cache=True)
def _attach(n, m, draws):  # pragma: no cover - compiled
    """Barabási–Albert growth from a star on nodes 0..m; returns (source, target, ok)."""
    num_edges = m + (n - m - 1) * m
    src = np.empty(num_edges, dtype=np.int64)
    dst = np.empty(num_edges, dtype=np.int64)
    repeated = np.empty(2 * num_edges, dtype=np.int64)  # node u appears degree(u) times
    for i in range(m):
        src[i] = 0
        dst[i] = i + 1
        repeated[2 * i] = 0
        repeated[2 * i + 1] = i + 1
    size = 2 * m
    e = m
    d = 0
    mark = np.full(n, -1, dtype=np.int64)
    chosen = np.empty(m, dtype=np.int64)
    for t in range(m + 1, n):
        c = 0
        while c < m:
            if d == draws.size:
                return src, dst, False
            u = repeated[min(int(draws[d] * size), size - 1)]
            d += 1
            if mark[u] != t:
                mark[u] = t
                chosen[c] = u
                c += 1
        chosen.sort()
        for i in range(m):
            src[e] = chosen[i]
            dst[e] = t
            e += 1
            repeated[size] = chosen[i]
            repeated[size + 1] = t
            size += 2
    return src, dst, True


def scale_free_dag(
    n: int, m: int, seed: int | np.random.Generator | None = None, as_wiring: bool = False
) -> nx.DiGraph | Wiring:
    """Return a Barabási–Albert graph as a DAG, each edge pointing from the older node to the newer.

    Growth starts from a star (node 0 joined to nodes ``1 .. m``, networkx's
    default); every later node ``t`` attaches to ``m`` distinct earlier nodes
    picked with probability proportional to their degree. RandWire orders a BA
    graph by insertion, so edge ``u - t`` becomes ``u -> t`` for ``u < t``
    (papers.md §5): node ``t >= 1`` has in-degree ``m`` (``1`` for the star's
    leaves), node 0 is the only source, and out-degrees are heavy-tailed
    (``P(k) ~ k^-3``). A compiled loop makes it linear in ``n * m``.

    Parameters
    ----------
    n : int
        Number of nodes, labelled ``0 .. n - 1`` in insertion (topological) order.
    m : int
        Edges added with each new node, ``1 <= m < n``.
    seed : int, numpy Generator or None
        Source of randomness.
    as_wiring : bool
        Return a :class:`dagnet.Wiring` instead of a ``networkx.DiGraph``.

    Returns
    -------
    networkx.DiGraph or Wiring
        ``m * (n - m)`` edges, sorted by target, then source.

    Raises
    ------
    ValueError
        If ``n`` or ``m`` is out of range, or the ``m * (n - m)`` edges would
        not fit in this machine's memory (checked before anything is allocated).

    See Also
    --------
    to_dag : orient any graph, e.g. ``networkx.barabasi_albert_graph``.

    Examples
    --------
    >>> g = scale_free_dag(100, 2, seed=0)
    >>> g.number_of_edges(), max(d for _, d in g.in_degree())
    (196, 2)
    >>> all(u < v for u, v in g.edges)
    True
    """
    func = "scale_free_dag"
    n = check_int(n, "n", func, low=2)
    m = check_int(m, "m", func, low=1, high=n - 1)
    check_graph_size(func, f"n={n}, m={m}", m * (n - m), SCALE_FREE_EDGE, n, 8, as_wiring, "Choose a smaller n or m.")
    rng = numpy_rng(seed)

    def run(draws):
        src, dst, ok = _attach(n, m, draws)
        return (src, dst) if ok else None

    src, dst = with_draws(run, rng.random, 1.05 * (n - m - 1) * m + 64 * m)
    wiring = Wiring(n, src, dst)
    return wiring if as_wiring else wiring.to_graph()
