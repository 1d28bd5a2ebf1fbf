"""Reading and writing graphs: edge lists, GraphML and adjacency matrices, both ways."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from dagnet import Wiring
from dagnet.errors import GraphError
from dagnet.topology import (
    from_adjacency,
    layered_sparse,
    read_edgelist,
    read_graphml,
    sobol_paths,
    to_adjacency,
    write_edgelist,
    write_graphml,
)

FEW = settings(max_examples=25, deadline=None)


@st.composite
def weighted_digraphs(draw):
    n = draw(st.integers(1, 15))
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    for u, v in draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=40)):
        weight = draw(st.one_of(st.none(), st.floats(-1e6, 1e6, allow_nan=False)))
        g.add_edge(u, v, **({} if weight is None else {"weight": weight}))
    return g


def _same(a: nx.DiGraph, b: nx.DiGraph, attrs=True) -> None:
    assert set(a.nodes) == set(b.nodes)
    assert {(u, v): d if attrs else None for u, v, d in a.edges(data=True)} == {
        (u, v): d if attrs else None for u, v, d in b.edges(data=True)
    }


# --------------------------------------------------------------------------- edge lists
@FEW
@given(weighted_digraphs())
def test_edgelist_round_trip_keeps_nodes_edges_and_weights(tmp_path_factory, g):
    path = tmp_path_factory.mktemp("el") / "g.tsv"
    write_edgelist(g, path)
    _same(read_edgelist(path), g)


def test_edgelist_round_trip_of_layer_labels_and_isolated_nodes(tmp_path):
    g = layered_sparse([3, 4, 2], epsilon=0.4, seed=1)
    g.add_node((3, 0))  # no edges
    path = tmp_path / "g.txt"
    write_edgelist(g, path)
    back = read_edgelist(path)
    _same(back, g)
    assert (3, 0) in back and isinstance(next(iter(back.nodes)), tuple)
    assert read_edgelist(path, parse_labels=False).has_node("(3, 0)")


def test_edgelist_as_wiring_and_other_weight_names(tmp_path):
    w = Wiring(4, [0, 1, 2], [1, 2, 3], weight=[0.5, math.nan, 2.0])
    path = tmp_path / "w.tsv"
    write_edgelist(w, path)
    lines = path.read_text().splitlines()
    assert lines[0] == "# source\ttarget\tweight" and lines[2] == "1\t2\tnan"
    back = read_edgelist(path, as_wiring=True)
    assert back.source.tolist() == [0, 1, 2] and back.labels == [0, 1, 2, 3]
    np.testing.assert_array_equal(back.weight, w.weight)
    g = read_edgelist(path, weight="count")
    assert g.edges[0, 1] == {"count": 0.5} and g.edges[1, 2] == {}
    assert read_edgelist(path, weight="count", as_wiring=True).edge_attrs["count"].tolist()[0] == 0.5


def test_edgelist_reads_whitespace_files_and_names_bad_lines(tmp_path):
    path = tmp_path / "snap.txt"
    path.write_text("# a comment\n\n1 2\n2   3 0.25\nx\n")
    g = read_edgelist(path)
    assert list(g.nodes) == [1, 2, 3, "x"] and g.edges[2, 3]["weight"] == 0.25
    path.write_text("1 2 3 4\n")
    with pytest.raises(ValueError, match="line 1: expected 1 to 3 columns"):
        read_edgelist(path)
    path.write_text("1 2\n1 2 heavy\n")
    with pytest.raises(ValueError, match="line 2: 'heavy' is not a number"):
        read_edgelist(path)
    with pytest.raises(GraphError, match="cannot be written to an edge list"):
        write_edgelist(nx.DiGraph([("a\tb", "c")]), tmp_path / "bad.tsv")


# --------------------------------------------------------------------------- GraphML
@FEW
@given(weighted_digraphs())
def test_graphml_round_trip(tmp_path_factory, g):
    path = tmp_path_factory.mktemp("gm") / "g.graphml"
    write_graphml(g, path)
    back = read_graphml(path)
    _same(back, g)
    assert list(back.nodes) == list(g.nodes)


def test_graphml_keeps_path_lists_labels_and_graph_data(tmp_path):
    g = sobol_paths([4, 4, 4], 8)
    g.graph["inputs"] = [(0, 0), (0, 1)]
    g.nodes[(0, 0)]["role"] = "sensory"
    path = tmp_path / "p.graphml"
    write_graphml(g, path)
    back = read_graphml(path)
    assert list(back.nodes) == list(g.nodes)
    _same(back, g)  # paths come back as lists of ints
    assert back.graph["inputs"] == [[0, 0], [0, 1]]  # JSON: tuples come back as lists
    assert back.nodes[(0, 0)]["role"] == "sensory"
    assert "dagnet_json_edge_attrs" not in back.graph


def test_graphml_from_a_wiring_and_back_to_one(tmp_path):
    w = Wiring(3, [0, 1], [1, 2], weight=[0.5, -1.0], bias=[math.nan, 0.1, 0.2], labels=["x", "h", "y"])
    path = tmp_path / "w.graphml"
    write_graphml(w, path)
    back = read_graphml(path, as_wiring=True)
    assert back.labels == ["x", "h", "y"] and back.weight.tolist() == [0.5, -1.0]
    np.testing.assert_array_equal(back.bias, w.bias)


def test_graphml_label_collisions_are_refused(tmp_path):
    path = tmp_path / "c.graphml"
    write_graphml(nx.DiGraph([("1", "+1")]), path)
    with pytest.raises(GraphError, match="both read as 1"):
        read_graphml(path)
    assert set(read_graphml(path, parse_labels=False).nodes) == {"1", "+1"}


# --------------------------------------------------------------------------- adjacency
@FEW
@given(weighted_digraphs(), st.booleans())
def test_adjacency_round_trip(g, sparse):
    matrix = to_adjacency(g, sparse=sparse)
    assert matrix.shape == (len(g), len(g))
    back = from_adjacency(matrix, labels=list(g.nodes))
    if sparse:  # a sparse matrix keeps an edge of weight 0
        _same(back, g)
    else:
        kept = nx.DiGraph()
        kept.add_nodes_from(g)
        kept.add_edges_from((u, v, d) for u, v, d in g.edges(data=True) if d.get("weight", 1.0) != 0)
        _same(back, kept)


def test_adjacency_conventions():
    g = nx.DiGraph([(0, 1), (1, 2)])
    a = to_adjacency(g, sparse=False)
    assert a.dtype == bool and a[0, 1] and not a[1, 0]
    assert to_adjacency(g).dtype == bool and sp.issparse(to_adjacency(g))
    g.edges[0, 1]["weight"] = 2.0
    dense = to_adjacency(g, sparse=False)
    assert dense[0, 1] == 2.0 and np.isnan(dense[1, 2]) and dense[0, 2] == 0
    back = from_adjacency(dense)
    assert dict(back.edges) == {(0, 1): {"weight": 2.0}, (1, 2): {}}
    w = from_adjacency(sp.csr_array(dense), as_wiring=True, weight="strength")
    assert w.edge_attrs["strength"][0] == 2.0 and w.weight is None
    assert from_adjacency(np.array([[0, 3]] * 2), weight=None).edges[0, 1] == {}
    with pytest.raises(ValueError, match="must be square. Got shape \\(2, 3\\)"):
        from_adjacency(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="one label per row \\(2\\). Got 1 instead"):
        from_adjacency(np.zeros((2, 2)), labels=["a"])
