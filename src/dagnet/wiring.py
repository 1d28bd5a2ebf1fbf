"""`Wiring`: a network's graph as plain arrays.

A :class:`Wiring` says the same as a ``networkx.DiGraph`` with ``weight``,
``bias`` and ``activation`` attributes, in a form that scales to 10^7 edges and
more: node ``i`` is the integer ``i``; edge ``k`` goes from ``source[k]`` to
``target[k]``. Every generator of :mod:`dagnet.topology` can return one
(``as_wiring=True``), and :class:`dagnet.DAGNetwork` accepts either form.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from .errors import GraphError, NonFiniteValueError

__all__ = ["Wiring"]


def _index_array(values: Any, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise GraphError(f"Wiring.{name} must be a 1-D array, got shape {arr.shape}.")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise GraphError(f"Wiring.{name} must hold integers, got dtype {arr.dtype}.")
    return arr.astype(np.int64, copy=False)


def _value_array(values: Any, length: int, name: str) -> np.ndarray | None:
    if values is None:
        return None
    arr = np.asarray(values, dtype=np.float64)
    if arr.shape != (length,):
        raise GraphError(f"Wiring.{name} must have shape ({length},), got {arr.shape}.")
    return arr


@dataclass(eq=False)
class Wiring:
    """A directed graph as arrays, with optional initial values per edge and node.

    Parameters
    ----------
    num_nodes : int
        Number of nodes; nodes are ``0 .. num_nodes - 1``.
    source, target : array of int, shape (num_edges,)
        Edge ``k`` goes from node ``source[k]`` to node ``target[k]``.
    weight : array of float, shape (num_edges,), optional
        Initial weight of each edge. ``NaN`` marks an edge left to the network's
        default initialisation; an infinite value is an error.
    bias : array of float, shape (num_nodes,), optional
        Initial bias of each node, ``NaN`` for the default initialisation.
    labels : sequence of hashable, optional
        A label per node (default: the integers themselves). Networks built from
        this wiring speak of nodes by these labels.
    activation : sequence of (str, callable or None), optional
        Per-node activation overriding the network's default; ``None`` keeps it.
    edge_attrs : dict of str to array, optional
        Extra per-edge data (e.g. synapse counts, path ids), each of length
        ``num_edges``; carried into :meth:`to_graph` as edge attributes.
    branch : array of int, shape (num_edges,), optional
        The dendritic branch of its target that each edge joins (default 0);
        it matters only for nodes with a ``combine``.
    combine : sequence of (str, callable or None), optional
        Per-node combine of the branch sums (see
        :mod:`dagnet.activations.combine`); ``None`` or ``"sum"`` is the
        ordinary neuron.
    branch_bias : sequence of (sequence of float or None), optional
        Initial bias of each branch of a node with a ``combine``.

    Examples
    --------
    >>> w = Wiring(3, source=[0, 1], target=[2, 2])
    >>> w.num_edges
    2
    >>> sorted(w.to_graph().edges())
    [(0, 2), (1, 2)]
    """

    num_nodes: int
    source: np.ndarray
    target: np.ndarray
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    labels: Sequence[Hashable] | None = None
    activation: Sequence[str | Callable | None] | None = None
    edge_attrs: dict[str, np.ndarray] = field(default_factory=dict)
    branch: np.ndarray | None = None
    combine: Sequence[str | Callable | None] | None = None
    branch_bias: Sequence[Sequence[float] | None] | None = None

    def __post_init__(self) -> None:
        n = self.num_nodes
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise GraphError(f"Wiring.num_nodes must be a non-negative int, got {n!r}.")
        self.num_nodes = n = int(n)
        self.source = _index_array(self.source, "source")
        self.target = _index_array(self.target, "target")
        if self.source.shape != self.target.shape:
            raise GraphError(
                f"Wiring.source and Wiring.target must have the same length, got "
                f"{self.source.size} and {self.target.size}."
            )
        for name in ("source", "target"):
            arr = getattr(self, name)
            if arr.size and (arr.min() < 0 or arr.max() >= n):
                bad = int(arr[(arr < 0) | (arr >= n)][0])
                raise GraphError(f"Wiring.{name} holds node {bad}, outside 0..{n - 1} (num_nodes = {n}).")
        e = self.source.size
        self.weight = _value_array(self.weight, e, "weight")
        self.bias = _value_array(self.bias, n, "bias")
        if self.labels is not None:
            self.labels = list(self.labels)
            if len(self.labels) != n:
                raise GraphError(f"Wiring.labels must have one label per node ({n}), got {len(self.labels)}.")
            if len(set(self.labels)) != n:
                seen: set = set()
                dup = next(x for x in self.labels if x in seen or seen.add(x))
                raise GraphError(f"Wiring.labels holds {dup!r} twice; labels must be unique.")
        if self.activation is not None:
            self.activation = list(self.activation)
            if len(self.activation) != n:
                raise GraphError(f"Wiring.activation must have one entry per node ({n}), got {len(self.activation)}.")
        if self.branch is not None:
            self.branch = _index_array(self.branch, "branch")
            if self.branch.shape != (e,) or (e and self.branch.min() < 0):
                raise GraphError(f"Wiring.branch must hold one int >= 0 per edge ({e}).")
        for name in ("combine", "branch_bias"):
            values = getattr(self, name)
            if values is not None:
                values = list(values)
                if len(values) != n:
                    raise GraphError(f"Wiring.{name} must have one entry per node ({n}), got {len(values)}.")
                setattr(self, name, values)
        for key, arr in list(self.edge_attrs.items()):
            arr = np.asarray(arr)
            if arr.shape[:1] != (e,):
                raise GraphError(
                    f"Wiring.edge_attrs[{key!r}] must have one entry per edge ({e}), got shape {arr.shape}."
                )
            self.edge_attrs[key] = arr
        for name, arr, where in (("weight", self.weight, "edge"), ("bias", self.bias, "node")):
            if arr is not None and np.isinf(arr).any():
                k = int(np.flatnonzero(np.isinf(arr))[0])
                at = (
                    f"edge {self.label(self.source[k])!r} -> {self.label(self.target[k])!r}"
                    if where == "edge"
                    else f"node {self.label(k)!r}"
                )
                raise NonFiniteValueError(f"The initial {name} of {at} is {arr[k]}; initial values must be finite.")

    # ------------------------------------------------------------------ views
    @property
    def num_edges(self) -> int:
        """Number of edges."""
        return int(self.source.size)

    def label(self, i: int) -> Hashable:
        """Return the label of node index ``i``."""
        return int(i) if self.labels is None else self.labels[int(i)]

    def node_labels(self) -> list:
        """Return the list of all node labels, in index order."""
        return list(range(self.num_nodes)) if self.labels is None else list(self.labels)

    def index(self) -> dict:
        """Return a dict mapping each label to its node index."""
        return {lab: i for i, lab in enumerate(self.node_labels())}

    def in_degree(self) -> np.ndarray:
        """Return the in-degree of every node as an int64 array."""
        return np.bincount(self.target, minlength=self.num_nodes).astype(np.int64)

    def out_degree(self) -> np.ndarray:
        """Return the out-degree of every node as an int64 array."""
        return np.bincount(self.source, minlength=self.num_nodes).astype(np.int64)

    def __repr__(self) -> str:
        return f"Wiring(num_nodes={self.num_nodes}, num_edges={self.num_edges})"

    # ------------------------------------------------------------ conversions
    @classmethod
    def from_graph(cls, graph: nx.DiGraph) -> Wiring:
        """Return the wiring of a ``networkx.DiGraph``.

        Node order is ``graph.nodes``. The edge attribute ``weight`` and the node
        attributes ``bias`` and ``activation`` become initial values; other
        attributes are dropped.

        Raises
        ------
        GraphError
            If ``graph`` is not a directed simple graph.
        NonFiniteValueError
            If a ``weight`` or ``bias`` attribute is NaN or infinite (names it).

        Examples
        --------
        >>> g = nx.DiGraph([("a", "b", {"weight": 0.5})])
        >>> w = Wiring.from_graph(g)
        >>> w.labels, w.weight.tolist()
        (['a', 'b'], [0.5])
        """
        if not isinstance(graph, nx.Graph):
            raise GraphError(f"Expected a networkx.DiGraph or a dagnet.Wiring, got {type(graph).__name__}.")
        if not graph.is_directed():
            raise GraphError(
                "The graph is undirected; give a networkx.DiGraph (dagnet.topology.to_dag orients any graph)."
            )
        if graph.is_multigraph():
            raise GraphError(
                "The graph is a MultiDiGraph; merge parallel edges into one "
                "(e.g. networkx.DiGraph(graph)) before building a network."
            )
        labels = list(graph.nodes)
        index = {lab: i for i, lab in enumerate(labels)}
        e = graph.number_of_edges()
        src = np.empty(e, dtype=np.int64)
        dst = np.empty(e, dtype=np.int64)
        weight = np.full(e, np.nan)
        any_weight = False
        branch = np.zeros(e, dtype=np.int64)
        for k, (u, v, data) in enumerate(graph.edges(data=True)):
            src[k] = index[u]
            dst[k] = index[v]
            if "weight" in data:
                value = _finite(data["weight"], f"edge {u!r} -> {v!r}", "weight")
                weight[k] = value
                any_weight = True
            if "branch" in data:
                b = data["branch"]
                if isinstance(b, bool) or not isinstance(b, (int, np.integer)) or b < 0:
                    raise GraphError(f"The branch of edge {u!r} -> {v!r} must be an int >= 0, got {b!r}.")
                branch[k] = b
        bias = np.full(len(labels), np.nan)
        any_bias = False
        activation: list = [None] * len(labels)
        combine: list = [None] * len(labels)
        branch_bias: list = [None] * len(labels)
        any_act = False
        for i, (v, data) in enumerate(graph.nodes(data=True)):
            if "bias" in data:
                bias[i] = _finite(data["bias"], f"node {v!r}", "bias")
                any_bias = True
            if data.get("activation") is not None:
                activation[i] = data["activation"]
                any_act = True
            combine[i] = data.get("combine")
            if data.get("branch_bias") is not None:
                branch_bias[i] = [_finite(x, f"node {v!r}", "branch_bias") for x in data["branch_bias"]]
        return cls(
            len(labels),
            src,
            dst,
            weight=weight if any_weight else None,
            bias=bias if any_bias else None,
            labels=labels,
            activation=activation if any_act else None,
            branch=branch if branch.any() else None,
            combine=combine if any(c is not None for c in combine) else None,
            branch_bias=branch_bias if any(b is not None for b in branch_bias) else None,
        )

    def to_graph(self) -> nx.DiGraph:
        """Return a new ``networkx.DiGraph`` with the same nodes, edges and values.

        Examples
        --------
        >>> Wiring(2, [0], [1], weight=[2.0]).to_graph().edges[0, 1]["weight"]
        2.0
        """
        g = nx.DiGraph()
        labels = self.node_labels()
        for i, lab in enumerate(labels):
            attrs = {}
            if self.bias is not None and not np.isnan(self.bias[i]):
                attrs["bias"] = float(self.bias[i])
            if self.activation is not None and self.activation[i] is not None:
                attrs["activation"] = self.activation[i]
            if self.combine is not None and self.combine[i] is not None:
                attrs["combine"] = self.combine[i]
            if self.branch_bias is not None and self.branch_bias[i] is not None:
                attrs["branch_bias"] = list(self.branch_bias[i])
            g.add_node(lab, **attrs)
        extra = {k: v.tolist() if v.dtype != object else list(v) for k, v in self.edge_attrs.items()}
        for k, (s, t) in enumerate(zip(self.source.tolist(), self.target.tolist())):
            attrs = {name: vals[k] for name, vals in extra.items()}
            if self.weight is not None and not np.isnan(self.weight[k]):
                attrs["weight"] = float(self.weight[k])
            if self.branch is not None and self.branch[k]:
                attrs["branch"] = int(self.branch[k])
            g.add_edge(labels[s], labels[t], **attrs)
        return g


def _finite(value: Any, where: str, name: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise GraphError(f"The {name} of {where} must be a number, got {value!r}.") from None
    if not np.isfinite(x):
        raise NonFiniteValueError(f"The initial {name} of {where} is {x}; it must be finite.")
    return x
