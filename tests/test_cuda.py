"""The engine on CUDA (skipped where no GPU is present)."""

from __future__ import annotations

import pytest
import torch

from dagnet import DAGNetwork
from dagnet.topology import erdos_renyi_dag

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


@cuda
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cuda_matches_cpu(dtype):
    g = erdos_renyi_dag(300, 0.05, seed=0)
    cpu = DAGNetwork(g, seed=0, dtype=dtype)
    gpu = DAGNetwork(g, seed=0, dtype=dtype, device="cuda")
    assert gpu.weight.device.type == "cuda" and "backend=torch" in repr(gpu)
    x = torch.randn(16, cpu.in_features, dtype=dtype)
    out_c, out_g = cpu(x), gpu(x.cuda())
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    torch.testing.assert_close(out_g.cpu(), out_c, rtol=tol, atol=tol)
    out_c.square().sum().backward()
    out_g.square().sum().backward()
    torch.testing.assert_close(gpu.weight.grad.cpu(), cpu.weight.grad, rtol=tol, atol=tol)
    torch.testing.assert_close(gpu.bias.grad.cpu(), cpu.bias.grad, rtol=tol, atol=tol)


@cuda
def test_to_cuda_moves_everything():
    net = DAGNetwork(erdos_renyi_dag(100, 0.1, seed=1), seed=0)
    x = torch.randn(4, net.in_features)
    expected = net(x)
    net.cuda()
    torch.testing.assert_close(net(x.cuda()).cpu(), expected, rtol=1e-4, atol=1e-5)
