"""Magnitude pruning, iterative magnitude pruning with rewinding, and neuron-importance pruning."""

from __future__ import annotations

import copy
import functools
import io

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dagnet import DAGNetwork
from dagnet.data import Dataset
from dagnet.evolve._base import sparse_modules
from dagnet.evolve.neuron_pruning import NeuronPruning, neuron_importance
from dagnet.evolve.pruning import IterativeMagnitudePruning, MagnitudePruning, magnitude_removal
from dagnet.nn import SparseLinear, sparse_mlp
from dagnet.topology import erdos_renyi_dag
from dagnet.train import every_epochs, fit
from reference import assert_state_shapes

SETTINGS = settings(max_examples=20, deadline=None)


def _dag_net(n: int, p: float, seed: int) -> DAGNetwork:
    g = erdos_renyi_dag(n, p, seed=seed)
    assume(g.number_of_edges() > 0)
    return DAGNetwork(g, seed=seed)


def _edges(net) -> dict:
    """{(source label, target label): weight} of a network."""
    src, dst = net.edge_endpoints()
    labels = net.node_labels
    return {(labels[u], labels[v]): w for u, v, w in zip(src, dst, net.weight.detach().tolist())}


def _biases(net) -> dict:
    """{node label: bias} of a network without multi-branch nodes."""
    labels = net.node_labels
    ids = net.node_index[net.in_features :].tolist()
    return {labels[i]: b for i, b in zip(ids, net.bias.detach().tolist())}


def _smallest(values: np.ndarray, k: int) -> set:
    """Brute force: the k positions of the smallest |value|, ties to the lower position."""
    ranked = sorted(range(values.size), key=lambda i: (abs(float(values[i])), i))
    return set(ranked[:k])


def _train(model, optimizer, steps: int, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    n_in = sparse_modules(model)[0][1].in_features
    for _ in range(steps):
        x = torch.randn(8, n_in, generator=gen)
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()


# ---------------------------------------------------------------- magnitude_removal
@given(
    st.lists(st.floats(-3, 3, allow_nan=False, width=32), min_size=0, max_size=40),
    st.floats(0, 1),
    st.integers(0, 2**31),
)
@SETTINGS
def test_magnitude_removal_matches_brute_force(values, amount, seed):
    w = np.asarray(values, dtype=np.float32)
    cand = np.random.default_rng(seed).random(w.size) < 0.7
    remove = magnitude_removal(w, amount, cand)
    idx = np.flatnonzero(cand)
    expected = {int(idx[i]) for i in _smallest(w[idx], int(amount * idx.size))}
    assert set(np.flatnonzero(remove).tolist()) == expected


# ---------------------------------------------------------------- MagnitudePruning
@given(st.integers(4, 24), st.floats(0.15, 0.6), st.integers(0, 10**6), st.floats(0, 1))
@SETTINGS
def test_layer_pruning_on_a_dag_removes_the_smallest(n, p, seed, amount):
    net = _dag_net(n, p, seed)
    before = _edges(net)
    keys = list(before)
    gone = {keys[i] for i in _smallest(np.array(list(before.values())), int(amount * len(keys)))}
    changes = MagnitudePruning(amount=amount).step(net)
    after = _edges(net)
    assert changes[type(net).__name__] == {"removed": len(gone), "added": 0}
    assert set(after) == set(before) - gone
    assert all(after[e] == before[e] for e in after)  # survivors untouched


def test_global_pruning_ranks_across_layers():
    mlp = sparse_mlp([30, 40, 20, 5], epsilon=4, seed=3)
    with torch.no_grad():
        mlp[2].weight.mul_(0.1)  # the middle layer holds most of the small weights
    layers = [m for _, m in sparse_modules(mlp)]
    flat = np.concatenate([m.weight.detach().numpy() for m in layers])
    k = int(0.3 * flat.size)
    gone = _smallest(flat, k)
    offsets = np.cumsum([0] + [m.num_edges for m in layers])
    expected = [sum(offsets[j] <= i < offsets[j + 1] for i in gone) for j in range(len(layers))]
    before = [m.num_edges for m in layers]
    changes = MagnitudePruning(amount=0.3, scope="global").step(mlp)
    assert [changes[name]["removed"] for name in ("0", "2", "4")] == expected
    assert sum(expected) == k and expected[1] > expected[0]
    assert [m.num_edges for m in layers] == [b - e for b, e in zip(before, expected)]


def test_repeated_steps_remove_the_amount_of_the_survivors():
    mlp = sparse_mlp([20, 30, 4], epsilon=5, seed=0)
    rule = MagnitudePruning(amount=0.25)
    for _ in range(4):
        edges = [m.num_edges for _, m in sparse_modules(mlp)]
        changes = rule.step(mlp)
        assert [c["removed"] for c in changes.values()] == [e // 4 for e in edges]
    assert rule.updates == 4


def _models():
    yield "mlp", sparse_mlp([12, 20, 16, 3], epsilon=4, seed=1)
    yield "dag", DAGNetwork(erdos_renyi_dag(30, 0.25, seed=2), seed=2)


def _optimizers():
    yield "adam", functools.partial(torch.optim.Adam, lr=1e-2)
    yield "sgd", functools.partial(torch.optim.SGD, lr=1e-2, momentum=0.9)


def _rules():
    yield MagnitudePruning(amount=0.2)
    yield MagnitudePruning(amount=0.2, scope="global")
    yield IterativeMagnitudePruning(amount=0.2)
    yield IterativeMagnitudePruning(amount=0.2, scope="global", rewind="none")
    yield NeuronPruning(percentile=25)


@pytest.mark.parametrize("rule_index", range(5))
@pytest.mark.parametrize("model_name", ["mlp", "dag"])
@pytest.mark.parametrize("opt_name", ["adam", "sgd"])
def test_optimizer_state_follows_every_rule(rule_index, model_name, opt_name):
    model = dict(_models())[model_name]
    make = dict(_optimizers())[opt_name]
    rule = list(_rules())[rule_index]
    if hasattr(rule, "attach"):
        rule.attach(model)
    opt = make(model.parameters())
    _train(model, opt, 2)
    for round_ in range(3):
        edges = sum(m.num_edges for _, m in sparse_modules(model))
        changes = rule.step(model, optimizer=opt)
        assert sum(c["removed"] for c in changes.values()) == edges - sum(m.num_edges for _, m in sparse_modules(model))
        assert_state_shapes(opt)
        _train(model, opt, 2, seed=round_ + 1)
        assert_state_shapes(opt)


def test_magnitude_pruning_validates_its_arguments():
    with pytest.raises(ValueError, match=r"The 'amount' parameter of MagnitudePruning must be a float in \[0, 1\]"):
        MagnitudePruning(amount=1.5)
    with pytest.raises(ValueError, match="The 'scope' parameter of MagnitudePruning must be one of"):
        MagnitudePruning(scope="model")
    assert repr(MagnitudePruning(0.5)) == "MagnitudePruning(amount=0.5, scope='layer')"


# ---------------------------------------------------------------- IterativeMagnitudePruning
@given(st.integers(5, 24), st.floats(0.2, 0.6), st.integers(0, 10**6))
@SETTINGS
def test_imp_rewinds_survivors_and_biases_exactly(n, p, seed):
    net = _dag_net(n, p, seed)
    rule = IterativeMagnitudePruning(amount=0.3)
    rule.attach(net)
    w0, b0 = _edges(net), _biases(net)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(2):
        with torch.no_grad():  # stands for training
            net.weight.add_(torch.randn(net.num_edges, generator=gen))
            net.bias.add_(torch.randn(net.bias.numel(), generator=gen))
        before = _edges(net)
        keys = list(before)
        gone = {keys[i] for i in _smallest(np.array(list(before.values())), int(0.3 * len(keys)))}
        changes = rule.step(net)
        after = _edges(net)
        assert set(after) == set(before) - gone  # pruned by the trained magnitudes
        assert after == {e: w0[e] for e in after}  # rewound bit for bit
        assert _biases(net) == b0
        assert changes["DAGNetwork"]["rewound"] == len(after)


def test_imp_resets_the_optimizer_state_to_a_fresh_one():
    mlp = sparse_mlp([12, 20, 3], epsilon=4, seed=0)
    rule = IterativeMagnitudePruning(amount=0.3)
    rule.attach(mlp)
    opt = torch.optim.Adam(mlp.parameters(), lr=1e-2)
    _train(mlp, opt, 3)
    rule.step(mlp, optimizer=opt)
    assert all(len(opt.state.get(p, {})) == 0 for p in mlp.parameters())
    twin = copy.deepcopy(mlp)
    fresh = torch.optim.Adam(twin.parameters(), lr=1e-2)
    _train(mlp, opt, 3, seed=5)
    _train(twin, fresh, 3, seed=5)
    assert int(opt.state[mlp[0].weight]["step"]) == 3
    for a, b in zip(mlp.parameters(), twin.parameters()):
        assert torch.equal(a, b)


def test_imp_without_rewinding_only_prunes():
    mlp = sparse_mlp([12, 20, 3], epsilon=4, seed=0)
    rule = IterativeMagnitudePruning(amount=0.5, rewind="none")
    with torch.no_grad():
        mlp[0].weight.mul_(2)
    kept = _edges(mlp[0])
    changes = rule.step(mlp)  # no attach needed
    assert changes["0"]["rewound"] == 0
    assert all(kept[e] == w for e, w in _edges(mlp[0]).items())


def test_imp_needs_attach_before_step():
    mlp = sparse_mlp([6, 5, 2], epsilon=2, seed=0)
    with pytest.raises(RuntimeError, match=r"call rule.attach\(model\) before training"):
        IterativeMagnitudePruning().step(mlp)


def test_imp_state_survives_a_checkpoint():
    mlp = sparse_mlp([12, 20, 3], epsilon=4, seed=0)
    twin = copy.deepcopy(mlp)
    rule = IterativeMagnitudePruning(amount=0.3)
    rule.attach(mlp)
    buf = io.BytesIO()
    torch.save(rule.state_dict(), buf)
    buf.seek(0)
    restored = IterativeMagnitudePruning(amount=0.3)
    restored.attach(sparse_mlp([12, 20, 3], epsilon=4, seed=9))  # other values: replaced below
    restored.load_state_dict(torch.load(buf, weights_only=True))
    for model in (mlp, twin):
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(-3)
    rule.step(mlp)
    restored.step(twin)
    for a, b in zip(mlp.parameters(), twin.parameters()):
        assert torch.equal(a, b)


def test_fit_with_imp_resumes_bit_for_bit(tmp_path):
    gen = torch.Generator().manual_seed(0)
    X, y = torch.randn(64, 10, generator=gen), torch.randint(0, 3, (64,), generator=gen)
    data = Dataset(X, y, X[:16], y[:16], "noise", 3)
    adam = functools.partial(torch.optim.Adam, lr=0.05)

    def run(epochs, out, resume=False, seed=0):
        mlp = sparse_mlp([10, 16, 3], epsilon=4, seed=seed)
        fit(
            mlp,
            data,
            optimizer=adam,
            epochs=epochs,
            batch_size=16,
            seed=1,
            out_dir=out,
            resume=resume,
            rules=[IterativeMagnitudePruning(amount=0.3)],
            progress=False,
        )
        return mlp

    full = run(4, None)
    run(2, tmp_path)
    resumed = run(4, tmp_path, resume=True, seed=9)  # other initial values: the record comes from the checkpoint
    assert full[0].num_edges == resumed[0].num_edges
    for a, b in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_attach_keeps_an_existing_record():
    mlp = sparse_mlp([6, 5, 2], epsilon=2, seed=0)
    rule = IterativeMagnitudePruning()
    rule.attach(mlp)
    first = rule.initial["0"]["weight"].clone()
    with torch.no_grad():
        mlp[0].weight.add_(1)
    rule.attach(mlp)
    assert torch.equal(rule.initial["0"]["weight"], first)
    rule.record(mlp)  # late rewinding: a new rewind point
    assert torch.equal(rule.initial["0"]["weight"], first + 1)


def test_imp_validates_rewind():
    with pytest.raises(ValueError, match="The 'rewind' parameter of IterativeMagnitudePruning must be one of"):
        IterativeMagnitudePruning(rewind="late")


# ---------------------------------------------------------------- NeuronPruning
def _unit_importance(layer: SparseLinear) -> tuple[np.ndarray, np.ndarray]:
    rows, _ = layer.connections()
    w = np.abs(layer.weight.detach().double().numpy())
    return (np.bincount(rows, weights=w, minlength=layer.out_features), np.bincount(rows, minlength=layer.out_features))


@pytest.mark.parametrize("percentile", [0, 20, 50, 100])
def test_neuron_pruning_of_a_stack_removes_the_units_at_or_below_the_percentile(percentile):
    mlp = sparse_mlp([30, 40, 25, 4], epsilon=4, seed=1)
    layers = [mlp[0], mlp[2], mlp[4]]
    expected, before = [], []
    for layer in layers[:2]:
        importance, degree = _unit_importance(layer)
        alive = np.flatnonzero(degree > 0)
        cut = np.percentile(importance[alive], percentile)
        expected.append(set(alive[importance[alive] <= cut].tolist()))
        before.append(_edges(layer))
    last = _edges(layers[2])
    changes = NeuronPruning(percentile=percentile).step(mlp)
    for layer, units, edges, name in zip(layers, expected, before, ("0", "2")):
        _, degree = _unit_importance(layer)
        assert set(np.flatnonzero(degree == 0).tolist()) >= units
        assert changes[name]["neurons"] == len(units)
        kept = {e: w for e, w in edges.items() if e[1] - layer.in_features not in units}
        assert _edges(layer) == kept
    assert _edges(layers[2]) == last and changes["4"] == {"removed": 0, "added": 0, "neurons": 0}


def test_neurons_without_inputs_do_not_count():
    layer = SparseLinear(3, 4, density=1.0, seed=0)
    rows, _ = layer.connections()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0])[torch.from_numpy(rows)] / 3)
    model = torch.nn.Sequential(layer, torch.nn.ReLU(), SparseLinear(4, 2, density=1.0, seed=1))
    rule = NeuronPruning(percentile=25)
    assert rule.step(model)["0"]["neurons"] == 1  # importances 1, 2, 3, 4: cut 1.75
    assert _unit_importance(layer)[1].tolist() == [0, 3, 3, 3]
    # Counting the pruned unit as 0 would give a cut of 1.5 and prune nothing.
    assert rule.step(model)["0"]["neurons"] == 1  # 2, 3, 4: cut 2.5
    assert _unit_importance(layer)[1].tolist() == [0, 0, 3, 3]


def test_skip_last_false_prunes_the_output_layer():
    mlp = sparse_mlp([10, 12, 6], density=1.0, seed=0)
    changes = NeuronPruning(percentile=50, skip_last=False).step(mlp)
    assert changes["2"]["neurons"] == 3


@given(st.integers(5, 24), st.floats(0.15, 0.6), st.integers(0, 10**6), st.sampled_from([0, 20, 50, 90]))
@SETTINGS
def test_neuron_pruning_of_a_dag_removes_hidden_nodes_and_their_edges(n, p, seed, percentile):
    net = _dag_net(n, p, seed)
    labels = net.node_labels
    g = net.to_graph()
    io_nodes = set(net.inputs) | set(net.outputs)
    hidden = [v for v in g if v not in io_nodes and g.in_degree(v) > 0]
    importance = {v: sum(abs(g.edges[u, v]["weight"]) for u in g.predecessors(v)) for v in hidden}
    pruned = set()
    if hidden:
        cut = np.percentile([importance[v] for v in hidden], percentile)
        pruned = {v for v in hidden if importance[v] <= cut}
    before = _edges(net)
    changes = NeuronPruning(percentile=percentile).step(net)
    assert changes["DAGNetwork"]["neurons"] == len(pruned)
    assert _edges(net) == {e: w for e, w in before.items() if e[0] not in pruned and e[1] not in pruned}
    assert net.node_labels == labels  # nodes are kept


def test_neuron_importance_counts_in_edges():
    net = DAGNetwork(erdos_renyi_dag(15, 0.3, seed=4), seed=4)
    importance, degree = neuron_importance(net)
    g = net.to_graph()
    for i, v in enumerate(net.node_labels):
        assert degree[i] == g.in_degree(v)
        assert importance[i] == pytest.approx(sum(abs(g.edges[u, v]["weight"]) for u in g.predecessors(v)))


def test_every_epochs_and_the_papers_schedule():
    when = NeuronPruning().schedule
    assert when == every_epochs(10, 200)
    assert [e for e in range(1, 231) if when(e)] == [200, 210, 220, 230]
    with pytest.raises(ValueError, match="The 'every' parameter of every_epochs must be an int >= 1"):
        every_epochs(0)


def test_fit_runs_neuron_pruning_on_its_schedule():
    gen = torch.Generator().manual_seed(0)
    X, y = torch.randn(64, 10, generator=gen), torch.randint(0, 3, (64,), generator=gen)
    data = Dataset(X, y, X[:16], y[:16], "noise", 3)
    mlp = sparse_mlp([10, 20, 3], density=1.0, seed=0)
    result = fit(mlp, data, epochs=5, batch_size=16, rules=[NeuronPruning(start=2, every=2)], progress=False)
    assert [row.get("rules") for row in result.metrics] == [None, ["NeuronPruning"], None, ["NeuronPruning"], None]
    assert result.metrics[1]["NeuronPruning.0.neurons"] == 4  # 20th percentile of 20 units


def test_neuron_pruning_validates_its_arguments():
    with pytest.raises(ValueError, match=r"The 'percentile' parameter of NeuronPruning must be a float in \[0, 100\]"):
        NeuronPruning(percentile=120)
    with pytest.raises(ValueError, match="The 'every' parameter of NeuronPruning must be an int >= 1"):
        NeuronPruning(every=0)


def test_rewinding_keeps_apart_two_branches_fed_by_one_source():
    from dagnet import Wiring

    w = Wiring(
        5,
        np.array([0, 0, 1, 2, 3, 0]),
        np.array([2, 2, 2, 3, 4, 4]),
        branch=np.array([0, 1, 1, 0, 0, 0]),
        weight=np.array([1.0, 2.0, 3.0, 4.0, 5.0, 0.01]),
        combine=[None, None, "max", None, None],
    )
    net = DAGNetwork(w, seed=0)
    before = net.weight.detach().clone()
    rule = IterativeMagnitudePruning(amount=0.2)
    rule.attach(net)
    with torch.no_grad():
        net.weight.mul_(10)
    rule.step(net)
    # The 0.01 edge is pruned; every survivor, both edges 0 -> 2 included, is back at its own start.
    assert sorted(net.weight.tolist()) == sorted(v for v in before.tolist() if v != 0.01)
