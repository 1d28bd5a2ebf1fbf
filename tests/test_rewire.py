"""DAGNetwork.rewire_: removing and growing edges in place, against the per-node reference (hypothesis)."""

from __future__ import annotations

import copy
import io
import itertools

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dagnet
from dagnet import CycleError, DAGNetwork
from dagnet.nn.remap import remap_parameter_, remap_rows
from reference import net_grads, net_values, reference_forward
from strategies import Scaled, build_case, dag_cases, max_rows, swish

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = 1e-10

OPTIMIZERS = {
    "adam": (lambda params: torch.optim.Adam(params, lr=0.01), ("exp_avg", "exp_avg_sq")),
    "sgd": (lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9), ("momentum_buffer",)),
}


# ---------------------------------------------------------------- helpers
def _edge_keys(net) -> list:
    """(source label, target label) of each weight, aligned with ``net.weight``."""
    labels = net.node_labels
    src, dst = net.edge_endpoints()
    return [(labels[u], labels[v]) for u, v in zip(src.tolist(), dst.tolist())]


def _bias_keys(net) -> list:
    """The key of each bias entry, as in :func:`reference.net_values`: a label, or (label, "branch", k)."""
    labels, n = net.node_labels, net.num_nodes
    keys = []
    for i in net.node_index[net.in_features :].tolist():
        if i < n:
            keys.append(labels[i])
        else:
            u = i - n
            keys.append((labels[int(net._unit_owner[u])], "branch", int(net._unit_branch[u])))
    return keys


def _by_key(keys, tensor) -> dict:
    return dict(zip(keys, tensor.detach().double().tolist()))


def _state(net, opt, names) -> dict:
    """{(param, state name): {key: value}} for the weight and bias state of ``opt``."""
    out = {}
    for pname, keys in (("weight", _edge_keys(net)), ("bias", _bias_keys(net))):
        p = getattr(net, pname)
        for name in names:
            out[pname, name] = _by_key(keys, opt.state[p][name])
    return out


def _input(net, seed, batch=4):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(batch, net.in_features, generator=gen, dtype=torch.float64)


def _train_step(net, opt, x):
    opt.zero_grad()
    net(x).square().sum().backward()
    opt.step()


def _allowed_absent(net, keep) -> list[tuple[int, int]]:
    """Node pairs (u, v) that ``growth_space`` allows and that are absent once ``~keep`` is removed."""
    limit, source_ok = net.growth_space()
    node_index = net.node_index.cpu().numpy()
    src, dst = net.edge_endpoints()
    present = set(zip(src[keep].tolist(), dst[keep].tolist()))
    pairs = [
        (int(node_index[u]), int(node_index[v]))
        for v in range(limit.size)
        for u in range(int(limit[v]))
        if source_ok[u]
    ]
    return [p for p in pairs if p not in present]


def _random_rewiring(net, rng, p_remove):
    evolvable = np.flatnonzero(net.evolvable_edges())
    remove = evolvable[rng.random(evolvable.size) < p_remove]
    keep = np.ones(net.num_edges, dtype=bool)
    keep[remove] = False
    free = _allowed_absent(net, keep)
    k = int(rng.integers(0, len(free) + 1))
    chosen = [free[i] for i in rng.permutation(len(free))[:k]]
    src = np.array([u for u, _ in chosen], dtype=np.int64)
    dst = np.array([v for _, v in chosen], dtype=np.int64)
    return remove, src, dst, rng.normal(size=k)


def _check_reference(net, case, x, what):
    """Forward and gradients of ``net`` equal the reference on ``net.to_graph()``."""
    g = net.to_graph()
    assert nx.is_directed_acyclic_graph(g), what
    assert all(g.nodes[u]["layer"] < g.nodes[v]["layer"] for u, v in g.edges), what
    weight, bias = net_values(net)
    xr = x.clone().requires_grad_(True)
    ref = reference_forward(g, net.inputs, net.outputs, xr, weight, bias, case["activation"], case["output_activation"])
    net.zero_grad()
    xn = x.clone().requires_grad_(True)
    out = net(xn)
    torch.testing.assert_close(out.detach(), ref.detach(), rtol=TOL, atol=TOL, msg=what)
    upstream = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).reshape(out.shape)
    (out * upstream).sum().backward()
    (ref * upstream).sum().backward()
    torch.testing.assert_close(xn.grad, _grad(xr), rtol=TOL, atol=TOL, msg=what)
    dweight, dbias = net_grads(net)
    for e, gv in dweight.items():
        assert gv == pytest.approx(float(_grad(weight[e])), rel=TOL, abs=TOL), (what, e)
    for v, gv in dbias.items():
        assert gv == pytest.approx(float(_grad(bias[v])), rel=TOL, abs=TOL), (what, v)


def _round_trip(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _grad(leaf):
    """A reference leaf's gradient; None (no path to an output) is zero."""
    return torch.zeros_like(leaf) if leaf.grad is None else leaf.grad


def _snapshot(net, opt=None):
    x = _input(net, 0)
    with torch.no_grad():
        out = net(x)
    state = None
    if opt is not None:
        state = {
            k: v.clone() if isinstance(v, torch.Tensor) else v
            for p in (net.weight, net.bias)
            for k, v in opt.state[p].items()
        }
    return {
        "out": out,
        "x": x,
        "edges": net.num_edges,
        "weight": net.weight.detach().clone(),
        "bias": net.bias.detach().clone(),
        "in_src": net.in_src.clone(),
        "node_index": net.node_index.clone(),
        "state": state,
    }


def _assert_unchanged(net, snap, opt=None):
    assert net.num_edges == snap["edges"]
    assert torch.equal(net.weight.detach(), snap["weight"]) and torch.equal(net.bias.detach(), snap["bias"])
    assert torch.equal(net.in_src, snap["in_src"]) and torch.equal(net.node_index, snap["node_index"])
    with torch.no_grad():
        assert torch.equal(net(snap["x"]), snap["out"])
    if opt is not None:
        now = {k: v for p in (net.weight, net.bias) for k, v in opt.state[p].items()}
        assert now.keys() == snap["state"].keys()
        for k, v in now.items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(snap["state"][k])), k


def _assert_same_state(a, b):
    """Same state_dict keys, in order, and bit-identical tensors (values and wiring buffers)."""
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def _chain_net(**kwargs):
    """x1, x2 -> h1 -> h2 -> y, plus x1 -> h2, and a two-branch node m fed by x1 and x2 into y2."""
    g = nx.DiGraph(
        [("x1", "h1"), ("x2", "h1"), ("h1", "h2"), ("h2", "y"), ("x1", "h2"), ("x1", "m"), ("x2", "m"), ("m", "y2")]
    )
    g.nodes["m"]["combine"] = "max"
    g.edges["x2", "m"]["branch"] = 1
    return DAGNetwork(g, seed=0, dtype=torch.float64, **kwargs)


def _node(net, label) -> int:
    return net.node_labels.index(label)


# ---------------------------------------------------------------- random rewirings
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@SETTINGS
@given(case=dag_cases(), p_remove=st.sampled_from([0.0, 0.3, 0.7, 1.0]), rewire_seed=st.integers(0, 2**32 - 1))
def test_random_rewiring_matches_reference_and_carries_state(case, optimizer, p_remove, rewire_seed):
    make_opt, names = OPTIMIZERS[optimizer]
    net = build_case(case, torch.float64, None)
    weight_param, bias_param = net.weight, net.bias
    opt = make_opt(net.parameters())
    x = _input(net, case["seed"])
    _train_step(net, opt, x)
    _train_step(net, opt, x)  # non-zero optimizer state on every trained entry

    weights_before = _by_key(_edge_keys(net), net.weight)
    biases_before = _by_key(_bias_keys(net), net.bias)
    state_before = _state(net, opt, names)
    step_before = opt.state[net.weight].get("step")
    step_before = None if step_before is None else float(step_before)

    rng = np.random.default_rng(rewire_seed)
    remove, add_src, add_dst, add_w = _random_rewiring(net, rng, p_remove)
    labels = net.node_labels
    removed = {_edge_keys(net)[k] for k in remove.tolist()}
    added = {(labels[u], labels[v]): w for u, v, w in zip(add_src.tolist(), add_dst.tolist(), add_w.tolist())}
    edges_before = net.num_edges

    result = net.rewire_(remove=remove, add_source=add_src, add_target=add_dst, add_weight=add_w, optimizer=opt)

    assert result == {"removed": remove.size, "added": add_src.size}
    assert net.num_edges == edges_before - remove.size + add_src.size
    assert net.weight is weight_param and net.bias is bias_param
    assert net.weight.shape == (net.num_edges,)
    keys = _edge_keys(net)
    assert len(set(keys)) == len(keys)
    survivors = set(weights_before) - removed
    assert set(keys) == survivors | set(added)

    weights_after = _by_key(keys, net.weight)
    for e in survivors:
        assert weights_after[e] == weights_before[e], e
    for e, w in added.items():
        assert weights_after[e] == w, e
    assert _by_key(_bias_keys(net), net.bias) == biases_before

    state_after = _state(net, opt, names)
    for (pname, name), values in state_after.items():
        before = state_before[pname, name]
        if pname == "bias":
            assert values == before, name
            continue
        for e in survivors:
            assert values[e] == before[e], (name, e)
        for e in added:
            assert values[e] == 0.0, (name, e)
    if step_before is not None:
        assert float(opt.state[net.weight]["step"]) == step_before

    assert net.last_activity() is None
    _check_reference(net, case, x, "after rewiring")
    assert net.weight.grad.shape == net.weight.shape
    opt.step()  # the remapped state has the new shape
    for p in (net.weight, net.bias):
        for name in names:
            assert opt.state[p][name].shape == p.shape
    _check_reference(net, case, x, "after a step on the rewired network")


@SETTINGS
@given(case=dag_cases(), rewire_seed=st.integers(0, 2**32 - 1))
def test_cycle_closing_edge_raises_and_leaves_network_unchanged(case, rewire_seed):
    net = build_case(case, torch.float64, None)
    opt = torch.optim.Adam(net.parameters())
    _train_step(net, opt, _input(net, 1))
    g = net.to_graph()
    fixed = {v for v, d in g.nodes(data=True) if "combine" in d} | set(net.inputs)
    candidates = [(u, v) for u in g for v in nx.descendants(g, u) if u not in fixed]
    rng = np.random.default_rng(rewire_seed)
    if not candidates:  # no path into an ordinary node: the deterministic test below covers the error
        return
    u, v = candidates[int(rng.integers(len(candidates)))]
    snap = _snapshot(net, opt)
    evolvable = np.flatnonzero(net.evolvable_edges())
    remove = evolvable[rng.random(evolvable.size) < 0.3]  # a removal in the same call is not applied either
    path = nx.shortest_path(g, u, v)
    with pytest.raises(CycleError):
        net.rewire_(
            remove=np.setdiff1d(remove, _path_edges(net, path)),
            add_source=[_node(net, v)],
            add_target=[_node(net, u)],
            optimizer=opt,
        )
    _assert_unchanged(net, snap, opt)


def _path_edges(net, path) -> np.ndarray:
    """Indices of the weights on ``path`` (kept, so that the new edge still closes a cycle)."""
    keys = _edge_keys(net)
    on_path = set(itertools.pairwise(path))
    return np.array([k for k, e in enumerate(keys) if e in on_path], dtype=np.int64)


@SETTINGS
@given(
    case=dag_cases(),
    p_remove=st.sampled_from([0.3, 1.0]),
    rewire_seed=st.integers(0, 2**32 - 1),
    new_seed=st.integers(0, 999),
)
def test_state_dict_after_rewiring_loads_into_a_network_of_the_original_graph(case, p_remove, rewire_seed, new_seed):
    net = build_case(case, torch.float64, None)
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    x = _input(net, case["seed"])
    _train_step(net, opt, x)
    net.rewire_(*_random_rewiring(net, np.random.default_rng(rewire_seed), p_remove)[:3], optimizer=opt)
    _train_step(net, opt, x)

    # A copy of the graph: its activation modules must not be shared with ``net``.
    fresh = build_case(dict(case, graph=copy.deepcopy(case["graph"]), seed=new_seed), torch.float64, None)
    fresh.load_state_dict(net.state_dict())
    with torch.no_grad():
        assert torch.equal(fresh(x), net(x))
    assert set(fresh.to_graph().edges) == set(net.to_graph().edges)
    assert fresh.levels() == net.levels()
    _assert_same_state(fresh, net)

    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=0.01)
    fresh_opt.load_state_dict(_round_trip(opt.state_dict()))  # no tensor shared with the live optimizer
    _train_step(net, opt, x)
    _train_step(fresh, fresh_opt, x)
    assert torch.equal(fresh.weight, net.weight) and torch.equal(fresh.bias, net.bias)
    _check_reference(fresh, case, x, "loaded network")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(case=dag_cases(), rewire_seed=st.integers(0, 2**32 - 1))
def test_save_and_load_after_rewiring(case, rewire_seed, tmp_path):
    net = build_case(case, torch.float64, None)
    net.rewire_(*_random_rewiring(net, np.random.default_rng(rewire_seed), 0.5))
    path = tmp_path / "net.pt"
    dagnet.save(net, path)
    loaded = dagnet.load(path, custom_objects=[Scaled, swish, max_rows])
    x = _input(net, 3)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    assert loaded.inputs == net.inputs and loaded.outputs == net.outputs
    assert set(loaded.to_graph().edges) == set(net.to_graph().edges)
    assert _by_key(_edge_keys(loaded), loaded.weight) == _by_key(_edge_keys(net), net.weight)
    _assert_same_state(loaded, net)


def test_save_a_network_whose_input_node_has_a_module_activation(tmp_path):
    """An input ignores its ``activation`` attribute; saving must not trip over it (found by the test above)."""
    g = nx.DiGraph([("x", "h"), ("h", "y")])
    g.nodes["x"]["activation"] = Scaled()  # an importable nn.Module class, unused on an input
    net = DAGNetwork(g, seed=0, dtype=torch.float64)
    dagnet.save(net, tmp_path / "net.pt")
    loaded = dagnet.load(tmp_path / "net.pt", custom_objects=[Scaled])
    x = _input(net, 0)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))


# ---------------------------------------------------------------- resizing parameters
def test_remap_rows_takes_old_rows_and_fills_new_ones():
    t = torch.arange(6.0).reshape(3, 2)
    fill = torch.tensor([[7.0, 8.0], [9.0, 10.0]])
    assert remap_rows(t, torch.tensor([2, -1, 0, -1]), fill).tolist() == [[4, 5], [7, 8], [0, 1], [9, 10]]
    assert remap_rows(t, torch.tensor([-1, 1]), 3.0).tolist() == [[3, 3], [2, 3]]
    assert remap_rows(t, torch.zeros(0, dtype=torch.int64)).shape == (0, 2)
    assert remap_rows(torch.tensor([1.0, 2.0]), torch.tensor([1, 1, -1])).tolist() == [2.0, 2.0, 0.0]


@pytest.mark.parametrize(
    "make_opt, names",
    [
        (lambda p: torch.optim.Adam(p, lr=0.1), ("exp_avg", "exp_avg_sq")),
        (lambda p: torch.optim.Adam(p, lr=0.1, amsgrad=True), ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")),
        (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), ("momentum_buffer",)),
    ],
)
def test_remap_parameter_keeps_the_object_and_carries_grad_and_state(make_opt, names):
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))
    other = torch.nn.Parameter(torch.tensor([0.5, 0.5, 0.5]))  # same shape, another parameter: untouched
    opt = make_opt([p, other])
    ((p * torch.tensor([1.0, -2.0, 3.0])).sum() + other.sum()).backward()
    opt.step()
    values, grad = p.detach().clone(), p.grad.clone()
    state = {k: opt.state[p][k].clone() for k in names}
    other_state = {k: opt.state[other][k].clone() for k in names}
    step = opt.state[p].get("step")
    live = (p * 2).sum()  # a live autograd graph that still holds the old gradient accumulator
    index = torch.tensor([2, -1, 0, 1])
    remap_parameter_(p, index, fill=torch.tensor([5.0]), optimizer=opt)
    assert p.tolist() == [values[2].item(), 5.0, values[0].item(), values[1].item()]
    assert p.grad.tolist() == [grad[2].item(), 0.0, grad[0].item(), grad[1].item()]
    for k in names:
        assert opt.state[p][k].tolist() == [state[k][2].item(), 0.0, state[k][0].item(), state[k][1].item()], k
        assert torch.equal(opt.state[other][k], other_state[k]), k
    if step is not None:
        assert float(opt.state[p]["step"]) == float(step)
    assert opt.param_groups[0]["params"][0] is p
    del live
    opt.zero_grad()
    (p * torch.arange(4.0)).sum().backward()
    assert p.grad.tolist() == [0.0, 1.0, 2.0, 3.0]
    opt.step()
    assert p.shape == (4,) and all(opt.state[p][k].shape == (4,) for k in names)


# ---------------------------------------------------------------- views
@SETTINGS
@given(case=dag_cases())
def test_edge_endpoints_and_positions_are_aligned_with_the_weights(case):
    net = build_case(case, torch.float64, None)
    g = net.to_graph()
    keys = _edge_keys(net)
    assert set(keys) == set(g.edges) and len(keys) == g.number_of_edges()
    for e, w in zip(keys, net.weight.tolist()):
        assert g.edges[e]["weight"] == w
    src_pos, dst_pos = net.edge_positions()
    node_index = net.node_index.numpy()
    src, dst = net.edge_endpoints()
    assert np.array_equal(node_index[src_pos], src)
    n = net.num_nodes
    owner = np.concatenate([np.arange(n), net._unit_owner])
    assert np.array_equal(owner[node_index[dst_pos]], dst)
    assert np.all(src_pos < dst_pos)  # positions follow a topological order


@SETTINGS
@given(case=dag_cases())
def test_growth_space_allows_exactly_the_safe_new_edges(case):
    net = build_case(case, torch.float64, None)
    limit, source_ok = net.growth_space()
    node_index = net.node_index.numpy()
    n = net.num_nodes
    g = net.to_graph()
    multi = {v for v, d in g.nodes(data=True) if "combine" in d}
    for v in range(limit.size):
        label = net.node_labels[node_index[v]] if node_index[v] < n else None
        if label is None or label in net.inputs or label in multi:
            assert limit[v] == 0, label
        else:
            assert limit[v] == v  # every earlier position: the order is topological
    assert np.array_equal(source_ok, node_index < n)  # branch units are never sources
    evolvable = net.evolvable_edges()
    for (_u, v), ok in zip(_edge_keys(net), evolvable):
        assert ok == (v not in multi)


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_retained_activity_gives_the_weight_and_bias_gradients(backend):
    net = _chain_net(backend=backend, activation="tanh")
    x = _input(net, 5, batch=6)
    net(x).square().sum().backward()
    assert net.last_activity() is None  # off by default
    net.retain_activity = True
    net.zero_grad()
    out = net(x)
    out.square().sum().backward()
    H, G = net.last_activity()
    positions = net.node_index.numel()
    assert H.shape == G.shape == (positions, 6)
    assert torch.equal(H[: net.in_features], x.T)
    assert torch.allclose(H[net.output_pos].T, out.detach(), rtol=0, atol=0)
    src, dst = net.edge_positions()
    expected = (G[torch.from_numpy(dst)] * H[torch.from_numpy(src)]).sum(1)
    torch.testing.assert_close(net.weight.grad, expected, rtol=1e-12, atol=1e-12)
    own = net.node_index[net.in_features :] == _node(net, "m")  # a multi-branch node's own bias is unused
    torch.testing.assert_close(net.bias.grad[~own], G[net.in_features :].sum(1)[~own], rtol=1e-12, atol=1e-12)
    assert net.bias.grad[own].item() == 0.0
    net.rewire_(remove=[_edge_keys(net).index(("h2", "y"))])
    assert net.last_activity() is None  # a change of wiring clears it
    net(x).sum().backward()
    assert net.last_activity()[0].shape == (positions, 6)
    net.retain_activity = False
    net(x).sum().backward()
    assert net.last_activity() is None


# ---------------------------------------------------------------- errors
def test_cycle_error_names_the_cycle_and_changes_nothing():
    net = _chain_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    _train_step(net, opt, _input(net, 0))
    snap = _snapshot(net, opt)
    with pytest.raises(CycleError, match="h1") as info:
        net.rewire_(
            remove=[_edge_keys(net).index(("x1", "h2"))],
            add_source=[_node(net, "h2")],
            add_target=[_node(net, "h1")],
            optimizer=opt,
        )
    assert set(info.value.cycle or []) >= {"h1", "h2"}
    _assert_unchanged(net, snap, opt)


@pytest.mark.parametrize(
    "what, kwargs, match",
    [
        ("edge into an input", lambda n: {"add_source": [n("h1")], "add_target": [n("x1")]}, "x1"),
        ("self-loop", lambda n: {"add_source": [n("h2")], "add_target": [n("h2")]}, "h2"),
        ("existing edge", lambda n: {"add_source": [n("x1")], "add_target": [n("h1")]}, "x1"),
        (
            "the same new edge twice",
            lambda n: {"add_source": [n("x2"), n("x2")], "add_target": [n("h2"), n("h2")]},
            "x2",
        ),
        ("unknown source", lambda n: {"add_source": [99], "add_target": [n("y")]}, "99"),
        ("negative target", lambda n: {"add_source": [n("x1")], "add_target": [-1]}, "-1"),
        ("lengths differ", lambda n: {"add_source": [n("x1"), n("x2")], "add_target": [n("y")]}, "differ"),
        (
            "too few weights",
            lambda n: {"add_source": [n("x2")], "add_target": [n("h2")], "add_weight": [1.0, 2.0]},
            "add_weight",
        ),
        ("remove index too large", lambda n: {"remove": [8]}, "out of range"),
        ("remove index too small", lambda n: {"remove": [-9]}, "out of range"),
        ("mask of the wrong length", lambda n: {"remove": np.ones(3, dtype=bool)}, "one entry per edge"),
        ("edge into a multi-branch node", lambda n: {"add_source": [n("h1")], "add_target": [n("m")]}, "multi-branch"),
    ],
)
def test_invalid_rewirings_raise_value_error_and_change_nothing(what, kwargs, match):
    net = _chain_net()
    opt = torch.optim.Adam(net.parameters())
    _train_step(net, opt, _input(net, 0))
    snap = _snapshot(net, opt)
    with pytest.raises(ValueError, match=match):
        net.rewire_(**kwargs(lambda label: _node(net, label)), optimizer=opt)
    _assert_unchanged(net, snap, opt)


def test_removing_an_edge_of_a_multi_branch_node_raises():
    net = _chain_net()
    keys = _edge_keys(net)
    k = keys.index(("x2", "m"))
    assert not net.evolvable_edges()[k] and net.evolvable_edges().sum() == net.num_edges - 2
    snap = _snapshot(net)
    for remove in ([k], np.arange(net.num_edges) == k):
        with pytest.raises(ValueError, match="multi-branch"):
            net.rewire_(remove=remove)
        _assert_unchanged(net, snap)


def test_remove_accepts_masks_negative_indices_and_tensors():
    keys = _edge_keys(_chain_net())
    for remove in (
        [-1 - keys[::-1].index(("h2", "y"))],
        torch.tensor([keys.index(("h2", "y"))]),
        np.array([e == ("h2", "y") for e in keys]),
    ):
        net = _chain_net()
        assert net.rewire_(remove=remove) == {"removed": 1, "added": 0}
        assert set(_edge_keys(net)) == set(keys) - {("h2", "y")}


def test_a_removed_edge_may_come_back_in_the_same_call_with_fresh_state():
    net = _chain_net()
    opt = torch.optim.Adam(net.parameters())
    _train_step(net, opt, _input(net, 0))
    k = _edge_keys(net).index(("h1", "h2"))
    net.rewire_(
        remove=[k], add_source=[_node(net, "h1")], add_target=[_node(net, "h2")], add_weight=[0.5], optimizer=opt
    )
    k = _edge_keys(net).index(("h1", "h2"))
    assert net.weight[k].item() == 0.5
    assert opt.state[net.weight]["exp_avg"][k].item() == 0.0


def test_save_and_load_after_rewiring_a_multi_branch_network(tmp_path):
    net = _chain_net(activation="tanh", layering="alap")
    keys = _edge_keys(net)
    net.rewire_(
        remove=[keys.index(("x1", "h2")), keys.index(("h1", "h2"))],
        add_source=[_node(net, "y"), _node(net, "m"), _node(net, "x2")],
        add_target=[_node(net, "y2"), _node(net, "h2"), _node(net, "y")],
        add_weight=[0.5, -1.0, 2.0],
    )
    dagnet.save(net, tmp_path / "net.pt")
    loaded = dagnet.load(tmp_path / "net.pt", custom_objects=[Scaled])
    x = _input(net, 2)
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    assert loaded.levels() == net.levels()
    assert _by_key(_edge_keys(loaded), loaded.weight) == _by_key(_edge_keys(net), net.weight)
    assert _by_key(_bias_keys(loaded), loaded.bias) == _by_key(_bias_keys(net), net.bias)
    _assert_same_state(loaded, net)


def test_every_edge_can_be_replaced():
    net = DAGNetwork(nx.DiGraph([("a", "c"), ("b", "c")]), seed=0, dtype=torch.float64)
    b, c = _node(net, "b"), _node(net, "c")
    assert net.rewire_(remove=[0, 1], add_source=[b], add_target=[c], add_weight=[2.0]) == {"removed": 2, "added": 1}
    assert _by_key(_edge_keys(net), net.weight) == {("b", "c"): 2.0}
    x = torch.tensor([[1.0, 3.0]], dtype=torch.float64)
    assert net(x).item() == 6.0 + net.bias.item()


def test_rewiring_can_deepen_the_network():
    net = _chain_net()
    layers = net.num_layers
    net.rewire_(add_source=[_node(net, "y")], add_target=[_node(net, "y2")])
    assert net.num_layers == layers + 1
    levels = net.levels()
    assert levels["y2"] == levels["y"] + 1
