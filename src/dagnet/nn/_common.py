"""Helpers shared by the neuron-model layers: argument checks and seeded initialisation."""

from __future__ import annotations

import numpy as np
import torch

from .._checks import check_bool, check_float, check_int
from ..errors import InputShapeError
from ..seeding import numpy_rng, resolve_seed
from ..topology._budget import check_size

__all__ = [
    "check_int",
    "check_float",
    "check_bool",
    "as_batch",
    "check_weights",
    "value_problem",
    "child_seeds",
    "uniform_",
]

DENSE_WEIGHT = 32  # a float64 weight, with its gradient and two optimizer moments (float32: half)


def as_batch(x, size: int, what: str, owner: str, like: torch.Tensor | None = None) -> torch.Tensor:
    """Return ``x`` as a tensor of shape ``(*, size)``, converting an array or a list.

    A tensor is returned as it is; anything else is converted as
    ``torch.as_tensor`` would, to the dtype and device of ``like`` (the
    module's parameters) when given.

    Raises
    ------
    TypeError
        If ``x`` cannot be converted to a tensor of real numbers.
    InputShapeError
        If the last dimension is not ``size``, or a value is beyond the
        largest number of ``like``'s dtype (it would become inf).

    Examples
    --------
    >>> as_batch([[1.0, 2.0, 3.0]], 3, "in_features", "Layer").shape
    torch.Size([1, 3])
    """
    if not isinstance(x, torch.Tensor):
        given = type(x).__name__
        try:
            x = torch.as_tensor(np.asarray(x) if isinstance(x, (list, tuple)) else x)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(
                f"{owner} expected a torch.Tensor (or an array of numbers) of shape (*, {size}), "
                f"got a {given} that does not convert: {err}"
            ) from None
        if x.is_complex():
            raise TypeError(
                f"{owner} expected real numbers, got a {given} of complex numbers ({x.dtype}); "
                "pass its real part (x.real) if that is what you mean."
            )
        if like is not None:
            overflow = beyond(x, like.dtype)
            if bool(overflow.any()):
                raise InputShapeError(
                    f"{owner} got the input value {x[overflow][0].item():g}, beyond the largest "
                    f"{like.dtype} ({torch.finfo(like.dtype).max:g}): it would become inf. Scale "
                    "the input down, or convert the module to float64 (.double())."
                )
            x = x.to(like.dtype).to(like.device)
    if x.dim() == 0 or x.shape[-1] != size:
        raise InputShapeError(f"{owner} expected input of shape (*, {size}) ({what} = {size}), got {tuple(x.shape)}.")
    return x


def beyond(values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Mask of the finite ``values`` beyond the largest number of the float ``dtype`` (they would become inf).

    Examples
    --------
    >>> beyond(torch.tensor([1.0, -1e39, float("inf")], dtype=torch.float64), torch.float32).tolist()
    [False, True, False]
    """
    if not values.is_floating_point():  # integers stay far below any float's range
        return torch.zeros(values.shape, dtype=torch.bool, device=values.device)
    return torch.isfinite(values) & (values.abs() > torch.finfo(dtype).max)


def value_problem(name: str, value: torch.Tensor, dtype: torch.dtype) -> str | None:
    """Say why ``value`` cannot be loaded into a parameter ``name`` of ``dtype`` (None: it can).

    A complex or boolean tensor would lose information, and a float beyond
    the largest ``dtype`` would become inf.

    Examples
    --------
    >>> value_problem("weight", torch.tensor([1e39], dtype=torch.float64), torch.float32)
    "'weight' holds 1e+39, beyond the largest torch.float32 (3.40282e+38), which would become inf"
    """
    if value.dtype == dtype:
        return None
    if value.is_complex() or value.dtype == torch.bool:
        return f"{name!r} is {value.dtype}; the values are real ({dtype})"
    if value.is_floating_point() and dtype.is_floating_point and value.numel():
        big = beyond(value.detach(), dtype)
        if bool(big.any()):
            return (
                f"{name!r} holds {value[big][0].item():g}, beyond the largest {dtype} "
                f"({torch.finfo(dtype).max:g}), which would become inf"
            )
    return None


def check_weights(call: str, weights: float, advice: str) -> None:
    """Raise SizeError, before allocating, if ``weights`` dense weights would not fit in memory.

    Examples
    --------
    >>> check_weights("Layer(10, 10)", 100, "Choose fewer features.")
    """
    check_size(call, weights, DENSE_WEIGHT, advice=advice, counts=f"{float(weights):.3g} weights")


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
