"""TOML-described runs (dagnet train), the demo, step schedules, in-degree snapshots, seeded dropout."""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest
import torch

from dagnet import DAGNetwork, SparseLinear
from dagnet.cli import main
from dagnet.cli.config import build_model, build_rules, load_config
from dagnet.data import Dataset, load_digits
from dagnet.demo import DemoConfig, compile_kernels, run_demo
from dagnet.evolve import SET
from dagnet.nn import Dropout, sparse_mlp
from dagnet.topology import write_edgelist
from dagnet.train import every_steps, fit, in_degrees, load_checkpoint

TOML = """
seed = 3
epochs = 2
batch_size = 100
[model]
kind = "set_mlp"
hidden = [48]
epsilon = 4
dropout = 0.2
[optimizer]
name = "sgd"
lr = 0.05
momentum = 0.9
[[evolve]]
rule = "SET"
zeta = 0.3
"""


@pytest.fixture(scope="module")
def small():
    d = load_digits(seed=0)
    return Dataset(d.X_train[:300], d.y_train[:300], d.X_test[:100], d.y_test[:100], "digits-small", 10)


def test_config_defaults_and_overrides():
    cfg = load_config({"epochs": 7, "model": {"hidden": [10, 20]}, "evolve": [{"rule": "RigL"}]})
    assert cfg["epochs"] == 7 and cfg["model"]["hidden"] == [10, 20]
    assert cfg["model"]["kind"] == "set_mlp" and cfg["optimizer"]["name"] == "adam"


@pytest.mark.parametrize(
    "given, message",
    [
        ({"epoch": 3}, "Unknown key 'epoch'"),
        ({"model": {"hiden": [3]}}, "Unknown key model.'hiden'"),
        ({"model": 3}, "'model' must be a table"),
        ({"data": {"name": "cifar"}}, "data.name must be one of"),
        ({"model": {"kind": "cnn"}}, "model.kind must be one of"),
        ({"optimizer": {"name": "lbfgs"}}, "optimizer.name must be one of"),
        ({"evolve": {"rule": "SET"}}, "'evolve' must be a list of tables"),
        ({"optimizer": {"lr": "fast"}}, r"optimizer.lr must be a number > 0, got 'fast' \(a string\)"),
        ({"optimizer": {"momentum": -0.5}}, r"optimizer.momentum must be a number >= 0, got -0.5\."),
        ({"batch_size": True}, r"batch_size must be an integer >= 1, got True \(a boolean\)"),
        ({"model": {"hidden": [16, "8"]}}, "model.hidden must be an array of integers >= 1"),
        ({"model": {"density": 1.5}}, r"model.density must be a number in \(0, 1\] or left out"),
        ({"model": {"dropout": 1}}, r"model.dropout must be a number in \[0, 1\)"),
        ({"data": {"path": 7}}, "data.path must be a path"),
        ({"on_nonfinite": "ignore"}, "on_nonfinite must be one of 'raise', 'continue'"),
        ({"evolve": [{"rule": "SET", "every_epochs": "2"}]}, r"evolve\[0\].every_epochs must be an integer >= 1"),
        ({"evolve": [{"rule": "SET", "every_steps": 2, "every_epochs": 2}]}, "choose one schedule"),
        ({"evolve": [{"rule": "SET", "zeta": 2.0}]}, r"evolve\[0\] \(SET\): The 'zeta' parameter of SET"),
    ],
)
def test_config_errors_name_the_key(given, message):
    with pytest.raises(ValueError, match=message):
        load_config(given)


def test_config_values_are_checked_at_load_time_and_name_the_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('on_nonfinite = "continue"\n[optimizer]\nlr = 0.5\n')
    cfg = load_config(path)
    assert cfg["on_nonfinite"] == "continue" and cfg["optimizer"]["lr"] == 0.5
    path.write_text('[optimizer]\nlr = "fast"\n')
    with pytest.raises(ValueError, match=r"run.toml: optimizer.lr must be a number > 0"):
        load_config(path)
    path.write_bytes(b"epochs = 3\n\xff\xfe")
    with pytest.raises(ValueError, match="run.toml: not a text"):
        load_config(path)


def test_config_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No configuration file"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3")
    with pytest.raises(ValueError, match="bad.toml"):
        load_config(bad)


def test_build_model_kinds(tmp_path):
    mlp = build_model(load_config({"model": {"hidden": [20], "epsilon": 3}}), 8, 3)
    assert isinstance(mlp[0], SparseLinear) and mlp[0].density < 1 and mlp(torch.zeros(2, 8)).shape == (2, 3)
    dense = build_model(load_config({"model": {"kind": "dense_mlp", "hidden": [20]}}), 8, 3)
    assert dense[0].num_edges == 8 * 20
    iso = build_model(load_config({"model": {"kind": "isotropic_mlp", "hidden": [6, 5]}}), 8, 3)
    assert type(iso).__name__ == "IsotropicMLP" and iso(torch.zeros(2, 8)).shape == (2, 3)
    dag = build_model(load_config({"model": {"kind": "dag", "neurons": 30}}), 8, 3)
    assert isinstance(dag, DAGNetwork) and (dag.in_features, dag.out_features) == (8, 3)
    g = nx.DiGraph([(0, 2), (1, 2), (2, 3)])
    write_edgelist(g, tmp_path / "g.edgelist")
    cfg = load_config({"model": {"kind": "dag", "graph": str(tmp_path / "g.edgelist")}})
    assert build_model(cfg, 2, 1).num_edges == 3
    with pytest.raises(ValueError, match="2 inputs and 1 outputs; the data has 5 features and 1 classes"):
        build_model(cfg, 5, 1)


def test_build_rules():
    rules = build_rules(
        load_config({"seed": 4, "evolve": [{"rule": "SET", "zeta": 0.1}, {"rule": "RigL", "every_steps": 7}]})
    )
    assert isinstance(rules[0], SET) and rules[0].zeta == 0.1 and rules[0].seed == 4
    rule, when = rules[1]
    assert type(rule).__name__ == "RigL" and when == every_steps(7)
    with pytest.raises(ValueError, match=r"evolve\[0\].rule must be one of .*'SET'"):
        build_rules(load_config({"evolve": [{"rule": "Nope"}]}))
    with pytest.raises(ValueError, match=r"evolve\[0\] \(SET\): .*unexpected keyword argument 'zetta'"):
        build_rules(load_config({"evolve": [{"rule": "SET", "zetta": 0.1}]}))


def test_cli_train_runs_and_resumes_bit_exactly(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(TOML)
    assert main(["train", str(config), "--out-dir", str(tmp_path / "full"), "--epochs", "3", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "digits" in printed and "test accuracy" in printed
    for name in ("metrics.csv", "metrics.json", "checkpoint.pt", "training.png"):
        assert (tmp_path / "full" / name).is_file()
    assert main(["train", str(config), "--out-dir", str(tmp_path / "split"), "--quiet"]) == 0
    assert (
        main(["train", str(config), "--out-dir", str(tmp_path / "split"), "--epochs", "3", "--resume", "--quiet"]) == 0
    )
    full = load_checkpoint(tmp_path / "full" / "checkpoint.pt")["model"]
    split = load_checkpoint(tmp_path / "split" / "checkpoint.pt")["model"]
    assert full.keys() == split.keys()
    for key in full:
        if isinstance(full[key], torch.Tensor):
            assert torch.equal(full[key], split[key]), key
    rows = json.loads((tmp_path / "split" / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2, 3] and rows[0]["SET.0.removed"] == rows[0]["SET.0.added"] > 0


def test_cli_train_reports_bad_configs(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text("epochz = 3\n")
    assert main(["train", str(config)]) == 2  # a usage error
    assert "Unknown key 'epochz'" in capsys.readouterr().err


def test_demo_runs_on_a_tiny_budget(capsys):
    results = run_demo(DemoConfig(hidden=20, width=16, epochs=1, epsilon=2))
    assert set(results) == {"SET-MLP", "DAGNetwork", "dense MLP"}
    assert all(0 <= r["accuracy"] <= 1 and r["params"] > 0 for r in results.values())
    assert results["SET-MLP"]["params"] < results["dense MLP"]["params"]
    table = capsys.readouterr().out
    assert "samples/s" in table and "SET-MLP" in table
    lines = table.splitlines()
    compiled = next(i for i, line in enumerate(lines) if line.startswith("sparse kernels compiled"))
    assert "not counted as training time" in lines[compiled]
    assert compiled < next(i for i, line in enumerate(lines) if line.startswith("training "))


def test_compile_kernels_leaves_the_models_alone():
    mlp = sparse_mlp([8, 6, 3], epsilon=2, seed=0)
    dense = torch.nn.Linear(8, 3)
    before = {k: v.clone() for k, v in mlp.state_dict().items()}
    assert compile_kernels([mlp, dense], torch.randn(10, 8, generator=torch.Generator().manual_seed(0)), 4) >= 0
    assert all(torch.equal(before[k], v) for k, v in mlp.state_dict().items())
    assert all(p.grad is None for p in [*mlp.parameters(), *dense.parameters()])


class Counter:
    def __init__(self):
        self.steps = 0

    def step(self, model, optimizer=None):
        self.steps += 1
        return {"removed": 1, "edges": 100 - self.steps}


def test_step_schedules_run_inside_epochs(small):
    rule = Counter()
    result = fit(
        sparse_mlp([64, 10], epsilon=2, seed=0),
        small,
        epochs=2,
        batch_size=50,
        rules=[(rule, every_steps(4))],
        progress=False,
    )
    assert rule.steps == 12 // 4  # 6 batches per epoch, 12 steps
    assert [r["Counter.removed"] for r in result.metrics] == [1, 2]  # steps 4 | 8, 12: changes add up
    assert [r["Counter.edges"] for r in result.metrics] == [99, 97]  # totals: the latest
    with pytest.raises(ValueError, match="every_steps must be an int >= 1"):
        every_steps(0)


def test_degree_snapshots(small, tmp_path):
    mlp = sparse_mlp([64, 40, 10], epsilon=3, seed=0)
    before = in_degrees(mlp)
    assert before["0"].sum() == mlp[0].num_edges and before["0"].size == 40
    result = fit(
        mlp,
        small,
        epochs=2,
        batch_size=100,
        rules=[SET(seed=0)],
        progress=False,
        out_dir=tmp_path,
        degree_epochs=[0, 2],
    )
    assert sorted(result.degrees) == [0, 2]
    assert np.array_equal(result.degrees[0]["0"], before["0"])
    assert result.degrees[2]["0"].sum() == mlp[0].num_edges  # SET keeps the count
    saved = json.loads((tmp_path / "in_degrees.json").read_text())
    assert sorted(saved) == ["0", "2"] and (tmp_path / "in_degrees.png").stat().st_size > 0


def test_seeded_dropout():
    a, b = Dropout(0.3, seed=1), Dropout(0.3, seed=1)
    x = torch.ones(200, 50)
    assert torch.equal(a(x), b(x))
    y = a(x)
    assert abs(float((y == 0).float().mean()) - 0.3) < 0.03
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / 0.7))
    state = a.state_dict()
    c = Dropout(0.3, seed=99)
    c.load_state_dict(state)
    assert torch.equal(a(x), c(x))  # the saved generator state continues the stream
    a.eval()
    assert a(x) is x
    a.train()
    start = a.rng_state.clone()

    def same_mask(z):  # the hand-written backward, on one fixed mask
        a.rng_state.copy_(start)
        return a(z)

    z = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(same_mask, (z,))
    with pytest.raises(ValueError, match="'p' parameter of Dropout must be a float in \\[0, 1\\)"):
        Dropout(1.0)


class Penalised:
    def __init__(self):
        self.calls = 0

    def step(self, model, optimizer=None):
        return {}

    def penalty(self, model):
        self.calls += 1
        return 0.0 * sum(p.sum() for p in model.parameters())


def test_rule_penalties_join_the_loss_and_missing_parameters_are_reported(small):
    rule = Penalised()
    fit(sparse_mlp([64, 10], epsilon=2, seed=0), small, epochs=1, batch_size=100, rules=[rule], progress=False)
    assert rule.calls == 3  # once per batch
    mlp = sparse_mlp([64, 10], epsilon=2, seed=0)
    opt = torch.optim.SGD([mlp[0].weight], lr=0.1)  # the bias is left out
    with pytest.warns(UserWarning, match="does not hold 1 trainable parameter"):
        fit(mlp, small, optimizer=opt, epochs=1, batch_size=100, progress=False)


def test_every_exported_rule_builds_from_a_config():
    import dagnet.evolve as evolve

    names = [
        n
        for n in evolve.__all__
        if isinstance(getattr(evolve, n), type)
        and issubclass(getattr(evolve, n), evolve.EvolutionRule)
        and n != "EvolutionRule"
    ]
    assert len(names) >= 8
    rules = build_rules(load_config({"evolve": [{"rule": n} for n in names]}))
    assert [type(r).__name__ for r in rules] == names


POPULATION_TOML = """
seed = 0
epochs = 2
batch_size = 64
[optimizer]
name = "adam"
lr = 0.01
[population]
generator = "small_world"
neurons = 12
fan_in = 6
fan_out = 6
activations = ["relu", "tanh"]
repeats = 2
[population.grid]
k = [2, 4]
p = [0.0, 0.5]
[[evolve]]
rule = "SET"
zeta = 0.2
"""


def test_cli_trains_a_population_study_and_resumes(tmp_path, capsys):
    import csv

    config = tmp_path / "pop.toml"
    config.write_text(POPULATION_TOML)
    out = tmp_path / "study"
    assert main(["train", str(config), "--out-dir", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "population of 16: best member" in printed
    with open(out / "population.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 16 and {r["activation"] for r in rows} == {"relu", "tanh"}
    assert {(r["k"], r["p"]) for r in rows} == {("2", "0.0"), ("2", "0.5"), ("4", "0.0"), ("4", "0.5")}
    for key in ("clustering", "path_length", "depth", "density", "best_test_accuracy"):
        assert all(r[key] != "" for r in rows), key
    assert (out / "population.png").stat().st_size > 10_000 and (out / "members.csv").is_file()
    metrics = json.loads((out / "metrics.json").read_text())
    best = max(range(16), key=lambda i: metrics[-1]["members.test_accuracy"][i])
    assert metrics[-1]["best_member"] == best
    assert main(["train", str(config), "--out-dir", str(out), "--epochs", "3", "--resume", "--quiet"]) == 0
    assert len(json.loads((out / "metrics.json").read_text())) == 3


@pytest.mark.parametrize(
    "table, message",
    [
        ({"generator": "lattice"}, "population.generator must be one of"),
        ({"grid": {"q": [1]}}, "population.grid.q is not a parameter of 'erdos_renyi', which takes p"),
        ({"grid": {}}, "population.grid needs p"),
        ({"grid": {"p": []}}, "population.grid.p must be a non-empty array of numbers"),
        ({"grid": {"p": [0.1]}, "repeats": 0}, "population.repeats must be an integer >= 1"),
        ({"grid": {"p": [0.1]}, "size": 3}, "Unknown key 'population.size'"),
    ],
)
def test_population_config_errors_name_the_key(table, message):
    with pytest.raises(ValueError, match=message):
        load_config({"population": table})
