"""Making graphs acyclic: feedforward_cut (feedback arc sets) and to_dag (orientation by an order)."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dagnet import Wiring
from dagnet.errors import DuplicateNodeError, GraphError, NodeNotFoundError
from dagnet.topology import erdos_renyi_dag, feedforward_cut, to_dag

FEW = settings(max_examples=30, deadline=None)


def exact_fas_size(n: int, edges) -> int:
    """Minimum feedback arc set size by dynamic programming over node subsets (n <= 12)."""
    out = [0] * n
    loops = 0
    for u, v in edges:
        if u == v:
            loops += 1
        else:
            out[u] |= 1 << v
    best = [0] + [n * n] * ((1 << n) - 1)  # best[S]: fewest backward edges ordering S first
    for subset in range(1 << n):
        for v in range(n):
            if not subset >> v & 1:
                cost = best[subset] + bin(out[v] & subset).count("1")
                if cost < best[subset | 1 << v]:
                    best[subset | 1 << v] = cost
    return best[-1] + loops


@st.composite
def digraphs(draw, max_nodes=12):
    n = draw(st.integers(1, max_nodes))
    pairs = st.tuples(st.integers(0, n - 1), st.integers(0, n - 1))
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(draw(st.lists(pairs, max_size=3 * n)))
    return g


# --------------------------------------------------------------------------- feedforward_cut
@pytest.mark.parametrize(
    "graph, minimum",
    [
        (nx.cycle_graph(7, create_using=nx.DiGraph), 1),  # one cycle
        (nx.DiGraph([(0, 1), (1, 0)]), 1),  # a 2-cycle
        (nx.disjoint_union_all([nx.cycle_graph(k, create_using=nx.DiGraph) for k in (2, 3, 5, 8)]), 4),
        (nx.DiGraph([(0, 1), (1, 2), (2, 0), (0, 3), (3, 4), (4, 0)]), 2),  # figure eight
        (nx.DiGraph([(0, 1), (1, 2), (2, 0), (1, 3), (3, 0)]), 1),  # two cycles sharing edge 0 -> 1
        (nx.complete_graph(6, create_using=nx.DiGraph), 15),  # every pair both ways: n(n-1)/2
        # a transitive tournament with its longest edge reversed: every cycle uses 9 -> 0
        (nx.DiGraph([(i, j) for i in range(10) for j in range(i + 1, 10) if (i, j) != (0, 9)] + [(9, 0)]), 1),
        (nx.DiGraph([(0, 0), (0, 1), (1, 1)]), 2),  # self-loops must all go
    ],
)
def test_feedforward_cut_finds_known_minimum_feedback_arc_sets(graph, minimum):
    cut = feedforward_cut(graph)
    assert cut.num_removed == minimum == exact_fas_size(graph.number_of_nodes(), graph.edges)
    assert nx.is_directed_acyclic_graph(cut.dag)
    assert cut.minimal and cut.num_edges == graph.number_of_edges()


@FEW
@given(digraphs())
def test_feedforward_cut_gives_a_dag_with_a_minimal_set_of_removed_edges(g):
    cut = feedforward_cut(g)
    dag = cut.dag
    assert nx.is_directed_acyclic_graph(dag)
    assert list(dag.nodes) == list(g.nodes)
    assert set(dag.edges) | set(cut.removed) == set(g.edges)
    assert not set(dag.edges) & set(cut.removed)
    # Minimal: putting back any removed edge closes a cycle.
    assert cut.minimal
    assert all(u == v or nx.has_path(dag, v, u) for u, v in cut.removed)
    assert exact_fas_size(g.number_of_nodes(), g.edges) <= cut.num_removed
    # The greedy order never removes more than half of the (non-loop) edges.
    loops = nx.number_of_selfloops(g)
    assert cut.num_removed - loops <= (g.number_of_edges() - loops) / 2


def test_feedforward_cut_is_close_to_optimal_on_small_random_graphs():
    excess = []
    for seed in range(150):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(2, 10))
        g = nx.gnp_random_graph(n, float(rng.uniform(0.1, 0.7)), seed=seed, directed=True)
        excess.append(feedforward_cut(g).num_removed - exact_fas_size(n, g.edges))
    excess = np.array(excess)
    assert excess.min() >= 0
    # Measured: optimal on 88% of such graphs, 0.15 edges too many on average.
    assert (excess == 0).mean() > 0.8 and excess.mean() < 0.3


def test_feedforward_cut_removes_only_the_back_edges_added_to_a_dag():
    dag = erdos_renyi_dag(400, 0.02, seed=3)
    edges = list(dag.edges)
    rng = np.random.default_rng(0)
    back = {edges[k][::-1] for k in rng.choice(len(edges), 30, replace=False)}
    g = dag.copy()
    g.add_edges_from(back)
    cut = feedforward_cut(g)
    # 30 edge-disjoint 2-cycles need 30 removals, and removing the added edges is enough.
    assert 30 <= cut.num_removed <= 32
    assert nx.is_directed_acyclic_graph(cut.dag)


def test_weights_make_the_cut_spare_heavy_edges():
    g = nx.DiGraph()
    g.add_nodes_from(["b", "a"])  # b first: unweighted ties go to the earlier node
    g.add_edge("a", "b", count=5)
    g.add_edge("b", "a", count=1)
    assert feedforward_cut(g).removed == [("a", "b")]
    assert feedforward_cut(g, weight="count").removed == [("b", "a")]


def test_sources_lose_every_incoming_edge():
    g = nx.DiGraph([("s", "x"), ("x", "y"), ("y", "s"), ("y", "x"), ("t", "s")])
    cut = feedforward_cut(g, sources=["s"])
    assert set(cut.removed) >= {("y", "s"), ("t", "s")}
    assert cut.dag.in_degree("s") == 0 and nx.is_directed_acyclic_graph(cut.dag)


def test_feedforward_cut_on_a_wiring_keeps_edge_data():
    w = Wiring(
        3,
        [0, 1, 2, 2],
        [1, 2, 0, 1],
        weight=[1.0, 2.0, 3.0, 4.0],
        labels=["a", "b", "c"],
        edge_attrs={"count": np.array([1, 2, 3, 4])},
    )
    cut = feedforward_cut(w)
    assert isinstance(cut.dag, Wiring)
    assert cut.removed.tolist() == [1]  # b -> c, the one edge on both cycles
    assert cut.dag.edge_attrs["count"].tolist() == [1, 3, 4]
    assert cut.dag.weight.tolist() == [1.0, 3.0, 4.0] and cut.dag.labels == ["a", "b", "c"]
    assert str(cut) == "feedforward_cut removed 1 of 4 edges (25.0%)"


def test_feedforward_cut_rejects_bad_input_by_name():
    with pytest.raises(GraphError, match="to_dag orients an undirected graph"):
        feedforward_cut(nx.cycle_graph(3))
    with pytest.raises(NodeNotFoundError, match="Source node 'zz'"):
        feedforward_cut(nx.DiGraph([(0, 1)]), sources=["zz"])
    g = nx.DiGraph([(0, 1, {"w": 1.0}), (1, 0, {"w": -2.0})])
    with pytest.raises(GraphError, match="Edge 1 -> 0 has 'w' = -2.0"):
        feedforward_cut(g, weight="w")


def test_feedforward_cut_of_tens_of_thousands_of_edges_is_minimal():
    rng = np.random.default_rng(0)
    n, m = 5000, 30000
    g = Wiring(n, rng.integers(0, n, m), rng.integers(0, n, m))
    cut = feedforward_cut(g)
    assert cut.minimal and 0 < cut.num_removed < m / 2


# --------------------------------------------------------------------------- to_dag
@FEW
@given(digraphs(max_nodes=15), st.booleans(), st.integers(0, 2**32 - 1))
def test_to_dag_points_every_edge_forward_in_the_order(g, undirected, seed):
    graph = g.to_undirected() if undirected else g
    order = list(np.random.default_rng(seed).permutation(list(graph.nodes)).tolist())
    dag = to_dag(graph, order=order)
    pos = {v: i for i, v in enumerate(order)}
    assert nx.is_directed_acyclic_graph(dag)
    assert list(dag.nodes) == list(graph.nodes)
    assert all(pos[u] < pos[v] for u, v in dag.edges)
    pairs = {frozenset(e) for e in graph.edges if e[0] != e[1]}
    assert {frozenset(e) for e in dag.edges} == pairs  # every neighbour pair kept, once


def test_to_dag_keeps_forward_edges_and_drops_their_reverse():
    g = nx.DiGraph()
    g.add_edge(0, 1, weight=1.0)
    g.add_edge(1, 0, weight=2.0)
    g.add_edge(2, 1, weight=3.0)
    g.add_edge(2, 2)
    dag = to_dag(g, order=[0, 1, 2])
    assert dict(dag.edges) == {(0, 1): {"weight": 1.0}, (1, 2): {"weight": 3.0}}  # reversed, data kept


def test_to_dag_random_and_degree_orders():
    g = nx.star_graph(6)  # hub 0
    dag = to_dag(g, order="degree")
    assert dag.in_degree(0) == 0 and dag.out_degree(0) == 6
    a = to_dag(nx.gnm_random_graph(30, 80, seed=1), seed=4)
    b = to_dag(nx.gnm_random_graph(30, 80, seed=1), seed=4)
    assert list(a.edges) == list(b.edges) and nx.is_directed_acyclic_graph(a)


def test_to_dag_reproduces_randwire_orientations():
    ba = nx.barabasi_albert_graph(200, 3, seed=2)
    dag = to_dag(ba, order=range(200))  # insertion order
    assert dag.number_of_edges() == ba.number_of_edges() and all(u < v for u, v in dag.edges)


def test_to_dag_on_a_wiring_and_order_errors():
    w = Wiring(3, [1, 0, 2], [0, 1, 1], weight=[1.0, 2.0, 3.0])
    dag = to_dag(w, order=[2, 1, 0])
    assert list(zip(dag.source.tolist(), dag.target.tolist(), dag.weight.tolist())) == [(1, 0, 1.0), (2, 1, 3.0)]
    with pytest.raises(NodeNotFoundError, match="Node 3 in the 'order'"):
        to_dag(w, order=[0, 1, 3])
    with pytest.raises(NodeNotFoundError, match="Node 2 is missing"):
        to_dag(w, order=[0, 1])
    with pytest.raises(DuplicateNodeError, match="Node 1 appears twice"):
        to_dag(w, order=[0, 1, 1, 2])
