"""SET and RigL: removals, regrowth, dense gradients, optimizer state, and fit with resume."""

from __future__ import annotations

import copy
import json
import math
import warnings

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dagnet import DAGNetwork, DeadNodeWarning, SparseLinear
from dagnet.data import Dataset
from dagnet.evolve import SET, RigL, set_removal, sparse_modules, top_gradient_pairs
from dagnet.evolve._base import edge_keys, random_absent_pairs
from dagnet.nn import sparse_mlp
from dagnet.topology import random_io_dag
from dagnet.train import every_steps, fit
from reference import assert_state_shapes, net_values, reference_forward
from strategies import build_case, dag_cases

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- helpers
def _edges(net) -> dict:
    """{(source label, target label): weight} of a sparse module."""
    labels = net.node_labels
    src, dst = net.edge_endpoints()
    return {(labels[u], labels[v]): w for u, v, w in zip(src.tolist(), dst.tolist(), net.weight.tolist())}


def _edge_list(net) -> list:
    labels = net.node_labels
    src, dst = net.edge_endpoints()
    return [(labels[u], labels[v]) for u, v in zip(src.tolist(), dst.tolist())]


def _allowed(net) -> set:
    """The (source label, target label) pairs that ``growth_space`` allows."""
    limit, source_ok = net.growth_space()
    node_index = net.node_index.numpy()
    labels = net.node_labels
    return {
        (labels[node_index[u]], labels[node_index[v]])
        for v in range(limit.size)
        for u in range(int(limit[v]))
        if source_ok[u]
    }


@st.composite
def growth_spaces(draw, any_existing=True):
    """A random ``(limit, source_ok, existing)`` with ``limit[v] <= v``, as for a topological order.

    ``existing`` also holds pairs that are not allowed: with ``any_existing``
    any ``u < v``, else only edges into targets with ``limit[v] = 0`` (as the
    edges into inputs and multi-branch nodes of a DAGNetwork) besides ``u < limit[v]``.
    """
    m = draw(st.integers(1, 10))
    limit = np.array([draw(st.integers(0, v)) for v in range(m)], dtype=np.int64)
    source_ok = np.array(draw(st.lists(st.booleans(), min_size=m, max_size=m)), dtype=bool)
    every = [(u, v) for v in range(m) for u in range(v) if any_existing or limit[v] == 0 or u < limit[v]]
    present = draw(st.lists(st.booleans(), min_size=len(every), max_size=len(every)))
    existing = np.sort(np.array([u * m + v for (u, v), p in zip(every, present) if p], dtype=np.int64))
    return limit, source_ok, existing


def _free(limit, source_ok, existing) -> list[tuple[int, int]]:
    m = limit.size
    present = set(existing.tolist())
    return [(u, v) for v in range(m) for u in range(int(limit[v])) if source_ok[u] and u * m + v not in present]


def _toy_data(n_features=8, classes=3, seed=0) -> Dataset:
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(96, n_features, generator=gen)
    y = (X[:, :classes] + 0.3 * torch.randn(96, classes, generator=gen)).argmax(1)
    return Dataset(X[:64], y[:64], X[64:], y[64:], "toy", classes)


def _train(model, opt, x, y):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()


# ---------------------------------------------------------------- set_removal
values = st.one_of(st.sampled_from([-2.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0]), st.floats(-3, 3, allow_nan=False))


def _brute_set_removal(w, zeta, cand):
    remove = [bool(c and x == 0) for x, c in zip(w, cand)]
    pos = [i for i, (x, c) in enumerate(zip(w, cand)) if c and x > 0]
    neg = [i for i, (x, c) in enumerate(zip(w, cand)) if c and x < 0]
    for i in sorted(pos, key=lambda i: (w[i], i))[: math.floor(zeta * len(pos))]:
        remove[i] = True
    for i in sorted(neg, key=lambda i: (-w[i], i))[: math.floor(zeta * len(neg))]:
        remove[i] = True
    return remove


@SETTINGS
@given(
    data=st.data(), w=st.lists(values, max_size=40), zeta=st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0, 1))
)
def test_set_removal_matches_brute_force(data, w, zeta):
    cand = data.draw(st.lists(st.booleans(), min_size=len(w), max_size=len(w)))
    got = set_removal(np.array(w, dtype=np.float64), zeta, np.array(cand, dtype=bool))
    assert got.dtype == bool and got.tolist() == _brute_set_removal(w, zeta, cand)
    assert set_removal(np.array(w, dtype=np.float64), zeta).tolist() == _brute_set_removal(w, zeta, [True] * len(w))


# ---------------------------------------------------------------- random_absent_pairs
@SETTINGS
@given(space=growth_spaces(), extra=st.integers(-2, 3), seed=st.integers(0, 2**32 - 1))
def test_random_absent_pairs_are_distinct_allowed_and_absent(space, extra, seed):
    limit, source_ok, existing = space
    free = _free(limit, source_ok, existing)
    count = max(0, len(free) // 2 + extra) if extra < 3 else len(free) + 5
    u, v = random_absent_pairs(limit, source_ok, existing, count, np.random.default_rng(seed))
    pairs = list(zip(u.tolist(), v.tolist()))
    assert len(pairs) == min(count, len(free))
    assert len(set(pairs)) == len(pairs)
    assert set(pairs) <= set(free)


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_random_absent_pairs_are_uniform_on_a_tiny_space(count):
    limit = np.array([0, 0, 2, 3, 4])
    source_ok = np.array([True, True, False, True, True])
    existing = np.sort(edge_keys(np.array([0, 3, 2]), np.array([2, 4, 3]), 5))  # (2, 3) is not allowed anyway
    free = _free(limit, source_ok, existing)
    assert len(free) == 5
    rng = np.random.default_rng(0)
    draws = 2000
    seen = {p: 0 for p in free}
    for _ in range(draws):
        u, v = random_absent_pairs(limit, source_ok, existing, count, rng)
        for p in zip(u.tolist(), v.tolist()):
            seen[p] += 1
    p = count / len(free)
    sigma = math.sqrt(draws * p * (1 - p)) or 1.0
    for pair, k in seen.items():
        assert abs(k - draws * p) <= 5 * sigma, (pair, k, draws * p)


# ---------------------------------------------------------------- SET
@pytest.mark.parametrize("init", ["he_uniform", "zeros"])
def test_set_keeps_edge_counts_of_a_sparse_mlp(init):
    mlp = sparse_mlp([30, 40, 20, 5], epsilon=4, seed=0, dtype=torch.float64)
    assert mlp[-1].density == 1.0 and mlp[0].density < 1
    opt = torch.optim.Adam(mlp.parameters(), lr=0.01)
    rule = SET(zeta=0.3, init=init, seed=1)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 30, generator=gen, dtype=torch.float64), torch.randint(0, 5, (16,), generator=gen)
    counts = {name: net.num_edges for name, net in sparse_modules(mlp)}
    for _ in range(4):
        _train(mlp, opt, x, y)
        before = {name: _edges(net) for name, net in sparse_modules(mlp)}
        predicted = {
            name: {e for e, r in zip(_edge_list(net), set_removal(net.weight.detach().numpy(), 0.3)) if r}
            for name, net in sparse_modules(mlp)
        }
        changes = rule.step(mlp, optimizer=opt)
        for name, net in sparse_modules(mlp):
            after = _edges(net)
            if net.density == 1.0:  # nothing absent: a dense layer is left alone
                assert changes[name] == {"removed": 0, "added": 0} and after == before[name]
                continue
            kept = set(before[name]) - predicted[name]
            added = set(after) - kept
            assert net.num_edges == counts[name] == len(after)
            assert changes[name] == {"removed": len(predicted[name]), "added": len(predicted[name])}
            assert kept <= set(after) and len(added) == len(predicted[name])
            assert all(after[e] == before[name][e] for e in kept)
            assert set(after) <= _allowed(net)  # input -> output only
            bound = math.sqrt(6 / net.in_features) if init == "he_uniform" else 0.0
            assert all(abs(after[e]) <= bound for e in added)
            for key in ("exp_avg", "exp_avg_sq"):
                state = dict(zip(_edge_list(net), opt.state[net.weight][key].tolist()))
                assert all(state[e] == 0.0 for e in added)
    assert rule.updates == 4


def test_set_leaves_a_dense_layer_alone():
    layer = SparseLinear(5, 4, density=1.0, seed=0)
    before = _edges(layer)
    assert SET(zeta=0.5, seed=0).step(layer) == {"SparseLinear": {"removed": 0, "added": 0}}
    assert _edges(layer) == before


def test_set_and_rigl_may_replace_every_edge():
    layer = SparseLinear(4, 3, density=0.5, seed=0, dtype=torch.float64)
    edges = layer.num_edges
    assert SET(zeta=1.0, seed=0).step(layer)["SparseLinear"] == {"removed": edges, "added": edges}
    assert layer.num_edges == edges
    rule = RigL(drop_fraction=1.0, update_every=1, seed=0)
    rule.attach(layer)
    layer(torch.ones(2, 4, dtype=torch.float64)).sum().backward()
    assert rule.step(layer)["SparseLinear"] == {"removed": edges, "added": edges}
    assert layer.num_edges == edges and torch.all(layer.weight == 0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=dag_cases(), zeta=st.sampled_from([0.3, 0.6, 1.0]), seed=st.integers(0, 2**32 - 1))
def test_set_on_random_dags_keeps_edge_count_and_acyclicity(case, zeta, seed):
    net = build_case(case, torch.float64, None)
    rule = SET(zeta=zeta, seed=seed)
    multi = {v for v, d in net.to_graph().nodes(data=True) if "combine" in d}
    for _ in range(2):
        before = _edges(net)
        fixed = {e: w for e, w in before.items() if e[1] in multi}
        removed = {
            e
            for e, r in zip(_edge_list(net), set_removal(net.weight.detach().numpy(), zeta, net.evolvable_edges()))
            if r
        }
        allowed = _allowed(net)
        changes = rule.step(net)
        after = _edges(net)
        assert len(after) == len(before) == net.num_edges
        assert changes["DAGNetwork"]["removed"] == changes["DAGNetwork"]["added"]
        kept = set(before) - removed if changes["DAGNetwork"]["removed"] else set(before)
        assert kept <= set(after) and all(after[e] == before[e] for e in kept)
        assert set(after) - kept <= allowed
        assert all(after[e] == w for e, w in fixed.items())  # edges of multi-branch nodes stay
        g = net.to_graph()
        assert nx.is_directed_acyclic_graph(g)
        assert all(g.nodes[u]["layer"] < g.nodes[v]["layer"] for u, v in g.edges)
    x = torch.randn(3, net.in_features, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    weight, bias = net_values(net)
    with torch.no_grad():
        ref = reference_forward(
            net.to_graph(), net.inputs, net.outputs, x, weight, bias, case["activation"], case["output_activation"]
        )
        torch.testing.assert_close(net(x), ref, rtol=1e-10, atol=1e-10)


# ---------------------------------------------------------------- top_gradient_pairs
def _brute_top(H, G, limit, source_ok, existing, count):
    m = limit.size
    scored = [(-abs(float((G[v] * H[u]).sum())), u * m + v) for u, v in _free(limit, source_ok, existing)]
    keys = sorted(k for _, k in sorted(scored)[: max(count, 0)])
    return [divmod(k, m) for k in keys]


@SETTINGS
@given(space=growth_spaces(any_existing=False), data=st.data(), chunk=st.sampled_from([1, 2, 3, 5, 8, 1 << 22]))
def test_top_gradient_pairs_equals_brute_force(space, data, chunk):
    limit, source_ok, existing = space
    m = limit.size
    batch = data.draw(st.integers(1, 3))
    ints = st.lists(st.integers(-3, 3), min_size=m * batch, max_size=m * batch)
    # Small integers: exact scores, so ties (broken by the lower key) are frequent and well defined.
    H = torch.tensor(data.draw(ints), dtype=torch.float64).reshape(m, batch)
    G = torch.tensor(data.draw(ints), dtype=torch.float64).reshape(m, batch)
    count = data.draw(st.integers(0, len(_free(limit, source_ok, existing)) + 2))
    u, v = top_gradient_pairs(H, G, limit, source_ok, existing, count, chunk=chunk)
    assert list(zip(u.tolist(), v.tolist())) == _brute_top(H, G, limit, source_ok, existing, count)


@pytest.mark.parametrize("chunk", [1, 1 << 22])
def test_top_gradient_pairs_ignore_existing_keys_outside_the_growth_space(chunk):
    """Like random_absent_pairs, existing keys that are not allowed pairs play no part."""
    limit = np.array([0, 0, 1, 2])
    source_ok = np.ones(4, dtype=bool)
    existing = np.sort(edge_keys(np.array([2, 0]), np.array([3, 2]), 4))  # 2 -> 3: 2 >= limit[3]
    H = torch.tensor([[1.0], [2.0], [3.0], [0.0]], dtype=torch.float64)
    G = torch.tensor([[0.0], [0.0], [1.0], [1.0]], dtype=torch.float64)
    u, v = top_gradient_pairs(H, G, limit, source_ok, existing, 2, chunk=chunk)
    assert list(zip(u.tolist(), v.tolist())) == [(0, 3), (1, 3)]
    assert random_absent_pairs(limit, source_ok, existing, 5, np.random.default_rng(0))[0].size == 2


def test_retained_activity_gives_the_dense_gradient_of_a_sparse_layer():
    layer = SparseLinear(9, 7, density=0.3, seed=0, dtype=torch.float64)
    layer.retain_activity = True
    dense = torch.nn.Linear(9, 7, dtype=torch.float64)
    with torch.no_grad():
        dense.weight.copy_(layer.to_dense())
        dense.bias.copy_(layer.bias)
    gen = torch.Generator().manual_seed(1)
    x, t = torch.randn(5, 9, generator=gen, dtype=torch.float64), torch.randn(5, 7, generator=gen, dtype=torch.float64)
    (layer(x) - t).square().sum().backward()
    (dense(x) - t).square().sum().backward()
    H, G = layer.last_activity()
    node_index = layer.node_index.numpy()
    pos = {int(node): p for p, node in enumerate(node_index)}
    for i in range(7):
        for j in range(9):
            score = (G[pos[9 + i]] * H[pos[j]]).sum()
            assert score.item() == pytest.approx(dense.weight.grad[i, j].item(), rel=1e-12, abs=1e-12)


def _dense_gradient(net, x, loss_fn) -> dict:
    """{(source label, target label): dL/dw} for every existing and every allowed absent edge.

    Formed by autograd on a copy of ``net`` with every allowed absent edge added at weight 0.
    """
    full = copy.deepcopy(net)
    full.retain_activity = False
    present = set(_edge_list(full))
    labels = full.node_labels
    new = [(labels.index(a), labels.index(b)) for a, b in sorted(_allowed(full) - present, key=repr)]
    full.rewire_(add_source=[a for a, _ in new], add_target=[b for _, b in new])
    full.zero_grad(set_to_none=True)
    loss_fn(full(x)).backward()
    return dict(zip(_edge_list(full), full.weight.grad.tolist()))


def _rigl_case(kind):
    if kind == "sparse_linear":
        return SparseLinear(12, 8, density=0.3, seed=0, dtype=torch.float64)
    wiring = random_io_dag(6, 14, 3, 0.2, 2, 4, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        return DAGNetwork(wiring, seed=0, dtype=torch.float64, activation="tanh")


@pytest.mark.parametrize("kind", ["sparse_linear", "dag"])
def test_rigl_drops_smallest_magnitudes_and_grows_largest_dense_gradients(kind):
    net = _rigl_case(kind)
    rule = RigL(drop_fraction=0.3, update_every=1, seed=0)
    rule.attach(net)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(6, net.in_features, dtype=torch.float64, generator=gen)
    target = torch.randn(6, net.out_features, dtype=torch.float64, generator=gen)

    def loss_fn(out):
        return (out - target).square().sum()

    for step in range(2):
        opt.zero_grad()
        loss_fn(net(x)).backward()
        if step == 1:  # RigL sees the gradient of the last backward pass, taken before the optimizer step
            grad = _dense_gradient(net, x, loss_fn)
        opt.step()

    before = _edges(net)
    edge_list = _edge_list(net)
    evolvable = [e for e, ok in zip(edge_list, net.evolvable_edges()) if ok]
    k = int(0.3 * len(evolvable))
    order = sorted(range(len(evolvable)), key=lambda i: (abs(before[evolvable[i]]), edge_list.index(evolvable[i])))
    dropped = {evolvable[i] for i in order[:k]}
    kept = set(before) - dropped
    candidates = sorted(_allowed(net) - kept, key=lambda e: -abs(grad[e]))
    grown = set(candidates[:k])
    assert abs(grad[candidates[k - 1]]) > abs(grad[candidates[k]]) + 1e-9  # no tie at the boundary

    changes = rule.step(net, optimizer=opt)
    after = _edges(net)
    assert changes[type(net).__name__] == {"removed": k, "added": k}
    assert set(after) == kept | grown
    assert all(after[e] == before[e] for e in kept)
    assert all(after[e] == 0.0 for e in grown)
    state = dict(zip(_edge_list(net), opt.state[net.weight]["momentum_buffer"].tolist()))
    assert all(state[e] == 0.0 for e in grown)
    assert nx.is_directed_acyclic_graph(net.to_graph())


def test_rigl_cosine_annealing_and_stop_step():
    rule = RigL(drop_fraction=0.4, stop_step=100, seed=0)
    assert rule.fraction(0) == pytest.approx(0.4)
    assert rule.fraction(25) == pytest.approx(0.2 * (1 + math.cos(math.pi / 4)))
    assert rule.fraction(50) == pytest.approx(0.2)
    assert rule.fraction(75) == pytest.approx(0.2 * (1 - math.cos(math.pi / 4)))
    assert rule.fraction(100) == 0.0 and rule.fraction(1000) == 0.0
    assert [RigL(0.4, anneal="constant", stop_step=10).fraction(t) for t in (0, 9, 10)] == [0.4, 0.4, 0.0]
    assert RigL(0.25).fraction(10**9) == 0.25  # no stop_step: no annealing


def test_rigl_step_uses_the_annealed_fraction_at_updates_times_update_every():
    layer = SparseLinear(20, 10, density=0.5, seed=0, dtype=torch.float64)
    rule = RigL(drop_fraction=0.5, update_every=10, stop_step=20, seed=0)
    rule.attach(layer)
    edges = layer.num_edges
    x = torch.randn(4, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    layer(x).square().sum().backward()
    first = rule.step(layer)  # t = 10: f = 0.25
    assert first["SparseLinear"]["removed"] == int(0.25 * edges) == first["SparseLinear"]["added"]
    layer(x).square().sum().backward()
    before = _edges(layer)
    assert rule.step(layer)["SparseLinear"] == {"removed": 0, "added": 0}  # t = 20 = stop_step
    assert _edges(layer) == before and rule.updates == 2


def test_rigl_needs_attach_and_a_backward_pass():
    mlp = sparse_mlp([6, 5, 2], epsilon=2, seed=0)
    rule = RigL(update_every=1, seed=0)
    mlp(torch.randn(3, 6)).sum().backward()
    with pytest.raises(RuntimeError, match="attach"):
        rule.step(mlp)
    rule = RigL(update_every=1, seed=0)
    rule.attach(mlp)
    with pytest.raises(RuntimeError, match="backward"):
        rule.step(mlp)
    mlp(torch.randn(3, 6)).sum().backward()
    changes = rule.step(mlp)
    assert set(changes) == {"0", "2"}


def test_rules_reject_a_model_without_sparse_modules():
    with pytest.raises(TypeError, match="holds no DAGNetwork or SparseLinear"):
        SET(seed=0).step(torch.nn.Linear(3, 2))
    with pytest.raises(TypeError, match="holds no DAGNetwork or SparseLinear"):
        RigL(seed=0).attach(torch.nn.Sequential(torch.nn.ReLU()))


# ---------------------------------------------------------------- optimizer state
OPTIMIZERS = {
    "adam": lambda p: torch.optim.Adam(p, lr=0.01),
    "adam_amsgrad": lambda p: torch.optim.Adam(p, lr=0.01, amsgrad=True),
    "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
}


@pytest.mark.parametrize("make_opt", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
@pytest.mark.parametrize("rule_name", ["set", "rigl"])
def test_optimizer_state_never_dangles(make_opt, rule_name):
    model = torch.nn.Sequential(
        sparse_mlp([10, 16, 12], epsilon=3, seed=0),
        torch.nn.ReLU(),
        DAGNetwork(random_io_dag(12, 10, 4, 0.2, 2, 3, seed=0), seed=0),
    )
    rule = SET(zeta=0.4, seed=0) if rule_name == "set" else RigL(drop_fraction=0.4, update_every=1, seed=0)
    if rule_name == "rigl":
        rule.attach(model)
    opt = make_opt(model.parameters())
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 10, generator=gen), torch.randint(0, 4, (20,), generator=gen)
    for _ in range(3):
        _train(model, opt, x, y)
        changes = rule.step(model, optimizer=opt)
        assert sum(c["removed"] for c in changes.values()) > 0
        assert_state_shapes(opt)
        _train(model, opt, x, y)  # the optimizer steps with the remapped state
    assert all(torch.isfinite(p).all() for p in model.parameters())


# ---------------------------------------------------------------- fit with rules, resumed
def _adam(params):
    return torch.optim.Adam(params, lr=0.02)


def _same_run(a, b) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def _strip(rows):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


@pytest.mark.parametrize("kind", ["set", "rigl"])
def test_fit_with_rules_resumes_bit_for_bit(kind, tmp_path):
    data = _toy_data()

    def model(seed):
        return sparse_mlp([8, 16, 3], density=0.4, seed=seed)

    def rule(seed):
        return SET(zeta=0.3, seed=seed) if kind == "set" else RigL(drop_fraction=0.3, update_every=3, seed=seed)

    kwargs = {"optimizer": _adam, "batch_size": 16, "seed": 3, "progress": False}
    full = model(0)
    start = copy.deepcopy(full)
    result_full = fit(full, data, epochs=4, rules=[rule(1)], out_dir=tmp_path / "full", **kwargs)

    fit(model(0), data, epochs=2, rules=[rule(1)], out_dir=tmp_path / "split", **kwargs)
    resumed = model(7)  # another wiring and other values: everything must come from the checkpoint
    result = fit(resumed, data, epochs=4, rules=[rule(99)], out_dir=tmp_path / "split", resume=True, **kwargs)

    _same_run(resumed, full)
    assert _strip(result.metrics) == _strip(result_full.metrics)
    saved = json.loads((tmp_path / "full" / "metrics.json").read_text())
    assert _strip(saved) == _strip(result.metrics)
    name = type(rule(0)).__name__
    for (_, a), (_, b) in zip(sparse_modules(start), sparse_modules(full)):
        assert set(_edge_list(a)) != set(_edge_list(b))  # the rule did rewire
    if kind == "set":  # after epochs 1 to 3, not after the last
        assert [row.get("rules") for row in result.metrics] == [[name]] * 3 + [None]
    else:  # 4 batches per epoch, every 3 steps: steps 3 | 6 | 9, 12 | 15
        assert [row.get("rules") for row in result.metrics] == [[name]] * 4
    for row in result.metrics:
        if row.get("rules"):
            assert row[f"{name}.0.removed"] == row[f"{name}.0.added"] > 0
    for a, b in zip(sparse_modules(resumed), sparse_modules(model(0))):
        assert a[1].num_edges == b[1].num_edges  # the counts are kept by both rules


def test_fit_with_rigl_on_an_explicit_step_schedule(tmp_path):
    data = _toy_data()
    calls = []

    class Counting(RigL):
        def step(self, model, optimizer=None):
            calls.append(optimizer is not None)
            return super().step(model, optimizer)

    net = DAGNetwork(random_io_dag(8, 12, 3, 0.2, 2, 3, seed=0), seed=0)
    rule = Counting(drop_fraction=0.2, update_every=100, seed=0)
    result = fit(net, data, epochs=2, batch_size=16, rules=[(rule, every_steps(2))], seed=0, progress=False)
    assert calls == [True] * 4  # 8 steps, every 2nd
    assert net.retain_activity  # fit attached the rule
    assert sum(row["Counting.DAGNetwork.removed"] for row in result.metrics) > 0
