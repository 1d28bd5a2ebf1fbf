"""Dense blocks (runs of nodes reading all of a range of inputs) computed as GEMMs: the same network."""

from __future__ import annotations

import copy

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagnet import DAGNetwork
from dagnet.engine.codes import CUSTOM, IDENTITY, RELU
from dagnet.engine.dense import DenseBlock, find_dense_blocks
from dagnet.engine.numba_runtime import NumbaRuntime
from dagnet.topology import layered_sparse
from strategies import dag_cases
from test_engine_reference import _check

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def dense_cases(draw):
    """A :func:`dag_cases` graph with dense layers added: nodes that read every source, or a run of them."""
    case = copy.deepcopy(draw(dag_cases()))
    g = case["graph"]
    sources = [v for v in g.nodes if g.in_degree(v) == 0]
    rng = np.random.default_rng(case["seed"])
    later = [v for v in g.nodes if g.in_degree(v) > 0]
    below = sources
    for layer in range(draw(st.integers(1, 3))):
        width = draw(st.integers(1, 6))
        new = [("dense", layer, i) for i in range(width)]
        for v in new:
            for u in below:  # every source, then the whole layer before
                g.add_edge(u, v)
            for t in later:  # and on to nodes further down, so blocks feed the rest
                if rng.random() < 0.3:
                    g.add_edge(v, t)
        below = new
    case["inputs"] = None  # every source is an input: the dense layers read inputs
    return case


@pytest.fixture
def every_block(monkeypatch):
    monkeypatch.setattr(NumbaRuntime, "dense_min_edges", 1)


@SETTINGS
@given(case=dense_cases())
def test_dense_layers_match_the_reference(case):
    NumbaRuntime.dense_min_edges, old = 1, NumbaRuntime.dense_min_edges
    try:
        _check(case, torch.float64, "numba", 1e-10)
    finally:
        NumbaRuntime.dense_min_edges = old


@SETTINGS
@given(case=dag_cases())
def test_any_graph_with_every_block_as_gemm_matches_the_reference(case):
    NumbaRuntime.dense_min_edges, old = 1, NumbaRuntime.dense_min_edges
    try:
        _check(copy.deepcopy(case), torch.float64, "numba", 1e-10)
        _check(copy.deepcopy(case), torch.float32, "numba", 1e-5)  # (a module activation's grads accumulate)
    finally:
        NumbaRuntime.dense_min_edges = old


def _mlp(*sizes):
    """A dense MLP of layer ``sizes`` as one wiring (SET's layers with p >= 1 are complete)."""
    return layered_sparse(sizes, epsilon=max(sizes), as_wiring=True)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid", "leaky_relu", "identity"])
def test_an_mlp_gets_every_layer_as_a_block_and_the_same_gradients(activation):
    results = []
    for min_edges in (None, 1):
        NumbaRuntime.dense_min_edges, old = min_edges, NumbaRuntime.dense_min_edges
        try:
            net = DAGNetwork(_mlp(12, 20, 15, 4), activation=activation, seed=0, dtype=torch.float64)
            x = torch.randn(9, 12, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
            net.retain_activity = True
            out = net(x)
            out.square().sum().backward()
            runtime = net._get_runtime()
            results.append((out, net.weight.grad, net.bias.grad, x.grad, *runtime.activity, runtime._blocks))
        finally:
            NumbaRuntime.dense_min_edges = old
    *plain, no_blocks = results[0]
    *dense, blocks = results[1]
    assert no_blocks == [] and [(b.s0, b.s1, b.t1 - b.t0) for b in blocks] == [(0, 12, 20), (12, 32, 15), (32, 47, 4)]
    for a, b in zip(plain, dense):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-13)


def test_two_threads_and_one_agree_with_blocks(every_block):
    net = DAGNetwork(_mlp(40, 3000, 10), seed=0)
    assert len(net._get_runtime()._blocks) == 2
    x = torch.randn(16, 40, generator=torch.Generator().manual_seed(0))
    outs = []
    for threads in (1, 2):
        old = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            outs.append(net(x))
        finally:
            torch.set_num_threads(old)
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-6)


def test_find_dense_blocks_keeps_maximal_runs_of_kernel_codes():
    # inputs 0..2; nodes 3, 4 read inputs 0..2; 5 reads 0..1; 6 (custom code) reads 0..2; 7 reads 3.
    in_ptr = np.array([0, 0, 0, 0, 3, 6, 8, 11, 12])
    in_src = np.array([0, 1, 2, 0, 1, 2, 0, 1, 0, 1, 2, 3])
    C = CUSTOM
    act = np.array([C, C, C, RELU, RELU, RELU, C, IDENTITY], dtype=np.int8)
    level_ptr = np.array([0, 3, 7, 8])
    blocks = find_dense_blocks(in_ptr, in_src, act, level_ptr, 3, min_edges=2)
    assert blocks == [DenseBlock(3, 5, 0, 3, 0, RELU), DenseBlock(5, 6, 0, 2, 6, RELU)]
    assert find_dense_blocks(in_ptr, in_src, act, level_ptr, 3, min_edges=7) == []
    assert find_dense_blocks(in_ptr, in_src, act, level_ptr, 3, min_edges=None) == []


def test_a_gap_in_the_sources_is_no_block():
    g = nx.DiGraph([(0, 3), (2, 3), (0, 4), (2, 4), (1, 5), (3, 5), (4, 5)])
    NumbaRuntime.dense_min_edges, old = 1, NumbaRuntime.dense_min_edges
    try:
        net = DAGNetwork(g, inputs=[0, 1, 2], seed=0)
        assert net._get_runtime()._blocks == []  # 3 and 4 read inputs 0 and 2, not a range
    finally:
        NumbaRuntime.dense_min_edges = old
