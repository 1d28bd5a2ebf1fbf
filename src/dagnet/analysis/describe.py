"""Statistics of a graph: size, depth, level widths, degrees, strengths, power-law tail."""

from __future__ import annotations

from dataclasses import dataclass, replace

import networkx as nx
import numpy as np

from .._checks import check_choice
from ..errors import CycleError
from ..layering import topological_levels
from ..topology._arrays import edge_arrays
from ..wiring import Wiring
from .powerlaw import PowerLawFit, fit_power_law, fittable

__all__ = ["GraphSummary", "describe"]


def _spread(values: np.ndarray) -> str:
    if values.size == 0:
        return "none"
    return f"mean {values.mean():.3g}, median {np.median(values):.3g}, max {values.max():.4g}"


@dataclass(frozen=True)
class GraphSummary:
    """What :func:`describe` finds; ``str()`` gives a readable report.

    Attributes
    ----------
    num_nodes, num_edges, num_sources, num_sinks : int
        Sizes; a source has no incoming edge, a sink no outgoing one.
    density : float
        ``num_edges / (n * (n - 1))``, the share of possible directed edges.
    acyclic : bool
        Whether the graph is a DAG.
    depth : int or None
        Edges on a longest path (None for a cyclic graph).
    level_widths : numpy.ndarray or None
        Nodes on each level of the as-soon-as-possible layering (sources on level 0).
    in_degree, out_degree : numpy.ndarray
        Per node, in node order.
    in_strength, out_strength : numpy.ndarray or None
        Per node, the sum of the ``weight`` attribute over incoming / outgoing
        edges (edges without it count 0); None when no edge has it.
    weight : str or None
        The edge attribute the strengths are made of.
    degree_fit : str or None
        Which degree the power law was fitted to (``"total"``, ``"in"``, ``"out"``).
    power_law : PowerLawFit or None
        The fit, or None when not asked for or too few nodes have that degree > 0.

    Examples
    --------
    >>> s = describe(nx.DiGraph([(0, 1), (1, 2), (0, 2)]))
    >>> s.depth, s.level_widths.tolist(), s.num_sources
    (2, [1, 1, 1], 1)
    """

    num_nodes: int
    num_edges: int
    num_sources: int
    num_sinks: int
    density: float
    acyclic: bool
    depth: int | None
    level_widths: np.ndarray | None
    in_degree: np.ndarray
    out_degree: np.ndarray
    in_strength: np.ndarray | None
    out_strength: np.ndarray | None
    weight: str | None
    degree_fit: str | None
    power_law: PowerLawFit | None

    def degree(self, which: str = "total") -> np.ndarray:
        """Return each node's degree: ``"total"`` (in + out), ``"in"`` or ``"out"``.

        Examples
        --------
        >>> describe(nx.DiGraph([(0, 1), (0, 2)])).degree("out").tolist()
        [2, 0, 0]
        """
        check_choice(which, "which", "GraphSummary.degree", ("total", "in", "out"))
        if which == "in":
            return self.in_degree
        if which == "out":
            return self.out_degree
        return self.in_degree + self.out_degree

    def degree_distribution(self, which: str = "total") -> np.ndarray:
        """Return ``counts`` where ``counts[k]`` is the number of nodes of degree ``k``.

        ``which`` is ``"total"`` (in + out), ``"in"`` or ``"out"``.

        Examples
        --------
        >>> describe(nx.DiGraph([(0, 1), (0, 2)])).degree_distribution("out").tolist()
        [2, 0, 1]
        """
        return np.bincount(self.degree(which), minlength=1)

    def __str__(self) -> str:
        lines = [
            f"nodes {self.num_nodes}, edges {self.num_edges}, density {self.density:.4g}",
            f"sources {self.num_sources}, sinks {self.num_sinks}",
        ]
        if self.acyclic:
            widths = self.level_widths.tolist()
            shown = " ".join(map(str, widths[:24])) + (" ..." if len(widths) > 24 else "")
            lines.append(f"acyclic: depth {self.depth} (longest path), {len(widths)} levels of widths {shown}")
        else:
            lines.append("cyclic: no depth or levels (dagnet.topology.feedforward_cut makes it a DAG)")
        lines.append(f"in-degree: {_spread(self.in_degree)}")
        lines.append(f"out-degree: {_spread(self.out_degree)}")
        if self.in_strength is not None:
            lines.append(f"in-strength ({self.weight}): {_spread(self.in_strength)}")
            lines.append(f"out-strength ({self.weight}): {_spread(self.out_strength)}")
        if self.power_law is not None:
            lines.append(f"{self.degree_fit}-degree tail: {self.power_law}")
        elif self.degree_fit is not None:
            lines.append(f"{self.degree_fit}-degree tail: too few nodes for a power-law fit")
        return "\n".join(lines)


def describe(graph: nx.DiGraph | Wiring, weight: str | None = "weight", fit: str | None = "total") -> GraphSummary:
    """Return the statistics of a directed graph: size, depth, level widths, degrees and their tail.

    Linear in nodes + edges apart from the power-law fit (which grows with the
    number of distinct degrees). Works on cyclic graphs too: ``acyclic`` is then
    False and depth and levels are None.

    Parameters
    ----------
    graph : networkx.DiGraph or Wiring
        The graph.
    weight : str or None
        Edge attribute for the in/out strengths (e.g. ``"count"`` for synapse
        counts); None for none.
    fit : {"total", "in", "out"} or None
        Which degree's tail to fit a power law to (see
        :func:`dagnet.analysis.fit_power_law`); None skips the fit.

    Returns
    -------
    GraphSummary

    Examples
    --------
    >>> from dagnet.topology import scale_free_dag
    >>> s = describe(scale_free_dag(2000, 2, seed=0))
    >>> s.num_sources, s.power_law.alpha > 2
    (1, True)
    >>> print(str(describe(nx.DiGraph([(0, 1)]), fit=None)).splitlines()[0])
    nodes 2, edges 1, density 0.5
    """
    if fit is not None:
        check_choice(fit, "fit", "describe", ("total", "in", "out"))
    arrays = edge_arrays(graph, weight, "describe")
    n, source, target = arrays.num_nodes, arrays.source, arrays.target
    in_degree = np.bincount(target, minlength=n).astype(np.int64)
    out_degree = np.bincount(source, minlength=n).astype(np.int64)
    in_strength = out_strength = None
    if arrays.value is not None:
        value = np.nan_to_num(arrays.value, nan=0.0)
        in_strength = np.bincount(target, weights=value, minlength=n)
        out_strength = np.bincount(source, weights=value, minlength=n)
    try:
        _, level = topological_levels(n, source, target)
        acyclic, depth = True, int(level.max()) if n else 0
        widths = np.bincount(level, minlength=1 if n else 0)
    except CycleError:  # self-loops included
        acyclic, depth, widths = False, None, None
    summary = GraphSummary(
        num_nodes=n,
        num_edges=int(source.size),
        num_sources=int((in_degree == 0).sum()),
        num_sinks=int((out_degree == 0).sum()),
        density=source.size / (n * (n - 1)) if n > 1 else 0.0,
        acyclic=acyclic,
        depth=depth,
        level_widths=widths,
        in_degree=in_degree,
        out_degree=out_degree,
        in_strength=in_strength,
        out_strength=out_strength,
        weight=weight if in_strength is not None else None,
        degree_fit=fit,
        power_law=None,
    )
    if fit is not None:
        degrees = summary.degree(fit)
        if fittable(degrees):
            summary = replace(summary, power_law=fit_power_law(degrees, discrete=True))
    return summary
