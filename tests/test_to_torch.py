"""TorchDAG / DAGNetwork.to_torch: the same function in standard torch ops, captured by export and tracing."""

from __future__ import annotations

import copy

import pytest
import torch
from hypothesis import HealthCheck, given, settings

from strategies import build_case, dag_cases

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(case=dag_cases())
def test_same_outputs_and_gradients_as_the_network(case):
    net = build_case(copy.deepcopy(case), torch.float64, "numba")
    plain = net.to_torch()
    x = torch.randn(case["batch"], net.in_features, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(plain(x), net(x), rtol=1e-10, atol=1e-12)
    net(x).square().sum().backward()
    out = plain(x)
    if not out.requires_grad:  # the outputs are inputs: nothing to differentiate
        assert not net.weight.grad.any()
        return
    out.square().sum().backward()
    torch.testing.assert_close(plain.weight.grad, net.weight.grad, rtol=1e-9, atol=1e-11)
    if net.bias is not None:
        torch.testing.assert_close(plain.bias.grad, net.bias.grad, rtol=1e-9, atol=1e-11)


def _net():
    from dagnet import DAGNetwork
    from dagnet.topology import erdos_renyi_dag

    return DAGNetwork(erdos_renyi_dag(40, 0.2, seed=3), seed=0, activation="tanh")


@pytest.mark.filterwarnings("ignore:`torch.jit.trace")
def test_torch_export_and_jit_trace_capture_it(tmp_path):
    net = _net()
    plain = net.to_torch().eval()
    x = torch.randn(5, net.in_features)
    exported = torch.export.export(plain, (x,))
    torch.testing.assert_close(exported.module()(x), net(x), rtol=1e-5, atol=1e-6)
    path = tmp_path / "net.pt2"
    torch.export.save(exported, path)
    torch.testing.assert_close(torch.export.load(path).module()(x), net(x), rtol=1e-5, atol=1e-6)
    traced = torch.jit.trace(plain, (x,))
    torch.testing.assert_close(
        traced(torch.ones(5, net.in_features)), net(torch.ones(5, net.in_features)), rtol=1e-5, atol=1e-6
    )


def _branchy():
    import networkx as nx

    from dagnet import DAGNetwork

    g = nx.DiGraph()
    g.add_edges_from(
        [("a", "v", {"branch": 0}), ("b", "v", {"branch": 1}), ("a", "h"), ("h", "y"), ("v", "y"), ("b", "z")]
    )
    g.add_edge("h", "z")
    g.nodes["v"]["combine"] = "max"
    g.nodes["h"]["activation"] = "gelu"
    return DAGNetwork(g, seed=0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
@pytest.mark.parametrize("make", [_net, _branchy], ids=["erdos_renyi", "branches"])
def test_onnx_export_runs_in_onnxruntime(make, tmp_path):
    import onnxruntime

    net = make()
    x = torch.randn(5, net.in_features, generator=torch.Generator().manual_seed(0))
    program = torch.onnx.export(
        net.to_torch().eval(), (x,), dynamo=True, dynamic_shapes=({0: torch.export.Dim("batch")},), verbose=False
    )
    path = tmp_path / "net.onnx"
    program.save(str(path))
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    other = torch.randn(11, net.in_features, generator=torch.Generator().manual_seed(1))  # another batch size
    (got,) = session.run(None, {session.get_inputs()[0].name: other.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), net(other).detach(), rtol=1e-5, atol=1e-6)


def test_it_is_a_copy_and_refuses_weight_modifiers():
    from dagnet.evolve import DropConnect

    net = _net()
    plain = net.to_torch()
    with torch.no_grad():
        plain.weight.zero_()
    assert net.weight.abs().sum() > 0
    DropConnect(0.5, seed=0).attach(net)
    with pytest.raises(ValueError, match="weight modifier"):
        net.to_torch()
