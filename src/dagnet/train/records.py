"""Files a training run leaves behind, each written atomically: metrics, checkpoints, the plot."""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

__all__ = ["atomic_write", "write_metrics", "save_checkpoint", "load_checkpoint", "plot_training",
           "to_record"]

_FORMAT = "dagnet.train.checkpoint"
_VERSION = 1


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then move it onto ``path`` at once.

    A reader (or a run resumed after a crash) sees the old file or the new
    one, never half of one; the temporary file is removed if ``write`` fails.

    Examples
    --------
    >>> folder = tempfile.mkdtemp()
    >>> p = atomic_write(os.path.join(folder, "a.txt"), lambda tmp: Path(tmp).write_text("hi"))
    >>> p.read_text(), os.listdir(folder)
    ('hi', ['a.txt'])
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def to_record(value: Any) -> Any:
    """Return ``value`` as plain JSON data: tensors and arrays become numbers or lists.

    Examples
    --------
    >>> to_record({"n": torch.tensor(3), "w": np.array([0.5, 1.0])})
    {'n': 3, 'w': [0.5, 1.0]}
    """
    if isinstance(value, (torch.Tensor, np.ndarray, np.generic)):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): to_record(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_record(v) for v in value]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return str(value)


def _columns(rows: Sequence[dict]) -> list[str]:
    return list(dict.fromkeys(k for row in rows for k in row))


def _cell(v: Any) -> Any:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def write_metrics(rows: Sequence[dict], out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``metrics.csv`` and ``metrics.json`` (one row per epoch) in ``out_dir``.

    The csv has one column per key seen in any row (first seen, first placed);
    a missing value is an empty cell, a list or dict is written as JSON. The
    json file is the list of rows as they are.

    Examples
    --------
    >>> folder = tempfile.mkdtemp()
    >>> csv_path, _ = write_metrics([{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25, "SET.removed": 3}],
    ...                             folder)
    >>> csv_path.read_text().splitlines()
    ['epoch,loss,SET.removed', '1,0.5,', '2,0.25,3']
    """
    out = Path(out_dir)
    rows = [to_record(r) for r in rows]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    text = buf.getvalue()
    csv_path = atomic_write(out / "metrics.csv", lambda tmp: Path(tmp).write_text(text))
    json_path = atomic_write(out / "metrics.json",
                             lambda tmp: Path(tmp).write_text(json.dumps(rows, indent=1, allow_nan=False)))
    return csv_path, json_path


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write a training checkpoint (a dict of tensors and plain data) to ``path``, atomically.

    Examples
    --------
    >>> path = os.path.join(tempfile.mkdtemp(), "checkpoint.pt")
    >>> _ = save_checkpoint(path, {"epoch": 2, "model": {"w": torch.ones(2)}})
    >>> load_checkpoint(path)["epoch"]
    2
    """
    payload = {"format": _FORMAT, "version": _VERSION, **state}
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Return the dict saved by :func:`save_checkpoint` (read with ``weights_only=True``: no code runs).

    Raises
    ------
    ValueError
        If the file is not a dagnet training checkpoint.

    Examples
    --------
    >>> path = os.path.join(tempfile.mkdtemp(), "c.pt")
    >>> _ = save_checkpoint(path, {"epoch": 1})
    >>> sorted(load_checkpoint(path))
    ['epoch', 'format', 'version']
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a training checkpoint written by dagnet.train.")
    if state["version"] > _VERSION:
        raise ValueError(f"{path} was written by a newer dagnet (checkpoint version {state['version']}).")
    return state


def plot_training(metrics: Sequence[dict]) -> Figure:
    """Return a figure of the loss (left) and accuracy (right) per epoch, train and test.

    Uses ``matplotlib.figure.Figure`` directly (no pyplot state); save it with
    ``fig.savefig(path)``. Epochs after which an evolution rule ran are marked
    by dotted vertical lines. Missing values (``None``/NaN) are left out.

    Parameters
    ----------
    metrics : sequence of dict
        Rows with ``epoch`` and any of ``train_loss``, ``test_loss``,
        ``train_accuracy``, ``test_accuracy`` (as :func:`dagnet.train.fit` records).

    Examples
    --------
    >>> rows = [{"epoch": 1, "train_loss": 1.0, "test_loss": 1.1, "train_accuracy": 0.5, "test_accuracy": 0.4},
    ...         {"epoch": 2, "train_loss": 0.5, "test_loss": 0.7, "train_accuracy": 0.8, "test_accuracy": 0.7}]
    >>> fig = plot_training(rows)
    >>> [ax.get_ylabel() for ax in fig.axes]
    ['loss', 'accuracy']
    """
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    for ax, what in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        curves = 0
        for split, style in (("train", "-"), ("test", "--")):
            pts = [(r["epoch"], r[f"{split}_{what}"]) for r in metrics
                   if r.get(f"{split}_{what}") is not None and not math.isnan(r[f"{split}_{what}"])]
            if pts:
                ax.plot(*zip(*pts), style, marker="o", markersize=3, label=split)
                curves += 1
        for r in metrics:
            if r.get("rules"):
                ax.axvline(r["epoch"], color="0.7", linestyle=":", linewidth=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel(what)
        if curves:
            ax.legend()
    return fig
