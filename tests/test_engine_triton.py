"""The Triton back end on CPU tensors, run by Triton's interpreter.

Against the float64 per-node reference and the numba engine, on the random
DAGs of the engine's reference tests; batch blocks smaller than the batch
exercise the masked columns and the atomic weight and bias gradients, and small
tiles the loops over a node's edges.

Triton picks its interpreter once, when it is imported (for its own library
functions too), so these tests run in a fresh process started with
``TRITON_INTERPRET=1``: :func:`test_in_an_interpreting_process` runs this file
there, whatever this process has imported before.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import networkx as nx
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("triton", reason="triton is not installed (it is a Linux-only dependency)")

from dagnet import DAGNetwork, DeadNodeWarning  # noqa: E402
from dagnet.engine import run_network  # noqa: E402
from dagnet.engine.triton_runtime import TritonRuntime  # noqa: E402
from dagnet.topology import erdos_renyi_dag  # noqa: E402
from strategies import build_case, dag_cases  # noqa: E402
from test_engine_reference import _check  # noqa: E402

INTERPRETING = os.environ.get("TRITON_INTERPRET") == "1"
# Left out of a process without the interpreter (tests/conftest.py), which runs them in one that has it.
interpreted = pytest.mark.triton_interpreter


@pytest.mark.skipif(INTERPRETING, reason="this is the interpreting process")
def test_in_an_interpreting_process():
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    here = Path(__file__).resolve()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(here), "-k", "not interpreting"]
    run = subprocess.run(command, env=env, cwd=here.parent.parent, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-4000:]
    assert " passed" in run.stdout and "skipped" not in run.stdout, run.stdout[-2000:]


# (block_batch, tile): one block for the whole batch, and blocks of 4 and 2
# columns with 2 and 1 edges per step.
BLOCKS = [(128, 4096), (4, 8), (2, 2)]
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = ["identity", "relu", "tanh", "sigmoid", "leaky_relu"]


def _blocks(block_batch: int, tile: int) -> pytest.MonkeyPatch:
    mp = pytest.MonkeyPatch()
    mp.setattr(TritonRuntime, "block_batch", block_batch)
    mp.setattr(TritonRuntime, "tile", tile)
    return mp


def _run(net, x, upstream):
    x = x.clone().requires_grad_(True)
    out = net(x)
    (out * upstream).sum().backward()
    grads = [x.grad, net.weight.grad, net.bias.grad] + [p.grad for m in net.activation_modules for p in m.parameters()]
    return out.detach(), grads


@interpreted
@SETTINGS
@given(case=dag_cases(), batch=st.integers(1, 9), blocks=st.sampled_from(BLOCKS))
def test_float64_matches_reference(case, batch, blocks):
    mp = _blocks(*blocks)
    try:
        _check({**case, "batch": batch}, torch.float64, "triton", 1e-10)
    finally:
        mp.undo()


@interpreted
@settings(SETTINGS, max_examples=6)
@given(case=dag_cases(), blocks=st.sampled_from(BLOCKS))
def test_float32_matches_reference(case, blocks):
    mp = _blocks(*blocks)
    try:
        _check(case, torch.float32, "triton", 1e-5)
    finally:
        mp.undo()


@interpreted
@SETTINGS
@given(case=dag_cases(), batch=st.integers(1, 9), blocks=st.sampled_from(BLOCKS))
def test_activity_and_gradients_match_numba(case, batch, blocks):
    """``retain`` keeps the same (H, G) as the CPU engine, and every gradient agrees."""
    mp = _blocks(*blocks)
    try:
        results = []
        for backend in ("numba", "triton"):
            net = build_case(case, torch.float64, backend)
            net.retain_activity = True
            gen = torch.Generator().manual_seed(case["seed"])
            x = torch.randn(batch, net.in_features, generator=gen, dtype=torch.float64)
            upstream = torch.randn(batch, net.out_features, generator=gen, dtype=torch.float64)
            out, grads = _run(net, x, upstream)
            results.append((out, *grads, *net.last_activity()))
    finally:
        mp.undo()
    for a, b in zip(*results):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)


def _network(activation, backend, dtype=torch.float64, seed=3):
    """A small network with every fast activation, one torch-code activation and a multi-branch node."""
    g = erdos_renyi_dag(14, 0.35, seed=seed)
    order = sorted(g.nodes)
    for i, v in enumerate(order):
        if g.in_degree(v):
            g.nodes[v]["activation"] = (FAST + ["gelu"])[i % 6]
    last = order[-1]
    g.nodes[last]["combine"] = "max"
    for i, u in enumerate(g.predecessors(last)):
        g.edges[u, last]["branch"] = i % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        return DAGNetwork(g, seed=seed, dtype=dtype, backend=backend, activation=activation)


@interpreted
@pytest.mark.parametrize("blocks", [(128, 4096), (2, 2)])
def test_gradcheck(blocks):
    net = _network("tanh", "triton")
    runtime = net._get_runtime()
    runtime.block_batch, runtime.tile = blocks
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, net.in_features, dtype=torch.float64, generator=gen, requires_grad=True)
    weight = net.weight.detach().clone().requires_grad_(True)
    bias = net.bias.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda *a: run_network(*a, runtime), (x, weight, bias), fast_mode=True)


@interpreted
@pytest.mark.parametrize(("dtype", "tol"), [(torch.float16, 1e-2), (torch.bfloat16, 4e-2)])
@pytest.mark.parametrize("blocks", [(128, 4096), (4, 8)])
def test_autocast_computes_in_half_with_float32_sums(dtype, tol, blocks):
    """Under autocast, H and the outputs are half, the weights and their gradients float32."""
    gen = torch.Generator().manual_seed(1)
    single = _network("relu", "triton", torch.float32)
    half = _network("relu", "triton", torch.float32)
    x = torch.randn(11, single.in_features, generator=gen)
    upstream = torch.randn(11, single.out_features, generator=gen)
    mp = _blocks(*blocks)
    try:
        expected, want = _run(single, x, upstream)
        half.retain_activity = True
        with torch.autocast("cpu", dtype=dtype):
            out, got = _run(half, x, upstream)
    finally:
        mp.undo()
    assert out.dtype == dtype and [h.dtype for h in half.last_activity()] == [dtype, dtype]
    assert half.weight.grad.dtype == half.bias.grad.dtype == torch.float32
    for a, b in zip([expected, *want], [out, *got]):
        scale = float(a.abs().max())
        assert float((b.float() - a).abs().max()) <= tol * scale


@interpreted
@pytest.mark.filterwarnings("ignore:overflow encountered in exp:RuntimeWarning")  # sigmoid(-inf): exp(inf)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_kernel_activations_match_torch_to_a_few_ulp(name, dtype):
    g = nx.DiGraph([("x", "y")])
    g.nodes["y"]["activation"] = name
    net = DAGNetwork(g, seed=0, dtype=dtype, backend="triton")
    with torch.no_grad():
        net.weight.fill_(1)
        net.bias.zero_()
    mag = torch.logspace(-30, 2.5, 400, dtype=torch.float64)
    z = torch.cat([mag, -mag, torch.tensor([0.0, float("inf"), -float("inf"), float("nan")])]).to(dtype)
    with torch.no_grad():
        out = net(z[:, None])[:, 0]
    ref = getattr(torch, name)(z)
    assert torch.equal(out.isnan(), ref.isnan())
    rel = (out - ref).abs() / ref.abs().clamp_min(torch.finfo(dtype).tiny)
    assert float(rel.nan_to_num(0).max()) <= 16 * torch.finfo(dtype).eps


@interpreted
def test_empty_batch_gives_zero_gradients():
    net = _network("relu", "triton")
    x = torch.zeros(0, net.in_features, dtype=torch.float64, requires_grad=True)
    out = net(x)
    out.sum().backward()
    assert out.shape == (0, net.out_features)
    assert not net.weight.grad.any() and not net.bias.grad.any()


def test_cpu_tensors_need_the_interpreter(monkeypatch):
    net = _network("relu", "triton")
    x = torch.ones(2, net.in_features, dtype=torch.float64)
    if INTERPRETING:
        monkeypatch.delenv("TRITON_INTERPRET")
    else:  # set too late: triton was imported without it
        monkeypatch.setenv("TRITON_INTERPRET", "1")
    with pytest.raises(ValueError, match="TRITON_INTERPRET=1"):
        net(x)
    assert "backend=triton" in repr(net)
    assert "backend=numba" in repr(_network("relu", None))
