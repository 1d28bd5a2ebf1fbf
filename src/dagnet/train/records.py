"""Files a training run leaves behind, each written atomically: metrics, checkpoints, the plot."""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
import tempfile  # noqa: F401 (the examples use it)
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from ..fileio import atomic_write, read_checked, write_checked

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["atomic_write", "write_metrics", "save_checkpoint", "load_checkpoint", "plot_training",
           "to_record"]

_FORMAT = "dagnet.train.checkpoint"
_VERSION = 2  # 2: with a checksum of the content


def to_record(value: Any) -> Any:
    """Return ``value`` as plain JSON data: tensors and arrays become numbers or lists.

    NaN and infinite floats, which JSON cannot hold, become None (``null``).

    Examples
    --------
    >>> to_record({"n": torch.tensor(3), "w": np.array([0.5, 1.0])})
    {'n': 3, 'w': [0.5, 1.0]}
    >>> to_record([float("nan"), float("inf"), 2.0])
    [None, None, 2.0]
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
        value = float(value)
        return value if math.isfinite(value) else None
    return str(value)


def _columns(rows: Sequence[dict]) -> list[str]:
    return list(dict.fromkeys(k for row in rows for k in row))


def _cell(v: Any) -> Any:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    return json.dumps(v) if isinstance(v, (list, dict)) else v


def write_metrics(rows: Sequence[dict], out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``metrics.csv`` and ``metrics.json`` (one row per epoch) in ``out_dir``.

    The csv has one column per key seen in any row (first seen, first placed);
    a missing value is an empty cell, a list or dict is written as JSON. The
    json file is the list of rows as :func:`to_record` makes them. NaN and
    infinite values (a diverging run) are written as ``null`` in the json
    file and as empty cells in the csv file.

    Examples
    --------
    >>> folder = tempfile.mkdtemp()
    >>> csv_path, _ = write_metrics([{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25, "SET.removed": 3}],
    ...                             folder)
    >>> csv_path.read_text().splitlines()
    ['epoch,loss,SET.removed', '1,0.5,', '2,0.25,3']
    >>> _, json_path = write_metrics([{"epoch": 1, "loss": float("nan")}], folder)
    >>> json.loads(json_path.read_text())
    [{'epoch': 1, 'loss': None}]
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

    The file holds a SHA-256 of its content, which :func:`load_checkpoint`
    verifies. The file gets the user's usual permissions (umask).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError
        If ``state`` holds something other than tensors and plain data
        (dict, list, tuple, str, int, float, bool, None); the message says where.

    Examples
    --------
    >>> path = os.path.join(tempfile.mkdtemp(), "checkpoint.pt")
    >>> _ = save_checkpoint(path, {"epoch": 2, "model": {"w": torch.ones(2)}})
    >>> load_checkpoint(path)["epoch"]
    2
    """
    reserved = {"format", "version", "checksum"} & set(state)
    if reserved:
        raise ValueError(f"A checkpoint's state cannot use the key(s) {sorted(reserved)}; dagnet writes them.")
    return write_checked(path, {"format": _FORMAT, "version": _VERSION, **state})


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Return the dict saved by :func:`save_checkpoint`, with its ``format`` and ``version``.

    The file is read with ``torch.load(weights_only=True)`` (no code runs) and
    its content must match the checksum stored in it. Checkpoints of version 1
    (written before checksums) are returned unverified.

    Raises
    ------
    dagnet.errors.FileFormatError
        If the file is empty, truncated, corrupt, not a dagnet training
        checkpoint, or from a newer dagnet; the message names the path.
    OSError
        If the file cannot be opened.

    Examples
    --------
    >>> path = os.path.join(tempfile.mkdtemp(), "c.pt")
    >>> _ = save_checkpoint(path, {"epoch": 1})
    >>> sorted(load_checkpoint(path))
    ['epoch', 'format', 'version']
    """
    state = read_checked(path, _FORMAT, _VERSION, "a training checkpoint written by dagnet.train")
    state.pop("checksum", None)
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
    from matplotlib.figure import Figure  # matplotlib loads only when a picture is drawn

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
