"""Wiring arrays, CSR helpers, seeds and the plan compiler."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dagnet import Wiring
from dagnet.csr import csr, group_by
from dagnet.errors import GraphError
from dagnet.plan import compile_plan
from dagnet.seeding import numpy_rng, resolve_seed, torch_generator
from dagnet.topology import erdos_renyi_dag


@settings(max_examples=50, deadline=None)
@given(rows=st.lists(st.integers(0, 9), max_size=60), seed=st.integers(0, 1000))
def test_csr_matches_sorting(rows, seed):
    rows = np.array(rows, dtype=np.int64)
    cols = np.random.default_rng(seed).integers(0, 9, size=rows.size)
    ptr, col, perm = csr(rows, cols, 10)
    order = np.lexsort((cols, rows), axis=0) if rows.size else np.zeros(0, dtype=np.int64)
    assert col.tolist() == cols[order].tolist()
    assert rows[perm].tolist() == rows[order].tolist()
    assert ptr.tolist() == [0, *np.cumsum(np.bincount(rows, minlength=10)).tolist()]
    gptr, gperm = group_by(rows, 10)
    assert gptr.tolist() == ptr.tolist()
    assert rows[gperm].tolist() == sorted(rows.tolist())


def test_wiring_graph_round_trip():
    g = nx.DiGraph()
    g.add_edge("a", ("b", 1), weight=0.5)
    g.add_edge(("b", 1), 3)
    g.nodes["a"]["bias"] = 1.0
    g.nodes[3]["activation"] = "tanh"
    w = Wiring.from_graph(g)
    assert w.labels == ["a", ("b", 1), 3]
    assert w.weight[0] == 0.5 and np.isnan(w.weight[1])
    h = w.to_graph()
    assert list(h.edges(data=True)) == [("a", ("b", 1), {"weight": 0.5}), (("b", 1), 3, {})]
    assert h.nodes["a"]["bias"] == 1.0 and h.nodes[3]["activation"] == "tanh"


def test_wiring_validation_messages():
    with pytest.raises(GraphError, match="same length"):
        Wiring(3, [0, 1], [2])
    with pytest.raises(GraphError, match="labels.*'x' twice"):
        Wiring(2, [0], [1], labels=["x", "x"])
    with pytest.raises(GraphError, match="integers"):
        Wiring(2, [0.5], [1])
    with pytest.raises(GraphError, match="shape"):
        Wiring(2, [0], [1], weight=[1.0, 2.0])
    with pytest.raises(GraphError, match="MultiDiGraph"):
        Wiring.from_graph(nx.MultiDiGraph([(0, 1)]))


def test_seeding_helpers():
    assert resolve_seed(5) == 5
    with pytest.raises(ValueError, match="seed"):
        resolve_seed(1.5)
    assert numpy_rng(3).random() == numpy_rng(3).random()
    g = torch_generator(3)
    assert torch.rand(1, generator=g).item() == torch.rand(1, generator=torch_generator(3)).item()


def test_plan_levels_are_contiguous_and_edges_go_up():
    w = erdos_renyi_dag(500, 0.02, seed=1, as_wiring=True)
    plan, _ = compile_plan(w)
    level = plan.level_of_positions()
    targets = np.repeat(np.arange(plan.num_nodes), np.diff(plan.in_ptr))
    assert np.all(level[plan.in_src] < level[targets])
    assert plan.level_ptr[1] == plan.num_inputs
    assert plan.level_sizes().sum() == plan.num_nodes
    # CSR by source lists the same edges.
    sources = np.repeat(np.arange(plan.num_nodes), np.diff(plan.out_ptr))
    pairs_in = set(zip(plan.in_src.tolist(), targets.tolist()))
    pairs_out = set(zip(sources.tolist(), plan.out_dst.tolist()))
    assert pairs_in == pairs_out
    assert np.array_equal(plan.in_src[plan.out_edge], sources)


def test_plan_groups_activations_within_levels():
    g = nx.DiGraph([("x", f"h{i}") for i in range(6)] + [(f"h{i}", "y") for i in range(6)])
    for i in range(0, 6, 2):
        g.nodes[f"h{i}"]["activation"] = "tanh"
    plan, _ = compile_plan(Wiring.from_graph(g))
    keys = [key for _, _, key in plan.groups]
    assert keys == ["relu", "tanh", "identity"] or keys == ["tanh", "relu", "identity"]
    assert [e - s for s, e, _ in plan.groups] == [3, 3, 1]
