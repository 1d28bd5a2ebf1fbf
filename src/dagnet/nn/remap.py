"""Resizing parameters by rows: entries kept, dropped, reordered or added at zero.

A rewiring changes the length of a parameter (one weight per edge). The
helpers here map rows by an index; :mod:`dagnet.nn.optim_state` carries the
gradient and the optimizer state along, new entries starting at zero.
"""

from __future__ import annotations

import torch
from torch import nn

from .optim_state import carry_state_

__all__ = ["remap_rows", "remap_parameter_"]


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


def remap_parameter_(
    param: nn.Parameter,
    index: torch.Tensor,
    fill: float | torch.Tensor = 0.0,
    optimizer: torch.optim.Optimizer | None = None,
) -> None:
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
    carry_state_(param, remap_rows(param.data, index, fill), lambda t, square: remap_rows(t, index, 0.0), optimizer)
