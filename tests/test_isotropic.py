"""IsotropicMLP: forward, function-preserving surgery, optimizer state, checkpoints, errors."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dagnet.activations.functional import isotropic_tanh
from dagnet.nn.isotropic import Grown, IsotropicMLP, Shrunk, check_isotropic
from dagnet.seeding import torch_generator

F64 = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")
FAST = settings(max_examples=30, deadline=None)


def _net(sizes, seed=0, **kwargs) -> IsotropicMLP:
    return IsotropicMLP(sizes, seed=seed, dtype=kwargs.pop("dtype", F64), **kwargs)


def _x(n_in, seed=0, n=16, dtype=F64, scale=1.0) -> torch.Tensor:
    return torch.randn(n, n_in, generator=torch_generator(seed), dtype=dtype) * scale


def _change(net, x, before) -> float:
    with torch.no_grad():
        return float((net(x) - before).abs().max())


def _out(net, x) -> torch.Tensor:
    with torch.no_grad():
        return net(x).clone()


def _loss(net, x) -> torch.Tensor:
    return (net(x) ** 2).sum() + net(x)[..., 0].sum()


def _step(net, opt, x) -> None:
    opt.zero_grad()
    _loss(net, x).backward()
    opt.step()


sizes_st = st.lists(st.integers(1, 7), min_size=3, max_size=5)
length_st = st.sampled_from([0.0, 0.3, 2.0])


@st.composite
def nets(draw, min_hidden=1):
    sizes = draw(sizes_st.filter(lambda s: len(s) - 2 >= min_hidden))
    trainable = draw(st.booleans())
    o = draw(length_st)
    o = o if (o > 0 or not trainable) else 0.5
    net = _net(
        sizes,
        draw(st.integers(0, 2**16)),
        intrinsic_length=o,
        trainable_length=trainable,
        bias=draw(st.sampled_from([True, True, False])),
    )
    with torch.no_grad():  # larger biases than at initialisation, so that shrink has something to absorb
        for p in net.parameters():
            if p.dim() == 1 and p.shape[0] > 0 and p is not getattr(net, "log_o", None):
                p.mul_(3.0)
    return net


# ----------------------------------------------------------------------------- the model
def test_forward_is_the_isotropic_tanh_chain():
    net = _net([5, 7, 4, 3], intrinsic_length=[0.5, 2.0], seed=3)
    x = _x(5)
    a = isotropic_tanh(x @ net.weight1.T + net.bias1, 0.5)
    a = isotropic_tanh(a @ net.weight2.T + net.bias2, 2.0)
    torch.testing.assert_close(net(x), a @ net.weight3.T + net.bias3, rtol=0, atol=0)
    assert net(x[0]).shape == (3,) and net(x.reshape(2, 8, 5)).shape == (2, 8, 3)


def test_construction_state_and_repr():
    net = IsotropicMLP([4, 6, 3], intrinsic_length=1e-3, trainable_length=True, seed=0)
    assert sorted(net.state_dict()) == ["bias1", "bias2", "log_o", "weight1", "weight2"]
    assert [n for n, _ in net.named_parameters()] == ["weight1", "bias1", "weight2", "bias2", "log_o"]
    assert math.isclose(float(net.intrinsic_length[0].detach()), 1e-3, rel_tol=1e-6)
    assert repr(net) == "IsotropicMLP(sizes=[4, 6, 3], intrinsic_length=[0.001], trainable_length=True, bias=True)"
    plain = IsotropicMLP([4, 6, 3], bias=False, seed=0)
    assert plain.bias1 is None and sorted(plain.state_dict()) == ["o", "weight1", "weight2"]
    assert net.weight1.dtype == torch.get_default_dtype() and _net([2, 3, 1]).weight1.dtype == F64
    bound = 1 / math.sqrt(4)
    assert net.weight1.abs().max() <= bound and net.bias1.abs().max() <= bound


def test_seeded_init_never_touches_the_global_generator():
    state = torch.get_rng_state()
    a, b = IsotropicMLP([4, 6, 3], seed=7), IsotropicMLP([4, 6, 3], seed=7)
    a.grow(1, 2, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.weight2[:, :6], b.weight2) and not torch.equal(
        a.weight1[:6], IsotropicMLP([4, 6, 3], seed=8).weight1
    )
    c = IsotropicMLP([4, 6, 3], seed=7)
    c.grow(1, 2, seed=1)
    assert torch.equal(a.weight2, c.weight2)


def test_trainable_length_learns():
    net = _net([3, 4, 2], intrinsic_length=0.5, trainable_length=True)
    _loss(net, _x(3)).backward()
    assert net.log_o.grad is not None and net.log_o.grad.abs().item() > 0


# ----------------------------------------------------------------------------- invariance (float64, random nets)
@FAST
@given(nets(), st.integers(0, 99), st.integers(1, 3), st.data())
def test_grow_keeps_the_function_exactly(net, seed, n, data):
    x = _x(net.sizes[0], seed)
    before = _out(net, x)
    k = data.draw(st.integers(1, net.num_hidden))
    width = net.sizes[k]
    report = net.grow(k, n, seed=seed)
    assert report == Grown(k, n, width + n, ())
    assert net.sizes[k] == width + n and net.weight1.shape[0] == net.sizes[1]
    assert _change(net, x, before) <= 1e-12
    new_rows = net._weight(k)[width:]
    assert torch.equal(new_rows, torch.zeros_like(new_rows))
    assert (net._weight(k + 1)[:, width:] != 0).all()


@FAST
@given(nets(), st.sampled_from(["left", "full"]), st.integers(0, 99), st.data())
def test_diagonalise_keeps_the_function(net, mode, seed, data):
    x = _x(net.sizes[0], seed)
    before = _out(net, x)
    low = 2 if mode == "full" else 1
    if net.num_hidden < low:
        with pytest.raises(ValueError, match="'layer' parameter of IsotropicMLP.diagonalise"):
            net.diagonalise(1, mode)
        return
    k = data.draw(st.integers(low, net.num_hidden))
    s = net.singular_values(k)
    report = net.diagonalise(k, mode)
    assert _change(net, x, before) <= 1e-12
    torch.testing.assert_close(report.singular_values, s, rtol=0, atol=1e-12)
    w = net._weight(k).detach()
    if mode == "full":
        assert w.dim() == 1 and w.shape[0] == min(net.sizes[k], net.sizes[k - 1])
        torch.testing.assert_close(w, s[: w.shape[0]], rtol=0, atol=1e-12)
    else:  # rows orthogonal, sorted by norm
        gram = w @ w.T
        torch.testing.assert_close(gram, torch.diag(s[: gram.shape[0]] ** 2).to(F64), rtol=0, atol=1e-10)


@FAST
@given(nets(), st.integers(0, 3), st.integers(0, 99), st.data())
def test_shrink_of_zero_singular_values_keeps_the_function(net, grow, seed, data):
    k = data.draw(st.integers(1, net.num_hidden))
    if grow:
        net.grow(k, grow, seed=seed)
    x = _x(net.sizes[0], seed, scale=3.0)
    before = _out(net, x)
    zeros = int((net.singular_values(k) < 1e-12).sum())
    n = min(zeros, net.sizes[k] - 1)
    if n == 0:
        return
    o = float(net.intrinsic_length[k - 1].detach())
    report = net.shrink(k, n)
    assert isinstance(report, Shrunk) and report.removed == n and net.sizes[k] == report.width
    assert max(report.singular_values) < 1e-12
    assert report.intrinsic_length >= o and math.isclose(
        float(net.intrinsic_length[k - 1].detach()), report.intrinsic_length, rel_tol=1e-12
    )
    assert _change(net, x, before) <= 1e-12


def test_shrink_absorbs_constant_neurons_into_the_length_and_the_next_layer():
    # 3 inputs, 6 neurons: 3 directions are constant (their bias); removing them is exact only because
    # their bias joins o and their outgoing effect the next layer's intrinsic-length weights.
    net = _net([3, 6, 4, 2], intrinsic_length=0.1, seed=2)
    x = _x(3, scale=5.0)
    before = _out(net, x)
    report = net.shrink(1, 3)
    assert report.singular_values == (0.0, 0.0, 0.0) and report.intrinsic_length > 0.1 + 0.01
    assert net.length_weight2 is not None and net.length_weight2.shape == (4,)
    assert "length_weight2" in net.state_dict()
    assert _change(net, x, before) <= 1e-12
    net.shrink(2, 1)  # length weights of layer 2 are rotated and cut along
    assert net.length_weight2.shape == (3,) and _change(net, x, before) < 1.0


@pytest.mark.parametrize("layer", [1, 2])
@pytest.mark.parametrize("eps", [1e-2, 1e-5])
def test_shrink_of_a_small_singular_value_changes_little(layer, eps):
    net = _net([6, 5, 5, 3], seed=1)
    g = torch_generator(0)
    with torch.no_grad():  # give layer `layer` singular values (2, 1.5, 1, 0.5, eps)
        w = getattr(net, f"weight{layer}")
        u, _ = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=F64))
        v, _ = torch.linalg.qr(torch.randn(w.shape[1], w.shape[1], generator=g, dtype=F64))
        s = torch.tensor([2.0, 1.5, 1.0, 0.5, eps], dtype=F64)[: min(w.shape)]
        w.copy_(u[:, : s.shape[0]] @ torch.diag(s) @ v[:, : s.shape[0]].T)
    x = _x(6)
    before = _out(net, x)
    report = net.shrink(layer, 1)
    assert report.singular_values == pytest.approx((eps,), rel=1e-9)
    # The layer's input has norm |x| (layer 1) or below 1 (after an isotropic tanh); the activation is
    # 1-Lipschitz, so the output moves by at most eps * |input| * the norms of the layers above.
    size_in = float(x.norm(dim=1).max()) if layer == 1 else 1.0
    above = math.prod(
        float(torch.linalg.matrix_norm(net.incoming(j) if j <= net.num_hidden else net._weight(j).detach(), ord=2))
        for j in range(layer + 1, 4)
    )
    change = _change(net, x, before)
    assert 0 < change <= eps * size_in * above


@FAST
@given(st.integers(2, 4), st.integers(2, 6), st.integers(0, 99))
def test_sparsify_halves_the_parameters_and_keeps_the_function(depth, width, seed):
    net = _net([3] + [width] * depth + [2], seed=seed)
    x = _x(3, seed)
    before = _out(net, x)
    report = net.sparsify()
    assert report.layers == tuple(range(2, depth + 1, 2))
    assert net.diagonal_layers() == list(report.layers)
    for k in report.layers:
        assert net._weight(k).shape == (width,)
    assert report.parameters_after == sum(t.numel() for t in net.state_dict().values())
    saved = len(report.layers) * (width * width - width)
    assert report.parameters_before - report.parameters_after == saved
    assert _change(net, x, before) <= 1e-12
    assert net.sparsify().parameters_after == report.parameters_after  # idempotent


def test_sparsify_tends_to_half():
    report = _net([16] + [32] * 9 + [16], seed=0).sparsify()
    assert report.layers == (2, 4, 6, 8) and 0.5 < report.ratio < 0.6


@FAST
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["grow", "shrink0", "left", "full", "sparsify"]), st.integers(1, 4), st.integers(1, 3)
        ),
        min_size=1,
        max_size=8,
    ),
    st.integers(0, 99),
)
def test_any_sequence_of_operations_keeps_the_function(ops, seed):
    net = _net([4, 5, 3, 6, 2], intrinsic_length=0.2, seed=seed)
    x = _x(4, seed, scale=2.0)
    before = _out(net, x)
    params = [id(p) for p in net.parameters()]
    for op, layer, n in ops:
        layer = min(layer, net.num_hidden)
        if op == "grow":
            net.grow(layer, n, seed=seed)
        elif op == "shrink0":
            zeros = int((net.singular_values(layer) < 1e-12).sum())
            if min(zeros, net.sizes[layer] - 1):
                net.shrink(layer, min(zeros, net.sizes[layer] - 1))
        elif op == "left":
            net.diagonalise(layer)
        elif op == "full":
            net.diagonalise(max(layer, 2), "full")
        else:
            net.sparsify()
        assert _change(net, x, before) <= 1e-11
    assert [id(p) for p in net.parameters()] == params
    assert net.sizes[1:-1] == [net.bias1.shape[0], net.bias2.shape[0], net.bias3.shape[0]]


def test_float32_invariance():
    net = IsotropicMLP([8, 16, 16, 4], intrinsic_length=0.5, seed=0)
    x = _x(8, dtype=torch.float32, n=64)
    before = _out(net, x)
    net.grow(1, 3, seed=0)
    assert _change(net, x, before) <= 1e-6
    net.grow(2, 2, seed=0)
    net.shrink(2, 2)
    net.shrink(1, 8)  # 16 + 3 neurons, 8 inputs: 11 zero singular values, most with a bias
    assert net.length_weight2 is not None and _change(net, x, before) <= 1e-6
    net.sparsify()
    assert net.weight1.dtype == torch.float32 and _change(net, x, before) <= 1e-6
    wide = net.double()  # conversions reach the resized parameters and the length weights
    assert wide.weight2.dtype == F64 and wide.length_weight2.dtype == F64 and wide.o.dtype == F64
    assert _change(wide, x.double(), before.double()) <= 1e-6


# ----------------------------------------------------------------------------- gradients and optimizer state
def test_surgery_keeps_parameter_objects_and_training_goes_on():
    for make in (
        lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
        lambda p: torch.optim.Adam(p, lr=1e-3),
        lambda p: torch.optim.AdamW(p, lr=1e-3, foreach=False),
        lambda p: torch.optim.Adam(p, amsgrad=True),
    ):
        net = _net([4, 5, 6, 3], intrinsic_length=0.3, trainable_length=True, seed=1)
        opt = make(net.parameters())
        params = list(net.parameters())
        x = _x(4)
        _step(net, opt, x)
        loss = _loss(net, x)  # a live graph across the surgery
        net.grow(1, 2, optimizer=opt, seed=0)
        net.shrink(2, 1, optimizer=opt)
        net.diagonalise(1, optimizer=opt)
        net.sparsify(optimizer=opt)
        assert list(net.parameters()) == params and opt.param_groups[0]["params"] == params
        for p in params:
            for value in opt.state[p].values():
                if isinstance(value, torch.Tensor) and value.dim() > 0:
                    assert value.shape == p.shape
            assert p.grad is None or p.grad.shape == p.shape
        _step(net, opt, x)
        del loss


@pytest.mark.parametrize("mode", ["left", "full"])
def test_gradient_is_rotated_with_the_parameters(mode):
    net = _net([4, 5, 6, 3], seed=2)
    x = _x(4)
    _loss(net, x).backward()
    net.diagonalise(2, mode)
    moved = {n: p.grad.clone() for n, p in net.named_parameters()}
    net.zero_grad()
    _loss(net, x).backward()  # the gradient of the new parametrisation
    for n, p in net.named_parameters():
        torch.testing.assert_close(moved[n], p.grad, rtol=0, atol=1e-12)


def test_grow_pads_gradients_and_state_with_zeros():
    net = _net([4, 5, 3], seed=2)
    opt = torch.optim.Adam(net.parameters())
    _step(net, opt, _x(4))
    _loss(net, _x(4)).backward()
    net.grow(1, 2, optimizer=opt, seed=0)
    for key in ("exp_avg", "exp_avg_sq"):
        assert opt.state[net.weight1][key][5:].abs().max() == 0 and opt.state[net.weight2][key][:, 5:].abs().max() == 0
        assert opt.state[net.weight1][key][:5].abs().min() > 0
    assert net.weight1.grad[5:].abs().max() == 0 and net.bias1.grad[5:].abs().max() == 0


def test_sgd_momentum_continues_as_on_the_rotated_parametrisation():
    """SGD with momentum commutes with a fixed rotation of the parameters: diagonalising mid-run must equal a run
    that used the same rotation from the start."""
    net = _net([4, 5, 6, 3], intrinsic_length=0.2, seed=4)
    start = copy.deepcopy(net)
    batches = [_x(4, seed) for seed in range(6)]
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for x in batches[:3]:
        _step(net, opt, x)
    report = net.diagonalise(2, "left", optimizer=opt)
    for x in batches[3:]:
        _step(net, opt, x)

    u = report.left
    with torch.no_grad():  # the rotation, applied before training
        start.weight2.copy_(u.T @ start.weight2)
        start.bias2.copy_(u.T @ start.bias2)
        start.weight3.copy_(start.weight3 @ u)
    ref = torch.optim.SGD(start.parameters(), lr=0.05, momentum=0.9)
    for x in batches:
        _step(start, ref, x)
    for a, b in zip(net.parameters(), start.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    torch.testing.assert_close(
        opt.state[net.weight3]["momentum_buffer"], ref.state[start.weight3]["momentum_buffer"], rtol=0, atol=1e-10
    )


@pytest.mark.parametrize("mode", ["left", "full"])
def test_adam_first_moment_exact_second_moment_squared_rotation(mode):
    net = _net([4, 5, 6, 3], seed=5)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for seed in range(3):
        _step(net, opt, _x(4, seed))
    twin = copy.deepcopy(net)
    twin_opt = torch.optim.Adam(twin.parameters(), lr=1e-2)
    twin_opt.load_state_dict(opt.state_dict())
    m = {n: opt.state[p]["exp_avg"].clone() for n, p in net.named_parameters()}
    v = {n: opt.state[p]["exp_avg_sq"].clone() for n, p in net.named_parameters()}
    report = net.diagonalise(2, mode, optimizer=opt)
    u, vv = report.left, report.right
    state = {n: opt.state[p] for n, p in net.named_parameters()}
    if mode == "left":
        want_m = {"weight2": u.T @ m["weight2"], "bias2": u.T @ m["bias2"], "weight3": m["weight3"] @ u}
        want_v = {"weight2": (u.T**2) @ v["weight2"], "bias2": (u.T**2) @ v["bias2"], "weight3": v["weight3"] @ u**2}
    else:
        want_m = {
            "weight2": torch.diagonal(u.T @ m["weight2"] @ vv),
            "bias2": u.T @ m["bias2"],
            "weight3": m["weight3"] @ u,
            "weight1": vv.T @ m["weight1"],
            "bias1": vv.T @ m["bias1"],
        }
        want_v = {
            "weight2": torch.diagonal((u.T**2) @ v["weight2"] @ vv**2),
            "bias2": (u.T**2) @ v["bias2"],
            "weight3": v["weight3"] @ u**2,
            "weight1": (vv.T**2) @ v["weight1"],
            "bias1": (vv.T**2) @ v["bias1"],
        }
    for n in want_m:
        torch.testing.assert_close(state[n]["exp_avg"], want_m[n], rtol=0, atol=1e-14)
        torch.testing.assert_close(state[n]["exp_avg_sq"], want_v[n], rtol=0, atol=1e-14)
    assert all(torch.equal(state[n]["exp_avg"], m[n]) for n in m if n not in want_m)  # untouched layers
    # One more step: the gradient rotates exactly, so the first moment stays the twin's, rotated.
    x = _x(4, 9)
    _step(net, opt, x)
    _step(twin, twin_opt, x)
    tm = {n: twin_opt.state[p]["exp_avg"] for n, p in twin.named_parameters()}
    if mode == "left":
        torch.testing.assert_close(state["weight2"]["exp_avg"], u.T @ tm["weight2"], rtol=0, atol=1e-13)
        torch.testing.assert_close(state["weight3"]["exp_avg"], tm["weight3"] @ u, rtol=0, atol=1e-13)
    else:
        torch.testing.assert_close(
            state["weight2"]["exp_avg"], torch.diagonal(u.T @ tm["weight2"] @ vv), rtol=0, atol=1e-13
        )
        torch.testing.assert_close(state["weight1"]["exp_avg"], vv.T @ tm["weight1"], rtol=0, atol=1e-13)


def test_shrink_cuts_optimizer_state_after_rotating_it():
    net = _net([4, 7, 3], seed=6)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    _step(net, opt, _x(4))
    m1, m2 = (opt.state[p]["momentum_buffer"].clone() for p in (net.weight1, net.weight2))
    u, _, _ = torch.linalg.svd(net.incoming(1))
    net.shrink(1, 3, optimizer=opt)
    torch.testing.assert_close(opt.state[net.weight1]["momentum_buffer"], (u.T @ m1)[:4], rtol=0, atol=1e-12)
    torch.testing.assert_close(opt.state[net.weight2]["momentum_buffer"], (m2 @ u)[:, :4], rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- checkpoints
def test_a_changed_model_loads_into_a_fresh_one_with_its_optimizer():
    net = _net([4, 5, 6, 3], intrinsic_length=0.1, trainable_length=True, seed=7)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = _x(4)
    _step(net, opt, x)
    net.grow(1, 3, optimizer=opt, seed=0)
    net.shrink(2, 2, optimizer=opt)
    net.sparsify(optimizer=opt)
    _step(net, opt, x)
    saved_model, saved_opt = copy.deepcopy(net.state_dict()), copy.deepcopy(opt.state_dict())

    fresh = _net([4, 5, 6, 3], intrinsic_length=0.1, trainable_length=True, seed=99)
    params = list(fresh.parameters())
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=1e-2)
    fresh.load_state_dict(saved_model)
    fresh_opt.load_state_dict(saved_opt)
    assert list(fresh.parameters()) == params and fresh.sizes == net.sizes == [4, 8, 4, 3]
    assert fresh.diagonal_layers() == net.diagonal_layers() == [2] and repr(fresh) == repr(net)
    assert torch.equal(fresh(x), net(x))
    _step(net, opt, x)
    _step(fresh, fresh_opt, x)
    for a, b in zip(net.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)

    back = _net([4, 5, 6, 3], intrinsic_length=0.1, trainable_length=True)  # and back to plain widths
    net.load_state_dict(back.state_dict())
    assert net.sizes == [4, 5, 6, 3] and net.length_weight2 is None and torch.equal(net(x), back(x))


def test_loading_inconsistent_widths_fails_clearly():
    net = _net([4, 5, 3])
    bad = _net([4, 5, 3]).state_dict()
    bad["weight2"] = torch.zeros(3, 6, dtype=F64)
    with pytest.raises(RuntimeError, match="weight2 takes 6 inputs, but layer 1 has width 5"):
        net.load_state_dict(bad)
    other = _net([5, 5, 3]).state_dict()
    with pytest.raises(RuntimeError, match="only hidden widths may differ"):
        net.load_state_dict(other)
    assert net.sizes == [4, 5, 3] and net.weight1.shape == (5, 4)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda n: n.grow(0), ValueError, "Got 0, the input layer"),
        (lambda n: n.grow(3), ValueError, "Got 3, the output layer: it is linear"),
        (lambda n: n.grow(4), ValueError, r"must be a hidden layer in \[1, 2\] \(sizes=\[4, 5, 6, 3\]\). Got 4"),
        (lambda n: n.grow(True), TypeError, "The 'layer' parameter of IsotropicMLP.grow must be an int"),
        (lambda n: n.shrink("1"), TypeError, "The 'layer' parameter of IsotropicMLP.shrink must be an int"),
        (lambda n: n.grow(1, 0), ValueError, "The 'n' parameter of IsotropicMLP.grow must be an int >= 1. Got 0"),
        (lambda n: n.grow(1, 1.5), TypeError, "The 'n' parameter of IsotropicMLP.grow must be an int"),
        (lambda n: n.shrink(1, 5), ValueError, r"must be an int in \[1, 4\] \(layer 1 has width 5 and keeps at least"),
        (
            lambda n: n.diagonalise(1, "right"),
            ValueError,
            "'mode' parameter of IsotropicMLP.diagonalise must be one of 'left', 'full'",
        ),
        (lambda n: n.diagonalise(1, "full"), ValueError, "Got 1: a full diagonalisation rotates the previous layer"),
        (lambda n: n.diagonalise(1, optimizer="adam"), TypeError, "must be a torch.optim.Optimizer or None. Got str"),
        (
            lambda n: n.grow(1, optimizer=torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=1)),
            ValueError,
            "holds none of this model's parameters",
        ),
        (lambda n: n.singular_values(3), ValueError, "the output layer"),
    ],
)
def test_bad_requests_fail_clearly(call, error, message):
    net = _net([4, 5, 6, 3])
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(error, match=message):
        call(net)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_optimizer_state_it_cannot_transform_is_refused_before_any_change():
    net = _net([4, 5, 3])
    opt = torch.optim.Adagrad(net.parameters())
    _step(net, opt, _x(4))
    before = copy.deepcopy(net.state_dict())
    with pytest.raises(TypeError, match="cannot transform the optimizer state 'sum' of Adagrad"):
        net.shrink(1, 1, optimizer=opt)
    assert net.sizes == [4, 5, 3] and all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_a_network_without_hidden_layers_has_nothing_to_operate_on():
    net = _net([4, 3])
    with pytest.raises(ValueError, match=r"needs a hidden layer; this network \(sizes=\[4, 3\]\) has none"):
        net.grow(1)
    assert net.sparsify().layers == () and net(_x(4)).shape == (16, 3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(sizes=[4]), "The 'sizes' parameter of IsotropicMLP must be a sequence of at least 2 ints"),
        (dict(sizes=[4, 0, 2]), "The 'sizes' parameter of IsotropicMLP"),
        (
            dict(sizes=[4, 3, 2], intrinsic_length=-1.0),
            "The 'intrinsic_length' parameter of IsotropicMLP must be a finite float >= 0",
        ),
        (dict(sizes=[4, 3, 3, 2], intrinsic_length=[1.0]), "or a sequence of 2 of them"),
        (dict(sizes=[4, 3, 2], trainable_length=True), "must be > 0 when trainable_length=True"),
        (
            dict(sizes=[4, 3, 2], init_scale=0.0),
            "The 'init_scale' parameter of IsotropicMLP must be a finite float > 0",
        ),
        (dict(sizes=[4, 3, 2], bias=1), "The 'bias' parameter of IsotropicMLP must be a bool"),
    ],
)
def test_bad_construction_fails_clearly(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IsotropicMLP(**kwargs)


def test_check_isotropic_names_the_problem():
    check_isotropic(nn.Sequential(nn.Flatten(), IsotropicMLP([2, 3, 1], seed=0)))
    with pytest.raises(TypeError, match="grow needs an IsotropicMLP .* got Sequential, which contains none"):
        check_isotropic(nn.Sequential(nn.Linear(2, 3), nn.ReLU()), "grow")
    with pytest.raises(TypeError, match="got int"):
        check_isotropic(3)
