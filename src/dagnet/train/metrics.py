"""A run's metrics: one row per epoch, written as CSV and JSON (atomically, NaN as null)."""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
import tempfile  # noqa: F401 (the examples use it)
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..fileio import atomic_write

__all__ = ["to_record", "write_metrics"]


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
    json_path = atomic_write(
        out / "metrics.json", lambda tmp: Path(tmp).write_text(json.dumps(rows, indent=1, allow_nan=False))
    )
    return csv_path, json_path
