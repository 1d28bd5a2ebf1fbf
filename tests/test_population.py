"""Population: members computed and trained as one network, each exactly as it would be alone."""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dagnet import DAGNetwork
from dagnet.errors import DeadNodeWarning
from dagnet.nn.population import Population, member_losses
from dagnet.topology import random_io_dag

IN = [("in", j) for j in range(5)]
OUT = [("out", j) for j in range(3)]
ACTS = ["relu", "tanh", "sigmoid", "identity", "leaky_relu", "gelu"]


def _members(seeds, acts, hidden):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        return [
            DAGNetwork(
                random_io_dag(5, h, 3, 0.3, 2, 3, seed=s),
                inputs=IN,
                outputs=OUT,
                activation=a,
                seed=s,
                dtype=torch.float64,
            )
            for s, a, h in zip(seeds, acts, hidden)
        ]


member_sets = st.integers(1, 5).flatmap(
    lambda m: st.tuples(
        st.lists(st.integers(0, 10**6), min_size=m, max_size=m),
        st.lists(st.sampled_from(ACTS), min_size=m, max_size=m),
        st.lists(st.integers(1, 12), min_size=m, max_size=m),
    )
)


@settings(max_examples=15, deadline=None)
@given(member_sets, st.sampled_from(["sgd", "momentum", "adam"]))
def test_training_a_population_trains_each_member_as_alone(spec, optimizer):
    make = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.05),
        "momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3),
        "adam": lambda p: torch.optim.Adam(p, lr=0.01),
    }[optimizer]
    alone = _members(*spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        pop = Population(_members(*spec))
    opts = [make(n.parameters()) for n in alone]
    pop_opt = make(pop.parameters())
    g = torch.Generator().manual_seed(0)
    for _ in range(4):
        x = torch.randn(9, 5, generator=g, dtype=torch.float64)
        y = torch.randint(0, 3, (9,), generator=g)
        for net, opt in zip(alone, opts):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        pop_opt.zero_grad()
        pop.loss(pop(x), y).backward()
        pop_opt.step()
    x = torch.randn(6, 5, generator=g, dtype=torch.float64)
    out = pop(x)
    for i, net in enumerate(alone):
        torch.testing.assert_close(out[:, i], net(x), rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(pop.member(i)(x), net(x), rtol=1e-10, atol=1e-12)


def test_member_round_trip_keeps_wiring_and_values():
    nets = _members([1, 2, 3], ["relu", "tanh", "gelu"], [4, 8, 6])
    pop = Population(nets)
    for i, net in enumerate(nets):
        m = pop.member(i)
        assert m.inputs == net.inputs and m.outputs == net.outputs
        assert set(m.to_graph().edges()) == set(net.to_graph().edges())
        a, b = m.to_wiring(), net.to_wiring()
        wa = dict(zip(zip(map(a.label, a.source), map(a.label, a.target)), a.weight))
        wb = dict(zip(zip(map(b.label, b.source), map(b.label, b.target)), b.weight))
        assert wa == wb
    assert pop.member(-1).num_edges == nets[-1].num_edges
    with pytest.raises(IndexError, match="3 members; there is no member 3"):
        pop.member(3)


def test_graph_members_are_initialised_with_seed_plus_i():
    graphs = [random_io_dag(5, 6, 3, 0.3, 2, 3, seed=s) for s in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        pop = Population(graphs, seed=7, inputs=IN, outputs=OUT, activation="tanh")
        x = torch.randn(4, 5)
        for i, g in enumerate(graphs):
            net = DAGNetwork(g, seed=7 + i, inputs=IN, outputs=OUT, activation="tanh")
            assert torch.equal(pop(x)[:, i], net(x))


def test_multi_branch_members():
    g = nx.DiGraph()
    g.add_edges_from([("a", "v", {"branch": 0}), ("b", "v", {"branch": 1}), ("a", "y"), ("v", "y")])
    g.nodes["v"]["combine"] = "max"
    plain = nx.DiGraph([("a", "y"), ("b", "y")])
    nets = [DAGNetwork(g, inputs=["a", "b"], outputs=["y"], seed=0), DAGNetwork(plain, inputs=["a", "b"], seed=1)]
    pop = Population(nets)
    x = torch.randn(5, 2)
    for i, net in enumerate(nets):
        assert torch.equal(pop(x)[:, i], net(x))
        assert torch.equal(pop.member(i)(x), net(x))


def test_member_losses_are_each_members_mean():
    out = torch.randn(6, 4, 3, dtype=torch.float64)
    y = torch.randint(0, 3, (6,))
    got = member_losses(out, y)
    for i in range(4):
        torch.testing.assert_close(got[i], torch.nn.functional.cross_entropy(out[:, i], y))
    target = torch.randn(6, 4, 3, dtype=torch.float64)
    torch.testing.assert_close(
        member_losses(out, target, "mse")[2], torch.nn.functional.mse_loss(out[:, 2], target[:, 2])
    )
    with pytest.raises(ValueError, match="'loss_fn' parameter of member_losses"):
        member_losses(out, y, "hinge")


def test_bad_members_are_refused():
    nets = _members([1], ["relu"], [4])
    with pytest.raises(ValueError, match="'members' parameter of Population must be a non-empty"):
        Population([])
    with pytest.raises(ValueError, match="'members' parameter"):
        Population(nets[0])
    with pytest.raises(TypeError, match="member 1 is a str"):
        Population([nets[0], "graph"])
    other = DAGNetwork(nx.DiGraph([(0, 1)]), seed=0, dtype=torch.float64)
    with pytest.raises(ValueError, match="member 1 has 1 inputs and 1 outputs; member 0 has 5 and 3"):
        Population([nets[0], other])


# ---------------------------------------------------------------- rules act within members


def _labelled_edges(net) -> dict:
    w = net.to_wiring()
    return {(w.label(s), w.label(t)): float(v) for s, t, v in zip(w.source, w.target, w.weight)}


def _member_edges(pop, i) -> dict:
    return _labelled_edges(pop.member(i))


def _population(seeds=(1, 2, 3), hidden=(10, 12, 8)):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        return Population(_members(list(seeds), ["relu", "tanh", "relu"], list(hidden)))


def _no_edge_crosses(pop):
    owner = dict(zip(pop.network.node_labels, pop.member_of()))
    for u, v in _labelled_edges(pop.network):
        assert owner[u] in (-1, owner[v]), (u, v)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 10**6), st.floats(0.1, 0.6))
def test_set_removes_within_each_member_and_grows_inside_it(seed, zeta):
    from dagnet.evolve import SET, set_removal

    pop = _population(seeds=(seed, seed + 1, seed + 2))
    before = [_member_edges(pop, i) for i in range(len(pop))]
    expected_removed = []
    for i in range(len(pop)):
        alone = pop.member(i)
        gone = set_removal(alone.weight.detach().numpy(), zeta, alone.evolvable_edges())
        edges = list(_labelled_edges(alone))  # wiring order
        order = alone.to_wiring()
        pairs = [(order.label(s), order.label(t)) for s, t in zip(order.source, order.target)]
        w_order = dict(zip(pairs, range(len(pairs))))
        idx = alone.edge_index.numpy()  # weight k is wiring edge idx[k]
        expected_removed.append({pairs[idx[k]] for k in np.flatnonzero(gone)})
        assert set(edges) == set(w_order)
    SET(zeta=zeta, seed=seed).step(pop)
    _no_edge_crosses(pop)
    for i in range(len(pop)):
        after = _member_edges(pop, i)
        assert len(after) == len(before[i])  # each member keeps its count
        kept = set(before[i]) - expected_removed[i]
        assert kept <= set(after)  # what survives is exactly what SET alone keeps ...
        assert all(after[e] == before[i][e] for e in kept)
        assert not (set(after) - kept) & kept


def test_rigl_in_a_population_is_rigl_on_each_member_alone():
    from dagnet.evolve import RigL

    pop = _population()
    alone = [pop.member(i) for i in range(len(pop))]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (16,), generator=g)
    rule = RigL(drop_fraction=0.3, update_every=1, seed=0)
    rule.attach(pop)
    pop.loss(pop(x), y).backward()
    rule.step(pop)
    _no_edge_crosses(pop)
    for i, net in enumerate(alone):
        r = RigL(drop_fraction=0.3, update_every=1, seed=0)
        r.attach(net)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        r.step(net)
        assert _member_edges(pop, i) == _labelled_edges(net)


def test_magnitude_pruning_prunes_each_member_by_its_own_share():
    from dagnet.evolve import MagnitudePruning

    pop = _population()
    expected = []
    for i in range(len(pop)):
        net = pop.member(i)
        MagnitudePruning(amount=0.4).step(net)
        expected.append(_labelled_edges(net))
    MagnitudePruning(amount=0.4).step(pop)
    assert [_member_edges(pop, i) for i in range(len(pop))] == expected


def test_set_leaves_a_full_member_alone():
    from dagnet.evolve import SET

    dense = nx.DiGraph([(("in", j), ("out", k)) for j in range(5) for k in range(3)])
    dense.add_edges_from((("out", a), ("out", b)) for a in range(3) for b in range(a + 1, 3))  # complete: no free pair
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        sparse = _members([4], ["relu"], [10])[0]
        pop = Population([DAGNetwork(dense, inputs=IN, outputs=OUT, seed=0, dtype=torch.float64), sparse])
    full = _member_edges(pop, 0)
    changes = SET(zeta=0.3, seed=0).step(pop)
    assert _member_edges(pop, 0) == full and changes["network"]["removed"] > 0


# ---------------------------------------------------------------- fit


def _toy_data():
    from dagnet.data import Dataset

    g = torch.Generator().manual_seed(0)
    X = torch.randn(120, 5, generator=g)
    y = (X[:, 0] + X[:, 1] > 0).long() + (X[:, 2] > 1).long()
    return Dataset(X[:90], y[:90], X[90:], y[90:], "toy", 3)


def test_fit_a_population_records_every_member_and_names_the_best(tmp_path):
    import csv
    import functools

    from dagnet.train import fit

    members = [m.float() for m in _members([1, 2, 3], ["relu", "tanh", "sigmoid"], [6, 10, 3])]
    alone = [m.float() for m in _members([1, 2, 3], ["relu", "tanh", "sigmoid"], [6, 10, 3])]
    sgd = functools.partial(torch.optim.SGD, lr=0.1, momentum=0.9)
    pop = Population(members)
    result = fit(pop, _toy_data(), optimizer=sgd, epochs=3, batch_size=16, out_dir=tmp_path, progress=False)
    last = result.metrics[-1]
    accuracy = last["members.test_accuracy"]
    assert len(accuracy) == 3 and last["best_member"] == int(np.argmax(accuracy))
    assert last["test_accuracy"] == pytest.approx(np.mean(accuracy))
    for i, net in enumerate(alone):  # each member trained as it would be alone
        own = fit(net, _toy_data(), optimizer=sgd, epochs=3, batch_size=16, progress=False).metrics[-1]
        assert own["test_accuracy"] == pytest.approx(accuracy[i], abs=1e-9)
        assert own["test_loss"] == pytest.approx(last["members.test_loss"][i], rel=1e-4)
    with open(tmp_path / "members.csv") as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == 9 and {line["member"] for line in lines} == {"0", "1", "2"}
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0]
    assert "best_member" in header and "members." not in header


def test_save_and_load_a_trained_rewired_population(tmp_path):
    import dagnet
    from dagnet.errors import FileFormatError
    from dagnet.evolve import SET

    pop = _population()
    SET(zeta=0.3, seed=0).step(pop)
    path = tmp_path / "pop.pt"
    dagnet.save(pop, path)
    back = dagnet.load(path)
    assert isinstance(back, Population) and len(back) == len(pop)
    x = torch.randn(4, 5, dtype=torch.float64)
    assert torch.equal(back(x), pop(x))
    for i in range(len(pop)):
        assert _member_edges(back, i) == _member_edges(pop, i)
        assert back.member(i).inputs == pop.member(i).inputs
    SET(zeta=0.3, seed=1).step(back)  # still rewired member by member
    _no_edge_crosses(back)
    payload = torch.load(path, weights_only=True)
    payload["module"]["population"]["seeds"] = payload["module"]["population"]["seeds"][:1]
    from dagnet.fileio import write_checked

    write_checked(tmp_path / "bad.pt", payload)
    with pytest.raises(FileFormatError, match="do not agree in number"):
        dagnet.load(tmp_path / "bad.pt")


def test_neuron_pruning_takes_each_members_own_percentile():
    from dagnet.evolve import NeuronPruning

    pop = _population(hidden=(10, 12, 8))
    with torch.no_grad():  # member 0's weights far larger: a shared percentile would spare it
        owner = dict(zip(pop.network.node_labels, pop.member_of()))
        w = pop.network.to_wiring()
        big = np.array([owner[w.label(t)] == 0 for t in w.target])
        edge_index = pop.network.edge_index.numpy()  # weight k is wiring edge edge_index[k]
        pop.network.weight[torch.from_numpy(big[edge_index])] *= 100
    rule = NeuronPruning(percentile=30, start=0, every=1)
    expected = [len(rule.neurons_to_prune(pop.member(i))) for i in range(len(pop))]
    gone = rule.neurons_to_prune(pop.network)
    members = pop.member_of()[gone]
    assert [int((members == i).sum()) for i in range(len(pop))] == expected
    assert expected[0] > 0


def test_graph_members_without_bias_and_unknown_options():
    graphs = [random_io_dag(5, 6, 3, 0.3, 2, 3, seed=s) for s in range(2)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeadNodeWarning)
        pop = Population(graphs, seed=0, inputs=IN, outputs=OUT, bias=False)
        assert pop.network.bias is None
        x = torch.randn(3, 5)
        for i, g in enumerate(graphs):
            assert torch.equal(pop(x)[:, i], DAGNetwork(g, seed=i, inputs=IN, outputs=OUT, bias=False)(x))
        with pytest.raises(TypeError, match="'activaton'"):
            Population(graphs, seed=0, inputs=IN, outputs=OUT, activaton="tanh")
