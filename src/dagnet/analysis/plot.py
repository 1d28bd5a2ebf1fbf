"""Pictures of graphs: degree distributions with their power-law fit, layered drawings.

Figures are made without pyplot (``matplotlib.figure.Figure``), so nothing
here opens a window, picks a GUI backend or keeps global figure state; save
them with ``ax.figure.savefig(...)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

from .._checks import check_choice
from ..csr import group_by
from ..errors import CycleError
from ..layering import alap_levels, topological_levels
from ..topology._arrays import edge_arrays
from ..wiring import Wiring
from .describe import GraphSummary, describe

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = ["plot_degree_distribution", "draw_layered"]


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    from matplotlib.figure import Figure  # matplotlib loads only when a picture is drawn

    return Figure(figsize=size).add_subplot() if ax is None else ax


def plot_degree_distribution(
    graph: nx.DiGraph | Wiring | GraphSummary,
    ax: Axes | None = None,
    which: str = "total",
    fit: bool = True,
    **scatter_kw,
) -> Axes:
    """Plot the degree distribution as ``P(K >= k)`` on log-log axes, with its power-law fit.

    The complementary cumulative distribution is drawn rather than a
    histogram: it needs no binning and a power law ``p(k) ~ k^-alpha`` shows
    as a straight line of slope ``1 - alpha``. The fitted tail (from
    :func:`describe`) is drawn from ``xmin`` on, scaled to the share of nodes
    in the tail. Nodes of degree 0 cannot be shown on log axes and are left out.

    Parameters
    ----------
    graph : networkx.DiGraph, Wiring or GraphSummary
        The graph, or its :func:`describe` summary (then its fit is reused).
    ax : matplotlib Axes, optional
        Where to draw; default: a new figure (``ax.figure``).
    which : {"total", "in", "out"}
        Which degree.
    fit : bool
        Draw the power-law fit (when there is one).
    **scatter_kw
        Passed to ``ax.scatter`` for the data points.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from dagnet.topology import scale_free_dag
    >>> ax = plot_degree_distribution(scale_free_dag(1000, 2, seed=0))
    >>> ax.get_xscale(), ax.get_yscale()
    ('log', 'log')
    """
    check_choice(which, "which", "plot_degree_distribution", ("total", "in", "out"))
    if isinstance(graph, GraphSummary):
        summary = graph
        if fit and summary.degree_fit != which:
            raise ValueError(
                f"This GraphSummary holds a fit of the {summary.degree_fit} degree, not the {which} degree; "
                f"pass describe(graph, fit={which!r}) or the graph itself."
            )
    else:
        summary = describe(graph, weight=None, fit=which if fit else None)
    ax = _axes(ax, (5.0, 4.0))
    degree = summary.degree(which)
    degree = np.sort(degree[degree > 0])
    if degree.size:
        k, first = np.unique(degree, return_index=True)
        ccdf = 1.0 - first / degree.size
        ax.scatter(k, ccdf, **{"s": 12, "label": "data", **scatter_kw})
        ax.set_xscale("log")
        ax.set_yscale("log")
        law = summary.power_law
        if fit and law is not None:
            x = np.geomspace(law.xmin, k[-1], 100)
            if law.discrete:
                x = np.unique(x.round())
            ax.plot(
                x,
                law.n_tail / law.n * law.ccdf(x),
                color="C3",
                label=f"power law, alpha = {law.alpha:.2f}, xmin = {law.xmin:g}",
            )
        ax.legend(loc="lower left")
    ax.set_xlabel(f"{which}-degree k" if which != "total" else "degree k")
    ax.set_ylabel("P(K >= k)")
    return ax


def draw_layered(
    graph: nx.DiGraph | Wiring,
    ax: Axes | None = None,
    layering: str = "asap",
    with_labels: bool | None = None,
    node_size: float | None = None,
    edge_alpha: float | None = None,
) -> Axes:
    """Draw a DAG with its nodes in rows by level, sources at the top.

    Each node sits on the row of its level (see :mod:`dagnet.layering`); within a
    row, nodes are ordered by the mean position of their predecessors (one
    barycentre sweep from the top), which removes most crossings, and spread
    evenly across the width. Edges are one ``LineCollection``, so a few hundred
    nodes and some thousand edges stay quick and readable.

    Parameters
    ----------
    graph : networkx.DiGraph or Wiring
        A directed acyclic graph.
    ax : matplotlib Axes, optional
        Where to draw; default: a new figure (``ax.figure``).
    layering : {"asap", "alap"}
        As soon as possible (longest path from the sources) or as late as
        possible (every sink on the last row).
    with_labels : bool, optional
        Write node labels; default: when there are at most 60 nodes.
    node_size, edge_alpha : float, optional
        Marker area and edge opacity; defaults shrink as the graph grows.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    CycleError
        If the graph has a cycle (names it).

    Examples
    --------
    >>> ax = draw_layered(nx.DiGraph([("x", "h"), ("h", "y"), ("x", "y")]))
    >>> len(ax.texts)  # one label per node
    3
    """
    check_choice(layering, "layering", "draw_layered", ("asap", "alap"))
    arrays = edge_arrays(graph, None, "draw_layered")
    n, source, target = arrays.num_nodes, arrays.source, arrays.target
    try:
        order, level = topological_levels(n, source, target)
    except CycleError as err:
        raise CycleError(f"draw_layered needs a DAG. {err}", err.cycle) from None
    if layering == "alap" and n:
        level = alap_levels(Wiring(n, source, target), None, order, level)
    depth = int(level.max()) + 1 if n else 0
    # Barycentre sweep: place each level's nodes by their predecessors' mean x.
    x = np.zeros(n)
    node_ptr, node_perm = group_by(level, depth)
    edge_ptr, edge_perm = group_by(level[target], depth)
    local = np.empty(n, dtype=np.int64)
    for lev in range(depth):
        nodes = node_perm[node_ptr[lev] : node_ptr[lev + 1]]
        local[nodes] = np.arange(nodes.size)
        edges = edge_perm[edge_ptr[lev] : edge_ptr[lev + 1]]
        total = np.bincount(local[target[edges]], weights=x[source[edges]], minlength=nodes.size)
        count = np.bincount(local[target[edges]], minlength=nodes.size)
        key = np.where(count > 0, total / np.maximum(count, 1), (np.arange(nodes.size) + 0.5) / nodes.size)
        rank = np.argsort(np.argsort(key, kind="stable"), kind="stable")
        x[nodes] = (rank + 0.5) / nodes.size
    y = -level.astype(np.float64)
    ax = _axes(ax, (8.0, max(3.0, 0.6 * depth + 1.0)))
    if node_size is None:
        node_size = float(np.clip(3000.0 / max(n, 1), 4.0, 300.0))
    if edge_alpha is None:
        edge_alpha = float(np.clip(30.0 / max(source.size, 1) ** 0.5, 0.05, 0.6))
    segments = np.stack([np.column_stack([x[source], y[source]]), np.column_stack([x[target], y[target]])], axis=1)
    from matplotlib.collections import LineCollection

    ax.add_collection(LineCollection(segments, colors="0.3", linewidths=0.6, alpha=edge_alpha, zorder=1))
    ax.scatter(x, y, s=node_size, c=level, cmap="viridis", zorder=2, edgecolors="k", linewidths=0.3)
    if with_labels or (with_labels is None and n <= 60):
        for i, lab in enumerate(arrays.labels):
            ax.annotate(
                str(lab), (x[i], y[i]), fontsize=7, ha="center", va="bottom", xytext=(0, 4), textcoords="offset points"
            )
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(-depth + 0.5, 0.5)
    ticks = np.arange(0, depth, max(1, depth // 20))  # at most about 20 level numbers
    ax.set_yticks(-ticks)
    ax.set_yticklabels([str(lev) for lev in ticks.tolist()])
    ax.set_ylabel("level")
    ax.set_xticks([])
    return ax
