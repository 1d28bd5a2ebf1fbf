"""The benchmark baselines against DAGNetwork, and the harness end to end (no timing asserted)."""

from __future__ import annotations

import argparse

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagnet import CycleError, DAGNetwork, InputShapeError, Wiring
from dagnet.bench import FourWardNet, SequentialNet, engine, fourward_dense_size
from dagnet.bench import report as bench_report
from dagnet.cli.bench import add_bench_parser
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
        engine.BenchConfig(scale=["giant"])
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
