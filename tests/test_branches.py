"""Multi-branch nodes: dendritic branches combined by PyNADA, AIL, max or a callable."""

from __future__ import annotations

import networkx as nx
import pytest
import torch

import dagnet
from dagnet import DAGNetwork
from dagnet.activations import ada, and_ail, xnor_exact
from dagnet.engine import run_network
from dagnet.errors import GraphError


def _pyramidal():
    g = nx.DiGraph()
    g.add_edge("x1", "v", branch=0, weight=0.5)
    g.add_edge("x2", "v", branch=0, weight=-1.0)
    g.add_edge("x2", "v2", weight=1.0)
    g.add_edge("x1", "v2", weight=2.0)
    g.add_edge("v2", "v", branch=1, weight=1.5)
    g.nodes["v"]["combine"] = "pynada"
    g.nodes["v"]["branch_bias"] = [0.1, -0.2]
    g.nodes["v2"]["bias"] = 0.3
    return g


def test_pynada_matches_formula():
    net = DAGNetwork(_pyramidal(), outputs=["v"], dtype=torch.float64, seed=0)
    x = torch.randn(7, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    basal = 0.1 + 0.5 * x[:, 0] - 1.0 * x[:, 1]
    v2 = torch.relu(0.3 + x[:, 1] + 2.0 * x[:, 0])
    apical = -0.2 + 1.5 * v2
    expected = torch.relu(basal) + ada(apical)
    torch.testing.assert_close(net(x)[:, 0], expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("combine", ["pynada", "and", "or", "xnor", "and_exact", "xnor_exact", "max"])
def test_gradcheck_multi_branch(backend, combine):
    g = _pyramidal()
    g.nodes["v"]["combine"] = combine
    g.add_edge("v", "y")
    g.add_edge("x1", "y")
    net = DAGNetwork(g, dtype=torch.float64, seed=1, backend=backend)
    run = net._get_runtime()
    x = torch.randn(4, 2, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(2))
    fn = lambda x, w, b: run_network(x, w, b, run)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, net.weight, net.bias))


def test_units_are_rows_of_the_sparse_product():
    net = DAGNetwork(_pyramidal(), seed=0)
    # Two branch units beside the four nodes; parameters: one per edge, one bias per unit or node.
    assert net.num_nodes == 4 and net.node_index.numel() == 6
    assert net.weight.numel() == 5
    assert net.to_wiring().branch_bias[1] == pytest.approx([0.1, -0.2])


def test_callable_combine_sees_rows_by_branches():
    seen = []

    def first_minus_second(z):
        seen.append(tuple(z.shape))
        return z[:, 0] - z[:, 1]

    g = nx.DiGraph()
    g.add_edge("a", "v", branch=0, weight=2.0)
    g.add_edge("b", "v", branch=1, weight=3.0)
    g.nodes["v"]["combine"] = first_minus_second
    g.nodes["v"]["branch_bias"] = [0.0, 0.0]
    net = DAGNetwork(g, dtype=torch.float64, seed=0)
    x = torch.tensor([[1.0, 1.0], [2.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(net(x)[:, 0], torch.tensor([-1.0, 4.0], dtype=torch.float64))
    assert seen[-1] == (2, 2)


def test_activation_applies_after_the_combine():
    g = nx.DiGraph()
    g.add_edge("a", "v", branch=0, weight=1.0)
    g.add_edge("b", "v", branch=1, weight=1.0)
    g.nodes["v"]["combine"] = "and"
    g.nodes["v"]["activation"] = "sigmoid"
    g.nodes["v"]["branch_bias"] = [0.0, 0.0]
    net = DAGNetwork(g, dtype=torch.float64, seed=0)
    x = torch.tensor([[-1.0, -2.0], [1.0, 3.0]], dtype=torch.float64)
    expected = torch.sigmoid(and_ail(x[:, 0], x[:, 1]))
    torch.testing.assert_close(net(x)[:, 0], expected)


def test_errors_name_the_node():
    g = _pyramidal()
    g.add_edge("x1", "w", branch=2)
    g.nodes["w"]["combine"] = "xnor"
    with pytest.raises(GraphError, match="'w'.*'xnor'.*2 branches.*branch 2"):
        DAGNetwork(g)
    g = _pyramidal()
    g.nodes["v"]["combine"] = "median"
    with pytest.raises(ValueError, match="'v'.*median"):
        DAGNetwork(g)
    g = _pyramidal()
    g.nodes["v"]["bias"] = 1.0
    with pytest.raises(ValueError, match="'v'.*branch_bias"):
        DAGNetwork(g)
    g = _pyramidal()
    g.nodes["x1"]["combine"] = "max"
    with pytest.raises(GraphError, match="'x1'"):
        DAGNetwork(g)
    g = _pyramidal()
    g.edges["x1", "v"]["branch"] = -1
    with pytest.raises(GraphError, match="branch"):
        DAGNetwork(g)


def test_to_graph_and_save_load_round_trip(tmp_path):
    g = _pyramidal()
    g.nodes["v"]["combine"] = xnor_exact_rows
    net = DAGNetwork(g, seed=0, layering="alap")
    h = net.to_graph()
    assert h.edges["v2", "v"]["branch"] == 1 and h.nodes["v"]["combine"] is xnor_exact_rows
    again = DAGNetwork(h, seed=9, layering="alap")
    x = torch.randn(5, 2)
    assert torch.equal(again(x), net(x))
    dagnet.save(net, tmp_path / "n.pt")
    loaded = dagnet.load(tmp_path / "n.pt", custom_objects=[xnor_exact_rows])
    assert torch.equal(loaded(x), net(x))


def xnor_exact_rows(z):
    return xnor_exact(z[:, 0], z[:, 1])


def test_multi_branch_network_trains():
    """Exclusive or of two inputs learned by one multi-branch neuron with an XNOR combine."""
    g = nx.DiGraph([("a", "v"), ("b", "v")])
    g.edges["b", "v"]["branch"] = 1
    g.nodes["v"]["combine"] = "xnor_exact"
    net = DAGNetwork(g, dtype=torch.float64, seed=3)
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64) * 2 - 1
    y = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64)  # XNOR truth table
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    for _ in range(200):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x)[:, 0], y)
        loss.backward()
        opt.step()
    assert ((net(x)[:, 0] > 0).double() == y).all()
