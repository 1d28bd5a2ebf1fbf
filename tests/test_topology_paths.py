"""Layered generators: SET's sparse layers, random-walk and Sobol' path networks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagnet.topology import erdos_renyi_dag, layered_sparse, path_network, random_walk_paths, sobol_paths

FEW = settings(max_examples=25, deadline=None)


def _visits(w, num_paths: int, num_layers: int) -> np.ndarray:
    """Rebuild ``visits[path, layer]`` from a path network's edges and their ``paths``."""
    labels = w.node_labels()
    visits = np.full((num_paths, num_layers), -1)
    for s, t, ids in zip(w.source.tolist(), w.target.tolist(), w.edge_attrs["paths"]):
        (ls, i), (lt, j) = labels[s], labels[t]
        assert lt == ls + 1
        for path in ids.tolist():
            assert visits[path, ls] in (-1, i) and visits[path, lt] in (-1, j)
            visits[path, ls], visits[path, lt] = i, j
    assert (visits >= 0).all()  # every path crosses every layer gap exactly once
    return visits


# --------------------------------------------------------------------------- layered_sparse
def test_layered_sparse_edge_counts_follow_the_set_probability():
    sizes, epsilon = [300, 200, 100], 5.0
    w = layered_sparse(sizes, epsilon, seed=0, as_wiring=True)
    layer = np.array([lab[0] for lab in w.node_labels()])
    for l in range(len(sizes) - 1):
        n_in, n_out = sizes[l], sizes[l + 1]
        p = epsilon * (n_in + n_out) / (n_in * n_out)  # SET's formula, exactly
        count = int((layer[w.source] == l).sum())
        mean, sigma = n_in * n_out * p, math.sqrt(n_in * n_out * p * (1 - p))
        assert abs(count - mean) < 5 * sigma
    assert (layer[w.target] == layer[w.source] + 1).all()


def test_layered_sparse_is_dense_where_the_probability_reaches_one():
    g = layered_sparse([4, 3, 2], epsilon=20, seed=0)
    assert g.number_of_edges() == 4 * 3 + 3 * 2
    assert list(g.nodes)[:5] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]
    assert g.has_edge((0, 3), (1, 2)) and not g.has_edge((0, 0), (2, 0))


def test_layered_sparse_scales_to_wide_layers():
    w = layered_sparse([10000] * 4, 20, seed=1, as_wiring=True)
    expected = 3 * 20 * (10000 + 10000)  # epsilon * (n_in + n_out) per layer pair
    assert abs(w.num_edges - expected) < 5 * math.sqrt(expected)


def test_tiny_probabilities_give_no_edges_and_terminate():
    # Geometric gaps saturate at the int64 maximum for p ~ 1e-300: they must not wrap around.
    assert erdos_renyi_dag(300, 1e-300, seed=0, as_wiring=True).num_edges == 0
    assert layered_sparse([50, 50], epsilon=1e-300, seed=0, as_wiring=True).num_edges == 0


# --------------------------------------------------------------------------- Sobol'
@pytest.mark.parametrize("sizes, k", [([8, 8, 8, 8], 1), ([8, 8, 8, 8], 3), ([16, 16, 16], 5), ([64] * 5, 4)])
@pytest.mark.parametrize("scramble_seed", [None, 11])
def test_sobol_gives_every_neuron_exactly_k_paths_in_and_out(sizes, k, scramble_seed):
    n = max(sizes)
    w = sobol_paths(sizes, k * n, scramble_seed=scramble_seed, as_wiring=True)
    paths_in = np.bincount(w.target, weights=w.edge_attrs["multiplicity"], minlength=w.num_nodes)
    paths_out = np.bincount(w.source, weights=w.edge_attrs["multiplicity"], minlength=w.num_nodes)
    last = w.num_nodes - sizes[-1]
    assert (paths_in[sizes[0] :] == k).all() and (paths_in[: sizes[0]] == 0).all()
    assert (paths_out[:last] == k).all() and (paths_out[last:] == 0).all()
    # Each aligned block of n paths joins consecutive layers by a permutation.
    visits = _visits(w, k * n, len(sizes))
    for block in range(k):
        rows = visits[block * n : (block + 1) * n]
        for l in range(len(sizes)):
            assert sorted(rows[:, l]) == list(range(n))


def test_sobol_unequal_power_of_two_sizes_balance_paths_per_layer():
    sizes, k = [8, 16, 4], 2
    w = sobol_paths(sizes, k * 16, as_wiring=True)
    mult = w.edge_attrs["multiplicity"]
    paths_out = np.bincount(w.source, weights=mult, minlength=w.num_nodes)
    paths_in = np.bincount(w.target, weights=mult, minlength=w.num_nodes)
    assert (paths_out[:8] == k * 16 / 8).all()
    assert (paths_in[8:24] == k).all() and (paths_out[8:24] == k).all()
    assert (paths_in[24:] == k * 16 / 4).all()


def test_sobol_starts_at_the_origin_and_is_deterministic_unless_scrambled():
    # Convention: the first Sobol' point (the origin) is kept; skipping it would break the blocks.
    g = sobol_paths([4, 4, 4], 8)
    assert 0 in g.edges[(0, 0), (1, 0)]["paths"] and 0 in g.edges[(1, 0), (2, 0)]["paths"]
    assert sorted(g.edges(data="paths")) == sorted(sobol_paths([4, 4, 4], 8).edges(data="paths"))
    a = sobol_paths([16, 16, 16], 64, scramble_seed=1, as_wiring=True)
    b = sobol_paths([16, 16, 16], 64, scramble_seed=1, as_wiring=True)
    c = sobol_paths([16, 16, 16], 64, scramble_seed=2, as_wiring=True)
    plain = sobol_paths([16, 16, 16], 64, as_wiring=True)
    assert np.array_equal(a.source, b.source) and np.array_equal(a.target, b.target)
    assert not (np.array_equal(a.source, c.source) and np.array_equal(a.target, c.target))
    assert not (np.array_equal(a.source, plain.source) and np.array_equal(a.target, plain.target))


# --------------------------------------------------------------------------- random walks and paths
@FEW
@given(st.lists(st.integers(1, 9), min_size=2, max_size=5), st.integers(0, 60), st.integers(0, 2**32 - 1))
def test_random_walks_keep_every_path(sizes, num_paths, seed):
    w = random_walk_paths(sizes, num_paths, seed=seed, as_wiring=True)
    mult = w.edge_attrs["multiplicity"]
    assert mult.sum() == num_paths * (len(sizes) - 1)
    assert [len(ids) for ids in w.edge_attrs["paths"]] == mult.tolist()
    if num_paths:
        visits = _visits(w, num_paths, len(sizes))
        assert (visits < np.array(sizes)).all()
        # path_network rebuilds the same network from the visits
        again = path_network(visits, sizes, as_wiring=True)
        assert np.array_equal(again.source, w.source) and np.array_equal(again.target, w.target)


def test_random_walks_visit_neurons_uniformly():
    sizes, num_paths = [20, 50], 20000
    w = random_walk_paths(sizes, num_paths, seed=5, as_wiring=True)
    mult = w.edge_attrs["multiplicity"]
    for layer, nodes, ends in ((0, slice(0, 20), w.source), (1, slice(20, 70), w.target)):
        hits = np.bincount(ends, weights=mult, minlength=70)[nodes]
        p = 1 / sizes[layer]
        assert np.abs(hits - num_paths * p).max() < 5 * math.sqrt(num_paths * p * (1 - p))


def test_shared_segments_count_each_path():
    g = path_network(np.array([[0, 1, 0], [0, 1, 1], [1, 0, 0]]), [2, 2, 2])
    assert g.edges[(0, 0), (1, 1)]["paths"] == [0, 1]
    assert g.edges[(0, 0), (1, 1)]["multiplicity"] == 2
    assert g.edges[(1, 1), (2, 1)]["paths"] == [1]


@pytest.mark.parametrize(
    "visits, message",
    [
        (np.array([[0, 2]]), "Path 0 visits neuron 2 of layer 1, which has 2 neurons"),
        (np.array([[0, 1, 1]]), "must be an int array of shape (num_paths, 2)"),
        (np.array([[0.5, 1.0]]), "must be an int array"),
    ],
)
def test_path_network_checks_its_visits(visits, message):
    with pytest.raises(ValueError) as info:
        path_network(visits, [2, 2])
    assert message in str(info.value)
