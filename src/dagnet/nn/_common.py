"""Helpers shared by the neuron-model layers: argument checks and seeded initialisation."""

from __future__ import annotations


import numpy as np
import torch

from .._checks import check_bool, check_float, check_int
from ..errors import InputShapeError
from ..seeding import numpy_rng, resolve_seed

__all__ = ["check_int", "check_float", "check_bool", "check_last_dim", "child_seeds", "uniform_"]


def check_last_dim(x: torch.Tensor, size: int, what: str, owner: str) -> None:
    """Raise :class:`InputShapeError` unless ``x`` has shape ``(*, size)``.

    Examples
    --------
    >>> check_last_dim(torch.zeros(2, 3), 3, "in_features", "Layer")
    """
    if not isinstance(x, torch.Tensor) or x.dim() == 0 or x.shape[-1] != size:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise InputShapeError(f"{owner} expected input of shape (*, {size}) ({what} = {size}), "
                              f"got {shape}.")


def child_seeds(seed: int | None, n: int) -> tuple[int, list[int]]:
    """Return ``(resolved seed, n independent child seeds)`` drawn from ``seed``.

    Examples
    --------
    >>> s, (a, b) = child_seeds(0, 2)
    >>> s, child_seeds(0, 2)[1] == [a, b], a != b
    (0, True, True)
    """
    seed = resolve_seed(seed)
    children = numpy_rng(seed).integers(0, np.iinfo(np.int64).max, size=n)
    return seed, [int(c) for c in children]


@torch.no_grad()
def uniform_(tensor: torch.Tensor, bound: float, generator: torch.Generator) -> torch.Tensor:
    """Fill ``tensor`` in place with U(-bound, bound) drawn from a CPU ``generator``.

    Values are drawn in float64 on the CPU and then cast and copied, so a seed
    gives the same initial values on every device and (up to rounding) dtype.

    Examples
    --------
    >>> g = torch.Generator().manual_seed(0)
    >>> bool(uniform_(torch.empty(100), 0.5, g).abs().max() <= 0.5)
    True
    """
    values = (torch.rand(tensor.shape, generator=generator, dtype=torch.float64) * 2 - 1) * bound
    return tensor.copy_(values)
