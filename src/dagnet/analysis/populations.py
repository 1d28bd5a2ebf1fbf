"""Topology studies over populations: each member's graph statistics, and accuracy against them.

:func:`graph_statistics` gives the measures "Graph Structure of Neural
Networks" (You, Leskovec, He, Xie 2020) relates accuracy to (clustering
coefficient and average path length of the undirected graph), with depth and
density; :func:`plot_study` draws a population's accuracy against each swept
parameter and each statistic, and, when two parameters are swept, as a heat
map over them.
"""

from __future__ import annotations

from collections.abc import Sequence

import networkx as nx
import numpy as np

from ..wiring import Wiring

__all__ = ["graph_statistics", "plot_study", "plot_accuracy_map", "STATISTICS"]

#: What :func:`graph_statistics` measures, in its order.
STATISTICS = ("edges", "depth", "density", "clustering", "path_length")


def graph_statistics(graph: nx.DiGraph | Wiring) -> dict:
    """Return ``edges``, ``depth``, ``density``, ``clustering`` and ``path_length`` of a DAG.

    ``depth`` is the number of edges on a longest path; ``density`` the edges
    over the ``n (n - 1) / 2`` pairs a DAG can hold; ``clustering`` the average
    clustering coefficient and ``path_length`` the average shortest path
    length of the undirected graph (over its largest connected component,
    NaN with fewer than two nodes there).

    Examples
    --------
    >>> s = graph_statistics(nx.DiGraph([(0, 1), (1, 2), (0, 2)]))
    >>> s["depth"], s["density"], s["clustering"], s["path_length"]
    (2, 1.0, 1.0, 1.0)
    """
    g = graph.to_graph() if isinstance(graph, Wiring) else graph
    n = g.number_of_nodes()
    u = g.to_undirected()
    largest = max(nx.connected_components(u), key=len) if n else set()
    path = nx.average_shortest_path_length(u.subgraph(largest)) if len(largest) > 1 else float("nan")
    return {
        "edges": g.number_of_edges(),
        "depth": nx.dag_longest_path_length(g) if n else 0,
        "density": g.number_of_edges() / (n * (n - 1) / 2) if n > 1 else 0.0,
        "clustering": nx.average_clustering(u) if n else 0.0,
        "path_length": path,
    }


def plot_study(
    rows: Sequence[dict], swept: Sequence[str], value: str = "best_test_accuracy", group: str = "activation"
):
    """Draw ``value`` of a population's members against each swept parameter and each statistic.

    ``rows`` has one dict per member (the parameters in ``swept``, the
    :data:`STATISTICS`, ``group`` and ``value``); members are coloured by
    ``group``, and each parameter's panel joins the means over the members
    with that value. With two swept parameters a first panel shows the mean
    ``value`` over their grid as a heat map. Returns the matplotlib Figure.

    Examples
    --------
    >>> rows = [{"p": p, "k": k, "activation": "relu", "best_test_accuracy": p + k / 10,
    ...          **graph_statistics(nx.DiGraph([(0, 1)]))} for p in (0.1, 0.5) for k in (2, 4)]
    >>> len(plot_study(rows, ["p", "k"]).axes) >= 7
    True
    """
    from matplotlib.figure import Figure  # matplotlib loads only when a picture is drawn

    stats = [s for s in STATISTICS if any(np.isfinite(float(r.get(s, np.nan))) for r in rows)]
    heat = len(swept) == 2
    panels = int(heat) + len(swept) + len(stats)
    cols = min(4, panels)
    rows_of_panels = -(-panels // cols)
    fig = Figure(figsize=(4 * cols, 3.4 * rows_of_panels))
    axes = fig.subplots(rows_of_panels, cols, squeeze=False)
    flat = list(axes.ravel())
    groups = sorted({str(r.get(group)) for r in rows})
    colors = {g: f"C{i % 10}" for i, g in enumerate(groups)}
    y = np.array([float(r[value]) for r in rows])
    k = 0
    if heat:
        a, b = swept
        xs, ys = sorted({r[a] for r in rows}), sorted({r[b] for r in rows})
        grid = np.full((len(ys), len(xs)), np.nan)
        for i, vy in enumerate(ys):
            for j, vx in enumerate(xs):
                sel = [float(r[value]) for r in rows if r[a] == vx and r[b] == vy]
                grid[i, j] = np.mean(sel) if sel else np.nan
        ax = flat[k]
        im = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
        ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
        ax.set_xlabel(a)
        ax.set_ylabel(b)
        ax.set_title(f"mean {value}")
        fig.colorbar(im, ax=ax)
        k += 1
    for name in [*swept, *stats]:
        ax = flat[k]
        x = np.array([float(r[name]) for r in rows])
        for g in groups:
            sel = np.array([str(r.get(group)) == g for r in rows])
            ax.scatter(x[sel], y[sel], s=12, alpha=0.6, color=colors[g], label=g)
        if name in swept:
            levels = np.unique(x)
            ax.plot(levels, [y[x == v].mean() for v in levels], color="black", lw=1)
        ax.set_xlabel(name)
        ax.set_ylabel(value)
        k += 1
    flat[int(heat)].legend(title=group, fontsize=7)
    for ax in flat[k:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def plot_accuracy_map(
    rows: Sequence[dict],
    x: str = "clustering",
    y: str = "path_length",
    value: str = "best_test_accuracy",
    bins: int = 6,
    ax=None,
):
    """Draw the mean ``value`` of the members in each cell of a ``bins`` x ``bins`` grid over ``x`` and ``y``.

    The picture of "Graph Structure of Neural Networks": accuracy over
    clustering coefficient and average path length, each cell the mean over
    the members that fall in it (empty cells blank), with the best cell
    marked. Returns the Axes (on a new Figure unless ``ax`` is given).

    Examples
    --------
    >>> rows = [{"clustering": c, "path_length": l, "best_test_accuracy": c - l / 10}
    ...         for c in (0.0, 0.2, 0.4) for l in (2.0, 3.0, 4.0)]
    >>> plot_accuracy_map(rows, bins=3).get_xlabel()
    'clustering'
    """
    if ax is None:
        from matplotlib.figure import Figure  # matplotlib loads only when a picture is drawn

        ax = Figure(figsize=(5, 4)).subplots()
    keep = [r for r in rows if all(np.isfinite(float(r[k])) for k in (x, y, value))]
    xs = np.array([float(r[x]) for r in keep])
    ys = np.array([float(r[y]) for r in keep])
    vs = np.array([float(r[value]) for r in keep])
    ex = np.linspace(xs.min(), xs.max() + 1e-12, bins + 1)
    ey = np.linspace(ys.min(), ys.max() + 1e-12, bins + 1)
    ix = np.clip(np.searchsorted(ex, xs, side="right") - 1, 0, bins - 1)
    iy = np.clip(np.searchsorted(ey, ys, side="right") - 1, 0, bins - 1)
    total = np.zeros((bins, bins))
    count = np.zeros((bins, bins))
    np.add.at(total, (iy, ix), vs)
    np.add.at(count, (iy, ix), 1)
    mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    im = ax.pcolormesh(ex, ey, np.ma.masked_invalid(mean), cmap="viridis")
    best = np.unravel_index(np.nanargmax(mean), mean.shape)
    ax.plot((ex[best[1]] + ex[best[1] + 1]) / 2, (ey[best[0]] + ey[best[0] + 1]) / 2, "r*", markersize=12)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"mean {value} ({len(keep)} networks)")
    ax.figure.colorbar(im, ax=ax)
    return ax
