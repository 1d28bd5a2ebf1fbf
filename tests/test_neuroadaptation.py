"""Neuroadaptation: scaffold neurons kept per layer, state, errors, and a bit-exact resumed fit."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dagnet.data import Dataset, load_digits
from dagnet.evolve.neuroadaptation import Neuroadaptation
from dagnet.nn.isotropic import IsotropicMLP
from dagnet.seeding import torch_generator
from dagnet.train import fit

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")


def _scaffold(net: IsotropicMLP, threshold: float) -> list[int]:
    return [int((net.singular_values(k) < threshold).sum()) for k in range(1, net.num_hidden + 1)]


def _train(net, steps=20, seed=0, lr=0.05):
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    g = torch_generator(seed)
    for _ in range(steps):
        x = torch.randn(32, net.sizes[0], generator=g, dtype=net.weight1.dtype)
        y = torch.randint(net.sizes[-1], (32,), generator=g)
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    return opt


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.integers(1, 8), min_size=3, max_size=5),
    st.integers(0, 3),
    st.sampled_from([0.05, 0.3, 1.0]),
    st.integers(0, 999),
)
def test_step_leaves_exactly_scaffold_neurons_per_layer(sizes, scaffold, threshold, seed):
    net = IsotropicMLP(sizes, seed=seed, dtype=F64)
    rule = Neuroadaptation(threshold=threshold, scaffold=scaffold, seed=seed)
    widths = net.sizes
    changes = rule.step(net)
    for k, count in enumerate(_scaffold(net, threshold), start=1):
        assert count == scaffold or (net.sizes[k] == 1 and count == 1 > scaffold)
        assert (
            changes[f"layer{k}.width"]
            == net.sizes[k]
            == widths[k] + changes[f"layer{k}.grown"] - changes[f"layer{k}.shrunk"]
        )
        assert not (changes[f"layer{k}.grown"] and changes[f"layer{k}.shrunk"])
    assert all(type(v) is int for v in changes.values())
    assert set(changes) == {
        f"layer{k}.{what}" for k in range(1, len(sizes) - 1) for what in ("width", "grown", "shrunk")
    }


def test_steps_during_training_keep_the_scaffold_and_change_the_function_little():
    net = IsotropicMLP([6, 4, 4, 3], seed=1, dtype=F64)
    rule = Neuroadaptation(threshold=0.1, scaffold=2, seed=0)
    x = torch.randn(64, 6, generator=torch_generator(5), dtype=F64)
    for round in range(4):
        opt = _train(net, seed=round)
        with torch.no_grad():
            before = net(x)
        rule.step(net, optimizer=opt)
        assert _scaffold(net, 0.1) == [2, 2]
        with torch.no_grad():  # removed directions are below the threshold; added ones change nothing
            assert (net(x) - before).abs().max() < 0.5
        _train(net, steps=2, seed=10 + round)  # the optimizer still fits the parameters
    assert net.sizes[1] >= 4  # the layers in use kept (or grew beyond) their initial width


def test_every_acts_on_every_nth_call_only():
    net = IsotropicMLP([3, 4, 2], seed=0)
    rule = Neuroadaptation(threshold=0.1, scaffold=3, every=2, seed=0)
    first = rule.step(net)
    assert first == {"layer1.width": 4, "layer1.grown": 0, "layer1.shrunk": 0}
    second = rule.step(net)
    assert second["layer1.grown"] == 2 and net.sizes == [3, 6, 2]  # 4 > 3 inputs: one zero already
    assert rule.updates == 2


def test_modules_inside_a_model_are_named():
    model = nn.Sequential(nn.Flatten(), IsotropicMLP([4, 3, 3], seed=0), nn.Identity())
    changes = Neuroadaptation(seed=0).step(model)
    assert set(changes) == {"1.layer1.width", "1.layer1.grown", "1.layer1.shrunk"}


def test_state_dict_restores_the_generator():
    a = Neuroadaptation(seed=4)
    a.step(IsotropicMLP([3, 4, 4, 2], seed=0))
    state = a.state_dict()
    b = Neuroadaptation(seed=5)
    b.load_state_dict(state)
    nets = [IsotropicMLP([3, 5, 5, 2], seed=1) for _ in range(2)]
    assert a.step(nets[0]) == b.step(nets[1]) and b.updates == 2
    assert all(torch.equal(p, q) for p, q in zip(nets[0].parameters(), nets[1].parameters()))
    assert repr(a) == "Neuroadaptation(threshold=0.1, scaffold=2, every=1, seed=4)"


def test_errors_name_the_problem():
    with pytest.raises(TypeError, match="Neuroadaptation needs an IsotropicMLP .* got Sequential"):
        Neuroadaptation().step(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)))
    with pytest.raises(TypeError, match="got Linear"):
        Neuroadaptation().step(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="The 'threshold' parameter of Neuroadaptation must be a finite float > 0"):
        Neuroadaptation(threshold=0)
    with pytest.raises(ValueError, match="The 'scaffold' parameter of Neuroadaptation must be an int >= 0"):
        Neuroadaptation(scaffold=-1)
    with pytest.raises(ValueError, match="The 'every' parameter of Neuroadaptation must be an int >= 1"):
        Neuroadaptation(every=0)


@pytest.fixture(scope="module")
def small():
    d = load_digits(seed=0)
    return Dataset(d.X_train[:300], d.y_train[:300], d.X_test[:100], d.y_test[:100], "digits-small", 10)


def test_fit_with_neuroadaptation_resumes_bit_for_bit(small, tmp_path):
    kwargs = dict(epochs=4, batch_size=50, seed=7, progress=False)
    full = IsotropicMLP([64, 10, 10, 10], seed=0)
    fit(full, small, rules=[Neuroadaptation(seed=3)], out_dir=tmp_path / "full", **kwargs)

    first = IsotropicMLP([64, 10, 10, 10], seed=0)
    fit(first, small, rules=[Neuroadaptation(seed=3)], out_dir=tmp_path / "split", **{**kwargs, "epochs": 2})
    resumed = IsotropicMLP([64, 10, 10, 10], seed=11)  # other widths and values: all must come from the checkpoint
    rule = Neuroadaptation(seed=99)
    result = fit(resumed, small, rules=[rule], out_dir=tmp_path / "split", resume=True, **{**kwargs, "seed": 123})

    assert resumed.sizes == full.sizes and resumed.sizes != [64, 10, 10, 10]
    assert list(resumed.state_dict()) == list(full.state_dict())
    for a, b in zip(resumed.state_dict().values(), full.state_dict().values()):
        assert torch.equal(a, b)
    saved = json.loads((tmp_path / "full" / "metrics.json").read_text())
    for a, b in zip(saved, result.metrics):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    assert saved[0]["Neuroadaptation.layer1.width"] == full.sizes[1] or len(saved) == 4
    assert rule.updates == 3
