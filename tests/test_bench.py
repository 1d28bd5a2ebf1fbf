"""The benchmark baselines against DAGNetwork, and the harness end to end (no timing asserted)."""

from __future__ import annotations

import argparse
import os
import subprocess
import types
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagnet import CycleError, DAGNetwork, InputShapeError, Wiring
from dagnet.bench import FourWardNet, SequentialNet, engine, fourward_dense_size
from dagnet.bench import report as bench_report
from dagnet.bench import spec as bench_spec
from dagnet.bench.device import backend_unavailable
from dagnet.bench.fourward_code import FourWardCode, fourward_layers, load_fourward
from dagnet.cli.bench import add_bench_parser
from dagnet.engine import backends as engine_backends
from dagnet.errors import GraphError
from dagnet.layering import alap
from dagnet.topology import erdos_renyi_dag
from reference import net_grads

BASELINES = [FourWardNet, SequentialNet]
ACTIVATIONS = ["relu", "tanh", "sigmoid", "identity", "leaky_relu", "gelu"]
LABEL_KINDS = [lambda i: i * 5 + 2, lambda i: f"n{i}", lambda i: ("t", i)]
TOL = 1e-10


@st.composite
def dag_cases(draw):
    """A random DAG (labels of one kind, shuffled node order), optional per-node activations and values."""
    n = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    p = draw(st.sampled_from([0.15, 0.35, 0.7]))
    kind = LABEL_KINDS[draw(st.integers(0, len(LABEL_KINDS) - 1))]
    labels = [kind(i) for i in range(n)]
    g = nx.DiGraph()
    g.add_nodes_from(labels[i] for i in rng.permutation(n))
    for j in range(n):
        for i in range(j):
            if rng.random() < p:
                attrs = {"weight": float(rng.normal())} if rng.random() < 0.3 else {}
                g.add_edge(labels[i], labels[j], **attrs)
    for v in g.nodes:
        if rng.random() < 0.3:
            g.nodes[v]["activation"] = ACTIVATIONS[rng.integers(len(ACTIVATIONS))]
        if rng.random() < 0.2:
            g.nodes[v]["bias"] = float(rng.normal())
    return dict(
        graph=g,
        seed=seed,
        layering=draw(st.sampled_from(["asap", "alap"])),
        activation=draw(st.sampled_from(["relu", "tanh"])),
        output_activation=draw(st.sampled_from(["identity", "sigmoid"])),
        batch=draw(st.integers(1, 4)),
    )


def _close(a, b, what):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} and {b.shape}"
    err = float(np.abs(a - b).max()) if a.size else 0.0
    assert err <= TOL * max(1.0, float(np.abs(b).max()) if b.size else 1.0), f"{what}: max error {err:.3g}"


@given(dag_cases())
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_baselines_match_dagnetwork_outputs_and_gradients(case):
    g = case["graph"]
    net = DAGNetwork(
        g,
        activation=case["activation"],
        output_activation=case["output_activation"],
        layering=case["layering"],
        seed=case["seed"] % 1000,
        dtype=torch.float64,
    )
    wiring = net.to_wiring()
    gen = torch.Generator().manual_seed(case["seed"])
    x = torch.randn(case["batch"], net.in_features, generator=gen, dtype=torch.float64)
    upstream = torch.randn(case["batch"], net.out_features, generator=gen, dtype=torch.float64)

    xd = x.clone().requires_grad_(True)
    out = net(xd)
    (out * upstream).sum().backward()
    dweight, dbias = net_grads(net)
    labels = wiring.node_labels()
    edges = list(zip((labels[s] for s in wiring.source), (labels[t] for t in wiring.target)))
    want_w = np.array([dweight[e] for e in edges])

    for cls in BASELINES:
        base = cls(
            wiring, activation=case["activation"], output_activation=case["output_activation"], dtype=torch.float64
        )
        name = cls.__name__
        assert base.inputs == net.inputs and base.outputs == net.outputs, name
        assert (base.in_features, base.out_features) == (net.in_features, net.out_features)
        xb = x.clone().requires_grad_(True)
        got = base(xb)
        _close(got.detach(), out.detach(), f"{name} output")
        (got * upstream).sum().backward()
        _close(xb.grad, xd.grad, f"{name} input gradient")
        gw, gb = base.gradients()
        _close(gw, want_w, f"{name} weight gradients")
        for v, d in dbias.items():
            _close(gb[wiring.index()[v]], d, f"{name} bias gradient of {v!r}")
        # Values round-trip through to_wiring in wiring order.
        back = base.to_wiring()
        _close(back.weight, wiring.weight, f"{name} weights")
        hidden = ~np.isin(np.arange(wiring.num_nodes), [wiring.index()[v] for v in net.inputs])
        _close(back.bias[hidden], wiring.bias[hidden], f"{name} biases")


@given(n=st.integers(2, 40), p=st.sampled_from([0.05, 0.2, 0.5]), seed=st.integers(0, 1000))
@settings(max_examples=25, deadline=None)
def test_fourward_layers_and_masks(n, p, seed):
    wiring = erdos_renyi_dag(n, p, seed=seed, as_wiring=True)
    if wiring.num_edges == 0:
        return
    fw = FourWardNet(wiring, seed=seed, dtype=torch.float64)
    level = alap(wiring)
    assert np.array_equal(fw.levels(), level)
    assert fw.num_layers == int(level.max()) + 1
    sinks = wiring.out_degree() == 0
    sources = wiring.in_degree() == 0
    assert (level[sinks & ~sources] == fw.num_layers - 1).all()  # all sinks on the last layer
    assert (level[sources] == 0).all()
    masks = [getattr(fw, f"mask_{l}") for l in range(1, fw.num_layers)]
    assert sum(int(m.sum()) for m in masks) == wiring.num_edges
    assert sum(m.numel() for m in masks) == fw.dense_size == fourward_dense_size(wiring)
    for m, W in zip(masks, fw.weights):
        assert not W[m == 0].any()  # masked entries hold 0
    # Masked entries get no gradient.
    x = torch.randn(3, fw.in_features, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    fw(x).square().sum().backward()
    for m, W in zip(masks, fw.weights):
        assert not W.grad[m == 0].any()


def test_same_initial_values_as_dagnetwork_without_given_values():
    wiring = erdos_renyi_dag(30, 0.2, seed=3, as_wiring=True)
    net = DAGNetwork(wiring, seed=7, dtype=torch.float64)
    x = torch.randn(4, net.in_features, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    for cls in BASELINES:  # NaN/missing values are drawn with DAGNetwork's rule from the seed
        torch.testing.assert_close(cls(wiring, seed=7, dtype=torch.float64)(x), net(x), rtol=0, atol=TOL)


def test_default_activations_without_wiring_activations():
    wiring = erdos_renyi_dag(25, 0.3, seed=1, as_wiring=True)
    net = DAGNetwork(wiring, activation="tanh", output_activation="sigmoid", seed=2, dtype=torch.float64)
    plain = net.to_wiring()
    plain.activation = None
    x = torch.randn(3, net.in_features, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for cls in BASELINES:
        base = cls(plain, activation="tanh", output_activation="sigmoid", dtype=torch.float64)
        torch.testing.assert_close(base(x), net(x), rtol=0, atol=TOL)


def test_leading_dimensions_and_isolated_nodes():
    w = Wiring(4, [0, 1], [2, 2], weight=[1.0, 2.0], bias=[0.0, 0.0, 0.5, 0.0])  # node 3 isolated
    x = torch.tensor([[[1.0, 1.0, 7.0]]])
    for cls in BASELINES:
        net = cls(w)
        assert net.inputs == [0, 1, 3] and net.outputs == [2, 3]
        assert net(x).tolist() == [[[3.5, 7.0]]]


@pytest.mark.parametrize("cls", BASELINES)
def test_bad_wirings_and_inputs_raise(cls):
    with pytest.raises(CycleError):
        cls(Wiring(4, [0, 1, 2, 2], [1, 2, 1, 3]))
    with pytest.raises(GraphError, match="appears twice"):
        cls(Wiring(2, [0, 0], [1, 1]))
    with pytest.raises(GraphError, match="Wiring"):
        cls(nx.DiGraph([(0, 1)]))
    net = cls(Wiring(3, [0, 1], [2, 2]), seed=0)
    with pytest.raises(InputShapeError, match=r"\(\*, 2\)"):
        net(torch.ones(4, 3))
    with pytest.raises(InputShapeError, match="dtype"):
        net(torch.ones(4, 2, dtype=torch.float64))


def test_check_outputs_fails_loudly_on_a_mismatch():
    wiring = erdos_renyi_dag(40, 0.2, seed=0, as_wiring=True)
    net = DAGNetwork(wiring, seed=0)
    wrong = net.to_wiring()
    wrong.weight[0] += 1.0
    x = torch.randn(8, net.in_features, generator=torch.Generator().manual_seed(2))
    diffs = engine.check_outputs({"dagnet": net, "4ward": FourWardNet(net.to_wiring())}, x, "test")
    assert diffs["4ward"] < 1e-5
    with pytest.raises(engine.BaselineMismatchError, match="4Ward disagrees with dagnet"):
        engine.check_outputs({"dagnet": net, "4ward": FourWardNet(wrong)}, x, "test")


def test_time_alternating_interleaves_and_rotates():
    calls = []
    steps = {k: (lambda k=k: calls.append(k)) for k in "abc"}
    times = engine.time_alternating(steps, repeats=3, warmup=1, turn_seconds=0)
    # Warm-up, then per repeat each callable twice in a row (untimed, timed), rotating.
    assert calls == list("abc") + list("aabbcc") + list("bbccaa") + list("ccaabb")
    assert all(len(t) == 3 and min(t) >= 0 for t in times.values())


def test_grid_and_options_are_validated():
    assert [(g.n, g.density) for g in engine.make_grid([1000, 2000], ["10/N", "0.01"])] == [
        (1000, "10/N"),
        (2000, "10/N"),
        (2000, "0.01"),
    ]
    with pytest.raises(ValueError, match="'repeats' parameter of BenchConfig must be an int >= 1"):
        engine.BenchConfig(repeats=0)
    with pytest.raises(ValueError, match="density"):
        engine.BenchConfig(densities=["2.0"])
    with pytest.raises(ValueError, match="'scale'"):
        engine.BenchConfig(scale=["colossal"])
    parser = argparse.ArgumentParser(prog="dagnet")
    add_bench_parser(parser.add_subparsers(dest="command"))
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "engine", "--densities", "zero"])
    args = parser.parse_args(["bench", "engine", "--scale", "--quick"])
    assert args.func(args) == 2  # contradictory: --scale runs no grid
    args = parser.parse_args(["bench", "engine", "--scale", "huge"])
    assert engine.config_from_args(args).scale == ("huge",)
    assert engine.config_from_args(parser.parse_args(["bench", "engine"])).scale == ("standard",)


def test_harness_quick_end_to_end(tmp_path, capsys):
    out = tmp_path / "report.md"
    code = engine.main(
        [
            "--quick",
            "--sizes",
            "100",
            "--threads",
            "1",
            "--repeats",
            "2",
            "--warmup",
            "1",
            "--memory-jobs",
            "3",
            "--output",
            str(out),
        ]
    )
    assert code == 0
    captured = capsys.readouterr()
    report = out.read_text()
    assert report.strip() == captured.out.strip()
    assert "Command: `python -m dagnet.bench.engine --quick" in report
    assert "Load average (1, 5, 15 min): before" in report
    assert "[1/1] N=100" in captured.err  # one progress line per grid point
    lines = [ln for ln in report.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == list(bench_report.GRID_COLUMNS)
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]
    assert len(rows) == 1
    row = dict(zip(header, rows[0]))
    assert all(v and v != "—" for v in row.values()), row  # every column measured
    assert row["N"] == "100" and row["threads"] == "1"
    assert row["speed-up vs 4Ward"].endswith("x")
    assert float(row["peak MiB 4Ward"]) >= 0
    assert "## Targets" in report


def test_scale_run_report(monkeypatch):
    monkeypatch.setitem(engine.SCALE_RUNS, "standard", (400, 2000))  # tiny stand-in for 100k / 1M
    cfg = engine.BenchConfig(sizes=[], scale=["standard"], threads=[1], repeats=1, warmup=0, memory=False)
    result = engine.run_benchmark(cfg, command="dagnet bench engine --scale")
    (row,) = result.scale
    assert (row.n, row.threads) == (400, 1) and row.edges > 0 and row.levels > 1
    assert row.fourward_dense == fourward_dense_size(erdos_renyi_dag(400, row_p(400, 2000), seed=0, as_wiring=True))
    report = engine.format_report(result)
    header = [ln for ln in report.splitlines() if ln.startswith("| run")][0]
    assert [c.strip() for c in header.strip("|").split("|")] == list(bench_report.SCALE_COLUMNS)
    assert "Construction of the 2,000-edge DAG" in report
    assert "peak memory (building or training, above the base): not measured" in report
    assert "full step on 2 threads: not run (add --threads 2)" in report


def row_p(n, edges):
    return edges / (n * (n - 1) / 2)


# --------------------------------------------------------------------------- devices, back ends, 4Ward's own code
REPO = Path(__file__).resolve().parent.parent
QUICK = ["--sizes", "60", "--densities", "10/N", "--no-scale", "--threads", "1", "--repeats", "1", "--warmup", "1"]
gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


@pytest.fixture(scope="module")
def fourward_models():
    """4Ward's ``forward.models`` from a checkout: ``$DAGNET_FOURWARD_CODE``, else ``bench/_external/forward``.

    Third-party code that cannot ship with dagnet: the tests that drive it skip
    where no checkout is present (``git clone https://github.com/BoCtrl-C/forward
    bench/_external/forward``).
    """
    path = Path(os.environ.get("DAGNET_FOURWARD_CODE", REPO / "bench" / "_external" / "forward"))
    if not (path / "forward" / "models.py").is_file():
        pytest.skip(f"no checkout of 4Ward's code at {path} (github.com/BoCtrl-C/forward)")
    return load_fourward(path)


def _table_rows(report: str, first: str) -> tuple[list[str], list[dict]]:
    lines = [ln for ln in report.splitlines() if ln.startswith(f"| {first}")]
    start = report.splitlines().index(lines[0])
    block = []
    for ln in report.splitlines()[start:]:
        if not ln.startswith("|"):
            break
        block.append([c.strip() for c in ln.strip("|").split("|")])
    header, rows = block[0], block[2:]
    return header, [dict(zip(header, r)) for r in rows]


def test_time_alternating_synchronises_around_every_timed_block():
    calls = []
    steps = {k: (lambda k=k: calls.append(k)) for k in "ab"}
    syncs = []
    engine.time_alternating(steps, repeats=3, warmup=2, turn_seconds=0, sync=lambda: syncs.append(len(calls)))
    # Two warm-up calls each (the second timed between syncs), then per repeat: untimed, sync, timed, sync.
    assert calls == list("aabb") + list("aabb") + list("bbaa") + list("aabb")
    assert len(syncs) == 2 * 2 + 3 * 2 * 2
    assert syncs[:4] == [1, 2, 3, 4]  # around the last warm-up call of each


def test_check_outputs_compares_the_columns_a_model_computes():
    net = DAGNetwork(Wiring(4, [0, 1], [2, 2]), seed=0)  # node 3 has no edges: an input and an output

    class SinksOnly(torch.nn.Module):
        output_columns = [0]

        def forward(self, x):
            return net(x)[:, :1]

    x = torch.ones(2, 3)
    assert engine.check_outputs({"dagnet": net, "4ward-code": SinksOnly()}, x, "test") == {"4ward-code": 0.0}
    SinksOnly.output_columns = [1]
    with pytest.raises(engine.BaselineMismatchError, match="4Ward code disagrees"):
        engine.check_outputs({"dagnet": net, "4ward-code": SinksOnly()}, x, "test")


def test_cuda_without_a_gpu_exits_with_code_2(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert engine.main(["--device", "cuda", "--quick"]) == 2
    assert "--device cuda needs a CUDA GPU, and torch sees none here" in capsys.readouterr().err
    parser = argparse.ArgumentParser(prog="dagnet")
    add_bench_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "engine", "--device", "cuda", "--scale", "giant"])
    assert args.func(args) == 2
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "engine", "--device", "tpu"])
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "engine", "--backend", "cupy"])


def test_device_defaults_and_huge(monkeypatch):
    cpu = engine.BenchConfig()
    assert (cpu.threads, cpu.sequential_max, cpu.scale, cpu.backends) == ((1, 2), 2000, ("standard",), ())
    monkeypatch.setattr(bench_spec, "resolve_device", lambda name: torch.device(name))  # as if a GPU were here
    cuda = engine.BenchConfig(device="cuda")
    assert (cuda.threads, cuda.sequential_max) == ((1,), 0)
    assert cuda.scale == ("standard", "huge", "giant") and cuda.backends == ("triton", "torch")
    parser = engine.add_arguments(argparse.ArgumentParser())
    assert engine.config_from_args(parser.parse_args(["--huge"])).scale == ("standard", "giant")
    assert engine.config_from_args(parser.parse_args(["--device", "cuda", "--huge"])).scale == cuda.scale
    assert engine.config_from_args(parser.parse_args(["--scale", "giant"])).scale == ("giant",)
    with pytest.raises(ValueError, match="--huge"):
        engine.config_from_args(parser.parse_args(["--huge", "--no-scale"]))
    with pytest.raises(ValueError, match="'backends' parameter of BenchConfig"):
        engine.BenchConfig(backends=["jax"])


def test_backend_rows_on_the_cpu_and_a_back_end_skipped_with_its_reason(monkeypatch, capsys):
    monkeypatch.setattr(engine_backends, "BACKENDS", ("numba", "torch"))  # as if no triton back end existed
    assert backend_unavailable("triton", torch.device("cuda")).startswith("this dagnet has no 'triton' back end")
    code = engine.main([*QUICK, "--no-memory", "--sequential-max", "0", "--backend", "numba", "torch", "triton"])
    assert code == 0
    out, err = capsys.readouterr()
    assert "skipped: back end 'triton': this dagnet has no 'triton' back end" in err
    assert "threads=1 backend=torch" in err
    header, rows = _table_rows(out, "threads")
    assert header[:3] == ["threads", "backend", "N"]
    assert [r["backend"] for r in rows] == ["numba", "torch"]
    assert all(r["speed-up vs 4Ward"].endswith("x") and r["step ms seq"] == "—" for r in rows)
    assert "## Skipped" in out and "- back end 'triton'" in out
    assert engine.main([*QUICK, "--no-memory", "--backend", "triton"]) == 2
    assert "None of the back ends asked for (triton) can run on cpu here" in capsys.readouterr().err


def test_missing_fourward_checkout_is_skipped_with_the_reason(tmp_path, capsys):
    missing = tmp_path / "forward"
    assert engine.main([*QUICK, "--no-memory", "--fourward-code", str(missing)]) == 0
    out, err = capsys.readouterr()
    assert f"skipped: 4Ward's code: '{missing}' does not exist; clone https://github.com/BoCtrl-C/forward" in err
    header, rows = _table_rows(out, "threads")
    assert "step ms 4Ward code" in header and rows[0]["step ms 4Ward code"] == "—"
    assert rows[0]["step ms 4Ward"] != "—"
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no forward/models.py"):
        load_fourward(tmp_path / "empty")


@given(n=st.integers(2, 40), p=st.sampled_from([0.03, 0.1, 0.3]), seed=st.integers(0, 10**6))
@settings(max_examples=30, deadline=None)
def test_fourward_layers_are_4wards_own(fourward_models, n, p, seed):
    from forward import utils  # 4Ward's layering, the reference

    wiring = erdos_renyi_dag(n, p, seed=seed, as_wiring=True)
    graph = nx.DiGraph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(zip(wiring.source.tolist(), wiring.target.tolist()))
    assert fourward_layers(wiring) == utils.push_sources(graph, utils.longest_path_algorithm(graph))


@pytest.mark.parametrize("n, p, seed", [(40, 0.15, 0), (150, 0.03, 1), (300, 0.01, 2)])
def test_fourward_code_computes_dagnets_function_in_float64(fourward_models, n, p, seed):
    wiring = erdos_renyi_dag(n, p, seed=seed, as_wiring=True)
    net = DAGNetwork(wiring, seed=seed, dtype=torch.float64)
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # 4Ward allocates its weights and activations in the default dtype
    try:
        state = torch.random.get_rng_state()
        fw = FourWardCode(fourward_models, net.to_wiring())
        assert torch.equal(torch.random.get_rng_state(), state)  # its seeding does not leak out
        cols = fw.output_columns
        isolated = (wiring.in_degree() == 0) & (wiring.out_degree() == 0)
        assert len(cols) == net.out_features - int(isolated.sum())
        assert fw.num_layers == net.num_layers
        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(9, net.in_features, generator=gen)
        y = torch.randn(9, len(cols), generator=gen)
        assert float((fw(x) - net(x)[:, cols]).detach().abs().max()) < 1e-12
        # One SGD step on the same loss: equal gradients keep the functions equal.
        for model, out in ((net, lambda: net(x)[:, cols]), (fw, lambda: fw(x))):
            torch.nn.functional.mse_loss(out(), y).backward()
            with torch.no_grad():
                for q in model.parameters():
                    if q.requires_grad and q.grad is not None:
                        q.add_(q.grad, alpha=-0.5)
        assert float((fw(x) - net(x)[:, cols]).detach().abs().max()) < 1e-12
    finally:
        torch.set_default_dtype(old)


def test_bench_with_fourward_code_on_the_cpu(fourward_models, tmp_path, capsys):
    path = Path(fourward_models.__file__).parent  # the package folder is accepted too
    assert load_fourward(path) is fourward_models
    code = engine.main([*QUICK, "--sequential-max", "0", "--fourward-code", str(path), "-o", str(tmp_path / "r.md")])
    assert code == 0
    out, err = capsys.readouterr()
    assert "x vs 4Ward code" in err
    header, (row,) = _table_rows(out, "threads")
    for column in ("build s 4Ward code", "step ms 4Ward code", "speed-up vs 4Ward code", "peak MiB 4Ward code"):
        assert row[column] != "—", column
    assert "4Ward code = 4Ward's own `ForWard`" in out


class _FakePeak:
    def __init__(self, device):
        pass

    def mib(self):
        return 2.0

    def held_mib(self):
        return 1.5


def test_gpu_path_with_the_device_faked_on_the_cpu(monkeypatch, request):
    """The CUDA code path (rows per back end, synchronised timing, in-process peaks, gated giant run, report)
    with the models on the CPU and the GPU's clock and memory counters replaced."""
    syncs = []
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)  # so the triton back end is skipped on the CPU
    monkeypatch.setattr(bench_spec, "resolve_device", lambda name: torch.device(name))
    monkeypatch.setattr(engine, "resolve_device", lambda name: torch.device("cpu"))
    monkeypatch.setattr(engine._Run, "gpu", property(lambda self: True))
    monkeypatch.setattr(engine, "synchronizer", lambda device: lambda: syncs.append(1))
    monkeypatch.setattr(engine, "CudaPeak", _FakePeak)
    monkeypatch.setattr(engine, "describe_device", lambda device: "Fake GPU (1 GiB)")
    shortfalls = []
    monkeypatch.setattr(engine, "gpu_shortfall", lambda need, device, what: shortfalls.append(what))
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setitem(engine.SCALE_RUNS, "standard", (300, 1500))
    monkeypatch.setitem(engine.SCALE_RUNS, "giant", (10**9, 10**13))  # beyond any host: skipped
    cfg = engine.BenchConfig(device="cuda", sizes=[60], densities=["10/N"], repeats=1, warmup=1)
    cfg.scale = ("standard", "giant")
    result = engine.run_benchmark(cfg, command="dagnet bench engine --device cuda")
    (row,) = result.grid  # triton cannot run on CPU tensors here: one row, the torch back end
    assert row.backend == "torch" and row.peak_mib == {"dagnet": 3.5, "4ward": 3.5}
    assert syncs and shortfalls == ["4Ward"]
    (scale,) = result.scale
    assert (scale.kind, scale.backend, scale.plan_s, scale.peak_step_mib) == ("standard", "torch", None, 3.5)
    assert any("back end 'triton'" in note for note in result.notes)
    assert any("scale run 'giant'" in note and "--huge runs it anyway" in note for note in result.notes)
    report = engine.format_report(result)
    assert "GPU: Fake GPU (1 GiB)" in report and "`torch.cuda.synchronize()`" in report
    header, rows = _table_rows(report, "backend")
    assert header[:2] == ["backend", "N"] and "threads" not in header and "step ms seq" not in header
    header, rows = _table_rows(report, "run")
    assert "plan s" not in header and rows[0]["backend"] == "torch"
    assert "Training step vs 4Ward on the same GPU, back end torch" in report and "target >= 10x" in report


@gpu
def test_bench_engine_on_a_real_gpu(capsys):
    code = engine.main(["--device", "cuda", *QUICK[:-4], "--repeats", "2", "--warmup", "2", "--backend", "torch"])
    assert code == 0
    out, _ = capsys.readouterr()
    assert f"GPU: {torch.cuda.get_device_name()}" in out
    _, (row,) = _table_rows(out, "backend")
    assert float(row["peak MiB dagnet"]) > 0 and row["speed-up vs 4Ward"].endswith("x")


def test_gpu_check_script_is_valid_bash():
    script = REPO / "bench" / "gpu_check.sh"
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    text = script.read_text()
    for part in ("--device cuda", "--fourward-code", "--scale giant", "tests/test_cuda.py", '"$OUT'):
        assert part in text, part


def test_fourward_code_that_fails_to_build_is_skipped_and_the_rest_measured(monkeypatch, capsys):
    def broken(graph, stand_alone):
        raise RuntimeError("a broken checkout")

    fake = types.SimpleNamespace(longest_path_algorithm=None, ForWard=broken)
    monkeypatch.setattr(engine, "load_fourward", lambda path: fake)
    assert engine.main([*QUICK, "--no-memory", "--fourward-code", "anywhere"]) == 0
    out, err = capsys.readouterr()
    assert "4Ward code at N=60, p=0.167 (10/N), seed=0: building it failed (RuntimeError: a broken checkout)" in err
    _, (row,) = _table_rows(out, "threads")
    assert row["step ms 4Ward code"] == "—" and row["speed-up vs 4Ward"].endswith("x")
    assert fake.longest_path_algorithm is None  # 4Ward's layering function is put back
