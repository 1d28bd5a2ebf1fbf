"""The SET code's conventions as options: SGDW's decoupled weight decay, He-uniform on the dense fan-in, drop_last."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dagnet.cli.config import build_model, load_config, run_config
from dagnet.data import Dataset, batches
from dagnet.evolve import SET
from dagnet.nn import SparseLinear, sparse_mlp
from dagnet.train import SGDW, fit


def sgdw_by_hand(w0, grads, lr, momentum, decay):
    """The SET code's update in float64 numpy: ``v = momentum * v - lr * g; w += v - decay * w``."""
    w, v = np.array(w0, dtype=np.float64), np.zeros(len(w0))
    for g in grads:
        v = momentum * v - lr * np.asarray(g)
        w = w + v - decay * w
    return w


@settings(max_examples=40, deadline=None)
@given(
    w0=st.lists(st.floats(-3, 3), min_size=1, max_size=5),
    steps=st.integers(1, 6),
    lr=st.floats(1e-3, 0.5),
    momentum=st.floats(0, 0.95),
    decay=st.floats(0, 0.5),
    seed=st.integers(0, 2**16),
)
def test_sgdw_is_the_set_codes_update(w0, steps, lr, momentum, decay, seed):
    grads = np.random.default_rng(seed).normal(size=(steps, len(w0)))
    p = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    opt = SGDW([p], lr=lr, momentum=momentum, weight_decay=decay)
    for g in grads:
        p.grad = torch.from_numpy(g.copy())
        opt.step()
    np.testing.assert_allclose(p.detach().numpy(), sgdw_by_hand(w0, grads, lr, momentum, decay), rtol=1e-12, atol=1e-12)


def test_sgdw_decay_is_not_scaled_by_the_lr_and_torchs_is():
    def after(optimizer_cls, lr, steps=10):
        p = torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
        opt = optimizer_cls([p], lr=lr, momentum=0.9, weight_decay=2e-4)
        for _ in range(steps):
            p.grad = torch.zeros(1, dtype=torch.float64)
            opt.step()
        return p.item()

    assert after(SGDW, 0.01) == pytest.approx((1 - 2e-4) ** 10, rel=1e-14)
    assert after(SGDW, 0.01) == after(SGDW, 0.5)
    # torch's: a shrink of about lr * decay per step, grown by the momentum: far weaker at lr 0.01
    shrink_torch, shrink_ours = 1 - after(torch.optim.SGD, 0.01), 1 - after(SGDW, 0.01)
    assert shrink_torch < shrink_ours / 5


def test_sgdw_leaves_parameters_without_gradient_and_decays_biases():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = SGDW([a, b], lr=0.1, weight_decay=0.25)
    a.grad = torch.zeros(2)
    opt.step()
    assert a.tolist() == [0.75, 0.75] and b.tolist() == [1.0, 1.0]


def test_sgdw_param_groups_keep_their_own_decay_and_state_dict_resumes():
    def make():
        g = torch.Generator().manual_seed(0)
        a = torch.nn.Parameter(torch.randn(3, generator=g))
        b = torch.nn.Parameter(torch.randn(3, generator=g))
        return [a, b], SGDW(
            [{"params": [a]}, {"params": [b], "weight_decay": 0.1}], lr=0.1, momentum=0.9, weight_decay=0.01
        )

    def steps(params, opt, n, start):
        for k in range(start, start + n):
            for i, p in enumerate(params):
                p.grad = torch.full((3,), float(k + i))
            opt.step()

    params, opt = make()
    assert [grp["decoupled_weight_decay"] for grp in opt.param_groups] == [0.01, 0.1]
    assert all(grp["weight_decay"] == 0 for grp in opt.param_groups)  # torch's own never applies
    steps(params, opt, 4, 0)
    full = [p.detach().clone() for p in params]

    params2, opt2 = make()
    steps(params2, opt2, 2, 0)
    saved = opt2.state_dict()
    params3, opt3 = make()
    with torch.no_grad():
        for p3, p2 in zip(params3, params2):
            p3.copy_(p2)
    opt3.load_state_dict(saved)
    steps(params3, opt3, 2, 2)
    for p, q in zip(params3, full):
        assert torch.equal(p.detach(), q)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr": 0.0}, r"'lr' parameter of SGDW .* Got 0\.0"),
        ({"momentum": -0.1}, r"'momentum' parameter of SGDW"),
        ({"weight_decay": 1.0}, r"'weight_decay' parameter of SGDW .* Got 1\.0"),
        ({"weight_decay": -1e-4}, r"'weight_decay' parameter of SGDW"),
    ],
)
def test_sgdw_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SGDW([torch.nn.Parameter(torch.ones(1))], **{"lr": 0.1, **kwargs})
    if "weight_decay" in kwargs:
        opt = SGDW([torch.nn.Parameter(torch.ones(1))], lr=0.1)
        with pytest.raises(ValueError, match=match):
            opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))], **kwargs})


def test_sgdw_carries_momentum_through_set_rewiring_reproducibly():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 12, generator=g)
    y = (X[:, 0] > 0).long()
    ds = Dataset(X, y, X, y, "toy", 2)

    def run():
        mlp = sparse_mlp([12, 30, 2], epsilon=3, init="he_uniform", seed=0)
        res = fit(
            mlp,
            ds,
            optimizer=functools.partial(SGDW, lr=0.05, momentum=0.9, weight_decay=2e-4),
            epochs=4,
            batch_size=16,
            rules=[SET(zeta=0.3, seed=0)],
            seed=0,
            progress=False,
        )
        return [m["test_accuracy"] for m in res.metrics], mlp[0].weight.detach().clone()

    (acc1, w1), (acc2, w2) = run(), run()
    assert acc1 == acc2 and torch.equal(w1, w2)
    assert acc1[-1] > 0.6


@settings(max_examples=30, deadline=None)
@given(
    n_in=st.integers(1, 60),
    n_out=st.integers(1, 30),
    density=st.floats(0.05, 1.0),
    seed=st.integers(0, 2**31),
    dtype=st.sampled_from([torch.float32, torch.float64]),
)
def test_he_uniform_is_on_the_dense_fan_in_with_zero_biases(n_in, n_out, density, seed, dtype):
    layer = SparseLinear(n_in, n_out, density=density, init="he_uniform", seed=seed, dtype=dtype)
    default = SparseLinear(n_in, n_out, density=density, seed=seed, dtype=dtype)
    rows, cols = layer.connections()
    rows0, cols0 = default.connections()
    assert np.array_equal(rows, rows0) and np.array_equal(cols, cols0)  # the same connections
    limit = math.sqrt(6.0 / n_in)  # every input counts, connected or not
    w = layer.weight.detach().double()
    assert layer.weight.dtype == dtype and bool((w.abs() <= limit).all())
    assert torch.count_nonzero(layer.bias) == 0
    again = SparseLinear(n_in, n_out, density=density, init="he_uniform", seed=seed, dtype=dtype)
    assert torch.equal(again.weight, layer.weight)


def test_he_uniform_fills_its_range_uniformly():
    layer = SparseLinear(400, 300, density=0.5, init="he_uniform", seed=1)
    limit = math.sqrt(6.0 / 400)
    w = layer.weight.detach().double() / limit
    assert w.min() > -1 and w.max() < 1 and w.min() < -0.99 and w.max() > 0.99
    assert abs(w.mean().item()) < 0.01 and w.var().item() == pytest.approx(1 / 3, rel=0.02)
    # the true fan-in would give a bound sqrt(1 / density) times larger: the dense one is used
    assert layer.weight.abs().max().item() < limit


def test_sparse_mlp_passes_init_to_every_layer_and_rejects_unknown_ones():
    mlp = sparse_mlp([50, 40, 10, 2], epsilon=5, init="he_uniform", seed=0)
    layers = [m for m in mlp if isinstance(m, SparseLinear)]
    for layer in layers:
        assert layer.weight.abs().max().item() <= math.sqrt(6.0 / layer.in_features)
        assert torch.count_nonzero(layer.bias) == 0
    assert torch.count_nonzero(sparse_mlp([50, 40, 2], epsilon=5, seed=0)[0].bias) > 0
    with pytest.raises(ValueError, match=r"'init' parameter of SparseLinear must be one of .*'he_uniform'.* Got 'he'"):
        sparse_mlp([5, 3], init="he", seed=0)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), batch_size=st.integers(1, 50), shuffle=st.booleans(), seed=st.integers(0, 2**16))
def test_drop_last_leaves_out_only_the_short_last_batch(n, batch_size, shuffle, seed):
    X, y = torch.arange(2.0 * n).reshape(n, 2), torch.arange(n)
    full = [b for _, b in batches(X, y, batch_size, shuffle=shuffle, seed=seed)]
    kept = [b for _, b in batches(X, y, batch_size, shuffle=shuffle, seed=seed, drop_last=True)]
    assert len(kept) == n // batch_size
    assert all(b.numel() == batch_size for b in kept)
    assert all(torch.equal(a, b) for a, b in zip(kept, full))  # the same order, the same batches
    with pytest.raises(ValueError, match="drop_last"):
        next(batches(X, y, batch_size, drop_last=1))


def test_config_keys_build_the_conventions(tmp_path):
    given_cfg = {
        "epochs": 2,
        "batch_size": 32,
        "model": {"hidden": [20], "epsilon": 3, "init": "he_uniform"},
        "optimizer": {"name": "sgdw", "lr": 0.05, "momentum": 0.9, "weight_decay": 2e-4},
        "evolve": [{"rule": "SET"}],
    }
    cfg = load_config(given_cfg)
    model = build_model(cfg, 64, 10)
    assert torch.count_nonzero(model[0].bias) == 0
    assert model[0].weight.abs().max().item() <= math.sqrt(6.0 / 64)
    model, _, result = run_config(cfg, progress=False)
    assert len(result.metrics) == 2 and torch.isfinite(model[0].weight).all()
    with pytest.raises(ValueError, match="model.init applies to kind = 'set_mlp' or 'dense_mlp' only"):
        load_config({"model": {"kind": "dag", "init": "he_uniform"}})
    with pytest.raises(ValueError, match="model.init must be one of"):
        load_config({"model": {"init": "he"}})
