"""Layered sparse networks: SET's Erdős–Rényi bipartite layers."""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np

from .._checks import check_float, check_sizes
from ..seeding import numpy_rng
from ..wiring import Wiring
from ._budget import LABEL_NODE, WIRING_EDGE, check_graph_size
from ._sampling import bernoulli_positions

__all__ = ["layered_sparse", "layer_labels", "set_probability"]


def layer_labels(sizes: np.ndarray) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Return ``(offsets, labels)`` for layers of the given sizes.

    Layer ``l`` holds nodes ``offsets[l] .. offsets[l + 1] - 1``, labelled
    ``(l, 0) .. (l, sizes[l] - 1)``.

    Examples
    --------
    >>> offsets, labels = layer_labels(np.array([2, 1]))
    >>> offsets.tolist(), labels
    ([0, 2, 3], [(0, 0), (0, 1), (1, 0)])
    """
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    labels = [(layer, i) for layer, size in enumerate(sizes.tolist()) for i in range(size)]
    return offsets, labels


def set_probability(n_in: int, n_out: int, epsilon: float) -> float:
    """Return SET's connection probability ``epsilon * (n_in + n_out) / (n_in * n_out)``, capped at 1.

    Examples
    --------
    >>> set_probability(1000, 1000, 20)
    0.04
    >>> set_probability(10, 10, 20)
    1.0
    """
    return min(1.0, epsilon * (n_in + n_out) / (n_in * n_out))


def layered_sparse(
    sizes: Sequence[int],
    epsilon: float = 20,
    seed: int | np.random.Generator | None = None,
    as_wiring: bool = False,
) -> nx.DiGraph | Wiring:
    """Return a layered network whose consecutive layers are joined by Erdős–Rényi bipartite graphs.

    SET's sparse layers (papers.md §2): between layers of ``n_in`` and ``n_out``
    neurons each of the ``n_in * n_out`` connections exists independently with
    probability ``p = epsilon * (n_in + n_out) / (n_in * n_out)``, so a layer has
    about ``epsilon * (n_in + n_out)`` edges; where ``p >= 1`` the layers are
    fully connected. Connections are drawn as geometric skips, in time linear
    in the number of edges: ``[10000] * 4`` takes well under a second.

    Parameters
    ----------
    sizes : sequence of int
        Neurons per layer, at least two layers, inputs first.
    epsilon : float
        SET's density parameter, > 0 (20 in SET's MLPs, 10 in its RBMs).
    seed : int, numpy Generator or None
        Source of randomness.
    as_wiring : bool
        Return a :class:`dagnet.Wiring` instead of a ``networkx.DiGraph``.

    Returns
    -------
    networkx.DiGraph or Wiring
        Nodes labelled ``(layer, index)``, layer by layer (node ``offsets[l] + i``
        of the Wiring is ``(l, i)``); edges sorted by target, then source.

    Raises
    ------
    ValueError
        If ``sizes`` or ``epsilon`` is invalid, or the expected edges and the
        nodes would not fit in this machine's memory (checked before anything
        is allocated; the message gives the edges, nodes and bytes).

    Examples
    --------
    >>> g = layered_sparse([4, 3, 2], epsilon=20, seed=0)
    >>> g.number_of_edges()  # p >= 1 everywhere: dense
    18
    >>> w = layered_sparse([1000, 1000], epsilon=20, seed=0, as_wiring=True)
    >>> 39000 < w.num_edges < 41000
    True
    """
    func = "layered_sparse"
    sizes = check_sizes(sizes, func)
    epsilon = check_float(epsilon, "epsilon", func, low=0.0, low_open=True)
    pairs = list(zip(sizes[:-1].tolist(), sizes[1:].tolist()))
    probability = [set_probability(n_in, n_out, epsilon) for n_in, n_out in pairs]
    edges = sum(a * b * q for (a, b), q in zip(pairs, probability))
    check_graph_size(
        func,
        f"sizes={sizes.tolist()}, epsilon={epsilon:g}",
        edges,
        WIRING_EDGE,
        sum(sizes.tolist()),
        LABEL_NODE,
        as_wiring,
        "Choose smaller layers or a smaller epsilon.",
    )
    rng = numpy_rng(seed)
    offsets, labels = layer_labels(sizes)
    sources, targets = [], []
    for layer, ((n_in, n_out), q) in enumerate(zip(pairs, probability)):
        k = bernoulli_positions(n_in * n_out, q, rng)
        # Position k is the pair (target k // n_in, source k % n_in): sorted by target, then source.
        sources.append(offsets[layer] + k % n_in)
        targets.append(offsets[layer + 1] + k // n_in)
    wiring = Wiring(int(offsets[-1]), np.concatenate(sources), np.concatenate(targets), labels=labels)
    return wiring if as_wiring else wiring.to_graph()
