"""fit under trouble: diverging runs, unwritable or odd output folders, resuming another configuration."""

from __future__ import annotations

import csv
import functools
import json
import math

import pytest
import torch
from torch import nn

from dagnet.data import Dataset, load_digits
from dagnet.errors import CheckpointMismatchError, DivergenceError, FileFormatError
from dagnet.evolve import SET, RigL
from dagnet.nn import sparse_mlp
from dagnet.train import every_steps, fit, load_checkpoint, loop, save_checkpoint, write_metrics
from dagnet.train.metrics import to_record


@pytest.fixture(scope="module")
def small():
    d = load_digits(seed=0)
    return Dataset(d.X_train[:300], d.y_train[:300], d.X_test[:100], d.y_test[:100], "digits-small", 10)


def _mlp(hidden=48, seed=0):
    return sparse_mlp([64, hidden, 10], epsilon=4, seed=seed)


_ADAM = functools.partial(torch.optim.Adam, lr=1e-3)
_SGD = functools.partial(torch.optim.SGD, lr=0.05, momentum=0.9)


class PoisonedLoss:
    """Cross-entropy that is NaN at the ``at``-th training batch (batches under no_grad are not counted)."""

    def __init__(self, at: int, value: float = math.nan):
        self.at, self.value, self.calls = at, value, 0

    def __call__(self, out, y):
        loss = nn.functional.cross_entropy(out, y)
        if torch.is_grad_enabled():
            self.calls += 1
            if self.calls == self.at:
                return loss * self.value
        return loss


# ---------------------------------------------------------------- non-finite values


def test_to_record_and_write_metrics_keep_non_finite_values_as_null(tmp_path):
    assert to_record({"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": torch.tensor(math.nan)}) == {
        "a": None,
        "b": [None, None, 1.5],
        "c": None,
    }
    write_metrics([{"epoch": 1, "loss": math.inf}, {"epoch": 2, "loss": math.nan}, {"epoch": 3, "loss": 0.5}], tmp_path)
    assert [r["loss"] for r in json.loads((tmp_path / "metrics.json").read_text())] == [None, None, 0.5]
    with open(tmp_path / "metrics.csv", newline="") as f:
        assert [r["loss"] for r in csv.DictReader(f)] == ["", "", "0.5"]


def test_a_diverging_run_stops_naming_the_epoch_and_keeps_what_resuming_needs(small, tmp_path):
    # 3 batches per epoch; the 11th batch is the 2nd of epoch 4; checkpoints after epochs 2 and 4
    model = _mlp()
    with pytest.raises(DivergenceError, match=r"diverged in epoch 4: the training loss is nan in batch 2 of 3") as info:
        fit(
            model,
            small,
            loss=PoisonedLoss(11),
            optimizer=_ADAM,
            epochs=6,
            batch_size=100,
            out_dir=tmp_path,
            checkpoint_every=2,
            progress=False,
        )
    message = str(info.value)
    assert "after epoch 2" in message and str(tmp_path / "checkpoint.pt") in message
    assert "on_nonfinite='continue'" in message
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the NaN batch never reached the model
    rows = json.loads((tmp_path / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[3]["train_loss"] is None and rows[2]["train_loss"] > 0
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "metrics.csv", "metrics.json"]

    # the run resumes from its last checkpoint, here with a lower learning rate
    result = fit(
        _mlp(seed=5),
        small,
        optimizer=functools.partial(torch.optim.Adam, lr=5e-4),
        epochs=4,
        batch_size=100,
        out_dir=tmp_path,
        resume=True,
        progress=False,
    )
    assert [r["epoch"] for r in result.metrics] == [1, 2, 3, 4]
    assert all(math.isfinite(r["train_loss"]) for r in result.metrics)
    assert result.optimizer.param_groups[0]["lr"] == 5e-4  # this run's hyperparameters, not the checkpoint's
    assert json.loads((tmp_path / "metrics.json").read_text())[3]["train_loss"] is not None


def test_divergence_in_the_first_epoch_without_out_dir(small):
    with pytest.raises(
        FloatingPointError,
        match=r"epoch 1: the training loss is inf in batch 1 of 3.*Nothing "
        r"was saved",
    ):
        fit(_mlp(), small, loss=PoisonedLoss(1, math.inf), epochs=2, batch_size=100, progress=False)


class Saboteur:
    """A rule that writes NaN into the first weight of the first layer."""

    def step(self, model, optimizer=None):
        with torch.no_grad():
            model[0].weight[0] = math.nan
        return {}


def test_non_finite_parameters_after_an_epoch_stop_the_run(small, tmp_path):
    with pytest.raises(FloatingPointError, match=r"epoch 1: the parameter '0.weight' holds NaN"):
        fit(
            _mlp(),
            small,
            epochs=2,
            batch_size=100,
            rules=[(Saboteur(), every_steps(3))],
            out_dir=tmp_path,
            progress=False,
        )
    rows = json.loads((tmp_path / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1] and rows[0]["train_loss"] > 0 and rows[0]["test_loss"] is None
    assert not (tmp_path / "checkpoint.pt").exists()


def test_on_nonfinite_continue_trains_on_and_records_null(small, tmp_path):
    result = fit(
        _mlp(),
        small,
        loss=PoisonedLoss(2),
        epochs=2,
        batch_size=100,
        out_dir=tmp_path,
        on_nonfinite="continue",
        progress=False,
    )
    assert [r["epoch"] for r in result.metrics] == [1, 2]
    assert math.isnan(result.metrics[0]["train_loss"])
    rows = json.loads((tmp_path / "metrics.json").read_text())
    assert rows[0]["train_loss"] is None and rows[1]["epoch"] == 2
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2
    with pytest.raises(ValueError, match="'on_nonfinite' parameter of fit must be one of 'raise', 'continue'"):
        fit(_mlp(), small, epochs=1, on_nonfinite="ignore", progress=False)


# ---------------------------------------------------------------- the output folder


def test_out_dir_must_be_a_writable_folder_before_epoch_one(small, tmp_path, monkeypatch):
    model = _mlp()
    before = model[0].weight.detach().clone()
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    with pytest.raises(ValueError, match=r"'out_dir' parameter of fit must be a folder; .*a_file is a file"):
        fit(model, small, epochs=1, out_dir=a_file, progress=False)
    with pytest.raises(ValueError, match="a part of .* is a file"):
        fit(model, small, epochs=1, out_dir=a_file / "run", progress=False)
    with pytest.raises(ValueError, match="'out_dir' parameter of fit must be a path"):
        fit(model, small, epochs=1, out_dir=3, progress=False)

    locked = tmp_path / "locked"
    real = loop.tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and str(dir) == str(locked):
            raise PermissionError(13, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(loop.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"Cannot write in the output folder .*locked \(Permission denied\)"):
        fit(model, small, epochs=1, out_dir=locked, progress=False)
    assert torch.equal(model[0].weight, before)  # nothing trained


def test_resume_sweeps_stale_temporary_files(small, tmp_path):
    fit(_mlp(), small, epochs=1, batch_size=100, out_dir=tmp_path, progress=False)
    stale = ["checkpoint.pt.x1y2.tmp", "metrics.json.abc.tmp", "training.png.q.tmp"]
    for name in stale + ["notes.tmp", "metrics.csv.keep"]:
        (tmp_path / name).write_text("left by a crash" if name in stale else "the user's")
    fit(_mlp(), small, epochs=2, batch_size=100, out_dir=tmp_path, resume=True, progress=False)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["checkpoint.pt", "metrics.csv", "metrics.csv.keep", "metrics.json", "notes.tmp", "training.png"]


# ---------------------------------------------------------------- resuming another configuration


@pytest.fixture()
def adam_run(small, tmp_path):
    fit(_mlp(), small, optimizer=_ADAM, epochs=1, batch_size=100, out_dir=tmp_path, progress=False)
    return tmp_path


def _refused(small, out, model, optimizer=_ADAM, rules=(), match=""):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    expected = r"The checkpoint in .* was written for another configuration: " + match
    with pytest.raises(CheckpointMismatchError, match=expected):
        fit(
            model,
            small,
            optimizer=optimizer,
            epochs=2,
            batch_size=100,
            rules=rules,
            out_dir=out,
            resume=True,
            progress=False,
        )
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_resuming_other_widths_says_which_module_differs(small, adam_run):
    _refused(
        small,
        adam_run,
        _mlp(hidden=32),
        match=r"module '0' \(SparseLinear\) has 64 inputs and 48 outputs there and 64 inputs and 32 outputs "
        r"here",
    )


def test_resuming_another_optimizer_says_so(small, adam_run, tmp_path_factory):
    _refused(
        small,
        adam_run,
        _mlp(),
        optimizer=_SGD,
        match=r"the optimizer is Adam there \(state exp_avg, exp_avg_sq, step\) and SGD here",
    )
    sgd_run = tmp_path_factory.mktemp("sgd")
    fit(_mlp(), small, optimizer=_SGD, epochs=1, batch_size=100, out_dir=sgd_run, progress=False)
    _refused(small, sgd_run, _mlp(), optimizer=_ADAM, match=r"the optimizer is SGD there .* and Adam here")


def test_resuming_other_modules_or_rules_says_which(small, adam_run, tmp_path_factory):
    dense = nn.Sequential(nn.Linear(64, 10))
    _refused(small, adam_run, dense, match=r"module '0' is a SparseLinear there and a Linear here")
    _refused(small, adam_run, _mlp(), rules=[SET(seed=0)], match=r"it has 0 rule\(s\), this run 1")
    set_run = tmp_path_factory.mktemp("set")
    fit(_mlp(), small, epochs=2, batch_size=100, rules=[SET(seed=0)], out_dir=set_run, progress=False)
    _refused(small, set_run, _mlp(), rules=[RigL(seed=0)], match="rule 1 is SET there and RigL here")


def test_checkpoints_without_a_fingerprint_are_still_compared(small, adam_run):
    state = load_checkpoint(adam_run / "checkpoint.pt")
    assert state["config"]["optimizer"] == "Adam"
    del state["config"]
    save_checkpoint(adam_run / "checkpoint.pt", {k: v for k, v in state.items() if k not in ("format", "version")})
    _refused(
        small,
        adam_run,
        _mlp(hidden=32),
        match=r"module '0' \(SparseLinear\) has 112 neurons there and 96 "
        r"here",
    )
    _refused(
        small,
        adam_run,
        _mlp(),
        optimizer=_SGD,
        match=r"the optimizer there is not this run's SGD: it has the hyperparameters .*betas.*SGD has "
        r"dampening, momentum, nesterov",
    )
    plain = nn.Sequential(nn.Linear(64, 10))
    out = adam_run / "plain"
    fit(plain, small, epochs=1, batch_size=100, out_dir=out, progress=False)
    state = load_checkpoint(out / "checkpoint.pt")
    del state["config"]
    save_checkpoint(out / "checkpoint.pt", {k: v for k, v in state.items() if k not in ("format", "version")})
    _refused(
        small,
        out,
        nn.Sequential(nn.Linear(64, 12), nn.Linear(12, 10)),
        match=r"model state '0.weight' has shape \(10, 64\) there and shape \(12, 64\) here",
    )


def test_a_rewired_network_resumes_into_a_fresh_one_bit_exactly(small, tmp_path):
    full = _mlp()
    fit(
        full,
        small,
        optimizer=_SGD,
        epochs=3,
        batch_size=50,
        rules=[SET(zeta=0.3, seed=1)],
        out_dir=tmp_path / "full",
        progress=False,
    )
    fit(
        _mlp(),
        small,
        optimizer=_SGD,
        epochs=2,
        batch_size=50,
        rules=[SET(zeta=0.3, seed=1)],
        out_dir=tmp_path / "split",
        progress=False,
    )
    resumed = _mlp(seed=9)  # other wiring, same sizes: the checkpoint's wiring is adopted
    assert not torch.equal(resumed[0].in_src, full[0].in_src)
    fit(
        resumed,
        small,
        optimizer=_SGD,
        epochs=3,
        batch_size=50,
        rules=[SET(zeta=0.3, seed=1)],
        out_dir=tmp_path / "split",
        resume=True,
        progress=False,
    )
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)


# ----------------------------------------------------------------- checkpoints fit cannot resume from
def _crafted(small, tmp_path, change):
    """Write a first run's checkpoint with ``change(state)`` applied (its checksum is valid); return the folder."""
    fit(_mlp(), small, optimizer=_ADAM, epochs=1, batch_size=100, rules=[SET(seed=0)], out_dir=tmp_path, progress=False)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    del state["format"], state["version"]
    change(state)
    save_checkpoint(tmp_path / "checkpoint.pt", state)
    return tmp_path


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda s: s.pop("rules"), "it has no 'rules'"),
        (lambda s: [s.pop(k) for k in list(s) if k != "epoch"], "it has no 'model', 'optimizer'"),
        (lambda s: s.update(epoch="1"), "its epoch is '1'"),
        (lambda s: s.update(metrics=5), "its metrics are not a list"),
        (lambda s: s.update(optimizer={"state": 3}), "its optimizer state"),
        (lambda s: s.update(model=[1, 2]), "its model state"),
        (lambda s: s.update(generator=torch.zeros(3, dtype=torch.uint8)), "its generator state cannot be restored"),
        (lambda s: s.update(generator=torch.zeros(5056)), "its generator state is not a 1-D uint8 tensor"),
        (lambda s: s.update(rules_ran=[]), "rules and rules_ran"),
        (lambda s: s.update(degrees={"a": 3}), "its degrees"),
        (lambda s: s.update(config={"modules": 3}), "configuration record"),
    ],
)
def test_a_checkpoint_with_a_valid_checksum_but_bad_entries_is_refused_naming_them(small, tmp_path, change, words):
    out = _crafted(small, tmp_path, change)
    model = _mlp()
    with pytest.raises(FileFormatError, match="is not a checkpoint that fit can resume from") as info:
        fit(
            model,
            small,
            optimizer=_ADAM,
            epochs=2,
            batch_size=100,
            rules=[SET(seed=0)],
            out_dir=out,
            resume=True,
            progress=False,
        )
    assert words in str(info.value) and info.value.path == out / "checkpoint.pt"


def test_a_rule_state_that_does_not_load_says_which_rule(small, tmp_path):
    out = _crafted(small, tmp_path, lambda s: s.update(rules=[{"rng": 5}]))
    with pytest.raises(CheckpointMismatchError, match=r"the state of rule 1 \(SET\) does not load"):
        fit(
            _mlp(),
            small,
            optimizer=_ADAM,
            epochs=2,
            batch_size=100,
            rules=[SET(seed=0)],
            out_dir=out,
            resume=True,
            progress=False,
        )


def test_resuming_a_checkpoint_that_holds_nan_says_resuming_cannot_help(small, tmp_path):
    fit(
        _mlp(),
        small,
        rules=[(Saboteur(), lambda epoch: True)],
        epochs=1,
        batch_size=100,
        out_dir=tmp_path,
        on_nonfinite="continue",
        progress=False,
    )
    with pytest.raises(
        DivergenceError,
        match=r"after epoch 1\) holds NaN or infinite values in '0.weight'.*"
        r"Resuming cannot help",
    ):
        fit(
            _mlp(),
            small,
            rules=[(Saboteur(), lambda epoch: True)],
            epochs=2,
            batch_size=100,
            out_dir=tmp_path,
            resume=True,
            progress=False,
        )


def test_an_output_file_that_is_a_folder_is_reported_before_epoch_one(small, tmp_path, monkeypatch):
    (tmp_path / "checkpoint.pt").mkdir()
    monkeypatch.setattr(loop, "batches", _never_trained)
    with pytest.raises(ValueError, match=r"fit writes the file .*checkpoint.pt, but it is a folder"):
        fit(_mlp(), small, epochs=1, batch_size=100, out_dir=tmp_path, resume=True, progress=False)


def test_a_dangling_symbolic_link_as_out_dir_is_named_so(small, tmp_path):
    (tmp_path / "runs").symlink_to(tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"is a symbolic link to .*nowhere, which does not exist"):
        fit(_mlp(), small, epochs=1, batch_size=100, out_dir=tmp_path / "runs", progress=False)


def test_a_model_with_fewer_outputs_than_classes_is_named_before_a_step(small):
    model = sparse_mlp([64, 16, 5], epsilon=4, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(
        ValueError,
        match=r"The model gives 5 output\(s\) per sample, but the labels of the data "
        r"set 'digits-small' go up to 9 \(10 classes\)",
    ):
        fit(model, small, epochs=1, batch_size=100, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def _never_trained(*args, **kwargs):
    raise AssertionError("training started")


def test_resume_into_a_layer_of_another_density_is_refused(small, tmp_path):
    fit(
        sparse_mlp([64, 32, 10], epsilon=4, seed=0),
        small,
        optimizer=_ADAM,
        epochs=1,
        batch_size=100,
        out_dir=tmp_path,
        progress=False,
    )
    other = sparse_mlp([64, 32, 10], density=1.0, seed=0)
    with pytest.raises(
        CheckpointMismatchError,
        match=r"module '0' \(SparseLinear\) was built with density "
        r"0\.\d+ there and density 1 here",
    ):
        fit(other, small, optimizer=_ADAM, epochs=2, batch_size=100, out_dir=tmp_path, resume=True, progress=False)
    same = sparse_mlp([64, 32, 10], epsilon=4, seed=1)  # another draw of the same layers: it adopts the wiring
    fit(same, small, optimizer=_ADAM, epochs=2, batch_size=100, out_dir=tmp_path, resume=True, progress=False)


def test_resume_into_an_isotropic_mlp_of_another_depth_names_the_depth(small, tmp_path):
    from dagnet.nn import IsotropicMLP

    fit(
        IsotropicMLP([64, 8, 10], seed=0),
        small,
        optimizer=_ADAM,
        epochs=1,
        batch_size=100,
        out_dir=tmp_path,
        progress=False,
    )
    with pytest.raises(CheckpointMismatchError, match=r"was built with 2 layers there and 3 layers here"):
        fit(
            IsotropicMLP([64, 8, 8, 10], seed=0),
            small,
            optimizer=_ADAM,
            epochs=2,
            batch_size=100,
            out_dir=tmp_path,
            resume=True,
            progress=False,
        )


def test_an_empty_out_dir_is_refused_not_taken_as_the_current_folder(small):
    with pytest.raises(ValueError, match="'out_dir' parameter of fit must name a file or folder"):
        fit(_mlp(), small, epochs=1, batch_size=100, out_dir="", progress=False)
