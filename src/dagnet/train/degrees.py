"""In-degree snapshots of sparse modules during training, and the scale-free emergence picture."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from torch import nn

from ..evolve import sparse_modules

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["in_degrees", "plot_in_degrees"]


def in_degrees(model: nn.Module) -> dict[str, np.ndarray]:
    """Return ``{module_name: in-degree of each non-input node}`` for every sparse module in ``model``.

    For a :class:`~dagnet.SparseLinear`, the non-input nodes are its outputs.

    Examples
    --------
    >>> from dagnet.nn import sparse_mlp
    >>> d = in_degrees(sparse_mlp([4, 3, 2], density=1.0, seed=0))
    >>> {k: v.tolist() for k, v in d.items()}
    {'0': [4, 4, 4], '2': [3, 3]}
    """
    out = {}
    for name, net in sparse_modules(model):
        src, dst = net.edge_endpoints()
        n = net.num_nodes
        is_input = np.zeros(n, dtype=bool)
        is_input[net.node_index[: net.in_features].cpu().numpy()] = True
        out[name] = np.bincount(dst, minlength=n)[~is_input]
    return out


def plot_in_degrees(snapshots: Mapping[int, Mapping[str, np.ndarray]], module: str | None = None) -> Figure:
    """Return a figure of in-degree distributions at several epochs, with their power-law fits.

    Each epoch's degrees are drawn as ``P(K >= k)`` on log-log axes (left)
    and as a histogram (right); the legend gives the power-law exponent of
    the tail (:func:`dagnet.analysis.fit_power_law`) and whether the
    likelihood-ratio test prefers it to a log-normal and an exponential tail.
    An Erdős–Rényi layer gives a narrow, binomial hump; SET's evolution
    spreads it into a heavy tail.

    Parameters
    ----------
    snapshots : mapping of epoch to ``{module_name: degrees}``
        As recorded by :func:`dagnet.train.fit` (``degree_epochs``) or
        :func:`in_degrees`.
    module : str, optional
        Which module to draw (default: the one with the most nodes).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fig = plot_in_degrees({0: {"0": rng.binomial(100, 0.1, 500)}, 5: {"0": rng.zipf(2.5, 500)}})
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['in-degree k', 'in-degree k']
    """
    from matplotlib.figure import Figure  # matplotlib and scipy load only when a picture is drawn

    from ..analysis.powerlaw import fit_power_law

    epochs = sorted(snapshots)
    if not epochs:
        raise ValueError("No in-degree snapshots to plot.")
    names = list(snapshots[epochs[0]])
    if module is None:
        module = max(names, key=lambda k: len(snapshots[epochs[0]][k]))
    if any(module not in snapshots[e] for e in epochs):
        raise ValueError(f"Module {module!r} is not in every snapshot; modules: {names}.")
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax_ccdf, ax_hist = fig.subplots(1, 2)
    for e in epochs:
        k = np.asarray(snapshots[e][module])
        pos = np.sort(k[k > 0])
        label = f"epoch {e}"
        try:
            fit = fit_power_law(pos)
            votes = ", ".join(f"vs {alt}: {c.favoured}" for alt, c in fit.comparisons.items())
            label += f" (alpha {fit.alpha:.2f}; {votes})"
        except ValueError:
            pass
        if pos.size:
            ccdf = 1.0 - np.arange(pos.size) / pos.size
            ax_ccdf.step(pos, ccdf, where="post", label=label)
        width = max(1, int(np.ceil(k.max(initial=1) / 60)))  # integer-aligned bins
        ax_hist.hist(
            k, bins=np.arange(-0.5, k.max(initial=1) + width + 0.5, width), histtype="step", label=f"epoch {e}"
        )
    ax_ccdf.set_xscale("log")
    ax_ccdf.set_yscale("log")
    ax_ccdf.set_xlabel("in-degree k")
    ax_ccdf.set_ylabel("P(K >= k)")
    ax_ccdf.set_title(f"module {module}")
    ax_ccdf.legend(fontsize=7)
    ax_hist.set_xlabel("in-degree k")
    ax_hist.set_ylabel("neurons")
    ax_hist.legend(fontsize=7)
    return fig
