"""`ActiveDendrites`: context-gated units with dendritic segments, then k-winners-take-all."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..seeding import torch_generator
from ._common import as_batch, check_bool, check_int, check_weights, child_seeds, uniform_

__all__ = ["ActiveDendrites", "k_winners_take_all"]


def k_winners_take_all(x: torch.Tensor, k: int, dim: int = -1) -> torch.Tensor:
    """Keep the ``k`` largest values along ``dim`` and set the others to 0.

    Exactly ``k`` entries are kept per slice (ties are broken by
    :func:`torch.topk`); gradients flow to the winners only.

    Parameters
    ----------
    x : Tensor
    k : int
        Number of winners, in ``[1, x.shape[dim]]``.
    dim : int, default -1

    Returns
    -------
    Tensor
        Same shape as ``x``.

    Examples
    --------
    >>> k_winners_take_all(torch.tensor([[0.5, -1.0, 2.0, 1.0]]), k=2)
    tensor([[0., 0., 2., 1.]])
    """
    n = x.shape[dim] if x.dim() else 0
    k = check_int(k, "k", "k_winners_take_all", 1, n, f"x.shape[{dim}]")
    idx = x.topk(k, dim=dim).indices
    return torch.zeros_like(x).scatter(dim, idx, x.gather(dim, idx))


class ActiveDendrites(nn.Module):
    r"""A layer of units with active dendrites, modulated by a context, then k-winners-take-all.

    Each unit ``n`` has a feedforward weight vector (as ``nn.Linear``) and
    ``segments`` dendritic segments :math:`u_{n,s}` that read a context vector
    ``c`` (e.g. a task embedding):

    .. math::

        t_n = w_n \cdot x + b_n, \quad d_{n,s} = u_{n,s} \cdot c, \quad
        y_n = t_n\, \sigma(d_{n,s^*}), \quad s^* = \arg\max_s d_{n,s}

    (with ``abs_max=True``, :math:`s^* = \arg\max_s |d_{n,s}|` and the sign of
    :math:`d_{n,s^*}` is kept, so a segment can also silence its unit). Then
    k-winners-take-all keeps, for each sample, the ``k`` units of largest
    :math:`y_n` and sets the others to 0. Gradients reach only the winning
    segment of each unit and the winning units.

    Parameters
    ----------
    in_features, out_features : int
        Sizes, ``>= 1``.
    context_features : int
        Size of the context vector, ``>= 1``.
    segments : int
        Dendritic segments per unit, ``>= 1``.
    k : int
        Winners per sample, in ``[1, out_features]``.
    abs_max : bool, default False
        Select the segment of largest ``|d|`` (keeping its sign) instead of
        the largest ``d``.
    bias : bool, default True
        Feedforward bias.
    seed : int, numpy Generator or random.Random, optional
        Seed of the initialisation; ``None`` draws one (stored as ``self.seed``).
    device, dtype : optional
        Of the parameters.

    Attributes
    ----------
    weight : Parameter, shape (out_features, in_features)
        U(±1/sqrt(in_features)), as ``nn.Linear``.
    bias : Parameter, shape (out_features,) or None
        Same distribution.
    segment_weight : Parameter, shape (out_features, segments, context_features)
        U(±1/sqrt(context_features)).

    Shape
    -----
    ``x``: ``(*, in_features)``; ``context``: ``(*, context_features)``, or any
    shape that broadcasts with it (e.g. ``(context_features,)`` for one
    context for the whole batch); output ``(*, out_features)``.

    Notes
    -----
    The kWTA here is the plain one of Iyer et al.'s layer (no boosting or duty
    cycles); :func:`k_winners_take_all` is available on its own.

    References
    ----------
    Iyer, A. et al. (2022). Avoiding Catastrophe: Active Dendrites Enable
    Multi-Task Learning in Dynamic Environments. Frontiers in Neurorobotics.

    Examples
    --------
    >>> layer = ActiveDendrites(6, 8, context_features=3, segments=4, k=2, seed=0)
    >>> layer.segment_weight.shape
    torch.Size([8, 4, 3])
    >>> y = layer(torch.ones(5, 6), torch.ones(5, 3))
    >>> y.shape, (y != 0).sum(dim=1).tolist()
    (torch.Size([5, 8]), [2, 2, 2, 2, 2])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        context_features: int,
        segments: int,
        k: int,
        abs_max: bool = False,
        bias: bool = True,
        seed: int | None = None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        name = type(self).__name__
        self.in_features = check_int(in_features, "in_features", name)
        self.out_features = check_int(out_features, "out_features", name)
        self.context_features = check_int(context_features, "context_features", name)
        self.segments = check_int(segments, "segments", name)
        self.k = check_int(k, "k", name, 1, self.out_features, "out_features")
        check_weights(
            f"{name}({self.in_features}, {self.out_features}, {self.context_features}, {self.segments})",
            self.out_features * (self.in_features + self.segments * self.context_features),
            "Choose fewer features or segments.",
        )
        self.abs_max = check_bool(abs_max, "abs_max", name)
        check_bool(bias, "bias", name)
        self.seed, (init_seed,) = child_seeds(seed, 1)
        self._init_generator = torch_generator(init_seed)
        factory = dict(device=device, dtype=dtype)
        self.weight = nn.Parameter(torch.empty(self.out_features, self.in_features, **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.segment_weight = nn.Parameter(
            torch.empty(self.out_features, self.segments, self.context_features, **factory)
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw new initial values from the module's seeded generator."""
        bound = 1.0 / math.sqrt(self.in_features)
        uniform_(self.weight, bound, self._init_generator)
        if self.bias is not None:
            uniform_(self.bias, bound, self._init_generator)
        uniform_(self.segment_weight, 1.0 / math.sqrt(self.context_features), self._init_generator)

    def dendrite_activations(self, context: torch.Tensor) -> torch.Tensor:
        """Return the selected segment activation :math:`d_{n,s^*}` of every unit.

        The result has shape ``(*, out_features)``, ``*`` being the leading
        dimensions of ``context``.

        Examples
        --------
        >>> layer = ActiveDendrites(2, 3, context_features=2, segments=5, k=1, seed=0)
        >>> d = layer.dendrite_activations(torch.ones(2))
        >>> bool((d == layer.segment_weight.sum(-1).max(-1).values).all())
        True
        """
        context = as_batch(
            context, self.context_features, "context_features", type(self).__name__, like=next(self.parameters(), None)
        )
        d = torch.einsum("...c,nsc->...ns", context, self.segment_weight)  # (*, out, segments)
        score = d.abs() if self.abs_max else d
        winner = score.argmax(dim=-1, keepdim=True)
        return d.gather(-1, winner).squeeze(-1)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        x = as_batch(x, self.in_features, "in_features", type(self).__name__, like=next(self.parameters(), None))
        t = F.linear(x, self.weight, self.bias)
        y = t * torch.sigmoid(self.dendrite_activations(context))
        return k_winners_take_all(y, self.k)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"context_features={self.context_features}, segments={self.segments}, k={self.k}, "
            f"abs_max={self.abs_max}, bias={self.bias is not None}"
        )
