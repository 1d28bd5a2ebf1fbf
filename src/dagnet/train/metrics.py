"""A run's metrics: sums over an epoch's batches, one row per epoch, written as CSV and JSON (NaN as null)."""

from __future__ import annotations

import csv
import io
import json
import math
import numbers
import os
import tempfile  # noqa: F401 (the examples use it)
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..fileio import atomic_write
from .populations import member_rows

__all__ = ["BatchTotals", "Totals", "to_record", "write_metrics"]

MEMBERS = "members."  # prefix of a population's per-member keys


@dataclass(frozen=True)
class Totals:
    """What :meth:`BatchTotals.read` returns.

    Attributes
    ----------
    loss : float
        The sum over the batches of the batch loss times the batch size.
    hits : int or None
        Correct predictions (argmax of the outputs), or None when a batch was
        not classification (outputs not 2-D class scores, or labels not integers).
    nonfinite : tuple of (int, float), or None
        The first batch (1-based) whose loss is NaN or infinite, and that loss.
    count : int
        The samples in all the batches.
    """

    loss: float
    hits: int | None
    nonfinite: tuple[int, float] | None
    count: int = 0


class BatchTotals:
    """Sums of a pass's batch losses and correct predictions, kept on the device until read once.

    :meth:`add` keeps each batch's loss and count of correct predictions as
    tensors where they were computed, so nothing crosses to the host per
    batch; :meth:`read` brings them over in one transfer and sums the losses
    in batch order as Python floats. The totals are thus the same whichever
    device computed the batches, and bit for bit what adding
    ``float(loss) * len(y)`` batch after batch gives.

    Examples
    --------
    >>> totals = BatchTotals()
    >>> totals.add(torch.tensor(0.5), torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0]))
    >>> totals.add(torch.tensor(0.25), torch.tensor([[0.0, 1.0]]), torch.tensor([1]))
    >>> totals.read()
    Totals(loss=1.25, hits=2, nonfinite=None, count=3)
    """

    def __init__(self):
        self._losses: list[torch.Tensor] = []
        self._sizes: list[int] = []
        self._hits: list[torch.Tensor] | None = []

    def add(self, loss: torch.Tensor, output: torch.Tensor, target: torch.Tensor) -> None:
        """Record one batch: its mean ``loss`` (a one-element tensor), the model's ``output`` and the ``target``."""
        self._losses.append(loss.detach() if isinstance(loss, torch.Tensor) else torch.as_tensor(loss))
        self._sizes.append(int(target.shape[0]))
        hits = _hits(output.detach(), target)
        if hits is None:
            self._hits = None
        elif self._hits is not None:
            self._hits.append(hits)

    def read(self) -> Totals:
        """Return the :class:`Totals` of the batches added so far (the one read on the host)."""
        losses = torch.stack([t.reshape(()) for t in self._losses]).double().tolist() if self._losses else []
        total = 0.0
        for value, size in zip(losses, self._sizes):
            total += value * size
        if self._hits is None:
            hits = None
        else:
            hits = int(torch.stack(self._hits).sum()) if self._hits else 0
        bad = next(((b, v) for b, v in enumerate(losses, 1) if not math.isfinite(v)), None)
        return Totals(total, hits, bad, sum(self._sizes))

    def __len__(self) -> int:
        """The batches added so far."""
        return len(self._sizes)


def _hits(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """Correct predictions (argmax of the outputs) as a tensor on their device, or None when not classification."""
    if out.ndim != 2 or out.shape[1] < 2 or y.dtype not in (torch.int64, torch.int32):
        return None
    return (out.argmax(1) == y).sum()


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


def _csv(rows: Sequence[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()


def write_metrics(rows: Sequence[dict], out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``metrics.csv`` and ``metrics.json`` (one row per epoch) in ``out_dir``.

    The csv has one column per key seen in any row (first seen, first placed);
    a missing value is an empty cell, a list or dict is written as JSON. The
    json file is the list of rows as :func:`to_record` makes them. NaN and
    infinite values (a diverging run) are written as ``null`` in the json
    file and as empty cells in the csv file. A population's per-member
    values (keys ``members.*``) stay out of ``metrics.csv`` and go to
    ``members.csv``, one line per epoch and member.

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
    flat = [{k: v for k, v in r.items() if not k.startswith(MEMBERS)} for r in rows]
    csv_path = atomic_write(out / "metrics.csv", lambda tmp: Path(tmp).write_text(_csv(flat)))
    per_member = member_rows(rows)
    if per_member:  # a population's: one line per epoch and member
        atomic_write(out / "members.csv", lambda tmp: Path(tmp).write_text(_csv(per_member)))
    json_path = atomic_write(
        out / "metrics.json", lambda tmp: Path(tmp).write_text(json.dumps(rows, indent=1, allow_nan=False))
    )
    return csv_path, json_path
