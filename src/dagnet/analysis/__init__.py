"""Looking at wirings: statistics, the power-law fit of degree tails, and pictures.

:func:`describe` summarises a graph (degrees, strengths, depth, level widths
and a power-law fit of the degree tail, compared by likelihood ratio with
exponential and log-normal tails); :func:`plot_degree_distribution` and
:func:`draw_layered` draw it; :func:`graph_statistics` and :func:`plot_study`
relate a population's accuracy to its members' wiring. matplotlib is imported only when a picture is
drawn.
"""

from .describe import GraphSummary, describe
from .plot import draw_layered, plot_degree_distribution
from .populations import STATISTICS, graph_statistics, plot_accuracy_map, plot_study
from .powerlaw import Comparison, PowerLawFit, fit_power_law

__all__ = [
    "describe",
    "GraphSummary",
    "fit_power_law",
    "PowerLawFit",
    "Comparison",
    "plot_degree_distribution",
    "draw_layered",
    "graph_statistics",
    "plot_study",
    "plot_accuracy_map",
    "STATISTICS",
]
