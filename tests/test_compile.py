"""torch.compile of models holding dagnet networks: one graph, the eager results, no recompiling after rewiring."""

from __future__ import annotations

import copy

import networkx as nx
import pytest
import torch
from torch import nn

from dagnet import DAGNetwork
from dagnet.engine.custom_ops import network_backward, network_forward
from dagnet.evolve import SET
from dagnet.nn import sparse_mlp
from dagnet.topology import erdos_renyi_dag


class _Scaled(nn.Module):
    def __init__(self):
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(0.6, dtype=torch.float64))

    def forward(self, z):
        return self.alpha * torch.tanh(z)


def _branchy():
    """Multi-branch nodes, a torch-code activation and a module activation with a parameter."""
    g = nx.DiGraph()
    g.add_edges_from(
        [("a", "v", {"branch": 0}), ("b", "v", {"branch": 1}), ("a", "h"), ("b", "h"), ("h", "y"), ("v", "y")]
    )
    g.add_edges_from([("a", "m"), ("m", "y"), ("m", "z"), ("h", "z")])
    g.nodes["v"]["combine"] = "max"
    g.nodes["h"]["activation"] = "gelu"
    g.nodes["m"]["activation"] = _Scaled()
    return DAGNetwork(g, seed=0, dtype=torch.float64)


def _mlp():
    return sparse_mlp([12, 20, 16, 3], epsilon=4, seed=0, dtype=torch.float64)


class _Counting:
    """A torch.compile back end that counts the graphs it is given and runs them as traced (aot_eager)."""

    def __init__(self):
        self.graphs = 0

    def __call__(self, gm, example_inputs):
        self.graphs += 1
        from torch._dynamo.backends.debugging import aot_eager

        return aot_eager(gm, example_inputs)


def _step(model, x, y):
    model.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("make", [_mlp, _branchy], ids=["sparse_mlp", "branches"])
def test_one_graph_without_breaks(make):
    model = make()
    x = torch.randn(5, 12 if make is _mlp else 2, dtype=torch.float64)
    explanation = torch._dynamo.explain(model)(x)
    assert explanation.graph_break_count == 0
    assert explanation.graph_count == 1


@pytest.mark.parametrize("make", [_mlp, _branchy], ids=["sparse_mlp", "branches"])
def test_compiled_step_equals_the_eager_one(make):
    torch._dynamo.reset()
    model = make()
    n_in = model[0].in_features if make is _mlp else model.in_features
    n_out = 3 if make is _mlp else model.out_features
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(7, n_in, dtype=torch.float64, generator=gen)
    y = torch.randint(0, n_out, (7,), generator=gen)
    backend = _Counting()
    compiled = torch.compile(model, backend=backend)
    loss_c, grads_c = _step(compiled, x, y)
    loss_e, grads_e = _step(model, x, y)
    assert torch.equal(loss_c, loss_e)
    for gc, ge in zip(grads_c, grads_e):
        assert torch.equal(gc, ge)
    assert backend.graphs == 1


def test_dropout_under_compile_draws_the_eager_masks():
    torch._dynamo.reset()
    eager = sparse_mlp([12, 20, 16, 3], epsilon=4, seed=0, dropout=0.4, activation="all_relu", dtype=torch.float64)
    model = copy.deepcopy(eager)
    assert torch._dynamo.explain(copy.deepcopy(model))(torch.zeros(2, 12, dtype=torch.float64)).graph_break_count == 0
    backend = _Counting()
    compiled = torch.compile(model, backend=backend)
    gen = torch.Generator().manual_seed(2)
    for _ in range(3):  # each step draws new masks; both streams advance alike
        x = torch.randn(6, 12, dtype=torch.float64, generator=gen)
        y = torch.randint(0, 3, (6,), generator=gen)
        loss_c, grads_c = _step(compiled, x, y)
        loss_e, grads_e = _step(eager, x, y)
        assert torch.equal(loss_c, loss_e)
        for gc, ge in zip(grads_c, grads_e):
            assert torch.equal(gc, ge)
    for a, b in zip(model.buffers(), eager.buffers()):
        assert torch.equal(a, b)  # rng_state included
    assert backend.graphs == 1


def test_rewiring_keeps_the_compiled_graph():
    torch._dynamo.reset()
    model = _mlp()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(9, 12, dtype=torch.float64, generator=gen)
    y = torch.randint(0, 3, (9,), generator=gen)
    backend = _Counting()
    compiled = torch.compile(model, backend=backend)
    _step(compiled, x, y)
    before = model[0].edge_endpoints()
    changes = SET(zeta=0.3, seed=0).step(model)
    assert sum(c["added"] for c in changes.values()) > 0
    assert not all((a == b).all() for a, b in zip(before, model[0].edge_endpoints()))
    loss_c, grads_c = _step(compiled, x, y)
    loss_e, grads_e = _step(model, x, y)
    assert torch.equal(loss_c, loss_e)
    for gc, ge in zip(grads_c, grads_e):
        assert torch.equal(gc, ge)
    assert backend.graphs == 1  # SET keeps the number of connections: nothing to recompile


@pytest.mark.parametrize("backend", ["torch", "numba"])
def test_the_custom_ops_pass_torch_library_checks(backend):
    # coded activations only: torch-code ones are differentiated inside the op, which these
    # checks run under dispatch modes of their own (the compile tests above cover them)
    net = DAGNetwork(erdos_renyi_dag(15, 0.3, seed=5), seed=0, dtype=torch.float64, backend=backend)
    x = torch.randn(4, net.in_features, dtype=torch.float64).requires_grad_(True)
    args = (x, net.weight, net.bias, id(net), [])
    # the schema check runs the op on tensors without storage, which numba's kernels cannot read
    checks = ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")
    torch.library.opcheck(network_forward, args, test_utils=checks if backend == "torch" else checks[1:])
    out, H, saved = network_forward(*args)
    grad_args = (torch.randn_like(out), H, net.weight, net.bias, id(net), saved, [], True)
    torch.library.opcheck(
        network_backward, grad_args, test_utils=checks[: 1 if backend == "torch" else 0] + checks[2:3]
    )


def test_inductor_matches_eager():
    torch._dynamo.reset()
    model = sparse_mlp([16, 24, 4], epsilon=4, seed=0)
    net = DAGNetwork(erdos_renyi_dag(20, 0.3, seed=2), seed=0, activation="gelu")
    x = torch.randn(8, 16, generator=torch.Generator().manual_seed(3))
    for m, inp in ((model, x), (net, x[:, : net.in_features])):
        compiled = torch.compile(m)
        torch.testing.assert_close(compiled(inp), m(inp), rtol=1e-6, atol=1e-6)
