"""Reading and writing graphs: edge lists, GraphML, adjacency matrices.

Every writer takes a ``networkx.DiGraph`` or a :class:`dagnet.Wiring`; every
reader returns a ``DiGraph`` or, with ``as_wiring=True``, a Wiring.

Text formats store node labels as text (``str(label)``). Reading them back,
a label that reads as an int (``"12"``) becomes an int and one that reads as a
tuple of ints and strings (``"(0, 3)"``, the ``(layer, index)`` labels of the
layered generators) becomes a tuple; every other label stays a string. Pass
``parse_labels=False`` to keep all labels as strings.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Hashable, Sequence
from typing import TYPE_CHECKING

import networkx as nx
import numpy as np

from ..errors import GraphError
from ..wiring import Wiring
from ._arrays import edge_arrays

if TYPE_CHECKING:
    import scipy.sparse

__all__ = [
    "read_edgelist",
    "write_edgelist",
    "read_graphml",
    "write_graphml",
    "to_adjacency",
    "from_adjacency",
]

_INT = re.compile(r"[+-]?\d+")
_JSON_KEYS = {"node": "dagnet_json_node_attrs", "edge": "dagnet_json_edge_attrs", "graph": "dagnet_json_graph_attrs"}


def _parse_label(text: str) -> Hashable:
    """Return ``text`` as an int or a tuple when it reads as one, else as it is."""
    if _INT.fullmatch(text):
        return int(text)
    if text.startswith("(") and text.endswith(")"):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text
        if isinstance(value, tuple) and all(isinstance(x, (int, str)) for x in value):
            return value
    return text


# --------------------------------------------------------------------------- edge lists
def write_edgelist(
    graph: nx.DiGraph | Wiring, path: str | os.PathLike, weight: str | None = "weight", delimiter: str = "\t"
) -> None:
    """Write ``graph`` as a text edge list: one ``source<TAB>target[<TAB>weight]`` line per edge.

    A first comment line names the columns; a node without edges is written
    alone on a line (before the edges), so it survives the round trip. Weights
    are written in full precision; an edge without one gets ``nan`` when other
    edges have one. Other attributes are not written: GraphML keeps them all.

    Parameters
    ----------
    graph : networkx.DiGraph or Wiring
        The graph to write.
    path : str or path-like
        File to write.
    weight : str or None
        Edge attribute written in the third column (for a Wiring, ``"weight"``
        is :attr:`Wiring.weight`, another name an ``edge_attrs`` entry); None,
        or an attribute no edge has, writes two columns.
    delimiter : str
        Column separator; a tab by default, so labels such as ``(0, 3)`` may
        contain spaces.

    Raises
    ------
    GraphError
        If a node label, as text, contains the delimiter or a line break.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "g.tsv"
    >>> write_edgelist(nx.DiGraph([(0, 1, {"weight": 0.5})]), f)
    >>> f.read_text().splitlines()
    ['# source\\ttarget\\tweight', '0\\t1\\t0.5']
    """
    arrays = edge_arrays(graph, weight, "write_edgelist")
    labels = [str(lab) for lab in arrays.labels]
    for text in labels:
        if delimiter in text or "\n" in text or "\r" in text or not text.strip():
            raise GraphError(
                f"Node label {text!r} cannot be written to an edge list with delimiter {delimiter!r}; "
                "choose another delimiter or write GraphML."
            )
    n = arrays.num_nodes
    alone = np.flatnonzero(np.bincount(np.concatenate((arrays.source, arrays.target)), minlength=n) == 0)
    pairs = zip(arrays.source.tolist(), arrays.target.tolist())
    columns = ["source", "target"] + ([] if arrays.value is None else [str(weight)])
    with open(path, "w") as f:
        f.write("# " + delimiter.join(columns) + "\n")
        f.writelines(f"{labels[i]}\n" for i in alone.tolist())
        if arrays.value is None:
            f.writelines(f"{labels[s]}{delimiter}{labels[t]}\n" for s, t in pairs)
        else:
            f.writelines(
                f"{labels[s]}{delimiter}{labels[t]}{delimiter}{x!r}\n"
                for (s, t), x in zip(pairs, arrays.value.tolist())
            )


def read_edgelist(
    path: str | os.PathLike,
    weight: str | None = "weight",
    delimiter: str | None = None,
    parse_labels: bool = True,
    as_wiring: bool = False,
) -> nx.DiGraph | Wiring:
    """Read a directed graph from a text edge list (as written by :func:`write_edgelist`).

    Each line holds ``source target`` or ``source target value``, or a single
    node; blank lines and lines starting with ``#`` are skipped. Nodes come in
    the order they first appear.

    Parameters
    ----------
    path : str or path-like
        File to read.
    weight : str or None
        Name of the edge attribute that receives the third column (a value of
        ``nan`` means none); None ignores the third column.
    delimiter : str, optional
        Column separator. Default: a tab if the file has a tab anywhere (as
        files from :func:`write_edgelist` do, in their header), else any run
        of whitespace.
    parse_labels : bool
        Turn labels that read as ints or tuples into ints or tuples (see the
        module notes); False keeps strings.
    as_wiring : bool
        Return a :class:`dagnet.Wiring` (the third column as ``weight``, or as
        ``edge_attrs[weight]`` for another name) instead of a DiGraph.

    Returns
    -------
    networkx.DiGraph or Wiring
        A repeated edge is one edge of a DiGraph (its last value wins), but
        stays repeated in a Wiring.

    Raises
    ------
    ValueError
        If a line has more than three columns or a value that is not a number
        (the message names the line).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "g.txt"
    >>> _ = f.write_text("a b 2.5\\nb c\\n")
    >>> g = read_edgelist(f)
    >>> list(g.edges(data="weight"))
    [('a', 'b', 2.5), ('b', 'c', None)]
    """
    index: dict = {}
    source: list[int] = []
    target: list[int] = []
    values: list[float] = []

    def node(text: str) -> int:
        lab = _parse_label(text) if parse_labels else text
        return index.setdefault(lab, len(index))

    with open(path) as f:
        lines = f.read().splitlines()
    if delimiter is None and any("\t" in line for line in lines):
        delimiter = "\t"  # a tab anywhere (write_edgelist's header has one): labels may hold spaces
    for line_no, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split() if delimiter is None else [x.strip() for x in line.split(delimiter)]
        if len(fields) == 1:
            node(fields[0])
            continue
        if len(fields) > 3:
            raise ValueError(f"{path}, line {line_no}: expected 1 to 3 columns, got {len(fields)}: {line!r}.")
        source.append(node(fields[0]))
        target.append(node(fields[1]))
        try:
            values.append(float(fields[2]) if len(fields) == 3 else np.nan)
        except ValueError:
            raise ValueError(f"{path}, line {line_no}: {fields[2]!r} is not a number.") from None
    labels = list(index)
    value = np.asarray(values, dtype=np.float64)
    has_value = weight is not None and not np.isnan(value).all()
    if as_wiring:
        return Wiring(
            len(labels),
            np.asarray(source, dtype=np.int64),
            np.asarray(target, dtype=np.int64),
            weight=value if has_value and weight == "weight" else None,
            labels=labels,
            edge_attrs={weight: value} if has_value and weight != "weight" else {},
        )
    g = nx.DiGraph()
    g.add_nodes_from(labels)
    for s, t, x in zip(source, target, value.tolist()):
        g.add_edge(labels[s], labels[t], **({weight: x} if has_value and x == x else {}))
    return g


# --------------------------------------------------------------------------- GraphML
def _encode(data: dict, names: set) -> dict:
    """Return ``data`` with list-like values as JSON text, adding their keys to ``names``."""
    out = {}
    for key, value in data.items():
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if isinstance(value, (list, tuple, dict)):
            names.add(key)
            value = json.dumps(value)
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out


def write_graphml(graph: nx.DiGraph | Wiring, path: str | os.PathLike) -> None:
    """Write ``graph`` with all its node, edge and graph attributes to a GraphML file.

    GraphML holds only numbers, strings and booleans, so list-like values
    (e.g. the ``paths`` of a path network, a connectome's ``inputs``) are
    stored as JSON text and their names recorded in the graph attributes
    ``dagnet_json_{node,edge,graph}_attrs``, from which :func:`read_graphml`
    restores them (as lists). Node ids are ``str(label)``.

    Parameters
    ----------
    graph : networkx graph or Wiring
        The graph to write.
    path : str or path-like
        File to write.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "g.graphml"
    >>> g = nx.DiGraph([((0, 0), (1, 0), {"paths": [0, 2]})])
    >>> write_graphml(g, f)
    >>> list(read_graphml(f).edges(data="paths"))
    [((0, 0), (1, 0), [0, 2])]
    """
    if isinstance(graph, Wiring):
        graph = graph.to_graph()
    elif not isinstance(graph, nx.Graph):
        raise GraphError(f"write_graphml expects a networkx graph or a dagnet.Wiring, got {type(graph).__name__}.")
    g = graph
    names: dict[str, set] = {kind: set() for kind in _JSON_KEYS}
    h = g.__class__()
    h.add_nodes_from((v, _encode(d, names["node"])) for v, d in g.nodes(data=True))
    h.add_edges_from((u, v, _encode(d, names["edge"])) for u, v, d in g.edges(data=True))
    h.graph.update(_encode(g.graph, names["graph"]))
    for kind, found in names.items():
        if found:
            h.graph[_JSON_KEYS[kind]] = json.dumps(sorted(found))
    nx.write_graphml(h, path)


def read_graphml(path: str | os.PathLike, parse_labels: bool = True, as_wiring: bool = False) -> nx.DiGraph | Wiring:
    """Read a graph from a GraphML file (as written by :func:`write_graphml`, or any other).

    Parameters
    ----------
    path : str or path-like
        File to read.
    parse_labels : bool
        Turn node ids that read as ints or tuples into ints or tuples (see the
        module notes); False keeps strings.
    as_wiring : bool
        Return a :class:`dagnet.Wiring` (edge attribute ``weight`` and node
        attributes ``bias``/``activation`` become its values; other attributes
        are dropped) instead of a networkx graph.

    Returns
    -------
    networkx.DiGraph or Wiring
        In the file's node and edge order; an undirected file gives a
        ``networkx.Graph`` (orient it with :func:`to_dag`).

    Raises
    ------
    GraphError
        If two node ids parse to the same label (read with ``parse_labels=False``).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "g.graphml"
    >>> write_graphml(nx.DiGraph([(1, 2, {"weight": 0.5})]), f)
    >>> list(read_graphml(f).edges(data=True))
    [(1, 2, {'weight': 0.5})]
    """
    g = nx.read_graphml(path, node_type=str)
    if parse_labels:
        mapping = {v: _parse_label(v) for v in g}
        seen: dict = {}
        for v, lab in mapping.items():
            if lab in seen:
                raise GraphError(
                    f"Node ids {seen[lab]!r} and {v!r} of {path} both read as {lab!r}; "
                    "read the file with parse_labels=False."
                )
            seen[lab] = v
        g = nx.relabel_nodes(g, mapping, copy=True)
    decode = {kind: set(json.loads(g.graph.pop(key, "[]"))) for kind, key in _JSON_KEYS.items()}
    for items, names in (
        (g.nodes.values(), decode["node"]),
        ((d for *_, d in g.edges(data=True)), decode["edge"]),
        ([g.graph], decode["graph"]),
    ):
        for data in items:
            for name in names & data.keys():
                data[name] = json.loads(data[name])
    if not as_wiring:
        return g
    if not g.is_directed():
        raise GraphError(
            f"{path} holds an undirected graph; read it with as_wiring=False and orient it with dagnet.topology.to_dag."
        )
    return Wiring.from_graph(g)


# --------------------------------------------------------------------------- adjacency matrices
def to_adjacency(
    graph: nx.DiGraph | Wiring, weight: str | None = "weight", sparse: bool = True
) -> scipy.sparse.csr_array | np.ndarray:
    """Return the adjacency matrix ``A`` of ``graph``: ``A[i, j]`` is the edge ``i -> j``.

    Rows and columns follow the node order (``graph.nodes``, or Wiring index).

    Parameters
    ----------
    graph : networkx.DiGraph or Wiring
        The graph.
    weight : str or None
        Edge attribute giving the entries. If None, or if no edge has it, the
        matrix is boolean (True on edges); else float, NaN on edges without it.
    sparse : bool
        Return a ``scipy.sparse.csr_array`` (default; an edge of weight 0 stays
        a stored entry) or a dense ``numpy.ndarray`` (where an edge of weight 0
        cannot be told from no edge).

    Returns
    -------
    scipy.sparse.csr_array or numpy.ndarray
        Shape ``(n, n)``.

    Examples
    --------
    >>> to_adjacency(nx.DiGraph([(0, 1)]), sparse=False)
    array([[False,  True],
           [False, False]])
    """
    arrays = edge_arrays(graph, weight, "to_adjacency")
    n = arrays.num_nodes
    data = np.ones(arrays.source.size, dtype=bool) if arrays.value is None else arrays.value
    if sparse:
        import scipy.sparse as sp  # loaded only for sparse matrices: it slows import dagnet

        return sp.csr_array((data, (arrays.source, arrays.target)), shape=(n, n))
    matrix = np.zeros((n, n), dtype=data.dtype)
    matrix[arrays.source, arrays.target] = data
    return matrix


def from_adjacency(
    matrix, labels: Sequence[Hashable] | None = None, weight: str | None = "weight", as_wiring: bool = False
) -> nx.DiGraph | Wiring:
    """Return the directed graph with an edge ``i -> j`` for each entry ``A[i, j]`` of a square matrix.

    The entries are the nonzero ones of a dense array and the stored ones of a
    SciPy sparse matrix (explicit zeros included). A boolean matrix gives no
    weights; other matrices give each edge its value as attribute ``weight``,
    except NaN entries, which give an edge without one.

    Parameters
    ----------
    matrix : numpy.ndarray or scipy.sparse matrix/array
        Square adjacency matrix.
    labels : sequence of hashable, optional
        Node labels, one per row (default ``0 .. n - 1``).
    weight : str or None
        Attribute name for the values (in a Wiring, ``"weight"`` fills
        :attr:`Wiring.weight`, another name an ``edge_attrs`` entry); None
        keeps no values.
    as_wiring : bool
        Return a :class:`dagnet.Wiring` instead of a ``networkx.DiGraph``.

    Returns
    -------
    networkx.DiGraph or Wiring
        Edges in row-major order.

    Raises
    ------
    ValueError
        If the matrix is not square or ``labels`` has the wrong length.

    Examples
    --------
    >>> g = from_adjacency(np.array([[0, 2.0], [0, 0]]), labels=["x", "y"])
    >>> list(g.edges(data=True))
    [('x', 'y', {'weight': 2.0})]
    """
    import scipy.sparse as sp  # loaded only for matrices: it slows import dagnet

    if sp.issparse(matrix):
        coo = sp.coo_array(matrix)
        coo.sum_duplicates()
        rows, cols, values = coo.row, coo.col, coo.data
        shape = coo.shape
    else:
        dense = np.asarray(matrix)
        shape = dense.shape
        if dense.ndim == 2:
            rows, cols = np.nonzero(dense)
            values = dense[rows, cols]
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"The 'matrix' parameter of from_adjacency must be square. Got shape {shape} instead.")
    n = shape[0]
    if labels is not None and len(labels) != n:
        raise ValueError(
            f"The 'labels' parameter of from_adjacency must have one label per row ({n}). Got {len(labels)} instead."
        )
    order = np.lexsort((cols, rows))
    rows, cols = rows[order].astype(np.int64), cols[order].astype(np.int64)
    value = None
    if weight is not None and values.dtype != bool:
        value = values[order].astype(np.float64)
    wiring = Wiring(
        n,
        rows,
        cols,
        weight=value if weight == "weight" else None,
        labels=None if labels is None else list(labels),
        edge_attrs={weight: value} if value is not None and weight != "weight" else {},
    )
    if as_wiring:
        return wiring
    g = wiring.to_graph()
    if value is not None and weight != "weight":
        for (_u, _v, d), x in zip(g.edges(data=True), value.tolist()):
            if x != x:
                del d[weight]
    return g
