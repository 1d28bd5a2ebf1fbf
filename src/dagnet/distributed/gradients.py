"""The gradient all-reduce of data-parallel training: one flattened collective, weighted by each rank's samples.

dagnet does it itself, after the backward pass and before the optimizer
step, instead of ``DistributedDataParallel``'s buckets: those are laid out
for the parameters' shapes when the wrapper is made, and rewiring changes
the shape of a sparse layer's ``weight``. A flattened buffer is made anew at
every step, so it follows any wiring.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn

from .._checks import check_int

__all__ = ["all_reduce_gradients", "gradient_bytes"]


def _trainable(parameters: nn.Module | Iterable[torch.Tensor]) -> list[torch.Tensor]:
    params = parameters.parameters() if isinstance(parameters, nn.Module) else parameters
    seen: set[int] = set()
    out = []
    for p in params:
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def _buffer_dtype(dtype: torch.dtype) -> torch.dtype:
    """Gradients are summed in their own dtype, but at least float32 (which also holds the counts exactly)."""
    return torch.promote_types(dtype, torch.float32)


def gradient_bytes(parameters: nn.Module | Iterable[torch.Tensor]) -> int:
    """Return the bytes :func:`all_reduce_gradients` sends into the all-reduce for ``parameters`` (per rank, per step).

    Examples
    --------
    >>> gradient_bytes(nn.Linear(3, 2))  # 8 gradients, the count, the loss and 2 flags, in float32
    48
    """
    params = _trainable(parameters)
    if not params:
        return 0
    numbers = sum(p.numel() * _buffer_dtype(p.dtype).itemsize for p in params)
    return numbers + (2 + len(params)) * _buffer_dtype(params[0].dtype).itemsize


def all_reduce_gradients(
    parameters: nn.Module | Iterable[torch.Tensor],
    count: int,
    loss: torch.Tensor | None = None,
    group=None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Replace every gradient by the ranks' mean, weighted by their samples; return ``(total samples, mean loss)``.

    With ``g_r`` the gradient of the mean loss over rank ``r``'s ``count_r``
    samples, every rank gets ``sum_r count_r g_r / sum_r count_r``: the
    gradient of the mean loss over all the samples, as one process with the
    whole batch computes it (to float rounding), also when the ranks' slices
    differ in size. ``loss`` (the rank's mean loss) is averaged the same
    way. A rank with no sample (``count=0``) adds nothing. A parameter
    without a gradient on some rank counts as zero there; one without a
    gradient on every rank keeps none (so that optimizers skip it, as they
    would in one process).

    All the gradients, with the counts and the loss, travel in one flattened
    buffer per dtype (float32 at least), one all-reduce each: with float32
    parameters a single collective per step, of :func:`gradient_bytes` bytes.
    Nothing is read on the host unless this rank lacks a gradient.

    Parameters
    ----------
    parameters : torch.nn.Module or iterable of tensors
        Those that require gradients take part, in the same order on every rank.
    count : int >= 0
        The samples of this rank's batch.
    loss : tensor, optional
        This rank's mean loss over them.
    group : process group, optional
        Default: the default group.

    Returns
    -------
    (tensor, tensor or None)
        The total samples over the ranks and the mean loss over all of them
        (None without ``loss``), one-element tensors on the gradients' device.

    Examples
    --------
    In each process of a group, after the backward pass::

        total, loss = all_reduce_gradients(model, len(yb), loss)
        optimizer.step()
    """
    count = check_int(count, "count", "all_reduce_gradients", low=0)
    params = _trainable(parameters)
    buckets: dict[tuple, list[torch.Tensor]] = {}
    for p in params:
        buckets.setdefault((_buffer_dtype(p.dtype), p.device), []).append(p)
    total = mean_loss = None
    has_grad = None
    for k, ((dtype, device), members) in enumerate(buckets.items()):
        parts = [(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).to(dtype) for p in members]
        n = sum(part.numel() for part in parts)
        if k == 0:  # the count, the weighted loss and which gradients exist travel with the first bucket
            weighted = torch.zeros(1, dtype=dtype, device=device)
            if loss is not None and count > 0:
                weighted = loss.detach().reshape(1).to(device, dtype) * count
            flags = [float(p.grad is not None) for p in params]
            parts += [torch.tensor([float(count)], dtype=dtype, device=device), weighted]
            parts.append(torch.tensor(flags, dtype=dtype, device=device))
        flat = torch.cat(parts)
        if count == 0:  # its gradients over no sample may be NaN: they must not count
            flat[:n].zero_()
        else:
            flat[:n].mul_(count)
        dist.all_reduce(flat, group=group)
        if k == 0:
            total = flat[n : n + 1].clone()
            if loss is not None:
                mean_loss = (flat[n + 1 : n + 2] / total).to(loss.dtype)
            if not all(flags):  # this rank lacks a gradient: does any rank have one?
                has_grad = flat[n + 2 :].tolist()
        grads = flat[:n].div_(total)
        offset = 0
        for p in members:
            view = grads[offset : offset + p.numel()].view_as(p)
            offset += p.numel()
            if p.grad is not None:
                p.grad.copy_(view)
            elif has_grad[params.index(p)] > 0:
                p.grad = view.to(p.dtype).clone()
    return total, mean_loss
