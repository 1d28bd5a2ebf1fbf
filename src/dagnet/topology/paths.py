"""Path networks: layered graphs made of paths, from random walks or the Sobol' sequence."""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import networkx as nx
import numpy as np

from .._checks import check_int, check_sizes
from ..csr import group_by
from ..seeding import numpy_rng
from ..wiring import Wiring
from ._budget import LABEL_NODE, PATH_EDGE, PATH_SEGMENT, check_graph_size
from .layered import layer_labels

__all__ = ["random_walk_paths", "sobol_paths", "path_network"]


def _check_path_size(func: str, args: str, sizes: np.ndarray, num_paths: int, as_wiring: bool) -> None:
    """Refuse ``num_paths`` paths through layers of ``sizes`` if their network cannot fit in memory.

    Edges are counted as the distinct segments expected of uniform paths,
    ``n_in * n_out * (1 - exp(-num_paths / (n_in * n_out)))`` per pair of layers.
    """
    pairs = [a * b for a, b in zip(sizes[:-1].tolist(), sizes[1:].tolist())]
    nodes = sum(sizes.tolist())
    segments = num_paths * len(pairs)
    edges = sum(-c * math.expm1(-num_paths / c) for c in pairs)
    check_graph_size(
        func,
        args,
        edges,
        PATH_EDGE,
        nodes,
        LABEL_NODE,
        as_wiring,
        "Choose fewer paths or smaller layers.",
        extra_bytes=segments * PATH_SEGMENT,
        counts=f"{segments:.3g} path segments, about {edges:.3g} distinct edges and {nodes:.3g} nodes",
    )


def path_network(visits: np.ndarray, sizes: Sequence[int], as_wiring: bool = False) -> nx.DiGraph | Wiring:
    """Return the layered network traced by paths, each edge remembering the paths through it.

    Parameters
    ----------
    visits : array of int, shape (num_paths, num_layers)
        ``visits[i, l]`` is the neuron of layer ``l`` that path ``i`` passes
        through, in ``0 .. sizes[l] - 1``.
    sizes : sequence of int
        Neurons per layer, at least two layers.
    as_wiring : bool
        Return a :class:`dagnet.Wiring` instead of a ``networkx.DiGraph``.

    Returns
    -------
    networkx.DiGraph or Wiring
        Nodes labelled ``(layer, index)``, layer by layer; one edge per distinct
        segment between consecutive layers, sorted by target, then source. Edge
        data:

        * ``paths``: the ids of the paths through the edge, ascending (a segment
          shared by two paths lists both); a list of ints in a DiGraph, and in
          a Wiring ``edge_attrs["paths"]``, an object array of int64 arrays;
        * ``multiplicity``: how many paths run through the edge.

        In a Wiring the path ids of all edges, concatenated, with
        ``ptr = np.r_[0, np.cumsum(edge_attrs["multiplicity"])]`` form a CSR
        pair: edge ``e`` carries paths ``ids[ptr[e]:ptr[e + 1]]``.

    Raises
    ------
    ValueError
        If ``sizes`` or ``visits`` is invalid, or the network would not fit in
        this machine's memory (the message gives the segments, edges and bytes).

    Examples
    --------
    >>> g = path_network(np.array([[0, 1], [0, 1], [1, 0]]), [2, 2])
    >>> sorted(g.edges(data="paths"))
    [((0, 0), (1, 1), [0, 1]), ((0, 1), (1, 0), [2])]
    """
    sizes = check_sizes(sizes, "path_network")
    visits = np.asarray(visits)
    if (
        visits.ndim != 2
        or visits.shape[1] != sizes.size
        or (visits.size and not np.issubdtype(visits.dtype, np.integer))
    ):
        raise ValueError(
            f"The 'visits' parameter of path_network must be an int array of shape (num_paths, "
            f"{sizes.size}), one column per layer. Got an array of shape {visits.shape} and dtype "
            f"{visits.dtype} instead."
        )
    _check_path_size(
        "path_network", f"visits of shape {visits.shape}, sizes={sizes.tolist()}", sizes, visits.shape[0], as_wiring
    )
    visits = visits.astype(np.int64, copy=False)
    outside = (visits < 0) | (visits >= sizes)
    if outside.any():
        i, layer = (int(x) for x in np.argwhere(outside)[0])
        raise ValueError(
            f"Path {i} visits neuron {int(visits[i, layer])} of layer {layer}, which has "
            f"{int(sizes[layer])} neurons (0 .. {int(sizes[layer]) - 1})."
        )
    offsets, labels = layer_labels(sizes)
    sources, targets, path_ids, counts = [], [], [], []
    for layer in range(sizes.size - 1):
        n_in = int(sizes[layer])
        # One key per segment, ordered by target, then source.
        key = visits[:, layer + 1] * n_in + visits[:, layer]
        uniq, edge_of_path = np.unique(key, return_inverse=True)
        ptr, perm = group_by(edge_of_path, uniq.size)  # perm: path ids grouped by edge, ascending
        sources.append(offsets[layer] + uniq % n_in)
        targets.append(offsets[layer + 1] + uniq // n_in)
        path_ids.append(perm)
        counts.append(np.diff(ptr))
    ids = np.concatenate(path_ids) if path_ids else np.zeros(0, dtype=np.int64)
    multiplicity = np.concatenate(counts)
    per_edge = np.split(ids, np.cumsum(multiplicity)[:-1]) if multiplicity.size else []
    paths = np.empty(len(per_edge), dtype=object)
    for e, ids_of_edge in enumerate(per_edge):  # one by one: numpy would stack equal-length arrays
        paths[e] = ids_of_edge if as_wiring else ids_of_edge.tolist()
    wiring = Wiring(
        int(offsets[-1]),
        np.concatenate(sources),
        np.concatenate(targets),
        labels=labels,
        edge_attrs={"paths": paths, "multiplicity": multiplicity},
    )
    return wiring if as_wiring else wiring.to_graph()


def random_walk_paths(
    sizes: Sequence[int],
    num_paths: int,
    seed: int | np.random.Generator | None = None,
    as_wiring: bool = False,
) -> nx.DiGraph | Wiring:
    """Return a layered network made of ``num_paths`` random walks through the layers.

    Keller & Van Keirsbilck (papers.md §3): path ``i`` visits neuron
    ``floor(n_l * x_{i,l})`` of layer ``l``, with every ``x_{i,l}`` uniform in
    [0, 1) and independent, so each path picks one neuron per layer uniformly
    (drawn directly as a uniform integer).
    Each segment between consecutive layers is an edge; segments shared by
    several paths are one edge that remembers them all.

    Parameters
    ----------
    sizes : sequence of int
        Neurons per layer, at least two layers.
    num_paths : int
        Number of paths, >= 0.
    seed : int, numpy Generator or None
        Source of randomness.
    as_wiring : bool
        Return a :class:`dagnet.Wiring` instead of a ``networkx.DiGraph``.

    Returns
    -------
    networkx.DiGraph or Wiring
        As :func:`path_network`: nodes ``(layer, index)``, edge data ``paths``
        (path ids) and ``multiplicity``.

    Raises
    ------
    ValueError
        If ``sizes`` or ``num_paths`` is invalid, or the network would not fit
        in this machine's memory (checked before any path is drawn; the
        message gives the segments, edges and bytes).

    Examples
    --------
    >>> g = random_walk_paths([4, 8, 2], 16, seed=0)
    >>> sum(m for _, _, m in g.edges(data="multiplicity"))  # 16 paths, 2 segments each
    32
    """
    func = "random_walk_paths"
    sizes = check_sizes(sizes, func)
    num_paths = check_int(num_paths, "num_paths", func, low=0)
    _check_path_size(func, f"sizes={sizes.tolist()}, num_paths={num_paths}", sizes, num_paths, as_wiring)
    visits = numpy_rng(seed).integers(0, sizes, size=(num_paths, sizes.size))
    return path_network(visits, sizes, as_wiring)


def sobol_paths(
    sizes: Sequence[int],
    num_paths: int,
    scramble_seed: int | np.random.Generator | None = None,
    as_wiring: bool = False,
) -> nx.DiGraph | Wiring:
    """Return a layered network made of ``num_paths`` paths given by the Sobol' sequence.

    Keller & Van Keirsbilck (papers.md §3): path ``i`` visits neuron
    ``floor(n_l * x_{i,l})`` of layer ``l``, where ``x_i`` is the ``i``-th point
    of the Sobol' sequence in dimension ``L + 1`` (one coordinate per layer),
    ``scipy.stats.qmc.Sobol``, starting at its first point (the origin: skipping
    it would break the block structure below), unscrambled unless
    ``scramble_seed`` is given (then Owen-type LMS + digital shift scrambling,
    which keeps that structure).

    With power-of-two layer sizes, every aligned block of ``2^m`` points puts
    exactly one point in each of ``2^m`` equal intervals in every coordinate.
    So with ``num_paths = k * max(sizes)``, each neuron of layer ``l`` carries
    exactly ``k * max(sizes) / n_l`` paths in and out: ``k`` when all layers
    have the same size, and each block of ``n`` paths joins consecutive layers
    by a permutation. Counted in paths, that is: two paths from different
    blocks can share a segment (their edge then has multiplicity 2), so a
    neuron can have fewer than ``k`` distinct neighbours.

    Parameters
    ----------
    sizes : sequence of int
        Neurons per layer, at least two layers (powers of two for the exact
        balance above; other sizes work, without it).
    num_paths : int
        Number of paths, >= 0.
    scramble_seed : int, numpy Generator or None
        None (default): the plain, deterministic Sobol' sequence. Otherwise the
        seed of a scrambled one.
    as_wiring : bool
        Return a :class:`dagnet.Wiring` instead of a ``networkx.DiGraph``.

    Returns
    -------
    networkx.DiGraph or Wiring
        As :func:`path_network`: nodes ``(layer, index)``, edge data ``paths``
        (path ids) and ``multiplicity``.

    Raises
    ------
    ValueError
        If ``sizes`` or ``num_paths`` is invalid, or the network would not fit
        in this machine's memory (checked before any path is drawn; the
        message gives the segments, edges and bytes).

    Examples
    --------
    >>> g = sobol_paths([8, 8, 8], 16)  # k = 2 paths through every neuron
    >>> sorted({m for _, m in g.in_degree(weight="multiplicity") if m})
    [2]
    """
    func = "sobol_paths"
    sizes = check_sizes(sizes, func)
    num_paths = check_int(num_paths, "num_paths", func, low=0)
    _check_path_size(func, f"sizes={sizes.tolist()}, num_paths={num_paths}", sizes, num_paths, as_wiring)
    from scipy.stats import qmc  # scipy.stats takes longer to import than the rest of dagnet

    engine = qmc.Sobol(
        sizes.size,
        scramble=scramble_seed is not None,
        seed=None if scramble_seed is None else numpy_rng(scramble_seed),  # "rng" only from scipy 1.15
    )
    with warnings.catch_warnings():
        # scipy warns when num_paths is not a power of two; prefixes of any length are what we want.
        warnings.filterwarnings("ignore", message=".*balance properties of Sobol' points.*")
        x = engine.random(num_paths)
    visits = np.minimum(np.floor(x * sizes).astype(np.int64), sizes - 1)
    return path_network(visits, sizes, as_wiring)
