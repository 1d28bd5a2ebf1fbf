"""One view of either graph form as arrays: labels, sources, targets, an edge value."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from ..errors import GraphError
from ..wiring import Wiring


@dataclass
class EdgeArrays:
    """Node labels, edge endpoints as node indices, and one optional value per edge."""

    labels: list
    source: np.ndarray
    target: np.ndarray
    value: np.ndarray | None

    @property
    def num_nodes(self) -> int:
        return len(self.labels)


def edge_arrays(graph: nx.DiGraph | Wiring, attr: str | None = None, func: str = "this function") -> EdgeArrays:
    """Return ``graph`` as arrays; ``value`` holds edge attribute ``attr`` (None if absent everywhere).

    For a Wiring, ``attr="weight"`` reads :attr:`Wiring.weight`, any other name
    reads ``edge_attrs``. Edges lacking the attribute get NaN.
    """
    if isinstance(graph, Wiring):
        value = None
        if attr == "weight":
            value = graph.weight
        elif attr is not None and attr in graph.edge_attrs:
            value = np.asarray(graph.edge_attrs[attr], dtype=np.float64)
        return EdgeArrays(graph.node_labels(), graph.source, graph.target, value)
    if not isinstance(graph, nx.DiGraph) or graph.is_multigraph():
        kind = type(graph).__name__
        raise GraphError(
            f"{func} expects a networkx.DiGraph or a dagnet.Wiring, got {kind}"
            + ("; dagnet.topology.to_dag orients an undirected graph." if isinstance(graph, nx.Graph) else ".")
        )
    labels = list(graph.nodes)
    index = {lab: i for i, lab in enumerate(labels)}
    e = graph.number_of_edges()
    source = np.fromiter((index[u] for u, _ in graph.edges), dtype=np.int64, count=e)
    target = np.fromiter((index[v] for _, v in graph.edges), dtype=np.int64, count=e)
    value = None
    if attr is not None:
        value = np.fromiter(
            (np.nan if x is None else float(x) for _, _, x in graph.edges(data=attr)), dtype=np.float64, count=e
        )
        if np.isnan(value).all():
            value = None
    return EdgeArrays(labels, source, target, value)


def select_edges(
    wiring: Wiring, keep: np.ndarray, source: np.ndarray | None = None, target: np.ndarray | None = None
) -> Wiring:
    """Return a copy of ``wiring`` with the edges at positions ``keep`` only, node data unchanged.

    ``source``/``target``, if given, replace the kept edges' endpoints (one per kept edge).
    """
    return Wiring(
        wiring.num_nodes,
        wiring.source[keep] if source is None else source,
        wiring.target[keep] if target is None else target,
        weight=None if wiring.weight is None else wiring.weight[keep],
        bias=wiring.bias,
        labels=wiring.labels,
        activation=wiring.activation,
        edge_attrs={name: arr[keep] for name, arr in wiring.edge_attrs.items()},
    )
