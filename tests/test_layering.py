"""Layerings against networkx references, on random DAGs."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagnet import CycleError, Wiring, layering
from dagnet.topology import erdos_renyi_dag


@st.composite
def dags(draw):
    n = draw(st.integers(1, 30))
    p = draw(st.floats(0.0, 0.6))
    seed = draw(st.integers(0, 2**32 - 1))
    g = erdos_renyi_dag(n, p, seed=seed)
    perm = np.random.default_rng(seed).permutation(n)
    return nx.relabel_nodes(g, {i: f"v{perm[i]}" for i in range(n)})


def _longest_from_sources(g):
    level = {}
    for v in nx.topological_sort(g):
        level[v] = max((level[u] + 1 for u in g.predecessors(v)), default=0)
    return level


def _longest_to_sinks(g):
    height = {}
    for v in reversed(list(nx.topological_sort(g))):
        height[v] = max((height[w] + 1 for w in g.successors(v)), default=0)
    return height


@settings(max_examples=80, deadline=None)
@given(g=dags())
def test_asap_is_longest_path_from_sources(g):
    assert layering.asap(g) == _longest_from_sources(g)


@settings(max_examples=80, deadline=None)
@given(g=dags())
def test_alap_is_depth_minus_height(g):
    level = layering.alap(g)
    height = _longest_to_sinks(g)
    depth = max(_longest_from_sources(g).values())
    for v in g:
        expected = 0 if g.in_degree(v) == 0 else depth - height[v]
        assert level[v] == expected
    assert all(level[u] < level[v] for u, v in g.edges)


@settings(max_examples=80, deadline=None)
@given(g=dags(), width=st.integers(1, 5))
def test_bounded_width_respects_width_and_edges(g, width):
    level = layering.bounded_width(g, width)
    assert all(level[u] < level[v] for u, v in g.edges)
    counts = np.bincount([l for v, l in level.items() if g.in_degree(v) > 0])
    assert counts[1:].max(initial=0) <= width
    assert all(level[v] == 0 for v in g if g.in_degree(v) == 0)
    # No level is skipped: levels are 0..L with each one used.
    used = set(level.values())
    assert used == set(range(max(used) + 1))


def test_bounded_width_unbounded_equals_asap():
    g = erdos_renyi_dag(200, 0.05, seed=3)
    assert layering.bounded_width(g, 10**6) == layering.asap(g)


def test_pinned_sources_and_constants():
    g = nx.DiGraph([("x", "y"), ("c", "y")])
    assert layering.asap(g, sources=["x"]) == {"x": 0, "y": 2, "c": 1}


def test_wiring_returns_array():
    w = Wiring(3, [0, 1], [1, 2])
    assert layering.asap(w).tolist() == [0, 1, 2]
    assert layering.alap(w).tolist() == [0, 1, 2]


def test_cycle_detected_with_labels():
    g = nx.DiGraph([("s", "a"), ("a", "b"), ("b", "a")])
    with pytest.raises(CycleError, match="'a' -> 'b' -> 'a'|'b' -> 'a' -> 'b'"):
        layering.asap(g)


def test_deep_chain_is_linear():
    n = 200_000
    w = Wiring(n, np.arange(n - 1), np.arange(1, n))
    assert int(layering.asap(w)[-1]) == n - 1
