"""Activation functions beyond the usual element-wise ones, as plain torch functions.

Three families, each taken from a paper digested in ``papers.md``:

* **ADA** (apical dendrite activation; Georgescu, Ionescu et al.): :func:`ada`,
  :func:`leaky_ada`. Element-wise; registered as node activations ``"ada"``
  and ``"leaky_ada"``.
* **Logit-space Boolean activations** (Lowe et al. 2022): :func:`and_ail`,
  :func:`or_ail`, :func:`xnor_ail` (approximations), :func:`and_exact`,
  :func:`or_exact`, :func:`xnor_exact` (exact, numerically stable), and
  :func:`ail`, which applies one of them to pairs of channels.
* **All-ReLU** (Curci, Mocanu, Pechenizkiy 2021): :func:`all_relu` and
  :func:`all_relu_slope`, the sign convention across layers.
* **Isotropic tanh** (Bird 2026): :func:`isotropic_tanh`, a function of the
  whole vector along the last dimension that commutes with rotations.

Every function takes and returns tensors, is differentiable, and never
touches a random generator.
"""

from __future__ import annotations

import numbers

import torch
import torch.nn.functional as F

from .._checks import Interval, check_bool, check_choice, check_float, invalid
from ..errors import InputShapeError

__all__ = [
    "ada",
    "leaky_ada",
    "and_ail",
    "or_ail",
    "xnor_ail",
    "and_exact",
    "or_exact",
    "xnor_exact",
    "ail",
    "AIL_KINDS",
    "all_relu",
    "all_relu_slope",
    "isotropic_tanh",
]

# Mean and standard deviation of the AIL functions for x, y iid N(0, 1)
# (Lowe et al. 2022; checked by Monte Carlo in tests/test_activations.py).
AIL_MEAN = 0.68104  # E[OR_AIL] = -E[AND_AIL]
AIL_STD = 0.97229  # std of AND_AIL and of OR_AIL
XNOR_AIL_STD = 0.60281  # E[XNOR_AIL] = 0

AIL_KINDS = ("and", "or", "xnor")


# --------------------------------------------------------------------------- checks
def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_real(value, name: str, owner: str, low: float | None = None):
    """Validate a Python number (tensors pass unchecked: no device sync in forward)."""
    if isinstance(value, torch.Tensor):
        return value
    return check_float(value, name, owner, low)


# --------------------------------------------------------------------------- ADA
def ada(x: torch.Tensor, alpha: float | torch.Tensor = 0.1) -> torch.Tensor:
    r"""Apical dendrite activation: :math:`\max(x, 0)\, e^{-\alpha x}`.

    Zero for ``x <= 0``; rises like ``x`` near 0, peaks at ``x = 1/alpha``
    with value ``1/(alpha e)`` and decays to 0 for large ``x`` (so a single
    unit can fire on a band of inputs, e.g. learn XOR).

    Parameters
    ----------
    x : Tensor
        Input, any shape.
    alpha : float or Tensor, default 0.1
        Decay rate, ``>= 0`` (a tensor, e.g. a trainable parameter, must
        broadcast against ``x``; it is not checked).

    Returns
    -------
    Tensor
        Same shape as ``x``.

    Notes
    -----
    The exponential is evaluated at ``max(x, 0)``, so a very negative ``x``
    gives exactly 0 instead of ``0 * inf = nan``. The derivative at 0 is 0
    (the left derivative), as for :func:`torch.relu`.

    Examples
    --------
    >>> ada(torch.tensor([-1.0, 0.0, 10.0]), alpha=0.1)
    tensor([0.0000, 0.0000, 3.6788])
    """
    alpha = _check_real(alpha, "alpha", "ada", low=0.0)
    pos = torch.relu(x)
    return pos * torch.exp(-alpha * pos)


def leaky_ada(x: torch.Tensor, alpha: float | torch.Tensor = 0.1, slope: float = 0.01) -> torch.Tensor:
    r"""Leaky ADA: :math:`l \min(x, 0) + \max(x, 0)\, e^{-\alpha x}`.

    Parameters
    ----------
    x : Tensor
        Input, any shape.
    alpha : float or Tensor, default 0.1
        Decay rate of the positive part, ``>= 0``.
    slope : float, default 0.01
        Slope ``l`` of the negative part.

    Returns
    -------
    Tensor
        Same shape as ``x``.

    Examples
    --------
    >>> leaky_ada(torch.tensor([-100.0, 0.0, 10.0]))
    tensor([-1.0000,  0.0000,  3.6788])
    """
    alpha = _check_real(alpha, "alpha", "leaky_ada", low=0.0)
    slope = _check_real(slope, "slope", "leaky_ada")
    pos = torch.relu(x)
    return slope * torch.clamp(x, max=0.0) + pos * torch.exp(-alpha * pos)


# --------------------------------------------------------------------------- AIL
def _normalized(value: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "and":
        return (value + AIL_MEAN) / AIL_STD
    if kind == "or":
        return (value - AIL_MEAN) / AIL_STD
    return value / XNOR_AIL_STD


def and_ail(x: torch.Tensor, y: torch.Tensor, normalized: bool = False) -> torch.Tensor:
    r"""Logit-space AND, approximate: ``x + y`` where both are negative, else ``min(x, y)``.

    Approximates :func:`and_exact`, the logit of ``P(A and B)`` for
    independent events with logits ``x`` and ``y``.

    Parameters
    ----------
    x, y : Tensor
        Logits, broadcastable to a common shape.
    normalized : bool, default False
        Return ``(AND_AIL + 0.68104) / 0.97229``: mean 0 and variance 1 when
        ``x`` and ``y`` are independent standard normals.

    Returns
    -------
    Tensor
        The broadcast shape of ``x`` and ``y``.

    See Also
    --------
    and_exact, or_ail, xnor_ail, ail

    References
    ----------
    Lowe, S. C. et al. (2022). Logical Activation Functions: Logit-space
    equivalents of Probabilistic Boolean Operators. NeurIPS.

    Examples
    --------
    >>> and_ail(torch.tensor([-1.0, -1.0, 2.0]), torch.tensor([-2.0, 3.0, 1.0]))
    tensor([-3., -1.,  1.])
    """
    out = torch.where((x < 0) & (y < 0), x + y, torch.minimum(x, y))
    return _normalized(out, "and") if check_bool(normalized, "normalized", "and_ail") else out


def or_ail(x: torch.Tensor, y: torch.Tensor, normalized: bool = False) -> torch.Tensor:
    r"""Logit-space OR, approximate: ``x + y`` where both are positive, else ``max(x, y)``.

    Parameters
    ----------
    x, y : Tensor
        Logits, broadcastable to a common shape.
    normalized : bool, default False
        Return ``(OR_AIL - 0.68104) / 0.97229`` (mean 0, variance 1 for
        independent standard normal inputs).

    Returns
    -------
    Tensor
        The broadcast shape of ``x`` and ``y``.

    See Also
    --------
    or_exact, and_ail, xnor_ail, ail

    Examples
    --------
    >>> or_ail(torch.tensor([1.0, 1.0, -2.0]), torch.tensor([2.0, -3.0, -1.0]))
    tensor([ 3.,  1., -1.])
    """
    out = torch.where((x > 0) & (y > 0), x + y, torch.maximum(x, y))
    return _normalized(out, "or") if check_bool(normalized, "normalized", "or_ail") else out


def xnor_ail(x: torch.Tensor, y: torch.Tensor, normalized: bool = False) -> torch.Tensor:
    r"""Logit-space XNOR, approximate: :math:`\mathrm{sign}(xy) \min(|x|, |y|)`.

    The sign carries no gradient; the gradient flows through the smaller
    magnitude (split equally between ``x`` and ``y`` on a tie, as
    :func:`torch.minimum` does).

    Parameters
    ----------
    x, y : Tensor
        Logits, broadcastable to a common shape.
    normalized : bool, default False
        Return ``XNOR_AIL / 0.60281`` (variance 1 for independent standard
        normal inputs; the mean is already 0).

    Returns
    -------
    Tensor
        The broadcast shape of ``x`` and ``y``.

    See Also
    --------
    xnor_exact, and_ail, or_ail, ail

    Examples
    --------
    >>> xnor_ail(torch.tensor([1.0, -1.0, -2.0, 0.0]), torch.tensor([2.0, 3.0, -1.0, 5.0]))
    tensor([ 1., -1.,  1.,  0.])
    """
    # sign(x) * sign(y) equals sign(x * y) without the product's overflow or underflow.
    sign = (torch.sign(x) * torch.sign(y)).detach()
    out = sign * torch.minimum(x.abs(), y.abs())
    return _normalized(out, "xnor") if check_bool(normalized, "normalized", "xnor_ail") else out


def and_exact(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Exact logit-space AND: :math:`\mathrm{logit}(\sigma(x)\sigma(y))`.

    Computed as :math:`\log\sigma(x) + \log\sigma(y) -
    \log(\sigma(-x) + \sigma(x)\sigma(-y))` with log-sigmoids and a
    log-sum-exp of positive terms (``1 - σ(x)σ(y) = σ(-x) + σ(x)σ(-y)``), so
    it neither overflows nor cancels for large ``|x|`` and ``|y|``, and its
    gradient is finite everywhere.

    Parameters
    ----------
    x, y : Tensor
        Logits, broadcastable to a common shape.

    Returns
    -------
    Tensor
        The broadcast shape of ``x`` and ``y``.

    See Also
    --------
    and_ail, or_exact, xnor_exact

    Examples
    --------
    >>> and_exact(torch.tensor([0.0, 100.0]), torch.tensor([0.0, 100.0]))
    tensor([-1.0986, 99.3069])
    """
    ls_x, ls_y = F.logsigmoid(x), F.logsigmoid(y)
    log_not = torch.logaddexp(F.logsigmoid(-x), ls_x + F.logsigmoid(-y))
    return ls_x + ls_y - log_not


def or_exact(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Exact logit-space OR: :math:`\mathrm{logit}(1 - \sigma(-x)\sigma(-y))`.

    Equal to ``-and_exact(-x, -y)`` (De Morgan), which is how it is computed.

    Parameters
    ----------
    x, y : Tensor
        Logits, broadcastable to a common shape.

    Returns
    -------
    Tensor
        The broadcast shape of ``x`` and ``y``.

    See Also
    --------
    or_ail, and_exact, xnor_exact

    Examples
    --------
    >>> or_exact(torch.tensor([0.0, -100.0]), torch.tensor([0.0, -100.0]))
    tensor([  1.0986, -99.3069])
    """
    return -and_exact(-x, -y)


def xnor_exact(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Exact logit-space XNOR: :math:`\mathrm{logit}(\sigma(x)\sigma(y) + \sigma(-x)\sigma(-y))`.

    Both the probability and its complement
    (``σ(x)σ(-y) + σ(-x)σ(y)``) are sums of positive terms, each evaluated
    as a log-sum-exp of log-sigmoids: stable for any magnitude.

    Parameters
    ----------
    x, y : Tensor
        Logits, broadcastable to a common shape.

    Returns
    -------
    Tensor
        The broadcast shape of ``x`` and ``y``.

    See Also
    --------
    xnor_ail, and_exact, or_exact

    Examples
    --------
    >>> xnor_exact(torch.tensor([0.0, 100.0, 100.0]), torch.tensor([3.0, 100.0, -100.0]))
    tensor([  0.0000,  99.3069, -99.3069])
    """
    lp_x, ln_x = F.logsigmoid(x), F.logsigmoid(-x)
    lp_y, ln_y = F.logsigmoid(y), F.logsigmoid(-y)
    return torch.logaddexp(lp_x + lp_y, ln_x + ln_y) - torch.logaddexp(lp_x + ln_y, ln_x + lp_y)


_AIL = {"and": and_ail, "or": or_ail, "xnor": xnor_ail}
_EXACT = {"and": and_exact, "or": or_exact, "xnor": xnor_exact}


def _check_ail(kind, exact, normalized, owner: str) -> None:
    check_choice(kind, "kind", owner, AIL_KINDS)
    check_bool(exact, "exact", owner)
    check_bool(normalized, "normalized", owner)
    if exact and normalized:
        raise ValueError(
            f"{owner}: normalized=True is defined for the AIL approximations only (its constants "
            "are their moments under standard normal inputs); use exact=False or normalized=False."
        )


def ail(x: torch.Tensor, kind: str = "and", exact: bool = False, normalized: bool = False) -> torch.Tensor:
    """Apply a logit-space Boolean activation to pairs of channels of the last dimension.

    Channel ``i`` of the first half is paired with channel ``i`` of the second
    half: with ``n = x.shape[-1]``, the result is
    ``op(x[..., :n//2], x[..., n//2:])`` of width ``n // 2``. This is the
    convention of :func:`torch.nn.functional.glu` (halves, not interleaved
    channels), so a ``Linear(d, 2 * m)`` in front produces the two operands
    as two contiguous blocks of ``m`` units.

    Parameters
    ----------
    x : Tensor, shape (*, 2 * m)
        Logits; the last dimension must be even.
    kind : {"and", "or", "xnor"}, default "and"
        The Boolean operation.
    exact : bool, default False
        Use the exact logit-space operation (:func:`and_exact`, ...) instead
        of the AIL approximation (:func:`and_ail`, ...).
    normalized : bool, default False
        Use the normalised AIL variant (only with ``exact=False``).

    Returns
    -------
    Tensor, shape (*, m)

    Raises
    ------
    InputShapeError
        If the last dimension is odd.
    ValueError
        For an unknown ``kind`` or ``exact=True`` with ``normalized=True``.

    Examples
    --------
    >>> ail(torch.tensor([[1.0, -2.0, 3.0, -1.0]]), kind="or")
    tensor([[ 4., -1.]])
    """
    _check_ail(kind, exact, normalized, "ail")
    if x.dim() == 0 or x.shape[-1] % 2:
        raise InputShapeError(
            f"AIL activations pair the channels of the last dimension (first half with second "
            f"half), so it must have an even size; got shape {tuple(x.shape)}. Make the layer in "
            f"front produce an even number of features."
        )
    a, b = x.chunk(2, dim=-1)
    if exact:
        return _EXACT[kind](a, b)
    return _AIL[kind](a, b, normalized=normalized)


# --------------------------------------------------------------------------- All-ReLU
def all_relu(x: torch.Tensor, slope: float) -> torch.Tensor:
    """Leaky ReLU with a given, possibly negative, slope: ``x`` if ``x >= 0`` else ``slope * x``.

    Parameters
    ----------
    x : Tensor
        Input, any shape.
    slope : float
        Slope of the negative part; negative values make the function
        non-monotonic (``|x|``-like for ``slope = -1``).

    Returns
    -------
    Tensor
        Same shape as ``x``.

    See Also
    --------
    all_relu_slope : the slope of layer ``l`` in an All-ReLU network.

    Examples
    --------
    >>> all_relu(torch.tensor([-2.0, 3.0]), slope=-0.5)
    tensor([1., 3.])
    """
    slope = _check_real(slope, "slope", "all_relu")
    return F.leaky_relu(x, negative_slope=slope)


def all_relu_slope(layer_index: int, slope: float = 0.6) -> float:
    """Return the negative-part slope of hidden layer ``layer_index`` in All-ReLU.

    All-ReLU alternates the sign of a leaky ReLU's slope from one hidden layer
    to the next: ``-slope`` on even ``layer_index`` (0, the first hidden
    layer, 2, ...) and ``+slope`` on odd ones. This follows the reference code
    of Curci et al. (``AlternatedLeftReLU(-0.6), AlternatedLeftReLU(0.6),
    AlternatedLeftReLU(-0.6)`` for three hidden layers). The paper's values
    are ``slope = 0.6`` on MNIST-like data and ``0.75`` on CIFAR-10.

    Parameters
    ----------
    layer_index : int
        Index of the hidden layer, ``>= 0``; 0 is the first hidden layer.
    slope : float, default 0.6
        Magnitude of the slope.

    Returns
    -------
    float

    Examples
    --------
    >>> [all_relu_slope(i) for i in range(3)]
    [-0.6, 0.6, -0.6]
    """
    if layer_index not in Interval(int, 0):
        raise invalid("layer_index", "AllReLU", "an int >= 0 (0 is the first hidden layer)", layer_index)
    slope = _check_real(slope, "slope", "AllReLU")
    return -slope if layer_index % 2 == 0 else slope


# --------------------------------------------------------------------------- isotropic tanh
# Taylor coefficients of tanh(r) / r in s = r**2 (radius of convergence pi**2 / 4).
_GATE_SERIES = (1.0, -1.0 / 3.0, 2.0 / 15.0, -17.0 / 315.0, 62.0 / 2835.0)
_GATE_NEXT = 1382.0 / 155925.0  # the first coefficient left out


def _series_limit(dtype: torch.dtype) -> float:
    """Largest s where the truncated series is exact to the dtype's epsilon."""
    return min(0.5, (torch.finfo(dtype).eps / _GATE_NEXT) ** 0.2)


def isotropic_tanh(h: torch.Tensor, intrinsic_length: float | torch.Tensor = 0.0) -> torch.Tensor:
    r"""Isotropic tanh of the vectors along the last dimension: :math:`\tanh(r)\, h / r`.

    With :math:`r = \sqrt{\lVert h\rVert^2 + o}` and intrinsic length
    :math:`o \ge 0`, each vector keeps its direction and has its norm
    squashed. The function depends on ``h`` only through its norm and
    direction, so :math:`f(Rh) = R f(h)` for every orthogonal ``R``: no basis
    (neuron) is special. Near ``r = 0`` it is linear,
    ``f(h) ≈ tanh(√o)/√o · h`` (``h`` itself when ``o = 0``).

    Parameters
    ----------
    h : Tensor, shape (*, d)
        Pre-activations; each vector ``h[..., :]`` is one layer's state.
    intrinsic_length : float or Tensor, default 0.0
        ``o >= 0``. A tensor (e.g. ``exp`` of a trainable log) must broadcast
        against ``h[..., :1]`` and be ``> 0`` if it requires a gradient.

    Returns
    -------
    Tensor, shape (*, d)

    Notes
    -----
    The gate ``g(s) = tanh(√s)/√s`` is an analytic function of
    ``s = ‖h‖² + o``; below a dtype-dependent ``s`` (``~1.8e-3`` in float64,
    ``~0.1`` in float32) it is evaluated by its Taylor series in ``s``, which
    has no square root and so gives exact, finite gradients at ``h = 0``.
    Above, ``r`` is computed on ``h`` scaled by its largest magnitude, so
    ``‖h‖²`` cannot overflow.

    References
    ----------
    Bird, G. (2026). Isotropic activation functions enable deindividuated
    neurons and adaptive topologies. arXiv:2602.23405.

    Examples
    --------
    >>> isotropic_tanh(torch.tensor([3.0, 4.0]))  # norm 5 -> tanh(5)
    tensor([0.5999, 0.7999])
    >>> isotropic_tanh(torch.zeros(2), intrinsic_length=1.0)
    tensor([0., 0.])
    """
    o = _check_real(intrinsic_length, "intrinsic_length", "isotropic_tanh", low=0.0)
    if h.dim() == 0:
        raise InputShapeError("isotropic_tanh acts on vectors along the last dimension; got a 0-d tensor.")
    if h.shape[-1] == 0:
        return h.clone()
    # Scale by the largest magnitude (a constant: r does not depend on it) so no square overflows.
    scale = h.detach().abs().amax(dim=-1, keepdim=True).clamp_min(1.0)
    hs = h / scale
    u = (hs * hs).sum(dim=-1, keepdim=True) + o / (scale * scale)  # s / scale**2; equals s when scale == 1
    small = u < _series_limit(h.dtype)  # implies scale == 1 (else u >= 1)
    v = torch.where(small, u, torch.zeros_like(u))
    series = torch.zeros_like(v)
    for c in reversed(_GATE_SERIES):  # Horner
        series = series * v + c
    r = scale * torch.sqrt(torch.where(small, torch.ones_like(u), u))
    direct = torch.tanh(r) / r
    return torch.where(small, series, direct) * h
