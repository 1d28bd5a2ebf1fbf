"""The engine under torch.func: grad, vjp, jacrev, jvp, jacfwd and vmap over inputs (and over weights, slice by slice)."""

from __future__ import annotations

import networkx as nx
import pytest
import torch
from torch import nn
from torch.func import functional_call, grad, jacfwd, jacrev, jvp, vmap

from dagnet import DAGNetwork
from dagnet.topology import erdos_renyi_dag


def _networks():
    g = nx.DiGraph()
    g.add_edges_from(
        [("a", "v", {"branch": 0}), ("b", "v", {"branch": 1}), ("a", "h"), ("h", "y"), ("v", "y"), ("b", "y")]
    )
    g.nodes["v"]["combine"] = "max"
    g.nodes["h"]["activation"] = "gelu"  # a torch-code activation: saved pre-activations
    yield "branches", DAGNetwork(g, seed=0, dtype=torch.float64)
    for backend in ("numba", "torch"):
        yield backend, DAGNetwork(erdos_renyi_dag(25, 0.3, seed=1), seed=0, dtype=torch.float64, backend=backend)


NETS = list(_networks())


@pytest.mark.parametrize("name, net", NETS, ids=[n for n, _ in NETS])
def test_grad_and_jacrev_match_autograd(name, net):
    x = torch.randn(4, net.in_features, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    got = grad(lambda x: net(x).square().sum())(x)
    xr = x.clone().requires_grad_(True)
    net(xr).square().sum().backward()
    torch.testing.assert_close(got, xr.grad, rtol=1e-12, atol=1e-12)
    J = jacrev(net)(x[0])
    torch.testing.assert_close(J, torch.autograd.functional.jacobian(net, x[0]), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name, net", NETS, ids=[n for n, _ in NETS])
def test_vmap_over_inputs_is_more_batch(name, net):
    x = torch.randn(3, 5, net.in_features, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(vmap(net)(x), net(x.reshape(15, -1)).reshape(3, 5, -1), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(vmap(net, in_dims=1)(x), torch.stack([net(x[:, i]) for i in range(5)]))


def test_vmap_over_weights_and_grad_over_parameters():
    net = NETS[1][1]
    x = torch.randn(6, net.in_features, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    params = dict(net.named_parameters())
    stacked = {k: torch.stack([v, 2 * v]) for k, v in params.items()}
    out = vmap(lambda p: functional_call(net, p, (x,)))(stacked)
    with torch.no_grad():
        net.weight.mul_(2), net.bias.mul_(2)
        doubled = net(x)
        net.weight.div_(2), net.bias.div_(2)
    torch.testing.assert_close(out[0], net(x))
    torch.testing.assert_close(out[1], doubled)
    g = grad(lambda p: functional_call(net, p, (x,)).sum())(params)
    net.zero_grad()
    net(x).sum().backward()
    torch.testing.assert_close(g["weight"], net.weight.grad)
    torch.testing.assert_close(g["bias"], net.bias.grad)


def test_double_backward_says_it_is_not_supported():
    net = NETS[1][1]
    x = torch.randn(2, net.in_features, dtype=torch.float64, requires_grad=True)
    (gx,) = torch.autograd.grad(net(x).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="do not support double backward"):
        gx.sum().backward()


class _Scaled(nn.Module):
    """A module activation with a parameter: its tangent flows through forward mode too."""

    def __init__(self):
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(0.7, dtype=torch.float64))

    def forward(self, z):
        return self.alpha * torch.tanh(z)


def _with_module_activation():
    g = erdos_renyi_dag(20, 0.3, seed=4)
    return DAGNetwork(g, seed=0, dtype=torch.float64, activation=_Scaled())


@pytest.mark.parametrize(
    "name, net", [*NETS, ("module", _with_module_activation())], ids=[*(n for n, _ in NETS), "module"]
)
def test_forward_mode_equals_reverse_mode(name, net):
    x = torch.randn(3, net.in_features, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    v = torch.randn(x.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    out, tangent = jvp(net, (x,), (v,))
    torch.testing.assert_close(out, net(x), rtol=0, atol=0)
    _, pullback = torch.func.vjp(net, x)
    u = torch.randn(out.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    # <u, J v> == <J^T u, v>: forward mode against the engine's own backward pass
    torch.testing.assert_close((u * tangent).sum(), (pullback(u)[0] * v).sum(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(jacfwd(net)(x[0]), jacrev(net)(x[0]), rtol=1e-12, atol=1e-12)


def test_forward_mode_over_parameters():
    net = _with_module_activation()
    x = torch.randn(5, net.in_features, dtype=torch.float64, generator=torch.Generator().manual_seed(8))
    params = {k: v.detach() for k, v in net.named_parameters()}
    tangents = {
        k: torch.randn(v.shape, dtype=v.dtype, generator=torch.Generator().manual_seed(i))
        for i, (k, v) in enumerate(params.items())
    }

    def f(p):
        return functional_call(net, p, (x,))

    _, t = jvp(f, (params,), (tangents,))
    _, pullback = torch.func.vjp(f, params)
    u = torch.randn(t.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    back = pullback(u)[0]
    torch.testing.assert_close(
        (u * t).sum(), sum((back[k] * tangents[k]).sum() for k in params), rtol=1e-12, atol=1e-12
    )
    assert "activation_modules.0.alpha" in params
