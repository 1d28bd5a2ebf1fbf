"""Invalid graphs and inputs raise errors that name the culprits."""

from __future__ import annotations

import math
import warnings

import networkx as nx
import numpy as np
import pytest
import torch

from dagnet import (
    CycleError,
    DAGNetwork,
    DeadNodeWarning,
    EmptyGraphError,
    InputHasPredecessorsError,
    InputShapeError,
    NodeNotFoundError,
    NonFiniteValueError,
    SelfLoopError,
    Wiring,
)
from dagnet.errors import DuplicateNodeError, GraphError


def test_cycle_is_named():
    g = nx.DiGraph([("in", "a"), ("a", "b"), ("b", "c"), ("c", "a"), ("c", "out")])
    with pytest.raises(CycleError) as err:
        DAGNetwork(g)
    assert isinstance(err.value, ValueError)
    cycle = err.value.cycle
    assert sorted(cycle) == ["a", "b", "c"]
    for u, v in zip(cycle, cycle[1:] + cycle[:1]):
        assert g.has_edge(u, v)
    assert "'a'" in str(err.value) and "'c'" in str(err.value)


def test_self_loop_is_named():
    g = nx.DiGraph([("x", "h"), ("h", "h"), ("h", "y")])
    with pytest.raises(SelfLoopError, match="'h'"):
        DAGNetwork(g)


def test_empty_graph():
    with pytest.raises(EmptyGraphError):
        DAGNetwork(nx.DiGraph())


def test_input_with_predecessors_is_named():
    g = nx.DiGraph([("x", "h"), ("h", "y")])
    with pytest.raises(InputHasPredecessorsError, match="'h'.*'x'"):
        DAGNetwork(g, inputs=["x", "h"])


@pytest.mark.parametrize("role", ["inputs", "outputs"])
def test_unknown_label_is_named(role):
    g = nx.DiGraph([("x", "y")])
    with pytest.raises(NodeNotFoundError, match="'nope'"):
        DAGNetwork(g, **{role: ["nope"]})


def test_duplicate_role_is_named():
    g = nx.DiGraph([("x", "y")])
    with pytest.raises(DuplicateNodeError, match="'y'"):
        DAGNetwork(g, outputs=["y", "y"])


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_weight_is_named(value):
    g = nx.DiGraph()
    g.add_edge("x", "y", weight=value)
    with pytest.raises(NonFiniteValueError, match="'x' -> 'y'"):
        DAGNetwork(g)


def test_non_finite_bias_is_named():
    g = nx.DiGraph([("x", "y")])
    g.nodes["y"]["bias"] = math.inf
    with pytest.raises(NonFiniteValueError, match="'y'"):
        DAGNetwork(g)


def test_infinite_weight_in_wiring_is_named():
    with pytest.raises(NonFiniteValueError, match="0 -> 1"):
        Wiring(2, [0], [1], weight=[math.inf])


def test_wrong_input_width():
    net = DAGNetwork(nx.DiGraph([("a", "c"), ("b", "c")]), seed=0)
    with pytest.raises(InputShapeError, match=r"\(\*, 2\).*\(4, 3\)"):
        net(torch.zeros(4, 3))


def test_wrong_input_dtype():
    net = DAGNetwork(nx.DiGraph([("a", "c")]), seed=0)
    with pytest.raises(InputShapeError, match="float64"):
        net(torch.zeros(4, 1, dtype=torch.float64))


def test_dead_nodes_warn_and_prune():
    g = nx.DiGraph([("x", "h"), ("h", "y"), ("x", "dead"), ("const", "y")])
    with pytest.warns(DeadNodeWarning) as record:
        net = DAGNetwork(g, inputs=["x"], outputs=["y"], seed=0)
    text = " ".join(str(w.message) for w in record)
    assert "'const'" in text and "'dead'" in text
    assert net.num_nodes == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeadNodeWarning)
        pruned = DAGNetwork(g, inputs=["x"], outputs=["y"], prune_dead=True, seed=0)
    assert set(pruned.to_graph().nodes) == {"x", "h", "y"}
    assert pruned.num_edges == 2


def test_constant_node_computes_activation_of_bias():
    g = nx.DiGraph([("x", "y"), ("c", "y")])
    g.nodes["c"]["bias"] = -2.0
    g.nodes["c"]["activation"] = "sigmoid"
    g.edges["c", "y"]["weight"] = 3.0
    g.edges["x", "y"]["weight"] = 1.0
    g.nodes["y"]["bias"] = 0.5
    with pytest.warns(DeadNodeWarning):
        net = DAGNetwork(g, inputs=["x"], dtype=torch.float64)
    x = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    expected = x + 0.5 + 3.0 * torch.sigmoid(torch.tensor(-2.0, dtype=torch.float64))
    torch.testing.assert_close(net(x), expected)


def test_duplicate_edges_in_wiring():
    with pytest.raises(GraphError, match="0 -> 1.*twice"):
        DAGNetwork(Wiring(2, [0, 0], [1, 1]))


def test_undirected_graph_rejected():
    with pytest.raises(GraphError, match="undirected"):
        DAGNetwork(nx.Graph([(0, 1)]))


def test_unknown_activation_is_named():
    g = nx.DiGraph([("x", "y")])
    g.nodes["y"]["activation"] = "swoosh"
    with pytest.raises(ValueError, match="'y'.*swoosh"):
        DAGNetwork(g)


def test_bad_parameters():
    g = nx.DiGraph([("x", "y")])
    with pytest.raises(ValueError, match="layering"):
        DAGNetwork(g, layering="random")
    with pytest.raises(ValueError, match="max_width"):
        DAGNetwork(g, layering="bounded")
    with pytest.raises(ValueError, match="init"):
        DAGNetwork(g, init="ones")
    with pytest.raises(ValueError, match="seed"):
        DAGNetwork(g, seed=-1)
    with pytest.raises(ValueError, match="backend"):
        DAGNetwork(g, backend="cuda")


def test_wiring_index_out_of_range():
    with pytest.raises(GraphError, match="node 5"):
        Wiring(3, [0], [5])


def test_errors_are_value_errors():
    g = nx.DiGraph([(0, 1), (1, 0)])
    with pytest.raises(ValueError):
        DAGNetwork(g)
    assert issubclass(NodeNotFoundError, ValueError)
    np.testing.assert_equal(issubclass(InputShapeError, ValueError), True)
