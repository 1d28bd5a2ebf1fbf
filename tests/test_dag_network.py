"""DAGNetwork as a module: gradients, composition, attributes, saving, determinism."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

import dagnet
from dagnet import DAGNetwork, Wiring
from dagnet.engine import run_network
from dagnet.errors import InputShapeError
from dagnet.topology import erdos_renyi_dag


def _mixed_graph():
    g = nx.DiGraph()
    g.add_edges_from(
        [
            ("a", "h1"),
            ("b", "h1"),
            ("a", "h2"),
            ("h1", "h3"),
            ("h2", "h3"),
            ("b", "h3"),
            ("h3", "y1"),
            ("h1", "y2"),
            ("h2", "y2"),
            ("a", "y2"),
        ]
    )
    g.nodes["h2"]["activation"] = "tanh"
    g.nodes["h3"]["activation"] = "gelu"
    g.nodes["y2"]["activation"] = "sigmoid"
    return g


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_gradcheck(backend):
    net = DAGNetwork(_mixed_graph(), seed=1, dtype=torch.float64, backend=backend)
    run = net._get_runtime()
    x = torch.randn(3, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    fn = lambda x, w, b: run_network(x, w, b, run)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, net.weight, net.bias))


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_gradcheck_random_dag(backend):
    g = erdos_renyi_dag(40, 0.15, seed=4)
    net = DAGNetwork(g, seed=2, dtype=torch.float64, backend=backend, activation="tanh")
    run = net._get_runtime()
    x = torch.randn(
        4, net.in_features, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(1)
    )
    fn = lambda x, w, b: run_network(x, w, b, run)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, net.weight, net.bias), fast_mode=True)


def test_public_attributes():
    net = DAGNetwork(_mixed_graph(), seed=0)
    assert net.inputs == ["a", "b"]
    assert net.outputs == ["y1", "y2"]
    assert (net.in_features, net.out_features) == (2, 2)
    assert net.num_edges == 10 == net.weight.numel()
    assert net.bias.numel() == net.num_nodes - net.in_features == 5
    assert net.num_layers == 4  # a -> h1 -> h3 -> y1: three edges, four levels
    assert "edges=10" in repr(net) and "layers=4" in repr(net)


def test_to_graph_round_trip_and_values():
    g = _mixed_graph()
    g.edges["a", "h1"]["weight"] = 0.25
    g.nodes["h1"]["bias"] = -0.5
    net = DAGNetwork(g, seed=0, dtype=torch.float64)
    h = net.to_graph()
    assert list(h.nodes) == list(g.nodes)
    assert set(h.edges) == set(g.edges)
    assert h.edges["a", "h1"]["weight"] == 0.25
    assert h.nodes["h1"]["bias"] == -0.5
    assert h.nodes["h3"]["activation"] == "gelu" and h.nodes["h1"]["activation"] == "relu"
    assert h.nodes["y1"]["activation"] == "identity"
    assert all(h.nodes[v]["layer"] < h.nodes[w]["layer"] for v, w in h.edges)
    again = DAGNetwork(h, seed=123, dtype=torch.float64)
    x = torch.randn(5, 2, dtype=torch.float64)
    torch.testing.assert_close(again(x), net(x), rtol=0, atol=0)


def test_default_init_is_linear_rule_on_fan_in():
    g = erdos_renyi_dag(300, 0.1, seed=0)
    net = DAGNetwork(g, seed=0, dtype=torch.float64)
    w = net.to_wiring()
    fan_in = np.bincount(w.target, minlength=w.num_nodes)[w.target]
    bound = 1 / np.sqrt(fan_in)
    assert np.all(np.abs(w.weight) <= bound)
    # Uniform on +-bound: the scaled values fill the interval.
    scaled = w.weight / bound
    assert scaled.min() < -0.95 and scaled.max() > 0.95
    assert abs(scaled.mean()) < 0.05


def test_seed_reproducible_and_global_rng_untouched():
    g = erdos_renyi_dag(50, 0.2, seed=0)
    torch.manual_seed(0)
    before = torch.rand(3)
    torch.manual_seed(0)
    a = DAGNetwork(g, seed=7)
    after = torch.rand(3)
    b = DAGNetwork(g, seed=7)
    assert torch.equal(before, after)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    c = DAGNetwork(g)
    d = DAGNetwork(g, seed=c.seed)
    assert torch.equal(c.weight, d.weight)


def test_float32_and_float64_share_initial_values():
    g = erdos_renyi_dag(30, 0.3, seed=0)
    a = DAGNetwork(g, seed=3, dtype=torch.float32)
    b = DAGNetwork(g, seed=3, dtype=torch.float64)
    torch.testing.assert_close(a.weight.double(), b.weight, rtol=1e-7, atol=0)


def test_layerings_compute_the_same_function():
    g = erdos_renyi_dag(60, 0.1, seed=5)
    x = torch.randn(7, sum(1 for v in g if g.in_degree(v) == 0), dtype=torch.float64)
    outs = [
        DAGNetwork(g, seed=0, dtype=torch.float64, layering=lay, max_width=4)(x) for lay in ("asap", "alap", "bounded")
    ]
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0], rtol=1e-12, atol=1e-12)


def test_leading_dimensions_and_empty_batch():
    net = DAGNetwork(_mixed_graph(), seed=0)
    x = torch.randn(2, 3, 2)
    assert net(x).shape == (2, 3, 2)
    torch.testing.assert_close(net(x)[1], net(x[1]))
    assert net(torch.zeros(0, 2)).shape == (0, 2)


def test_composes_cnn_dag_linear_and_trains():
    """A CNN, then a DAGNetwork, then a Linear, trained end to end."""
    gen = torch.Generator().manual_seed(0)
    n = 64
    x = torch.randn(n, 1, 8, 8, generator=gen)
    y = (x[:, 0, :4].sum((1, 2)) > x[:, 0, 4:].sum((1, 2))).long()
    g = erdos_renyi_dag(40, 0.2, seed=0)
    sources = [v for v in g if g.in_degree(v) == 0]
    conv = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, len(sources))
    )
    dag = DAGNetwork(g, seed=0)
    model = nn.Sequential(conv, dag, nn.Linear(dag.out_features, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    conv_w0 = conv[0].weight.detach().clone()
    dag_w0 = dag.weight.detach().clone()
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert not torch.equal(conv_w0, conv[0].weight) and not torch.equal(dag_w0, dag.weight)


def test_activation_module_parameters_train():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.alpha = nn.Parameter(torch.tensor(1.0))

        def forward(self, z):
            return self.alpha * torch.tanh(z)

    act = Scaled()
    net = DAGNetwork(nx.DiGraph([("x", "h"), ("h", "y")]), activation=act, seed=0)
    assert any(p is act.alpha for p in net.parameters())
    net(torch.randn(8, 1)).pow(2).sum().backward()
    assert act.alpha.grad is not None and act.alpha.grad.abs() > 0


@pytest.mark.parametrize("min_work", [1, 2048])
def test_results_do_not_depend_on_thread_count(monkeypatch, min_work):
    import dagnet.engine.schedule as schedule

    monkeypatch.setattr(schedule, "PARALLEL_MIN_WORK", min_work)  # 1: every level in parallel
    w = erdos_renyi_dag(3000, 0.01, seed=1, as_wiring=True)
    net = DAGNetwork(w, seed=0)
    x = torch.randn(64, net.in_features, generator=torch.Generator().manual_seed(0))
    old = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            net.zero_grad()
            out = net(x)
            out.square().sum().backward()
            results.append((out.detach().clone(), net.weight.grad.clone(), net.bias.grad.clone()))
    finally:
        torch.set_num_threads(old)
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_state_dict_round_trip():
    g = _mixed_graph()
    a = DAGNetwork(g, seed=0)
    b = DAGNetwork(g, seed=1)
    assert not torch.equal(a.weight, b.weight)
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 2)
    assert torch.equal(a(x), b(x))
    assert "in_src" in a.state_dict() and "weight" in a.state_dict()


def swish(z):
    return z * torch.sigmoid(z)


class Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(0.5))

    def forward(self, z):
        return self.alpha * torch.tanh(z)


def test_save_load_exact(tmp_path):
    g = nx.relabel_nodes(_mixed_graph(), {"h1": ("hidden", 1), "y1": 17})
    g.nodes["h2"]["activation"] = swish
    act = Scaled()
    net = DAGNetwork(g, seed=3, activation=act, layering="alap")
    with torch.no_grad():
        act.alpha.fill_(0.75)
        net.weight.mul_(1.5)
    path = tmp_path / "net.pt"
    dagnet.save(net, path)
    loaded = dagnet.load(path, custom_objects=[swish, Scaled])
    assert loaded.inputs == net.inputs and loaded.outputs == net.outputs
    for (k, v), (k2, v2) in zip(net.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    x = torch.randn(6, 2)
    assert torch.equal(loaded(x), net(x))
    a, b = loaded.to_graph(), net.to_graph()
    assert list(a.edges(data="weight")) == list(b.edges(data="weight"))
    for v in b:
        for key in ("bias", "layer"):
            assert a.nodes[v].get(key) == b.nodes[v].get(key)
        act_a, act_b = a.nodes[v].get("activation"), b.nodes[v].get("activation")
        assert act_a == act_b or type(act_a) is type(act_b) is Scaled
    assert loaded.activation_modules[0].alpha.item() == 0.75


def test_save_rejects_lambda(tmp_path):
    g = nx.DiGraph([("x", "y")])
    g.nodes["y"]["activation"] = lambda z: z
    with pytest.raises(ValueError, match="'y'.*importable"):
        dagnet.save(DAGNetwork(g, seed=0), tmp_path / "n.pt")


def test_load_rejects_foreign_file(tmp_path):
    torch.save({"hello": 1}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a file written by dagnet.save"):
        dagnet.load(tmp_path / "x.pt")


def test_bias_false():
    net = DAGNetwork(_mixed_graph(), bias=False, seed=0)
    assert net.bias is None
    assert sum(p.numel() for p in net.parameters()) == net.num_edges
    out = net(torch.zeros(3, 2))
    assert torch.all(out[:, 0] == 0)  # relu chain of zeros, no bias
    net(torch.randn(3, 2)).sum().backward()
    assert net.weight.grad is not None


def test_large_wiring_without_networkx():
    w = erdos_renyi_dag(20000, 5e-4, seed=0, as_wiring=True)
    net = DAGNetwork(w, seed=0)
    assert net.num_edges == w.num_edges
    out = net(torch.randn(4, net.in_features))
    assert out.shape == (4, net.out_features) and torch.isfinite(out).all()


def test_given_wiring_values_used():
    w = Wiring(3, [0, 1], [2, 2], weight=[2.0, np.nan], bias=[np.nan, np.nan, 1.0])
    net = DAGNetwork(w, seed=0, dtype=torch.float64)
    vals = net.to_wiring()
    assert vals.weight[0] == 2.0 and vals.weight[1] != 2.0 and vals.bias[2] == 1.0
    x = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    assert net(x).item() == 3.0


def test_autocast_half_input_runs_in_float32_on_the_cpu_back_ends():
    from dagnet.topology import erdos_renyi_dag

    for backend in ("numba", "torch"):
        net = DAGNetwork(erdos_renyi_dag(30, 0.2, seed=0), seed=0, backend=backend)
        x = torch.randn(5, net.in_features).to(torch.bfloat16)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(x)
        assert out.dtype == torch.float32
        assert torch.equal(out, net(x.float()))
    with pytest.raises(InputShapeError, match="Expected input of dtype torch.float32, got torch.bfloat16"):
        net(x)  # outside autocast a dtype mismatch is an error
