"""The activity RigL grows from (activations and pre-activation gradients), gathered over the ranks' slices."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from ..nn.dag_network import DAGNetwork

__all__ = ["gather_activity"]


def _gather_columns(t: torch.Tensor, sizes: list[int], group) -> torch.Tensor:
    """``t`` (rows, this rank's columns) of every rank, side by side in rank order (padded for the collective)."""
    wide = max(sizes)
    padded = t.new_zeros((t.shape[0], wide))
    padded[:, : t.shape[1]] = t
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded.contiguous(), group=group)
    return torch.cat([part[:, :n] for part, n in zip(parts, sizes)], dim=1)


def gather_activity(model: nn.Module, weight: float, group=None) -> list[str]:
    """Replace each network's last activity by that of the whole global batch; return the networks' names.

    Each :class:`~dagnet.DAGNetwork` of ``model`` that keeps its last
    backward pass's activity (``H``, ``G``: (positions, this rank's batch))
    gets, on every rank, the ranks' columns side by side in rank order, the
    gradients ``G`` scaled by ``weight`` (this rank's share of the samples,
    ``count / total``: they were of this rank's mean loss, and the global
    batch's mean loss is wanted). Gradient-based growth (RigL) then scores
    the whole batch on every rank, as one process with it would, and the
    ranks choose the same connections. The activity is cleared by the next
    backward pass or change of wiring, as usual.

    Examples
    --------
    In each process of a group, after the gradients' all-reduce::

        gather_activity(model, len(yb) / batch_size)
        rule.step(model, optimizer)
    """
    names = []
    nets = [(n or type(m).__name__, m) for n, m in model.named_modules() if isinstance(m, DAGNetwork)]
    world = dist.get_world_size(group)
    sizes = None
    for name, net in nets:
        activity = net.last_activity()
        if activity is None:
            continue
        H, G = activity
        if sizes is None:
            mine = torch.tensor([H.shape[1]], dtype=torch.int64, device=H.device)
            counts = [torch.empty_like(mine) for _ in range(world)]
            dist.all_gather(counts, mine, group=group)
            sizes = [int(c) for c in counts]
        net._runtime.activity = (_gather_columns(H, sizes, group), _gather_columns(G * weight, sizes, group))
        names.append(name)
    return names
