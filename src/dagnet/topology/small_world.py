"""Small-world DAGs: Watts–Strogatz rewiring, oriented in ring order."""

from __future__ import annotations

import networkx as nx
import numba
import numpy as np

from .._checks import check_float, check_int, invalid
from ..seeding import numpy_rng
from ..wiring import Wiring
from ._budget import SMALL_WORLD_EDGE, check_graph_size
from ._sampling import with_draws

__all__ = ["small_world_dag"]


@numba.njit(cache=True)
def _rewire(n, half, rewire, draws):  # pragma: no cover - compiled
    """Ring lattice with ``half`` neighbours per side, edges rewired as in networkx.

    Edge ``e = (j - 1) * n + u`` starts as ``u - (u + j) % n``; where ``rewire[e]``
    its far end moves to a uniform node that is neither ``u`` nor a neighbour of
    ``u``. Returns (a, b, ok); ok is False when ``draws`` ran out.
    """
    a = np.empty(n * half, dtype=np.int64)
    b = np.empty(n * half, dtype=np.int64)
    present = set()
    for j in range(1, half + 1):
        for u in range(n):
            e = (j - 1) * n + u
            v = (u + j) % n
            a[e] = u
            b[e] = v
            present.add(min(u, v) * n + max(u, v))
    degree = np.full(n, 2 * half, dtype=np.int64)
    d = 0
    for e in range(n * half):
        if not rewire[e]:
            continue
        u = a[e]
        if degree[u] >= n - 1:  # joined to every node: nowhere to go
            continue
        while True:
            if d == draws.size:
                return a, b, False
            w = draws[d]
            d += 1
            if w != u and (min(u, w) * n + max(u, w)) not in present:
                break
        v = b[e]
        present.discard(min(u, v) * n + max(u, v))
        present.add(min(u, w) * n + max(u, w))
        b[e] = w
        degree[v] -= 1
        degree[w] += 1
    return a, b, True


def small_world_dag(
    n: int, k: int, p: float, seed: int | np.random.Generator | None = None, as_wiring: bool = False
) -> nx.DiGraph | Wiring:
    """Return a Watts–Strogatz graph as a DAG, each edge pointing from the lower ring index to the higher.

    Nodes ``0 .. n - 1`` sit on a ring, each joined to its ``k / 2`` nearest
    neighbours on either side; then, as in ``networkx.watts_strogatz_graph``,
    each edge ``u - (u + j)`` in turn (``j = 1 .. k/2``, ``u = 0 .. n - 1``) is
    rewired with probability ``p`` to ``u - w``, ``w`` uniform among the nodes
    not yet joined to ``u``. RandWire orders a WS graph by the ring
    (papers.md §5): each edge points from the lower to the higher index, so the
    wrap-around edges of the ring go from the start to the end. A compiled loop
    makes it linear in ``n * k``.

    Parameters
    ----------
    n : int
        Number of nodes, labelled ``0 .. n - 1`` in ring (topological) order.
    k : int
        Each node's number of ring neighbours: an even int with ``0 <= k < n``.
    p : float
        Rewiring probability, in [0, 1].
    seed : int, numpy Generator or None
        Source of randomness.
    as_wiring : bool
        Return a :class:`dagnet.Wiring` instead of a ``networkx.DiGraph``.

    Returns
    -------
    networkx.DiGraph or Wiring
        ``n * k / 2`` edges, sorted by target, then source.

    Raises
    ------
    ValueError
        If ``n``, ``k`` or ``p`` is out of range, ``k`` is odd, or the
        ``n * k / 2`` edges would not fit in this machine's memory (checked
        before anything is allocated).

    See Also
    --------
    to_dag : orient any graph, e.g. ``networkx.connected_watts_strogatz_graph``.

    Examples
    --------
    >>> g = small_world_dag(10, 4, 0.0, seed=0)
    >>> g.number_of_edges(), sorted(g.successors(0))
    (20, [1, 2, 8, 9])
    >>> small_world_dag(1000, 6, 0.1, seed=0, as_wiring=True).num_edges
    3000
    """
    func = "small_world_dag"
    n = check_int(n, "n", func, low=1)
    k = check_int(k, "k", func, low=0, high=n - 1)
    if k % 2:
        raise invalid("k", func, f"an even int in [0, {n - 1}]", k)
    p = check_float(p, "p", func, low=0.0, high=1.0)
    check_graph_size(
        func, f"n={n}, k={k}, p={p:g}", n * (k // 2), SMALL_WORLD_EDGE, n, 8, as_wiring, "Choose a smaller n or k."
    )
    rng = numpy_rng(seed)
    rewire = rng.random(n * (k // 2)) < p
    if k == n - 1:  # the complete graph: no edge can move
        rewire[:] = False
    # About n / (n - k - 1) draws per rewiring (rejection of u and its neighbours); a
    # first buffer of at most 2^24 draws, doubled while it falls short.
    expected = rewire.sum() * n / max(n - k - 1, 1)

    def run(draws):
        a, b, ok = _rewire(n, k // 2, rewire, draws)
        return (a, b) if ok else None

    a, b = with_draws(run, lambda size: rng.integers(0, n, size=size), min(1.1 * expected + 64, 2**24))
    src, dst = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((src, dst))
    wiring = Wiring(n, src[order], dst[order])
    return wiring if as_wiring else wiring.to_graph()
