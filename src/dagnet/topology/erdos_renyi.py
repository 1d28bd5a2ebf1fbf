"""Erdős–Rényi random DAGs, sampled in time linear in the number of edges."""

from __future__ import annotations

import networkx as nx
import numpy as np

from .._checks import check_float, check_int
from ..seeding import numpy_rng
from ..wiring import Wiring
from ._budget import WIRING_EDGE, check_graph_size
from ._sampling import bernoulli_positions
from .with_io import with_io

__all__ = ["erdos_renyi_dag", "random_io_dag"]


def _pair_from_index(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map linear indices over pairs i < j (ordered by j, then i) to (i, j)."""
    # Pair (i, j) has index j * (j - 1) / 2 + i.
    j = ((1.0 + np.sqrt(1.0 + 8.0 * k.astype(np.float64))) / 2.0).astype(np.int64)
    # Correct floating-point rounding in either direction.
    start = j * (j - 1) // 2
    too_big = start > k
    while too_big.any():
        j[too_big] -= 1
        start = j * (j - 1) // 2
        too_big = start > k
    too_small = k - start >= j
    while too_small.any():
        j[too_small] += 1
        start = j * (j - 1) // 2
        too_small = k - start >= j
    return k - start, j


def erdos_renyi_dag(
    n: int, p: float, seed: int | np.random.Generator | None = None, as_wiring: bool = False
) -> nx.DiGraph | Wiring:
    """Return a random DAG where each pair ``i < j`` is an edge ``i -> j`` with probability ``p``.

    Edge positions are drawn directly as the gaps of a Bernoulli process
    (geometric skips), so the cost is linear in the number of edges, never in
    ``n ** 2``: a million nodes with ten million edges take a few seconds.

    Parameters
    ----------
    n : int
        Number of nodes, labelled ``0 .. n - 1`` (a topological order), at
        most ``2 ** 32`` (the pairs are counted in int64).
    p : float
        Edge probability, in [0, 1].
    seed : int, numpy Generator or None
        Source of randomness.
    as_wiring : bool
        Return a :class:`dagnet.Wiring` instead of a ``networkx.DiGraph``.

    Returns
    -------
    networkx.DiGraph or Wiring
        Edges sorted by target, then source.

    Raises
    ------
    ValueError
        If ``n`` or ``p`` is out of range, or the ``p * n * (n - 1) / 2``
        expected edges would not fit in this machine's memory (checked before
        anything is allocated; the message gives the edges and bytes).

    Examples
    --------
    >>> g = erdos_renyi_dag(5, 1.0, seed=0)
    >>> g.number_of_edges()
    10
    >>> erdos_renyi_dag(1000, 0.01, seed=0, as_wiring=True).num_edges > 4000
    True
    """
    n = check_int(n, "n", "erdos_renyi_dag", low=0, high=2**32)
    p = check_float(p, "p", "erdos_renyi_dag", 0.0, 1.0)
    total = n * (n - 1) // 2
    check_graph_size(
        "erdos_renyi_dag", f"n={n}, p={p:g}", total * p, WIRING_EDGE, n, 0, as_wiring, "Choose a smaller n or p."
    )
    rng = numpy_rng(seed)
    k = bernoulli_positions(total, p, rng)
    src, dst = _pair_from_index(k)
    wiring = Wiring(n, src, dst)
    if as_wiring:
        return wiring
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(zip(src.tolist(), dst.tolist()))
    return g


def random_io_dag(
    num_inputs: int, num_hidden: int, num_outputs: int, p: float, fan_in: int, fan_out: int, seed: int | None = None
) -> Wiring:
    """Return a random DAG with the given numbers of input, hidden and output neurons.

    Hidden neurons form an Erdős–Rényi DAG (edge ``i -> j`` for ``i < j`` with
    probability ``p``); each hidden neuron without a hidden predecessor gets
    ``fan_in`` random inputs, every other one a single random input (a skip
    connection); each output reads ``fan_out`` random hidden neurons (see
    :func:`~dagnet.topology.with_io`). Nodes are labelled ``("in", i)``,
    ``("h", i)`` and ``("out", i)``.

    Examples
    --------
    >>> w = random_io_dag(4, 10, 2, 0.2, 2, 3, seed=0)
    >>> w.labels[0], w.labels[-1]
    (('in', 0), ('out', 1))
    """
    func = "random_io_dag"
    for name, value in (
        ("num_inputs", num_inputs),
        ("num_outputs", num_outputs),
        ("fan_in", fan_in),
        ("fan_out", fan_out),
    ):
        check_int(value, name, func, low=1)
    n_h = check_int(num_hidden, "num_hidden", func, low=1)
    rng = numpy_rng(seed)
    return with_io(erdos_renyi_dag(n_h, p, seed=rng, as_wiring=True), num_inputs, num_outputs, fan_in, fan_out, rng)
