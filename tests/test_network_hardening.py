"""Bad graphs, values, dtypes and inputs given to a network: one clear error each, or a conversion."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from dagnet import CycleError, DAGNetwork, NonFiniteValueError, Wiring
from dagnet.engine import DTYPES
from dagnet.nn import ActiveDendrites, DendriteActivatedLinear, DendriticTree, IsotropicMLP, RandomlyWiredBlocks


@pytest.mark.parametrize(
    "edges",
    [
        [(0, 1), (1, 2), (2, 0)],  # no source and no sink
        [(3, 0), (0, 1), (1, 2), (2, 0)],  # a source, no sink
        [(0, 1), (1, 2), (2, 0), (2, 4)],  # a sink, no source
    ],
)
def test_cycle_without_source_or_sink_is_a_cycle_error(edges):
    with pytest.raises(CycleError, match="cycle") as err:
        DAGNetwork(nx.DiGraph(edges))
    assert sorted(err.value.cycle) == [0, 1, 2]


def test_input_on_a_cycle_is_reported_as_the_cycle():
    with pytest.raises(CycleError, match="1 -> 0 -> 1"):
        DAGNetwork(Wiring(2, [0, 1], [1, 0]), inputs=[0])


def test_graph_without_edges_still_reports_the_missing_output():
    g = nx.DiGraph()
    g.add_nodes_from([0, 1])
    with pytest.raises(ValueError, match="output"):
        DAGNetwork(g, inputs=[0, 1], outputs=[])


def _one_edge(weight=None, bias=None):
    g = nx.DiGraph()
    g.add_edge("a", "b")
    if weight is not None:
        g.edges["a", "b"]["weight"] = weight
    if bias is not None:
        g.nodes["b"]["bias"] = bias
    return g


@pytest.mark.parametrize("value", [1e39, -3.5e38, 1e300])
def test_weight_beyond_float32_is_refused_naming_the_edge(value):
    with pytest.raises(NonFiniteValueError, match=r"edge 'a' -> 'b'.*float32.*float64"):
        DAGNetwork(_one_edge(weight=value), dtype=torch.float32)
    net = DAGNetwork(_one_edge(weight=min(value, 1e300)), dtype=torch.float64)
    assert net.weight.item() == min(value, 1e300)


def test_largest_float32_is_kept_exactly():
    big = float(torch.finfo(torch.float32).max)
    net = DAGNetwork(_one_edge(weight=big), dtype=torch.float32)
    assert net.weight.item() == big


def test_bias_beyond_float32_is_refused_naming_the_node():
    with pytest.raises(NonFiniteValueError, match=r"bias of node 'b'"):
        DAGNetwork(_one_edge(bias=-1e40), dtype=torch.float32)


def test_branch_bias_beyond_float32_is_refused_naming_the_branch():
    g = nx.DiGraph()
    g.add_edge("x", "v", branch=0)
    g.add_edge("x", "v", branch=0)
    g.add_edge("y", "v", branch=1)
    g.nodes["v"]["combine"] = "pynada"
    g.nodes["v"]["branch_bias"] = [0.0, 5e38]
    with pytest.raises(NonFiniteValueError, match=r"branch 1 of node 'v'"):
        DAGNetwork(g, dtype=torch.float32)


def test_wiring_weights_beyond_float32_are_refused():
    w = Wiring(3, [0, 1], [2, 2], weight=np.array([1.0, 4e38]))
    with pytest.raises(NonFiniteValueError, match="edge 1 -> 2"):
        DAGNetwork(w, dtype=torch.float32)


def test_rewire_with_overflowing_weight_leaves_the_network_unchanged():
    net = DAGNetwork(nx.DiGraph([(0, 2), (1, 2), (2, 3)]), seed=0, dtype=torch.float32)
    before = net.weight.detach().clone()
    for bad in (1e39, float("nan"), float("inf")):
        with pytest.raises(NonFiniteValueError, match=r"new edge 0 -> 3"):
            net.rewire_(add_source=[0], add_target=[3], add_weight=[bad])
        assert torch.equal(net.weight.detach(), before) and net.num_edges == 3
    net.rewire_(add_source=[0], add_target=[3], add_weight=torch.tensor([0.25], dtype=torch.float64))
    assert net.num_edges == 4 and 0.25 in net.weight.tolist()


@pytest.mark.parametrize(
    "dtype", [torch.float16, torch.bfloat16, torch.int32, torch.int64, torch.complex64, torch.bool]
)
def test_unsupported_dtype_is_refused_at_construction(dtype):
    with pytest.raises(TypeError, match=r"float32, torch.float64; got dtype=" + str(dtype)):
        DAGNetwork(nx.DiGraph([(0, 1)]), dtype=dtype)


def test_supported_dtypes_are_exactly_the_engines():
    assert DTYPES == (torch.float32, torch.float64)
    for dtype in DTYPES:
        net = DAGNetwork(nx.DiGraph([(0, 1)]), dtype=dtype, seed=0)
        assert net(torch.ones(2, 1, dtype=dtype)).dtype == dtype


def test_network_converted_to_half_refuses_to_run():
    net = DAGNetwork(nx.DiGraph([(0, 1)]), seed=0).half()
    with pytest.raises(TypeError, match="net.float"):
        net(torch.ones(2, 1, dtype=torch.float16))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_numpy_arrays_and_lists_are_converted_like_as_tensor(dtype):
    net = DAGNetwork(nx.DiGraph([(0, 2), (1, 2), (2, 3)]), seed=0, dtype=dtype)
    x = np.array([[0.5, -1.0], [2.0, 3.0]])
    expected = net(torch.as_tensor(x, dtype=dtype))
    for given in (x, x.astype(np.float32), x.tolist(), [tuple(r) for r in x.tolist()]):
        out = net(given)
        assert out.dtype == dtype
        torch.testing.assert_close(out, expected)
    assert net([0.5, -1.0]).shape == (1,)
    assert net(np.ones((3, 4, 2))).shape == (3, 4, 1)


@pytest.mark.parametrize("bad", ["ab", [[1.0, "x"]], {"a": 1}, None, [[1.0], [1.0, 2.0]]])
def test_inputs_that_do_not_convert_raise_a_type_error(bad):
    net = DAGNetwork(nx.DiGraph([(0, 2), (1, 2)]), seed=0)
    with pytest.raises(TypeError, match=r"DAGNetwork expected a torch.Tensor .* shape \(\*, 2\)"):
        net(bad)


def test_converted_input_of_wrong_width_names_the_width():
    net = DAGNetwork(nx.DiGraph([(0, 2), (1, 2)]), seed=0)
    with pytest.raises(ValueError, match=r"\(\*, 2\).*got \(1, 3\)"):
        net(np.ones((1, 3)))


@pytest.mark.parametrize(
    "make",
    [
        lambda: DendriticTree(2, branching=2, depth=2, seed=0),
        lambda: DendriteActivatedLinear(4, 3, seed=0),
        lambda: RandomlyWiredBlocks(4, 3, hidden=5, graph=nx.DiGraph([(0, 1), (0, 2), (1, 2)]), seed=0),
        lambda: IsotropicMLP([4, 5, 3], seed=0),
    ],
)
def test_neuron_models_take_numpy_inputs(make):
    layer = make()
    x = np.random.default_rng(0).normal(size=(5, getattr(layer, "in_features", 4)))
    layer.eval()
    torch.testing.assert_close(layer(x), layer(torch.as_tensor(x, dtype=torch.float32)))


def test_active_dendrites_take_numpy_input_and_context():
    layer = ActiveDendrites(4, 6, context_features=3, segments=2, k=2, seed=0)
    x, c = np.ones((2, 4)), np.ones((2, 3))
    torch.testing.assert_close(layer(x, c), layer(torch.ones(2, 4), torch.ones(2, 3)))


class _Tanh(torch.nn.Module):
    def forward(self, z):
        return torch.tanh(z)


class _MaxCombine(torch.nn.Module):
    def forward(self, z):
        return z.max(dim=1).values


def _two_branches():
    g = nx.DiGraph()
    g.add_edge("x", "v", branch=0)
    g.add_edge("y", "v", branch=1)
    g.nodes["v"]["combine"] = "pynada"
    return g


def test_module_combine_is_refused_naming_the_node():
    g = _two_branches()
    g.nodes["v"]["combine"] = _MaxCombine()
    with pytest.raises(ValueError, match=r"Node 'v': an nn.Module combine is not supported"):
        DAGNetwork(g)


def test_module_activation_on_a_multi_branch_node_is_refused():
    g = _two_branches()
    g.nodes["v"]["activation"] = _Tanh()
    with pytest.raises(
        ValueError,
        match=r"Node 'v': an nn.Module activation is not supported on a node with a "
        r"combine",
    ):
        DAGNetwork(g)
    g.nodes["v"]["activation"] = "tanh"
    assert DAGNetwork(g, seed=0).num_edges == 2


def test_unknown_combine_names_the_node():
    g = _two_branches()
    g.nodes["v"]["combine"] = "nand"
    with pytest.raises(ValueError, match=r"Node 'v': Unknown combine 'nand'"):
        DAGNetwork(g)


# ----------------------------------------------------------------- values beyond the dtype, converted inputs
@pytest.mark.parametrize(
    "make",
    [
        lambda: DAGNetwork(nx.DiGraph([("a", "y"), ("b", "y")]), seed=0),
        lambda: DendriteActivatedLinear(2, 3, seed=0),
        lambda: IsotropicMLP([2, 4, 3], seed=0),
    ],
)
@pytest.mark.parametrize("x", [np.array([[1e300, 1.0]]), [[1.0, -1e39]]])
def test_an_array_input_beyond_float32_is_refused_not_made_inf(make, x):
    with pytest.raises(ValueError, match=r"input value -?1e\+(300|39), beyond the largest torch.float32"):
        make()(x)


def test_an_array_input_within_range_is_converted_and_a_complex_one_refused():
    net = DAGNetwork(nx.DiGraph([("a", "y"), ("b", "y")]), seed=0)
    assert torch.equal(net(np.array([[1.0, 2.0]])), net(torch.tensor([[1.0, 2.0]])))
    assert torch.equal(net(np.array([[1, 2]], dtype=np.int64)), net(torch.tensor([[1.0, 2.0]])))
    with pytest.raises(TypeError, match="expected real numbers, got a ndarray of complex numbers"):
        net(np.array([[1.0, 2.0 + 1j]]))


@pytest.mark.parametrize("name", ["weight", "bias"])
def test_load_state_dict_refuses_values_beyond_the_dtype_and_complex_ones(name):
    net = DAGNetwork(nx.DiGraph([("a", "h"), ("h", "y")]), seed=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    big = {**net.state_dict(), name: torch.full_like(getattr(net, name), 1e39, dtype=torch.float64)}
    with pytest.raises(RuntimeError, match=rf"'{name}' holds 1e\+39, beyond the largest torch.float32"):
        net.load_state_dict(big)
    odd = {**net.state_dict(), name: getattr(net, name).detach().to(torch.complex64)}
    with pytest.raises(RuntimeError, match=rf"'{name}' is torch.complex64; the values are real"):
        net.load_state_dict(odd)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    net.double().load_state_dict(big)  # float64 holds it
    assert float(getattr(net, name).detach().max()) == 1e39


def test_isotropic_mlp_refuses_absurd_sizes_before_allocating():
    from dagnet.errors import SizeError

    with pytest.raises(SizeError, match=r"IsotropicMLP\(sizes=\[1000000000, 1000000000, 2\]\) would make"):
        IsotropicMLP([10**9, 10**9, 2])


@pytest.mark.parametrize("make_bad", [lambda v: v.double() * 1e300, lambda v: v.to(torch.complex64)])
def test_isotropic_mlp_refuses_state_values_it_cannot_hold(make_bad):
    m = IsotropicMLP([4, 5, 2], seed=0)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    bad = {k: make_bad(v) if v.is_floating_point() else v for k, v in m.state_dict().items()}
    with pytest.raises(RuntimeError, match=r"cannot load this state_dict: 'weight1' (holds|is torch.complex64)"):
        m.load_state_dict(bad)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
