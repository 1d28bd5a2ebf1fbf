"""`DendriticTree`: a layer of neurons whose inputs are summed along a b-ary tree of dendrites."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..seeding import torch_generator
from ._common import as_batch, check_bool, check_float, check_int, check_weights, child_seeds, uniform_

__all__ = ["DendriticTree"]

# LeakyReLU slope between the levels of the tree, as in the dendritic tree paper (papers.md §5).
LEVEL_SLOPE = 0.1


class DendriticTree(nn.Module):
    r"""Neurons with a tree of dendrites: each level sums ``branching`` consecutive inputs.

    A drop-in replacement for ``nn.Linear(out_features * branching**depth,
    out_features)``. The input is split into ``out_features`` consecutive
    blocks of ``branching**depth`` features, one per output neuron; inside a
    block, ``depth`` levels reduce the width by ``branching`` each. A unit
    ``u`` of level ``l`` computes

    .. math:: h^{l+1}_u = \sum_{j < b} w^l_{u, j}\, h^l_{u b + j} + c^l_u,

    with ``LeakyReLU(0.1)`` between levels (not after the last one: the output
    is linear, as ``nn.Linear``'s is) and dropout on the input.

    Each level is stored as a ``(units, branching)`` weight and computed by a
    reshape and an einsum: memory and time are linear in ``in_features``,
    with no dense matrix or mask.

    Parameters
    ----------
    out_features : int
        Number of neurons (tree roots), ``>= 1``.
    branching : int
        Inputs per dendritic unit, ``b >= 1``.
    depth : int
        Number of levels, ``>= 1``; ``in_features = out_features * b**depth``.
    dropout : float, default 0.1
        Probability of zeroing an input feature in training mode, in [0, 1).
        Masks come from the module's own generator (seeded from ``seed``),
        never from torch's global one.
    bias : bool, default True
        Whether every unit of every level has a bias.
    seed : int, numpy Generator or random.Random, optional
        Seed of the initialisation and of the dropout masks; ``None`` draws
        one (stored as ``self.seed``).
    device, dtype : optional
        Of the parameters, as for ``nn.Linear``.

    Attributes
    ----------
    weights : ParameterList of Tensor, shapes (out_features * b**(depth-1-l), b)
        Level ``l``'s weights, U(-1/sqrt(b), 1/sqrt(b)) at initialisation:
        ``nn.Linear``'s rule on the true fan-in ``b``.
    biases : ParameterList of Tensor, shapes (out_features * b**(depth-1-l),)
        Level ``l``'s biases, same distribution; empty if ``bias=False``.
    in_features : int

    Shape
    -----
    Input ``(*, in_features)``, output ``(*, out_features)``.

    References
    ----------
    The dendritic tree neuron model digested in ``papers.md`` §5 (block mask,
    LeakyReLU(0.1) between levels, input dropout 0.1).

    Examples
    --------
    >>> tree = DendriticTree(out_features=3, branching=2, depth=2, seed=0)
    >>> tree.extra_repr()
    'in_features=12, out_features=3, branching=2, depth=2, dropout=0.1, bias=True'
    >>> tree(torch.ones(5, 12)).shape
    torch.Size([5, 3])
    >>> [tuple(w.shape) for w in tree.weights]
    [(6, 2), (3, 2)]
    """

    def __init__(
        self,
        out_features: int,
        branching: int,
        depth: int,
        dropout: float = 0.1,
        bias: bool = True,
        seed: int | None = None,
        device=None,
        dtype=None,
    ):
        super().__init__()
        name = type(self).__name__
        self.out_features = check_int(out_features, "out_features", name)
        self.branching = check_int(branching, "branching", name)
        self.depth = check_int(depth, "depth", name)
        self.dropout = check_float(dropout, "dropout", name, 0, 1, high_open=True)
        check_bool(bias, "bias", name)
        check_weights(
            f"{name}({self.out_features}, {self.branching}, {self.depth})",
            2 * self.out_features * self.branching**self.depth,
            "Choose a smaller branching, depth or out_features.",
        )
        self.in_features = self.out_features * self.branching**self.depth
        self.seed, (init_seed, self._dropout_seed) = child_seeds(seed, 2)
        self._init_generator = torch_generator(init_seed)
        self._dropout_generators: dict[str, torch.Generator] = {}
        factory = dict(device=device, dtype=dtype)
        units = [self.out_features * self.branching ** (self.depth - 1 - lvl) for lvl in range(self.depth)]
        self.weights = nn.ParameterList(nn.Parameter(torch.empty(u, self.branching, **factory)) for u in units)
        self.biases = (
            nn.ParameterList(nn.Parameter(torch.empty(u, **factory)) for u in units) if bias else nn.ParameterList()
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw new initial values from the module's seeded generator (``nn.Linear``'s rule, fan-in ``b``)."""
        bound = 1.0 / math.sqrt(self.branching)
        for w in self.weights:
            uniform_(w, bound, self._init_generator)
        for b in self.biases:
            uniform_(b, bound, self._init_generator)

    def _dropout_generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._dropout_generators:
            g = torch.Generator(device=device)
            g.manual_seed(self._dropout_seed)
            self._dropout_generators[key] = g
        return self._dropout_generators[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = as_batch(x, self.in_features, "in_features", type(self).__name__, like=next(self.parameters(), None))
        if self.training and self.dropout > 0.0:
            g = self._dropout_generator(x.device)
            keep = torch.rand(x.shape, generator=g, device=x.device, dtype=x.dtype) >= self.dropout
            x = x * keep / (1.0 - self.dropout)
        lead = x.shape[:-1]
        h = x
        for lvl, w in enumerate(self.weights):
            h = h.reshape(*lead, w.shape[0], self.branching)  # (*, units, b): each unit's own inputs
            h = torch.einsum("...ub,ub->...u", h, w)
            if len(self.biases):
                h = h + self.biases[lvl]
            if lvl < self.depth - 1:
                h = F.leaky_relu(h, LEVEL_SLOPE)
        return h

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"branching={self.branching}, depth={self.depth}, dropout={self.dropout:g}, "
            f"bias={len(self.biases) > 0}"
        )
