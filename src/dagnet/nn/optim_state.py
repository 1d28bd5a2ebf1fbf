"""Carrying a parameter's gradient and optimizer state through a change of its values or shape.

A topology change (an edge removed or grown, a neuron added, a layer rotated)
gives a parameter new data. Optimizers hold references to the ``Parameter``
objects, so the object is kept and its data replaced; every tensor that
follows the parameter entry for entry (``.grad``, an optimizer's momentum or
moments) is mapped the same way. First moments (momentum, Adam's ``exp_avg``)
follow the map exactly; second moments follow it with every coefficient
squared, which is exact for a permutation or a selection of entries and an
approximation for a rotation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import nn

__all__ = ["FIRST_MOMENTS", "SECOND_MOMENTS", "set_data_", "carry_state_", "check_state_keys"]

#: Optimizer state entries that transform like the gradient.
FIRST_MOMENTS = ("exp_avg", "momentum_buffer")
#: Optimizer state entries that transform like the square of the gradient.
SECOND_MOMENTS = ("exp_avg_sq", "max_exp_avg_sq")


def set_data_(param: nn.Parameter, value: torch.Tensor) -> None:
    """Give ``param`` new data, possibly of another shape, keeping the ``Parameter`` object.

    A live autograd graph (e.g. the last loss, still referenced) keeps the
    parameter's gradient accumulator, which remembers the old shape; torch
    drops it only when the dtype changes, so the dtype is changed twice.

    Examples
    --------
    >>> p = nn.Parameter(torch.zeros(2))
    >>> set_data_(p, torch.ones(3)); p.shape
    torch.Size([3])
    """
    with torch.no_grad():
        param.data = value.new_empty(0, dtype=torch.float16 if value.dtype != torch.float16 else torch.float32)
        param.data = value


def carry_state_(
    param: nn.Parameter,
    value: torch.Tensor,
    transform: Callable[[torch.Tensor, bool], torch.Tensor],
    optimizer: torch.optim.Optimizer | None = None,
) -> None:
    """Give ``param`` the data ``value`` and map its gradient and optimizer state with ``transform``.

    ``transform(tensor, square)`` returns the new form of a tensor shaped like
    the old parameter; ``square`` is true for second moments. It is applied to
    ``.grad`` and to every tensor of ``optimizer``'s state for ``param`` that
    has the parameter's old shape; other state (e.g. Adam's step count) is kept.
    Results are cast back to each tensor's own dtype and device.

    Examples
    --------
    >>> p = nn.Parameter(torch.tensor([1.0, 2.0]))
    >>> opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    >>> p.sum().backward(); opt.step()
    >>> carry_state_(p, p.data.flip(0), lambda t, square: t.flip(0), opt)
    >>> p.grad.tolist(), opt.state[p]["momentum_buffer"].tolist()
    ([1.0, 1.0], [1.0, 1.0])
    """
    old_shape = param.shape
    grad = None if param.grad is None else transform(param.grad, False).to(param.grad.device, param.grad.dtype)
    set_data_(param, value)
    param.grad = grad
    state = optimizer.state.get(param) if optimizer is not None else None
    for key, old in list((state or {}).items()):
        if isinstance(old, torch.Tensor) and old.dim() > 0 and old.shape == old_shape:
            state[key] = transform(old, key in SECOND_MOMENTS).to(old.device, old.dtype)


def check_state_keys(optimizer: torch.optim.Optimizer, params: Iterable[nn.Parameter], owner: str) -> None:
    """Raise a TypeError if ``optimizer`` holds per-entry state for ``params`` that is not a known moment.

    A map that mixes entries (a rotation) can only transform state whose
    meaning it knows: :data:`FIRST_MOMENTS` and :data:`SECOND_MOMENTS`.

    Examples
    --------
    >>> p = nn.Parameter(torch.ones(2))
    >>> opt = torch.optim.Adagrad([p]); p.sum().backward(); opt.step()
    >>> check_state_keys(opt, [p], "surgery")
    Traceback (most recent call last):
    ...
    TypeError: surgery cannot transform the optimizer state 'sum' of Adagrad: ...
    """
    for p in params:
        for key, value in optimizer.state.get(p, {}).items():
            if isinstance(value, torch.Tensor) and value.dim() > 0 and key not in FIRST_MOMENTS + SECOND_MOMENTS:
                raise TypeError(
                    f"{owner} cannot transform the optimizer state {key!r} of {type(optimizer).__name__}: it "
                    f"knows first moments {FIRST_MOMENTS} and second moments {SECOND_MOMENTS} (SGD with "
                    "momentum, Adam, AdamW, NAdam, ...). Use one of those optimizers, or do the change without "
                    "optimizer= and build a new optimizer afterwards."
                )
