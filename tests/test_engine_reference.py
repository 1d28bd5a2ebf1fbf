"""The engine against the per-node reference, on random DAGs (hypothesis)."""

from __future__ import annotations

import warnings

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagnet import DAGNetwork, DeadNodeWarning
from reference import net_grads, net_values, reference_forward
from strategies import build_case, dag_cases


def _check(case, dtype, backend, tol):
    net = build_case(case, dtype, backend)
    gen = torch.Generator().manual_seed(case["seed"])
    x64 = torch.randn(case["batch"], net.in_features, generator=gen, dtype=torch.float64)
    x = x64.to(dtype).requires_grad_(True)
    out = net(x)
    upstream = torch.randn(out.shape, generator=gen, dtype=torch.float64)
    (out * upstream.to(dtype)).sum().backward()

    weight, bias = net_values(net)
    modules = [m for m in net.activation_modules]
    ref_params = {}
    for m in modules:  # fresh float64 copies of activation parameters
        ref_params[m] = m.alpha.detach().double().clone().requires_grad_(True)
    xr = x.detach().double().requires_grad_(True)
    saved = {m: m.alpha for m in modules}
    try:
        for m in modules:
            del m.alpha
            m.alpha = ref_params[m]
        ref = reference_forward(
            case["graph"], net.inputs, net.outputs, xr, weight, bias, case["activation"], case["output_activation"]
        )
        (ref * upstream).sum().backward()
    finally:
        for m in modules:
            del m.alpha
            m.alpha = saved[m]

    def close(a, b, what):
        a = torch.as_tensor(a, dtype=torch.float64)
        b = torch.zeros_like(a) if b is None else torch.as_tensor(b, dtype=torch.float64)
        scale = max(1.0, float(b.abs().max())) if b.numel() else 1.0
        err = float((a - b).abs().max()) if b.numel() else 0.0
        assert err <= tol * scale, f"{what}: max error {err:.3g} > {tol:g} x {scale:.3g}"

    close(out.detach(), ref.detach(), "output")
    close(x.grad, xr.grad, "input gradient")
    dweight, dbias = net_grads(net)
    for e, g in dweight.items():
        close(g, weight[e].grad, f"weight gradient of {e}")
    for v, g in dbias.items():
        close(g, bias[v].grad, f"bias gradient of {v!r}")
    for m in modules:
        close(m.alpha.grad, ref_params[m].grad, "activation parameter gradient")


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("backend", ["numba", "torch"])
@SETTINGS
@given(case=dag_cases())
def test_float64_matches_reference(case, backend):
    _check(case, torch.float64, backend, 1e-10)


@pytest.mark.parametrize("backend", ["numba", "torch"])
@SETTINGS
@given(case=dag_cases())
def test_float32_matches_reference(case, backend):
    _check(case, torch.float32, backend, 1e-5)


@pytest.mark.parametrize("prefetch", [True, False])
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    n=st.integers(50, 400),
    p=st.floats(0.01, 0.2),
    seed=st.integers(0, 2**31 - 1),
    batch=st.integers(1, 40),
    act=st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu"]),
)
def test_backends_agree_on_larger_graphs(monkeypatch, prefetch, n, p, seed, batch, act):
    """High-degree nodes exercise the kernels' unrolled and prefetching paths."""
    import dagnet.engine.numba_runtime as runtime
    from dagnet.topology import erdos_renyi_dag

    monkeypatch.setattr(runtime, "_CACHE_BYTES", 0 if prefetch else 1 << 40)

    w = erdos_renyi_dag(n, p, seed=seed, as_wiring=True)
    results = []
    for backend in ("numba", "torch"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeadNodeWarning)
            net = DAGNetwork(w, seed=seed % 1000, dtype=torch.float64, backend=backend, activation=act)
        x = torch.randn(
            batch,
            net.in_features,
            dtype=torch.float64,
            generator=torch.Generator().manual_seed(seed),
            requires_grad=True,
        )
        out = net(x)
        out.square().sum().backward()
        results.append((out.detach(), x.grad, net.weight.grad, net.bias.grad))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
