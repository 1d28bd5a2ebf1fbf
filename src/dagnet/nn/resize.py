"""Resizing parameters in place, with their gradients and optimizer state.

A topology change (an edge removed or grown, a neuron added) changes the
length of a parameter. Optimizers hold references to the ``Parameter``
objects, so these helpers keep the objects and replace their data; every
tensor that follows the parameter entry for entry (``.grad``, an optimizer's
momentum or moments) is carried along, and new entries start at zero.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["remap_rows", "remap_parameter_", "set_data_"]


def remap_rows(tensor: torch.Tensor, index: torch.Tensor, fill: float | torch.Tensor = 0.0) -> torch.Tensor:
    """Return a tensor whose row ``i`` is ``tensor[index[i]]``, or ``fill`` where ``index[i] < 0``.

    ``fill`` is a scalar or a tensor with one row per negative entry of ``index``.

    Examples
    --------
    >>> remap_rows(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2, -1, 0])).tolist()
    [3.0, 0.0, 1.0]
    """
    index = index.to(tensor.device)
    new = index < 0
    if tensor.shape[0] == 0:  # nothing to take from
        out = tensor.new_empty((index.numel(), *tensor.shape[1:]))
    else:
        out = tensor.index_select(0, index.clamp(min=0))
    if bool(new.any()):
        out[new] = torch.as_tensor(fill, dtype=tensor.dtype, device=tensor.device)
    return out


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


def remap_parameter_(param: nn.Parameter, index: torch.Tensor, fill: float | torch.Tensor = 0.0,
                     optimizer: torch.optim.Optimizer | None = None) -> None:
    """Remap a parameter's rows in place: row ``i`` becomes old row ``index[i]`` (``fill`` where ``index[i] < 0``).

    The ``Parameter`` object is kept, so optimizers still hold it. Its
    ``.grad`` and every tensor of ``optimizer``'s state for it that has the
    parameter's old shape (momentum, Adam's moments) are remapped the same
    way, with zeros for new rows; other state (e.g. Adam's step count) is kept.

    Examples
    --------
    >>> p = nn.Parameter(torch.tensor([1.0, 2.0]))
    >>> opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    >>> p.sum().backward(); opt.step()
    >>> remap_parameter_(p, torch.tensor([1, -1]), optimizer=opt)
    >>> p.shape, opt.state[p]["momentum_buffer"].tolist()
    (torch.Size([2]), [1.0, 0.0])
    """
    old_shape = param.shape
    set_data_(param, remap_rows(param.data, index, fill))
    if param.grad is not None:
        param.grad = remap_rows(param.grad, index, 0.0)
    if optimizer is not None and param in optimizer.state:
        state = optimizer.state[param]
        for key, value in state.items():
            if isinstance(value, torch.Tensor) and value.shape == old_shape and value.dim() > 0:
                state[key] = remap_rows(value, index, 0.0)
