"""The engine against the per-node reference, on random DAGs (hypothesis)."""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagnet import DAGNetwork, DeadNodeWarning
from reference import net_grads, net_values, reference_forward


class Scaled(torch.nn.Module):
    """An activation with a trainable parameter: alpha * tanh(z)."""

    def __init__(self):
        super().__init__()
        self.alpha = torch.nn.Parameter(torch.tensor(1.3, dtype=torch.float64))

    def forward(self, z):
        return self.alpha.to(z.dtype) * torch.tanh(z)


def swish(z):
    return z * torch.sigmoid(z)


def max_rows(z):
    """A combine given as a callable over (rows, branches)."""
    return z.max(dim=1).values


COMBINES = ["sum", "max", "pynada", "and", "or", "xnor", "and_exact", "or_exact", "xnor_exact", max_rows]
ACTIVATIONS = ["relu", "tanh", "sigmoid", "identity", "leaky_relu", "gelu", "softplus", swish]
LABEL_KINDS = [lambda i: i * 7 + 3, lambda i: f"n{i}", lambda i: ("t", i), lambda i: (i, "x", 2.5)]


@st.composite
def dag_cases(draw):
    """A random DAG with mixed labels, activations, given values and roles."""
    n = draw(st.integers(1, 11))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    p = draw(st.sampled_from([0.2, 0.4, 0.7]))
    perm = rng.permutation(n)  # node order in the graph differs from the topological order
    labels = [LABEL_KINDS[draw(st.integers(0, 3))](i) for i in range(n)]
    g = nx.DiGraph()
    for i in perm:
        g.add_node(labels[i])
    for j in range(n):
        for i in range(j):
            if rng.random() < p:
                attrs = {"weight": float(rng.normal())} if rng.random() < 0.3 else {}
                g.add_edge(labels[i], labels[j], **attrs)
    module_act = Scaled()
    for v in g.nodes:
        r = rng.random()
        if r < 0.3:
            g.nodes[v]["activation"] = ACTIVATIONS[rng.integers(len(ACTIVATIONS))]
        elif r < 0.35:
            g.nodes[v]["activation"] = module_act
        if rng.random() < 0.2:
            g.nodes[v]["bias"] = float(rng.normal())
    # Some nodes become multi-branch: each in-edge joins a random branch.
    for v in g.nodes:
        if g.in_degree(v) and rng.random() < 0.25:
            combine = COMBINES[rng.integers(len(COMBINES))]
            k = 2 if combine not in ("max", max_rows) else int(rng.integers(1, 4))
            g.nodes[v]["combine"] = combine
            for u in g.predecessors(v):
                g.edges[u, v]["branch"] = int(rng.integers(k))
            if g.nodes[v].get("activation") is module_act:
                del g.nodes[v]["activation"]
            if combine != "sum":
                g.nodes[v].pop("bias", None)
    sources = [v for v in g.nodes if g.in_degree(v) == 0]
    if draw(st.booleans()):
        inputs = None
        chosen = sources
    else:
        k = draw(st.integers(1, len(sources)))
        chosen = [sources[i] for i in rng.permutation(len(sources))[:k]]
        inputs = chosen
    if draw(st.booleans()):
        outputs = None
    else:
        k = draw(st.integers(1, n))
        outputs = [list(g.nodes)[i] for i in rng.permutation(n)[:k]]
    layering = draw(st.sampled_from(["asap", "alap", "bounded"]))
    return dict(graph=g, inputs=inputs, outputs=outputs, layering=layering,
                max_width=int(rng.integers(1, 4)), seed=seed,
                activation=draw(st.sampled_from(["relu", "tanh", swish])),
                output_activation=draw(st.sampled_from(["identity", "sigmoid"])),
                batch=draw(st.integers(1, 5)))


def _build(case, dtype, backend):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        return DAGNetwork(case["graph"], inputs=case["inputs"], outputs=case["outputs"],
                          activation=case["activation"], output_activation=case["output_activation"],
                          layering=case["layering"], max_width=case["max_width"],
                          seed=case["seed"] % 1000, dtype=dtype, backend=backend)


def _check(case, dtype, backend, tol):
    net = _build(case, dtype, backend)
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
        ref = reference_forward(case["graph"], net.inputs, net.outputs, xr, weight, bias,
                                case["activation"], case["output_activation"])
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
@given(n=st.integers(50, 400), p=st.floats(0.01, 0.2), seed=st.integers(0, 2**31 - 1),
       batch=st.integers(1, 40), act=st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu"]))
def test_backends_agree_on_larger_graphs(monkeypatch, prefetch, n, p, seed, batch, act):
    """High-degree nodes exercise the kernels' unrolled and prefetching paths."""
    import dagnet.engine.runtime as runtime
    from dagnet.topology import erdos_renyi_dag

    monkeypatch.setattr(runtime, "_CACHE_BYTES", 0 if prefetch else 1 << 40)

    w = erdos_renyi_dag(n, p, seed=seed, as_wiring=True)
    results = []
    for backend in ("numba", "torch"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeadNodeWarning)
            net = DAGNetwork(w, seed=seed % 1000, dtype=torch.float64, backend=backend, activation=act)
        x = torch.randn(batch, net.in_features, dtype=torch.float64,
                        generator=torch.Generator().manual_seed(seed), requires_grad=True)
        out = net(x)
        out.square().sum().backward()
        results.append((out.detach(), x.grad, net.weight.grad, net.bias.grad))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
