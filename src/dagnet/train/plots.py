"""The picture of a training run: loss and accuracy per epoch (matplotlib loads only when drawing)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_training"]


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
            pts = [
                (r["epoch"], r[f"{split}_{what}"])
                for r in metrics
                if r.get(f"{split}_{what}") is not None and not math.isnan(r[f"{split}_{what}"])
            ]
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
