"""Activations: formulas, corner cases, gradients, modules, registry and DAGNetwork nodes."""

from __future__ import annotations

import math

import mpmath
import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.autograd import gradcheck

from dagnet import DAGNetwork
from dagnet.activations import (
    ADA,
    AIL,
    AllReLU,
    IsotropicTanh,
    LeakyADA,
    ada,
    ail,
    all_relu,
    all_relu_slope,
    and_ail,
    and_exact,
    isotropic_tanh,
    leaky_ada,
    or_ail,
    or_exact,
    resolve_activation,
    xnor_ail,
    xnor_exact,
)
from dagnet.activations.functional import _series_limit
from dagnet.activations.registry import CUSTOM
from dagnet.errors import InputShapeError
from dagnet.seeding import torch_generator

F64 = torch.float64
POINTS = [
    -1e4,
    -100.0,
    -30.0,
    -2.5,
    -1.0,
    -1e-3,
    -1e-300,
    0.0,
    1e-300,
    1e-3,
    0.5,
    1.0,
    2.0,
    9.99,
    10.0,
    10.01,
    30.0,
    100.0,
    1e4,
]


def _t(values, dtype=F64, grad=False):
    return torch.tensor(values, dtype=dtype, requires_grad=grad)


def _randn(*shape, seed=0, dtype=F64):
    return torch.randn(*shape, generator=torch_generator(seed), dtype=dtype)


# ----------------------------------------------------------------------------- ADA
def _ada_ref(x, alpha):
    return x * math.exp(-alpha * x) if x > 0 else 0.0


@pytest.mark.parametrize("alpha", [0.0, 0.1, 1.0, 3.0])
def test_ada_matches_formula(alpha):
    got = ada(_t(POINTS), alpha)
    want = _t([_ada_ref(x, alpha) for x in POINTS])
    torch.testing.assert_close(got, want, rtol=1e-14, atol=0)
    assert torch.isfinite(got).all()  # no 0 * inf at x = -1e4


@pytest.mark.parametrize("alpha,slope", [(0.1, 0.01), (0.5, 0.2), (0.0, -0.3)])
def test_leaky_ada_matches_formula(alpha, slope):
    got = leaky_ada(_t(POINTS), alpha, slope)
    want = _t([slope * min(x, 0.0) + _ada_ref(x, alpha) for x in POINTS])
    torch.testing.assert_close(got, want, rtol=1e-14, atol=0)


def test_ada_peak_and_defaults():
    alpha = 0.25
    x = torch.linspace(0, 20, 20001, dtype=F64)
    y = ada(x, alpha)
    assert abs(x[y.argmax()].item() - 1 / alpha) < 1e-3
    assert abs(y.max().item() - 1 / (alpha * math.e)) < 1e-9
    torch.testing.assert_close(ada(x), ada(x, 0.1))
    torch.testing.assert_close(leaky_ada(-x), 0.01 * -x)


def test_ada_gradcheck_including_alpha():
    x = _t([-3.0, -0.5, 0.2, 1.0, 7.0, 40.0], grad=True)
    alpha = _t(0.3, grad=True)
    assert gradcheck(ada, (x, alpha))
    assert gradcheck(lambda x, a: leaky_ada(x, a, 0.05), (x, alpha))
    assert gradcheck(lambda x: ada(x), (x,))


def test_ada_gradient_values():
    x = _t([-2.0, 0.0, 3.0], grad=True)
    ada(x, 0.5).sum().backward()
    # d/dx x e^{-a x} = (1 - a x) e^{-a x}; 0 for x <= 0 (left derivative at 0)
    torch.testing.assert_close(x.grad, _t([0.0, 0.0, (1 - 1.5) * math.exp(-1.5)]))


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_ada_rejects_bad_alpha(bad):
    with pytest.raises(ValueError, match="The 'alpha' parameter of ada must be a finite float >= 0"):
        ada(_t([1.0]), bad)
    with pytest.raises(ValueError, match="The 'alpha' parameter of ADA"):
        ADA(alpha=bad)


# ----------------------------------------------------------------------------- AIL
GRID = [-100.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 100.0]
PAIRS = [(a, b) for a in GRID for b in GRID]  # includes ties (a == b), zeros and both signs


def _and_ref(x, y):
    return x + y if (x < 0 and y < 0) else min(x, y)


def _or_ref(x, y):
    return x + y if (x > 0 and y > 0) else max(x, y)


def _xnor_ref(x, y):
    s = 0.0 if x == 0 or y == 0 else (1.0 if (x > 0) == (y > 0) else -1.0)
    return s * min(abs(x), abs(y))


@pytest.mark.parametrize("fn,ref", [(and_ail, _and_ref), (or_ail, _or_ref), (xnor_ail, _xnor_ref)])
def test_ail_matches_formula(fn, ref):
    x, y = _t([p[0] for p in PAIRS]), _t([p[1] for p in PAIRS])
    torch.testing.assert_close(fn(x, y), _t([ref(a, b) for a, b in PAIRS]), rtol=0, atol=0)


def test_ail_spot_values():
    assert and_ail(_t(-1.0), _t(-2.0)).item() == -3.0  # both negative: sum
    assert and_ail(_t(0.0), _t(-2.0)).item() == -2.0  # zero is not negative: min
    assert or_ail(_t(0.0), _t(2.0)).item() == 2.0
    assert or_ail(_t(1.0), _t(2.0)).item() == 3.0
    assert xnor_ail(_t(-1e300), _t(-1e300)).item() == 1e300  # no overflow of x * y
    assert xnor_ail(_t(1e-200), _t(-1e-200)).item() == -1e-200  # no underflow of x * y


def test_ail_normalized_is_affine_map():
    x, y = _randn(100, seed=1), _randn(100, seed=2)
    torch.testing.assert_close(and_ail(x, y, normalized=True), (and_ail(x, y) + 0.68104) / 0.97229)
    torch.testing.assert_close(or_ail(x, y, normalized=True), (or_ail(x, y) - 0.68104) / 0.97229)
    torch.testing.assert_close(xnor_ail(x, y, normalized=True), xnor_ail(x, y) / 0.60281)


@pytest.mark.parametrize("kind", ["and", "or", "xnor"])
def test_ail_normalized_has_zero_mean_unit_variance(kind):
    x = _randn(2, 400_000, seed=3)
    out = ail(x.reshape(-1), kind, normalized=True)
    assert abs(out.mean().item()) < 0.006
    assert abs(out.std().item() - 1.0) < 0.006


def test_ail_gradients():
    g = torch_generator(5)
    x = (torch.rand(40, dtype=F64, generator=g) * 6 - 3).requires_grad_()
    y = (torch.rand(40, dtype=F64, generator=g) * 6 - 3).requires_grad_()
    for fn in (and_ail, or_ail, xnor_ail):
        assert gradcheck(fn, (x, y))
        assert gradcheck(lambda a, b: fn(a, b, normalized=True), (x, y))  # noqa: B023 (called here)
    # XNOR's sign carries no gradient: d/dx = sign(y) where |x| < |y|, 0 where |x| > |y|
    xn, yn = _t([0.5, -0.5, 2.0], grad=True), _t([-2.0, -2.0, 0.5], grad=True)
    xnor_ail(xn, yn).sum().backward()
    torch.testing.assert_close(xn.grad, _t([-1.0, -1.0, 0.0]))
    torch.testing.assert_close(yn.grad, _t([0.0, 0.0, 1.0]))


# ----------------------------------------------------------------------------- exact AIL
EXACT_GRID = [-100.0, -35.0, -3.0, -1.0, -1e-8, 0.0, 1e-8, 0.5, 1.0, 3.0, 35.0, 100.0]


def _exact_ref(kind, x, y):
    with mpmath.workdps(250):  # 1 - p is as small as 1e-87
        sx, sy = 1 / (1 + mpmath.exp(-mpmath.mpf(x))), 1 / (1 + mpmath.exp(-mpmath.mpf(y)))
        p = {"and": sx * sy, "or": 1 - (1 - sx) * (1 - sy), "xnor": sx * sy + (1 - sx) * (1 - sy)}[kind]
        return float(mpmath.log(p) - mpmath.log(1 - p))


@pytest.mark.parametrize("kind,fn", [("and", and_exact), ("or", or_exact), ("xnor", xnor_exact)])
def test_exact_matches_high_precision_reference(kind, fn):
    pairs = [(a, b) for a in EXACT_GRID for b in EXACT_GRID]
    x, y = _t([p[0] for p in pairs]), _t([p[1] for p in pairs])
    want = _t([_exact_ref(kind, a, b) for a, b in pairs])
    torch.testing.assert_close(fn(x, y), want, rtol=1e-12, atol=1e-12)
    # float32 at |x| ~ 100: finite and accurate to float32
    got32 = fn(x.float(), y.float())
    assert torch.isfinite(got32).all()
    torch.testing.assert_close(got32.double(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fn", [and_exact, or_exact, xnor_exact])
@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_exact_gradients_finite_at_large_magnitude(fn, dtype):
    big = [-200.0, -100.0, 0.0, 100.0, 200.0]
    x = _t([a for a in big for _ in big], dtype, grad=True)
    y = _t([b for _ in big for b in big], dtype, grad=True)
    out = fn(x, y)
    out.sum().backward()
    assert torch.isfinite(out).all()
    assert torch.isfinite(x.grad).all() and torch.isfinite(y.grad).all()
    assert (x.grad.abs() <= 1 + 1e-6).all()  # each exact op is 1-Lipschitz in each argument


@pytest.mark.parametrize("fn", [and_exact, or_exact, xnor_exact])
def test_exact_gradcheck(fn):
    x = _t([-100.0, -4.0, -1.0, 0.0, 0.3, 2.0, 50.0], grad=True)
    y = _t([-100.0, 3.0, -1.0, 0.0, -0.7, 2.0, -50.0], grad=True)
    assert gradcheck(fn, (x, y))


def test_exact_logic_limits():
    t, f = _t(40.0), _t(-40.0)  # "true" and "false" logits
    assert and_exact(t, t) > 30 and and_exact(t, f) < -30 and and_exact(f, f) < -30
    assert or_exact(f, f) < -30 and or_exact(t, f) > 30 and or_exact(t, t) > 30
    assert xnor_exact(t, t) > 30 and xnor_exact(f, f) > 30 and xnor_exact(t, f) < -30
    assert xnor_exact(_t(0.0), _t(7.0)).item() == 0.0  # an unknown operand gives 1/2


# ----------------------------------------------------------------------------- pairing
@pytest.mark.parametrize(
    "kind,approx,exact", [("and", and_ail, and_exact), ("or", or_ail, or_exact), ("xnor", xnor_ail, xnor_exact)]
)
def test_ail_pairs_first_half_with_second_half(kind, approx, exact):
    a, b = _randn(3, 4, seed=7), _randn(3, 4, seed=8)
    x = torch.cat([a, b], dim=-1)
    torch.testing.assert_close(ail(x, kind), approx(a, b), rtol=0, atol=0)
    torch.testing.assert_close(ail(x, kind, exact=True), exact(a, b), rtol=0, atol=0)
    torch.testing.assert_close(AIL(kind, normalized=True)(x), approx(a, b, normalized=True))
    assert AIL(kind)(x).shape == (3, 4)


def test_ail_validation():
    with pytest.raises(InputShapeError, match=r"even size; got shape \(2, 5\)"):
        ail(torch.zeros(2, 5))
    with pytest.raises(InputShapeError, match="even"):
        AIL("or")(torch.zeros(3))
    with pytest.raises(ValueError, match=r"The 'kind' parameter of AIL must be one of 'and', 'or', 'xnor'"):
        AIL("nand")
    with pytest.raises(ValueError, match="normalized=True is defined for the AIL approximations only"):
        AIL("and", exact=True, normalized=True)
    with pytest.raises(ValueError, match="The 'normalized' parameter of and_ail must be a bool"):
        and_ail(torch.zeros(1), torch.zeros(1), normalized=1)


# ----------------------------------------------------------------------------- All-ReLU
@pytest.mark.parametrize("slope", [-0.75, -0.6, 0.0, 0.6, 1.0])
def test_all_relu_matches_formula_and_gradient(slope):
    x = _t(POINTS, grad=True)
    y = all_relu(x, slope)
    torch.testing.assert_close(y, _t([v if v >= 0 else slope * v for v in POINTS]), rtol=0, atol=0)
    y.sum().backward()
    nonzero = _t(POINTS) != 0  # at 0 either one-sided derivative is fine
    torch.testing.assert_close(x.grad[nonzero], _t([1.0 if v > 0 else slope for v in POINTS if v != 0]))
    xs = _t([-2.0, -0.1, 0.4, 3.0], grad=True)
    assert gradcheck(lambda z: all_relu(z, slope), (xs,))


def test_all_relu_alternates_sign_starting_negative():
    assert [all_relu_slope(i) for i in range(4)] == [-0.6, 0.6, -0.6, 0.6]
    assert [AllReLU(i, slope=0.75).negative_slope for i in range(3)] == [-0.75, 0.75, -0.75]
    act = AllReLU(0)
    torch.testing.assert_close(act(_t([-2.0, 3.0])), _t([1.2, 3.0]))
    torch.testing.assert_close(AllReLU(1)(_t([-2.0, 3.0])), _t([-1.2, 3.0]))
    assert "layer_index=0, negative_slope=-0.6" in repr(act)
    for bad in (-1, 1.0, True):
        with pytest.raises(ValueError, match="The 'layer_index' parameter of AllReLU must be an int >= 0"):
            AllReLU(bad)


# ----------------------------------------------------------------------------- isotropic tanh
def _iso_ref(h: np.ndarray, o: float) -> np.ndarray:
    r = np.sqrt((h * h).sum(-1, keepdims=True) + o)
    with np.errstate(invalid="ignore", divide="ignore"):
        gate = np.where(r > 0, np.tanh(r) / np.where(r > 0, r, 1.0), 1.0)
    return gate * h


@pytest.mark.parametrize("o", [0.0, 1e-6, 0.3, 1.0, 25.0])
@pytest.mark.parametrize("scale", [1e-5, 1e-2, 0.2, 1.0, 5.0, 300.0])
def test_isotropic_tanh_matches_formula(o, scale):
    h = _randn(20, 6, seed=11) * scale
    want = torch.from_numpy(_iso_ref(h.numpy(), o))
    torch.testing.assert_close(isotropic_tanh(h, o), want, rtol=1e-13, atol=1e-300)


def test_isotropic_tanh_limits_and_extremes():
    h = _randn(4, 3, seed=12) * 1e-9
    torch.testing.assert_close(isotropic_tanh(h), h, rtol=1e-15, atol=0)  # o = 0: identity near 0
    o = 0.49
    torch.testing.assert_close(isotropic_tanh(h, o), math.tanh(0.7) / 0.7 * h, rtol=1e-15, atol=0)
    assert isotropic_tanh(torch.zeros(2, 3, dtype=F64)).abs().max().item() == 0.0
    huge = _t([[1e200, -1e200, 0.0]])  # ||h||**2 would overflow
    torch.testing.assert_close(isotropic_tanh(huge), _t([[2**-0.5, -(2**-0.5), 0.0]]), rtol=1e-15, atol=0)
    big32 = torch.tensor([[3e19, 4e19]])
    torch.testing.assert_close(isotropic_tanh(big32), torch.tensor([[0.6, 0.8]]))
    assert (isotropic_tanh(_randn(50, 4, seed=13) * 100).norm(dim=-1) <= 1 + 1e-12).all()


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_isotropic_tanh_continuous_across_series_limit(dtype):
    limit = _series_limit(dtype)
    s = _t([limit * (1 - 1e-7), limit * (1 + 1e-7)])
    h = torch.stack([s.sqrt(), torch.zeros_like(s)], dim=-1).to(dtype)
    gate = (isotropic_tanh(h)[:, 0] / h[:, 0]).double()
    want = torch.tanh(s.sqrt()) / s.sqrt()
    tol = 4 * torch.finfo(dtype).eps
    torch.testing.assert_close(gate, want, rtol=tol, atol=0)


def test_isotropic_tanh_jacobian_at_zero():
    for o in (0.0, 0.25, 4.0):
        jac = torch.autograd.functional.jacobian(lambda h: isotropic_tanh(h, o), torch.zeros(4, dtype=F64))  # noqa: B023 (called here)
        factor = 1.0 if o == 0 else math.tanh(math.sqrt(o)) / math.sqrt(o)
        torch.testing.assert_close(jac, factor * torch.eye(4, dtype=F64), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("o", [0.0, 1e-3, 0.7])
def test_isotropic_tanh_gradcheck(o):
    limit = _series_limit(F64)
    cases = [
        torch.zeros(2, 3, dtype=F64),  # h = 0
        _randn(2, 3, seed=14) * 1e-4,  # near 0: series branch
        _randn(2, 3, seed=15) * 0.03,  # near the series limit
        torch.full((1, 3), math.sqrt(limit / 3), dtype=F64),  # at the limit
        _randn(3, 5, seed=16) * 2,
    ]
    for h in cases:
        assert gradcheck(lambda h: isotropic_tanh(h, o), (h.requires_grad_(),))
        assert torch.autograd.gradgradcheck(lambda h: isotropic_tanh(h, o), (h,))


def test_isotropic_tanh_gradcheck_trainable_length():
    log_o = _t(-1.0, grad=True)
    for h in (torch.zeros(2, 3, dtype=F64), _randn(2, 3, seed=17)):
        assert gradcheck(lambda h, lo: isotropic_tanh(h, lo.exp()), (h.requires_grad_(), log_o))


def _orthogonal(d: int, seed: int) -> torch.Tensor:
    q, r = torch.linalg.qr(_randn(d, d, seed=seed))
    return q * torch.sign(torch.diagonal(r))


@settings(max_examples=40, deadline=None)
@given(
    d=st.integers(1, 8),
    seed=st.integers(0, 2**31),
    log_scale=st.floats(-8, 3),
    o=st.sampled_from([0.0, 1e-4, 0.5, 3.0]),
)
def test_isotropic_tanh_rotation_equivariance(d, seed, log_scale, o):
    rot = _orthogonal(d, seed)
    h = _randn(6, d, seed=seed + 1) * 10.0**log_scale
    left = isotropic_tanh(h @ rot.T, o)
    right = isotropic_tanh(h, o) @ rot.T
    torch.testing.assert_close(left, right, rtol=1e-10, atol=1e-12 * 10.0**log_scale)


def test_isotropic_tanh_validation():
    with pytest.raises(
        ValueError, match="The 'intrinsic_length' parameter of isotropic_tanh must be a finite float >= 0"
    ):
        isotropic_tanh(torch.zeros(3), -1.0)
    with pytest.raises(ValueError, match="must be a float > 0 when trainable=True"):
        IsotropicTanh(0.0, trainable=True)
    with pytest.raises(InputShapeError, match="0-d"):
        isotropic_tanh(torch.tensor(1.0))


# ----------------------------------------------------------------------------- modules
def test_module_state_lives_in_state_dict():
    assert dict(ADA(0.3).named_buffers())["alpha"].item() == pytest.approx(0.3)
    assert [n for n, _ in ADA(0.3, trainable=True).named_parameters()] == ["alpha"]
    assert [n for n, _ in LeakyADA(trainable=True).named_parameters()] == ["alpha"]
    iso = IsotropicTanh(2.0, trainable=True)
    assert iso.log_o.item() == pytest.approx(math.log(2.0))
    assert iso.intrinsic_length.item() == pytest.approx(2.0)
    assert set(IsotropicTanh(2.0).state_dict()) == {"o"}
    # loading a state dict changes the behaviour
    a, b = ADA(0.1), ADA(0.9)
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b(_t([5.0]).float()), ada(_t([5.0]).float(), 0.1))
    assert repr(ADA(0.5, trainable=True)) == "ADA(alpha=0.5, trainable=True)"
    assert repr(LeakyADA()) == "LeakyADA(alpha=0.1, slope=0.01, trainable=False)"
    assert repr(AIL("or", exact=True)) == "AIL(kind='or', exact=True, normalized=False)"
    assert repr(IsotropicTanh(1.0)) == "IsotropicTanh(intrinsic_length=1, trainable=False)"


def _linear(n_in, n_out, g):
    """An nn.Linear initialised from ``g`` (tests keep off torch's global generator too)."""
    layer = nn.utils.skip_init(nn.Linear, n_in, n_out, dtype=F64)
    with torch.no_grad():
        layer.weight.copy_((torch.rand(n_out, n_in, generator=g, dtype=F64) * 2 - 1) / n_in**0.5)
        layer.bias.zero_()
    return layer


def test_modules_train_in_a_pytorch_model():
    g = torch_generator(20)
    model = nn.Sequential(
        _linear(5, 16, g),
        ADA(0.2, trainable=True, dtype=F64),
        _linear(16, 16, g),
        LeakyADA(trainable=True, dtype=F64),
        _linear(16, 16, g),
        AllReLU(0),
        _linear(16, 16, g),
        AIL("and"),  # 16 -> 8
        _linear(8, 8, g),
        AIL("xnor", exact=True),  # 8 -> 4
        _linear(4, 6, g),
        IsotropicTanh(0.5, trainable=True, dtype=F64),
        _linear(6, 2, g),
    )
    x = torch.randn(32, 5, generator=g, dtype=F64)
    target = torch.randn(32, 2, generator=g, dtype=F64)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = nn.functional.mse_loss(model(x), target)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    opt.step()
    for name in ("1.alpha", "3.alpha", "11.log_o", "0.weight"):
        assert not torch.equal(before[name], dict(model.named_parameters())[name]), name
    assert nn.functional.mse_loss(model(x), target) < loss


def test_modules_gradcheck():
    x = _randn(3, 4, seed=21).requires_grad_()
    for module in (
        ADA(0.3, trainable=True, dtype=F64),
        LeakyADA(0.2, trainable=True, dtype=F64),
        IsotropicTanh(0.4, trainable=True, dtype=F64),
        AIL("or"),
        AIL("xnor", exact=True),
        AllReLU(1),
    ):
        params = list(module.parameters())
        names = [n for n, _ in module.named_parameters()]

        def fn(x, *ps, module=module, names=names):
            return torch.func.functional_call(module, dict(zip(names, ps)), (x,))

        assert gradcheck(fn, (x, *params)), module


# ----------------------------------------------------------------------------- registry & DAGNetwork
def test_registry_names():
    for name, fn in (("ada", ada), ("leaky_ada", leaky_ada), ("ADA", ada)):
        key, code, got = resolve_activation(name)
        assert key == name.lower() and code == CUSTOM and got is fn
    assert resolve_activation("relu")[1] != CUSTOM  # the fast codes are untouched


def _graph(act):
    g = nx.DiGraph()
    g.add_edge("x1", "h", weight=1.5)
    g.add_edge("x2", "h", weight=-2.0)
    g.add_edge("h", "y", weight=0.5)
    g.add_edge("x1", "y", weight=1.0)
    g.nodes["h"]["bias"] = 0.25
    g.nodes["y"]["bias"] = -0.1
    if act is not None:
        g.nodes["h"]["activation"] = act
    return g


@pytest.mark.parametrize("backend", ["numba", "torch"])
@pytest.mark.parametrize("name,ref", [("ada", ada), ("leaky_ada", leaky_ada)])
def test_dag_network_node_uses_named_activation(backend, name, ref):
    x = torch.stack([torch.linspace(-20, 20, 41, dtype=F64), torch.linspace(15, -15, 41, dtype=F64)], 1)
    for net in (
        DAGNetwork(_graph(None), activation=name, backend=backend, dtype=F64),
        DAGNetwork(_graph(name), backend=backend, dtype=F64),
    ):
        z = 1.5 * x[:, 0] - 2.0 * x[:, 1] + 0.25
        alpha, slope = 0.1, 0.01
        h = torch.where(z > 0, z * torch.exp(-alpha * z), (slope * z if name == "leaky_ada" else 0 * z))
        want = 0.5 * h + x[:, 0] - 0.1
        torch.testing.assert_close(net(x)[:, 0], want, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(ref(z), h, rtol=1e-15, atol=0)


def test_dag_network_trains_ada_module_alpha():
    act = ADA(0.2, trainable=True, dtype=F64)
    net = DAGNetwork(_graph(None), activation=act, dtype=F64, seed=0)
    x = _randn(8, 2, seed=22) * 5
    net(x).pow(2).sum().backward()
    assert act.alpha.grad is not None and act.alpha.grad.item() != 0.0
    # the gradient matches the same computation written with ada() directly
    alpha = _t(0.2, grad=True)
    z = 1.5 * x[:, 0] - 2.0 * x[:, 1] + 0.25
    (0.5 * ada(z, alpha) + x[:, 0] - 0.1).pow(2).sum().backward()
    torch.testing.assert_close(act.alpha.grad, alpha.grad)
