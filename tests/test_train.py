"""dagnet.train.fit: learning, metrics files, rules on schedule, bit-exact resume, the plot."""

from __future__ import annotations

import csv
import functools
import json

import numpy as np
import pytest
import torch

from dagnet import DAGNetwork
from dagnet.data import Dataset, load_digits
from dagnet.seeding import torch_generator
from dagnet.topology import random_io_dag
from dagnet.train import fit, load_checkpoint, plot_training

COLUMNS = ["epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "seconds"]


def _digits_net(seed=0, hidden=100, init_seed=None):
    wiring = random_io_dag(64, hidden, 10, 0.02, 16, 40, seed=seed)
    return DAGNetwork(wiring, seed=seed if init_seed is None else init_seed)


@pytest.fixture(scope="module")
def digits():
    return load_digits(seed=0)


@pytest.fixture(scope="module")
def small(digits):
    """400 training and 200 test digits: enough to train on, fast to train on."""
    return Dataset(
        digits.X_train[:400], digits.y_train[:400], digits.X_test[:200], digits.y_test[:200], "digits-small", 10
    )


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    net = _digits_net()
    result = fit(
        net,
        digits,
        optimizer=functools.partial(torch.optim.Adam, lr=0.02),
        epochs=3,
        batch_size=64,
        out_dir=out,
        progress=False,
    )
    return result, out, net


def test_dag_network_learns_digits(trained):
    result, _, _ = trained
    acc = [row["test_accuracy"] for row in result.metrics]
    assert acc[-1] > 0.85, acc
    assert result.metrics[-1]["train_loss"] < result.metrics[0]["train_loss"]


def test_metrics_files_have_one_row_per_epoch_and_the_columns(trained):
    result, out, _ = trained
    with open(out / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == COLUMNS
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert float(rows[-1]["test_accuracy"]) == pytest.approx(result.metrics[-1]["test_accuracy"])
    records = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in records] == [1, 2, 3] and list(records[0]) == COLUMNS
    assert records[1]["test_loss"] == pytest.approx(result.metrics[1]["test_loss"])


def test_training_plot_is_a_png(trained):
    _, out, _ = trained
    data = (out / "training.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.pt",
        "metrics.csv",
        "metrics.json",
        "training.png",
    ]  # no temporary file left


def test_checkpoint_holds_what_resuming_needs(trained):
    result, out, net = trained
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["epoch"] == 3 and state["metrics"] == result.metrics
    assert {"model", "optimizer", "generator", "rules", "rules_ran", "seed"} <= set(state)
    assert torch.equal(state["model"]["weight"], net.weight.detach())
    assert state["optimizer"]["state"][0]["step"] == result.optimizer.state_dict()["state"][0]["step"]


class NoisyRule:
    """A stand-in evolution rule: nudges k random weights, drawing from a generator it owns."""

    def __init__(self, k=5, seed=0):
        self.k, self.gen, self.calls = k, torch_generator(seed), []

    def step(self, model, optimizer=None):
        idx = torch.randint(0, model.weight.numel(), (self.k,), generator=self.gen)
        with torch.no_grad():
            model.weight[idx] += 0.01 * torch.randn(self.k, generator=self.gen)
        self.calls.append(optimizer is not None)
        return {"changed": self.k, "where": idx}

    def state_dict(self):
        return {"gen": self.gen.get_state()}

    def load_state_dict(self, state):
        self.gen.set_state(state["gen"])


def _sgd(params):
    return torch.optim.SGD(params, lr=0.05, momentum=0.9)


def test_resume_is_bit_exact(small, tmp_path):
    full = _digits_net(hidden=40)
    fit(
        full,
        small,
        optimizer=_sgd,
        epochs=4,
        batch_size=32,
        rules=[NoisyRule()],
        seed=7,
        out_dir=tmp_path / "full",
        progress=False,
    )

    first = _digits_net(hidden=40)
    fit(
        first,
        small,
        optimizer=_sgd,
        epochs=2,
        batch_size=32,
        rules=[NoisyRule()],
        seed=7,
        out_dir=tmp_path / "split",
        progress=False,
    )
    resumed = _digits_net(hidden=40, init_seed=1)  # a different start: everything must come from the checkpoint
    rule = NoisyRule(seed=99)  # so must the rule's generator
    result = fit(
        resumed,
        small,
        optimizer=_sgd,
        epochs=4,
        batch_size=32,
        rules=[rule],
        seed=123,
        out_dir=tmp_path / "split",
        resume=True,
        progress=False,
    )

    assert torch.equal(resumed.weight, full.weight) and torch.equal(resumed.bias, full.bias)
    assert not torch.equal(first.weight, full.weight)
    assert len(rule.calls) == 2  # after epoch 2 (the first run's last) and 3, not 4
    assert [row["epoch"] for row in result.metrics] == [1, 2, 3, 4]
    saved = json.loads((tmp_path / "full" / "metrics.json").read_text())
    for a, b in zip(saved, result.metrics):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}


def test_resume_without_a_checkpoint_starts_afresh(small, tmp_path):
    a, b = _digits_net(hidden=20), _digits_net(hidden=20)
    fit(a, small, epochs=1, progress=False)
    fit(b, small, epochs=1, out_dir=tmp_path, resume=True, progress=False)
    assert torch.equal(a.weight, b.weight) and (tmp_path / "checkpoint.pt").is_file()


def test_rules_run_on_schedule_and_are_recorded(small):
    default, every_second = NoisyRule(k=2), NoisyRule(k=3, seed=1)
    result = fit(
        _digits_net(hidden=20),
        small,
        epochs=4,
        batch_size=100,
        progress=False,
        rules=[default, (every_second, lambda epoch: epoch % 2 == 0)],
    )
    assert default.calls == [True, True, True]  # after epochs 1, 2, 3, with the optimizer
    assert len(every_second.calls) == 2
    rows = result.metrics
    assert [row.get("rules") for row in rows] == [
        ["NoisyRule"],
        ["NoisyRule", "NoisyRule_1"],
        ["NoisyRule"],
        ["NoisyRule_1"],
    ]
    assert rows[0]["NoisyRule.changed"] == 2 and "NoisyRule_1.changed" not in rows[0]
    assert rows[1]["NoisyRule_1.changed"] == 3 and len(rows[1]["NoisyRule_1.where"]) == 3
    assert "NoisyRule.changed" not in rows[3]


def test_rule_columns_reach_the_csv(small, tmp_path):
    fit(
        _digits_net(hidden=20),
        small,
        epochs=2,
        batch_size=200,
        rules=[NoisyRule(k=1)],
        out_dir=tmp_path,
        progress=False,
    )
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["NoisyRule.changed"] == "1" and rows[1]["NoisyRule.changed"] == ""
    assert json.loads(rows[0]["rules"]) == ["NoisyRule"]


def test_a_rule_must_return_a_dict(small):
    class Bad:
        def step(self, model, optimizer=None):
            return 3

    with pytest.raises(TypeError, match="The rule 'Bad' returned int from step\\(\\); it must return a dict"):
        fit(_digits_net(hidden=20), small, epochs=2, batch_size=200, rules=[Bad()], progress=False)


def test_progress_bar_on_stderr_only_when_asked(small, capsys):
    fit(_digits_net(hidden=20), small, epochs=1, batch_size=200, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "epoch 1/1" in captured.err and "test acc" in captured.err
    fit(_digits_net(hidden=20), small, epochs=1, batch_size=200, progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_custom_loss_without_accuracy(small):
    ds = Dataset(small.X_train, small.y_train, small.X_test, small.y_test, "digits", 10)

    def mse_on_one_hot(out, y):
        return torch.nn.functional.mse_loss(out, torch.nn.functional.one_hot(y, 10).float())

    result = fit(_digits_net(hidden=20), ds, loss=mse_on_one_hot, epochs=2, batch_size=100, progress=False)
    assert result.metrics[-1]["test_loss"] < result.metrics[0]["train_loss"]
    assert 0.0 <= result.metrics[-1]["test_accuracy"] <= 1.0  # class scores: accuracy still measured


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(epochs=0), "The 'epochs' parameter of fit must be an int >= 1. Got 0 instead."),
        (dict(batch_size=2.5), "The 'batch_size' parameter of fit must be an int >= 1. Got 2.5 instead."),
        (dict(checkpoint_every=True), "The 'checkpoint_every' parameter of fit must be an int >= 1. Got True"),
        (dict(loss="hinge"), "The 'loss' parameter of fit must be one of 'cross_entropy' or a callable. Got 'hinge'"),
        (dict(optimizer="sgd"), "The 'optimizer' parameter of fit must be a torch.optim.Optimizer"),
        (dict(rules=[object()]), "The 'rules' parameter of fit must be a sequence of rules"),
        (dict(resume=True), "The 'resume' parameter of fit needs out_dir"),
    ],
)
def test_arguments_are_validated(small, kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        fit(_digits_net(hidden=20), small, progress=False, **kwargs)


def test_plot_training_skips_missing_values():
    rows = [
        {"epoch": 1, "train_loss": 1.0, "test_loss": 0.9, "train_accuracy": None, "test_accuracy": None},
        {"epoch": 2, "train_loss": 0.5, "test_loss": float("nan"), "rules": ["SET"]},
    ]
    fig = plot_training(rows)
    loss_ax, acc_ax = fig.axes
    train, test = loss_ax.get_lines()[:2]
    assert list(train.get_ydata()) == [1.0, 0.5] and list(test.get_ydata()) == [0.9]
    assert not any(line.get_label() in ("train", "test") for line in acc_ax.get_lines())
    assert np.allclose(loss_ax.get_lines()[-1].get_xdata(), [2, 2])  # the rule marker at epoch 2
