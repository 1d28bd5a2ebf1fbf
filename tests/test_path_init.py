"""Deterministic initialisations: no random numbers, values from edge positions, fixed sign."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dagnet import DAGNetwork
from dagnet.nn.init import deterministic_values
from dagnet.topology import erdos_renyi_dag, random_walk_paths, sobol_paths

FEW = settings(max_examples=30, deadline=None)
DETERMINISTIC = ["deterministic", "deterministic_positive"]


def _reference(target: list[int], positive: bool) -> list[float]:
    """The documented rule, one edge at a time in plain Python."""
    golden = (math.sqrt(5) - 1) / 2
    u = [(0.5 + (e + 1) * golden) % 1.0 for e in range(len(target))]
    into = {}
    for e, v in enumerate(target):
        into.setdefault(v, []).append(e)
    w = [0.0] * len(target)
    for edges in into.values():
        if not positive:
            for e in edges:
                w[e] = (2 * u[e] - 1) / math.sqrt(len(edges))
            continue
        top = max(u[e] for e in edges)
        raw = {e: (u[e] / top) ** 16 for e in edges}
        norm = math.sqrt(3 * sum(r * r for r in raw.values()))
        for e in edges:
            w[e] = raw[e] / norm
    return w


@FEW
@given(target=st.lists(st.integers(0, 6), max_size=60), positive=st.booleans())
def test_values_follow_the_rule(target, positive):
    got = deterministic_values(np.array(target, dtype=np.int64), 7, positive=positive)
    np.testing.assert_allclose(got, _reference(target, positive), rtol=1e-12, atol=0)


@FEW
@given(k=st.integers(1, 2000), start=st.integers(0, 10**6))
def test_each_node_gets_evenly_spread_values(k, start):
    # k consecutive edges into one node (after `start` edges into another)
    target = np.r_[np.zeros(start, np.int64), np.ones(k, np.int64)]
    w = deterministic_values(target, 2)[start:] * math.sqrt(k)  # = 2 u - 1
    assert np.abs(w).max() <= 1
    assert abs(w.sum()) <= 2 + math.log(k)  # low discrepancy: a random sum would spread as sqrt(k / 3)
    pos = deterministic_values(target, 2, positive=True)[start:]
    assert (pos > 0).all() and math.isclose(float((pos**2).sum()), 1 / 3)


@pytest.mark.parametrize("init", DETERMINISTIC)
def test_network_values_ignore_the_seed_and_leave_torch_rng_alone(init):
    wiring = sobol_paths([16, 32, 32, 4], 64, as_wiring=True)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = DAGNetwork(wiring, init=init, seed=0)
    b = DAGNetwork(wiring, init=init, seed=1)
    c = DAGNetwork(wiring, init=init, seed=None)
    assert torch.equal(torch.random.get_rng_state(), state)
    for net in (b, c):
        assert torch.equal(a.weight, net.weight) and torch.equal(a.bias, net.bias)
    assert (a.bias == 0).all()
    assert not torch.equal(DAGNetwork(wiring, seed=0).weight, DAGNetwork(wiring, seed=1).weight)


@pytest.mark.parametrize("init", DETERMINISTIC)
def test_network_weights_are_those_of_their_wiring_edges(init):
    g = erdos_renyi_dag(30, 0.2, seed=3)
    net = DAGNetwork(g, init=init, dtype=torch.float64, seed=0)
    edges = list(g.edges())
    target = np.array([list(g.nodes).index(v) for _, v in edges])
    expected = dict(zip(edges, deterministic_values(target, g.number_of_nodes(), init.endswith("positive"))))
    src, dst = net.edge_endpoints()
    labels = net.node_labels
    got = {(labels[u], labels[v]): w for u, v, w in zip(src, dst, net.weight.tolist())}
    assert got == pytest.approx(expected, rel=1e-12)
    if init == "deterministic_positive":
        assert (net.weight > 0).all()


def test_spread_positive_weights_send_gradient_where_a_constant_sends_none():
    # Dense output layer: a constant weight into every output makes each hidden unit's
    # gradient the sum of the softmax gradients over the classes, which is 0.
    g = nx.DiGraph()
    g.add_edges_from(((0, i), (1, j)) for i in range(6) for j in range(8) if (i + j) % 3)
    g.add_edges_from(((1, j), (2, c)) for j in range(8) for c in range(3))
    x = torch.randn(32, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.arange(32) % 3
    hidden_grad = {}
    for init in ("constant", "deterministic_positive"):
        net = DAGNetwork(g, init="deterministic_positive", dtype=torch.float64, seed=0)
        if init == "constant":
            src, dst = net.edge_endpoints()
            fan = np.bincount(dst, minlength=net.num_nodes)
            with torch.no_grad():
                net.weight.copy_(torch.from_numpy(1 / np.sqrt(fan[dst])))
        torch.nn.functional.cross_entropy(net(x), y).backward()
        src, _ = net.edge_endpoints()
        first = torch.from_numpy(np.array([net.node_labels[u][0] == 0 for u in src]))
        hidden_grad[init] = net.weight.grad[first].abs().max().item()
    assert hidden_grad["constant"] < 1e-12 < 1e-4 < hidden_grad["deterministic_positive"]


def test_random_walk_networks_accept_them_too():
    w = random_walk_paths([8, 16, 2], 40, seed=0, as_wiring=True)
    net = DAGNetwork(w, init="deterministic_positive", prune_dead=True, seed=0)
    assert (net.weight > 0).all() and torch.isfinite(net(torch.randn(3, 8))).all()
