"""Linear maps of a layer's tensors, the unit of every isotropic surgery.

An :class:`Edit` gives a parameter its new value as ``left @ old @ right``;
the parameter's gradient and optimizer moments follow the same map (see
:func:`dagnet.nn.optim_state.carry_state_`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["WORK", "Edit", "embed_diagonal", "pad_rows"]

WORK = torch.float64  # surgery arithmetic runs in float64 on the CPU, whatever the model's dtype and device


@dataclass
class Edit:
    """A tensor's new value as ``left @ old @ right`` (a vector: ``left @ old``).

    ``dense`` is the dense shape of a weight stored as its diagonal (expanded
    first); ``diagonal`` keeps only the diagonal of the result. Optimizer
    first moments and gradients follow the same linear map; second moments
    follow it with every matrix entry squared. ``value`` overrides the new
    value (e.g. random new columns), a float64 CPU tensor.
    """

    name: str
    left: torch.Tensor | None = None
    right: torch.Tensor | None = None
    dense: tuple | None = None
    diagonal: bool = False
    value: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor, square: bool = False) -> torch.Tensor:
        x = x.detach().to("cpu", WORK)
        if self.dense is not None:
            x = embed_diagonal(x, self.dense)
        left, right = self.left, self.right
        if square:
            left = None if left is None else left.square()
            right = None if right is None else right.square()
        if left is not None:
            x = left @ x
        if right is not None:
            x = x @ right
        return x.diagonal().clone() if self.diagonal else x


def embed_diagonal(d: torch.Tensor, shape: tuple) -> torch.Tensor:
    out = torch.zeros(shape, dtype=d.dtype, device=d.device)
    out.diagonal().copy_(d)
    return out


def pad_rows(n: int, extra: int) -> torch.Tensor:
    """``[I_n; 0]``: the map that appends ``extra`` zero entries, shape (n + extra, n)."""
    return torch.eye(n + extra, n, dtype=WORK)
