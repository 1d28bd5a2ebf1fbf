"""The activations of :mod:`dagnet.activations.functional` as ``nn.Module`` objects.

Each module's constants live in its ``state_dict`` (as a buffer, or as a
parameter when trainable), so saving and loading a model keeps them. The
element-wise ones (:class:`ADA`, :class:`LeakyADA`, :class:`AllReLU`) also
work as node activations of :class:`dagnet.DAGNetwork`, trainable parameters
included; :class:`AIL` and :class:`IsotropicTanh` act on whole vectors and are
for ordinary layered models.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import check_bool
from .functional import (
    _check_ail,
    _check_real,
    ada,
    ail,
    all_relu_slope,
    isotropic_tanh,
    leaky_ada,
)

__all__ = ["ADA", "LeakyADA", "AIL", "AllReLU", "IsotropicTanh"]


def _scalar(value: float, trainable: bool, module: nn.Module, name: str, device, dtype) -> None:
    t = torch.tensor(value, device=device, dtype=dtype if dtype is not None else torch.get_default_dtype())
    if trainable:
        module.register_parameter(name, nn.Parameter(t))
    else:
        module.register_buffer(name, t)


class ADA(nn.Module):
    r"""Apical dendrite activation :math:`\max(x, 0)\, e^{-\alpha x}` (see :func:`~.functional.ada`).

    Parameters
    ----------
    alpha : float, default 0.1
        Decay rate, ``>= 0``.
    trainable : bool, default False
        Make ``alpha`` a trainable scalar ``Parameter`` (else a buffer).
    device, dtype : optional
        Of ``alpha``.

    Attributes
    ----------
    alpha : Tensor, shape ()
        Parameter if ``trainable``, else buffer; in the ``state_dict`` either way.

    Shape
    -----
    Input ``(*)``, output ``(*)``.

    Examples
    --------
    >>> act = ADA(alpha=0.5, trainable=True)
    >>> act
    ADA(alpha=0.5, trainable=True)
    >>> act(torch.tensor([-1.0, 2.0]))
    tensor([0.0000, 0.7358], grad_fn=<MulBackward0>)
    """

    def __init__(self, alpha: float = 0.1, trainable: bool = False, device=None, dtype=None):
        super().__init__()
        alpha = _check_real(alpha, "alpha", type(self).__name__, low=0.0)
        self.trainable = check_bool(trainable, "trainable", type(self).__name__)
        _scalar(alpha, self.trainable, self, "alpha", device, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ada(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={float(self.alpha.detach()):g}, trainable={self.trainable}"


class LeakyADA(nn.Module):
    r"""Leaky ADA :math:`l \min(x, 0) + \max(x, 0)\, e^{-\alpha x}` (see :func:`~.functional.leaky_ada`).

    Parameters
    ----------
    alpha : float, default 0.1
        Decay rate, ``>= 0``.
    slope : float, default 0.01
        Slope ``l`` of the negative part (a constant).
    trainable : bool, default False
        Make ``alpha`` a trainable scalar ``Parameter`` (else a buffer).
    device, dtype : optional
        Of ``alpha``.

    Attributes
    ----------
    alpha : Tensor, shape ()
        Parameter if ``trainable``, else buffer.
    slope : float

    Shape
    -----
    Input ``(*)``, output ``(*)``.

    Examples
    --------
    >>> LeakyADA()(torch.tensor([-10.0, 10.0]))
    tensor([-0.1000,  3.6788])
    """

    def __init__(self, alpha: float = 0.1, slope: float = 0.01, trainable: bool = False, device=None, dtype=None):
        super().__init__()
        alpha = _check_real(alpha, "alpha", type(self).__name__, low=0.0)
        self.slope = _check_real(slope, "slope", type(self).__name__)
        self.trainable = check_bool(trainable, "trainable", type(self).__name__)
        _scalar(alpha, self.trainable, self, "alpha", device, dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return leaky_ada(x, self.alpha, self.slope)

    def extra_repr(self) -> str:
        return f"alpha={float(self.alpha.detach()):g}, slope={self.slope:g}, trainable={self.trainable}"


class AIL(nn.Module):
    """Logit-space Boolean activation on pairs of channels (see :func:`~.functional.ail`).

    The last dimension is split into halves and channel ``i`` of the first
    half is combined with channel ``i`` of the second: the output is half as
    wide as the input.

    Parameters
    ----------
    kind : {"and", "or", "xnor"}, default "and"
        The Boolean operation.
    exact : bool, default False
        Exact logit-space operation instead of the AIL approximation.
    normalized : bool, default False
        Normalised AIL (mean 0, variance 1 for standard normal inputs); only
        with ``exact=False``.

    Shape
    -----
    Input ``(*, 2 m)``, output ``(*, m)``.

    Raises
    ------
    ValueError
        For an unknown ``kind``, or ``exact=True`` with ``normalized=True``.
    InputShapeError
        In ``forward``, if the last dimension is odd.

    Examples
    --------
    >>> model = nn.Sequential(nn.Linear(3, 8), AIL("xnor"))
    >>> model(torch.zeros(5, 3)).shape
    torch.Size([5, 4])
    """

    def __init__(self, kind: str = "and", exact: bool = False, normalized: bool = False):
        super().__init__()
        _check_ail(kind, exact, normalized, "AIL")
        self.kind, self.exact, self.normalized = kind, exact, normalized

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ail(x, self.kind, self.exact, self.normalized)

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}, exact={self.exact}, normalized={self.normalized}"


class AllReLU(nn.Module):
    """The All-ReLU activation of hidden layer ``layer_index``: a leaky ReLU of alternating slope.

    The negative-part slope is ``-slope`` on even layers (the first hidden
    layer, ``layer_index = 0``, gets ``-slope``) and ``+slope`` on odd ones,
    as in the reference code of Curci et al.; the paper uses ``0.6`` on MNIST
    and ``0.75`` on CIFAR-10 (see :func:`~.functional.all_relu_slope`).

    Parameters
    ----------
    layer_index : int
        Index of the hidden layer, from 0.
    slope : float, default 0.6
        Magnitude of the slope.

    Attributes
    ----------
    negative_slope : float
        The signed slope used by this layer.

    Shape
    -----
    Input ``(*)``, output ``(*)``.

    Examples
    --------
    >>> mlp = nn.Sequential(nn.Linear(4, 8), AllReLU(0), nn.Linear(8, 8), AllReLU(1), nn.Linear(8, 2))
    >>> mlp[1].negative_slope, mlp[3].negative_slope
    (-0.6, 0.6)
    >>> AllReLU(0)(torch.tensor([-1.0, 1.0]))
    tensor([0.6000, 1.0000])
    """

    def __init__(self, layer_index: int, slope: float = 0.6):
        super().__init__()
        self.negative_slope = all_relu_slope(layer_index, slope)
        self.layer_index, self.slope = int(layer_index), float(slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.leaky_relu(x, self.negative_slope)  # slope checked at construction

    def extra_repr(self) -> str:
        return f"layer_index={self.layer_index}, negative_slope={self.negative_slope:g}"


class IsotropicTanh(nn.Module):
    r"""Isotropic tanh :math:`\tanh(r) h / r` with :math:`r = \sqrt{\lVert h\rVert^2 + o}`.

    See :func:`~.functional.isotropic_tanh`.

    It acts on the whole vector along the last dimension and commutes with
    rotations of it.

    Parameters
    ----------
    intrinsic_length : float, default 0.0
        ``o >= 0``; must be ``> 0`` when trainable.
    trainable : bool, default False
        Learn ``o``, stored as its logarithm ``log_o`` (a Parameter) so that it
        stays positive: ``o = exp(log_o)``.
    device, dtype : optional
        Of the stored value.

    Attributes
    ----------
    o : Tensor, shape ()
        Buffer holding ``o`` (when not trainable).
    log_o : Parameter, shape ()
        ``log(o)`` (when trainable).
    intrinsic_length : Tensor, shape ()
        ``o`` in either case.

    Shape
    -----
    Input ``(*, d)``, output ``(*, d)``.

    Examples
    --------
    >>> act = IsotropicTanh(intrinsic_length=1.0, trainable=True)
    >>> act
    IsotropicTanh(intrinsic_length=1, trainable=True)
    >>> sorted(act.state_dict())
    ['log_o']
    >>> act(torch.tensor([[3.0, 4.0]])).shape
    torch.Size([1, 2])
    """

    def __init__(self, intrinsic_length: float = 0.0, trainable: bool = False, device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        o = _check_real(intrinsic_length, "intrinsic_length", name, low=0.0)
        self.trainable = check_bool(trainable, "trainable", name)
        if self.trainable:
            if o <= 0.0:
                raise ValueError(
                    f"The 'intrinsic_length' parameter of {name} must be a float > 0 when "
                    f"trainable=True (it is stored as its logarithm). Got {intrinsic_length!r} instead."
                )
            _scalar(math.log(o), True, self, "log_o", device, dtype)
        else:
            _scalar(o, False, self, "o", device, dtype)

    @property
    def intrinsic_length(self) -> torch.Tensor:
        return self.log_o.exp() if self.trainable else self.o

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return isotropic_tanh(h, self.intrinsic_length)

    def extra_repr(self) -> str:
        return f"intrinsic_length={float(self.intrinsic_length.detach()):g}, trainable={self.trainable}"
