"""The engine on CUDA (skipped where no GPU is present): the torch and Triton back ends against CPU numba."""

from __future__ import annotations

import importlib.util
import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagnet import DAGNetwork, DeadNodeWarning
from dagnet.topology import erdos_renyi_dag
from strategies import build_case, dag_cases

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
HAS_TRITON = importlib.util.find_spec("triton") is not None
triton = pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed")


def _pass(net, x, upstream):
    """Outputs and the gradients of input, weights and biases, on the CPU in float64."""
    x = x.clone().requires_grad_(True)
    out = net(x)
    (out * upstream.to(out.dtype)).sum().backward()
    return [t.detach().cpu().double() for t in (out, x.grad, net.weight.grad, net.bias.grad)]


def _assert_close(got, want, tol):
    for g, w in zip(got, want):
        if w.numel():
            assert float((g - w).abs().max()) <= tol * max(1.0, float(w.abs().max()))


@cuda
@pytest.mark.parametrize("backend", ["torch", "triton"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(dtype, backend):
    if backend == "triton" and not HAS_TRITON:
        pytest.skip("triton is not installed")
    g = erdos_renyi_dag(300, 0.05, seed=0)
    cpu = DAGNetwork(g, seed=0, dtype=dtype)
    gpu = DAGNetwork(g, seed=0, dtype=dtype, device="cuda", backend=backend)
    assert gpu.weight.device.type == "cuda" and f"backend={backend}" in repr(gpu)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(300, cpu.in_features, dtype=dtype, generator=gen)  # wider than one batch block
    upstream = torch.randn(300, cpu.out_features, dtype=dtype, generator=gen)
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    _assert_close(_pass(gpu, x.cuda(), upstream.cuda()), _pass(cpu, x, upstream), tol)


@cuda
def test_default_back_end_on_cuda():
    net = DAGNetwork(erdos_renyi_dag(20, 0.2, seed=0), seed=0, device="cuda")
    assert f"backend={'triton' if HAS_TRITON else 'torch'}" in repr(net)


@cuda
def test_to_cuda_moves_everything():
    net = DAGNetwork(erdos_renyi_dag(100, 0.1, seed=1), seed=0)
    x = torch.randn(4, net.in_features)
    expected = net(x)
    net.cuda()
    torch.testing.assert_close(net(x.cuda()).cpu(), expected, rtol=1e-4, atol=1e-5)


@cuda
@triton
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=dag_cases(), batch=st.sampled_from([1, 5, 127, 129, 300]))
def test_triton_matches_numba_on_random_dags(case, batch):
    """Every activation code, torch-code activations and multi-branch nodes; activity as numba keeps it."""
    results = []
    for backend, device in (("numba", "cpu"), ("triton", "cuda")):
        net = build_case(case, torch.float64, backend).to(device)
        net.retain_activity = True
        gen = torch.Generator().manual_seed(case["seed"])
        x = torch.randn(batch, net.in_features, generator=gen, dtype=torch.float64)
        upstream = torch.randn(batch, net.out_features, generator=gen, dtype=torch.float64)
        grads = _pass(net, x.to(device), upstream.to(device))
        results.append(grads + [t.cpu() for t in net.last_activity()])
    _assert_close(results[1], results[0], 1e-10)


@cuda
@triton
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float16, 2e-2), (torch.bfloat16, 6e-2)])
@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_triton_autocast_against_numba_float32(dtype, tol, activation):
    """Half activations, float32 weights, sums and gradients; close to CPU float32."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        g = erdos_renyi_dag(400, 0.03, seed=2)
        cpu = DAGNetwork(g, seed=0, activation=activation)
        gpu = DAGNetwork(g, seed=0, activation=activation, device="cuda", backend="triton")
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(200, cpu.in_features, generator=gen)
    upstream = torch.randn(200, cpu.out_features, generator=gen)
    want = _pass(cpu, x, upstream)
    xg = x.cuda().requires_grad_(True)
    with torch.autocast("cuda", dtype=dtype):
        out = gpu(xg)
    assert out.dtype == dtype
    (out.float() * upstream.cuda()).sum().backward()
    assert gpu.weight.grad.dtype == gpu.bias.grad.dtype == xg.grad.dtype == torch.float32
    got = [t.detach().cpu().double() for t in (out, xg.grad, gpu.weight.grad, gpu.bias.grad)]
    for g_, w in zip(got, want):
        assert float((g_ - w).abs().max()) <= tol * float(w.abs().max())
