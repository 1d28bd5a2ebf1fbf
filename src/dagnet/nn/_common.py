"""Helpers shared by the neuron-model layers: argument checks and seeded initialisation."""

from __future__ import annotations


import numpy as np
import torch

from .._checks import check_bool, check_float, check_int
from ..errors import InputShapeError
from ..seeding import numpy_rng, resolve_seed

__all__ = ["check_int", "check_float", "check_bool", "as_batch", "child_seeds", "uniform_"]


def as_batch(x, size: int, what: str, owner: str, like: torch.Tensor | None = None) -> torch.Tensor:
    """Return ``x`` as a tensor of shape ``(*, size)``, converting an array or a list.

    A tensor is returned as it is; anything else is converted as
    ``torch.as_tensor`` would, to the dtype and device of ``like`` (the
    module's parameters) when given.

    Raises
    ------
    TypeError
        If ``x`` cannot be converted to a tensor of numbers.
    InputShapeError
        If the last dimension is not ``size``.

    Examples
    --------
    >>> as_batch([[1.0, 2.0, 3.0]], 3, "in_features", "Layer").shape
    torch.Size([1, 3])
    """
    if not isinstance(x, torch.Tensor):
        factory = {} if like is None else dict(dtype=like.dtype, device=like.device)
        try:
            x = torch.as_tensor(np.asarray(x) if isinstance(x, (list, tuple)) else x, **factory)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"{owner} expected a torch.Tensor (or an array of numbers) of shape (*, {size}), "
                            f"got a {type(x).__name__} that does not convert: {err}") from None
    if x.dim() == 0 or x.shape[-1] != size:
        raise InputShapeError(f"{owner} expected input of shape (*, {size}) ({what} = {size}), "
                              f"got {tuple(x.shape)}.")
    return x


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
