"""The command line reports user errors on one line (exit 2: usage, 1: runtime) and lets bugs raise."""

from __future__ import annotations

import errno
import json
import subprocess
import sys

import pytest

from dagnet import cli
from dagnet.cli import error_message, exit_code, main

SMALL = """
epochs = 1
batch_size = 200
[model]
hidden = [16]
epsilon = 2
"""


def _one_line(err: str, prog: str = "dagnet train") -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"{prog}: error: ") and "Traceback" not in err
    return lines[0]


def _config(tmp_path, text: str):
    path = tmp_path / "run.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "text, words",
    [
        ('[optimizer]\nlr = "fast"\n', ["run.toml", "optimizer.lr must be a number > 0", "'fast' (a string)"]),
        ("epochs = 2.5\n", ["epochs must be an integer >= 1", "2.5 (a float)"]),
        ('on_nonfinite = "skip"\n', ["on_nonfinite must be one of 'raise', 'continue'"]),
        ('[[evolve]]\nrule = "SET"\nzeta = 3\n', ["evolve[0] (SET)", "'zeta'"]),
        ("epochs = = 3\n", ["run.toml"]),
        ("epochz = 3\n", ["Unknown key 'epochz'"]),
    ],
)
def test_bad_configurations_are_usage_errors(tmp_path, capsys, text, words):
    assert main(["train", _config(tmp_path, text)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert all(w in line for w in words), line


def test_missing_files_and_bad_options_are_usage_errors(tmp_path, capsys):
    assert main(["train", str(tmp_path / "nope.toml")]) == 2
    assert "No configuration file at" in _one_line(capsys.readouterr().err)
    assert main(["train", _config(tmp_path, SMALL), "--epochs", "0"]) == 2  # argparse's own message
    assert "argument --epochs: must be an integer >= 1, got '0'" in capsys.readouterr().err
    assert main(["train"]) == 2
    assert "required" in capsys.readouterr().err
    assert main(["demo", "--threads", "0"]) == 2
    assert "--threads" in capsys.readouterr().err
    assert main(["train", _config(tmp_path, SMALL), "--resume"]) == 2
    assert "--resume needs an output folder" in _one_line(capsys.readouterr().err)


def test_out_dir_that_is_a_file_is_reported_before_training(tmp_path, capsys):
    a_file = tmp_path / "runs"
    a_file.write_text("")
    assert main(["train", _config(tmp_path, SMALL), "--out-dir", str(a_file), "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "must be a folder" in line and str(a_file) in line


def test_unwritable_out_dir_is_a_runtime_error(tmp_path, capsys, monkeypatch):
    from dagnet.train import loop

    locked = tmp_path / "locked"
    real = loop.tempfile.mkstemp

    def refuse(*args, dir=None, **kwargs):
        if dir is not None and str(dir) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(loop.tempfile, "mkstemp", refuse)
    assert main(["train", _config(tmp_path, SMALL), "--out-dir", str(locked), "--quiet"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "Cannot write in the output folder" in line and "locked" in line


def test_a_diverging_run_exits_one_and_on_nonfinite_continue_goes_on(tmp_path, capsys):
    diverging = SMALL + '[optimizer]\nname = "sgd"\nlr = 1e30\n'
    out = tmp_path / "run"
    assert main(["train", _config(tmp_path, diverging), "--out-dir", str(out), "--quiet"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "Training diverged in epoch 1" in line
    assert json.loads((out / "metrics.json").read_text())[0]["train_loss"] is None

    config = _config(tmp_path, 'on_nonfinite = "continue"\n' + diverging)
    assert main(["train", config, "--out-dir", str(tmp_path / "on"), "--quiet", "--epochs", "2"]) == 0
    assert "2 epochs" in capsys.readouterr().out
    rows = json.loads((tmp_path / "on" / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2] and rows[1]["train_loss"] is None


def test_resuming_another_configuration_is_a_usage_error(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", _config(tmp_path, SMALL), "--out-dir", out, "--quiet"]) == 0
    other = SMALL.replace("hidden = [16]", "hidden = [24]")
    assert main(["train", _config(tmp_path, other), "--out-dir", out, "--quiet", "--resume", "--epochs", "2"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "written for another configuration: module '0' (SparseLinear) has 64 inputs and 16 outputs" in line


def test_malformed_graph_files_are_usage_errors(tmp_path, capsys):
    bad = tmp_path / "g.graphml"
    bad.write_text("<graphml><graph><node id='a'></graph>")
    assert main(["graph", "stats", str(bad)]) == 2
    line = _one_line(capsys.readouterr().err, "dagnet graph stats")
    assert str(bad) in line and "mismatched tag" in line
    config = _config(tmp_path, SMALL.replace("hidden = [16]", f'kind = "dag"\ngraph = "{bad}"'))
    assert main(["train", config, "--quiet"]) == 2
    assert "model.graph" in _one_line(capsys.readouterr().err)


def test_unwritable_graph_output_is_a_runtime_error(tmp_path, capsys):
    a_file = tmp_path / "f"
    a_file.write_text("")
    assert main(["graph", "generate", "erdos-renyi", "--n", "5", "--p", "0.5", "-o", str(a_file / "g.graphml")]) == 1
    line = _one_line(capsys.readouterr().err, "dagnet graph generate")
    assert "Not a directory" in line and "g.graphml" in line


@pytest.mark.parametrize(
    "error, code, words",
    [
        (MemoryError(), 1, ["out of memory", "batch_size"]),
        (
            PermissionError(errno.EACCES, "Permission denied", "runs/a/metrics.csv"),
            1,
            ["Permission denied: 'runs/a/metrics.csv'", "permissions"],
        ),
        (OSError(errno.ENOSPC, "No space left on device", "runs/a/checkpoint.pt"), 1, ["free some space"]),
        (FileExistsError(errno.EEXIST, "File exists", "runs"), 1, ["File exists: 'runs'"]),
        (FloatingPointError("Training diverged in epoch 3"), 1, ["epoch 3"]),
        (ValueError("line one\nline two"), 2, ["line one line two"]),
    ],
)
def test_runtime_errors_from_anywhere_are_one_line(monkeypatch, tmp_path, capsys, error, code, words):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr("dagnet.cli.commands.run_config", fail)
    assert main(["train", _config(tmp_path, SMALL)]) == code
    line = _one_line(capsys.readouterr().err)
    assert all(w in line for w in words), line


def test_bugs_keep_their_traceback_and_ctrl_c_is_130(monkeypatch, tmp_path, capsys):
    def bug(*args, **kwargs):
        raise TypeError("unsupported operand type(s)")

    monkeypatch.setattr("dagnet.cli.commands.run_config", bug)
    with pytest.raises(TypeError, match="unsupported operand"):
        main(["train", _config(tmp_path, SMALL)])

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("dagnet.cli.commands.run_config", interrupted)
    assert main(["train", _config(tmp_path, SMALL)]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_bench_reports_runtime_errors(monkeypatch, capsys):
    from dagnet.bench import engine

    def fail(args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", "report.md")

    monkeypatch.setattr(engine, "run_from_args", fail)
    assert main(["bench", "engine", "--quick"]) == 1
    assert "Permission denied: 'report.md'" in _one_line(capsys.readouterr().err, "dagnet bench engine")


def test_exit_codes():
    assert exit_code(ValueError()) == exit_code(FileNotFoundError()) == cli.USAGE == 2
    assert exit_code(IsADirectoryError()) == exit_code(MemoryError()) == cli.RUNTIME == 1
    assert exit_code(KeyError("x")) is None and exit_code(RuntimeError("x")) is None
    assert error_message(MemoryError()).startswith("out of memory")
    assert error_message(RuntimeError("a\n\n  b ")) == "a b"


def test_python_dash_m_dagnet(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "dagnet", "train", str(tmp_path / "nope.toml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"dagnet train: error: No configuration file at {tmp_path / 'nope.toml'}."
    ]


@pytest.mark.parametrize(
    "text, words",
    [
        ("seed = 100000000000000000000\n", ["run.toml", "seed must be an integer in [0, 2**64)"]),
        ('[optimizer]\nname = "adam"\nmomentum = 0.9\n', ["run.toml", "optimizer.momentum applies to name = 'sgd'"]),
    ],
)
def test_configuration_values_that_would_fail_later_are_usage_errors(tmp_path, capsys, text, words):
    assert main(["train", _config(tmp_path, text)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert all(w in line for w in words), line


def test_a_checkpoint_fit_did_not_write_is_a_usage_error(tmp_path, capsys):
    from dagnet.train import save_checkpoint

    (tmp_path / "out").mkdir()
    save_checkpoint(tmp_path / "out" / "checkpoint.pt", {"epoch": 1})
    config = _config(tmp_path, SMALL)
    assert main(["train", config, "--out-dir", str(tmp_path / "out"), "--resume", "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "is not a checkpoint that fit can resume from: it has no 'model'" in line, line
