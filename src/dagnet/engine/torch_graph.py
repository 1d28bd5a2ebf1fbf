"""A plan's forward pass written with standard torch operations only.

Level by level, the pre-activations of a level's nodes are the weighted sum
of their sources' rows (one ``index_select`` of the rows computed so far, one
``index_add`` by target) plus the biases; each activation group of the level
is applied to its slice and multi-branch nodes combine their branch sums.
Every operation is an ordinary differentiable torch operation, so this pass
serves where the engine's kernels cannot: forward-mode differentiation
(``torch.func.jvp``, ``jacfwd``) and export (:class:`~dagnet.nn.TorchDAG`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .runtime import Runtime

__all__ = ["GraphLevel", "graph_levels", "graph_forward"]


@dataclass(frozen=True)
class GraphLevel:
    """One level: positions ``a..b-1`` computed from the edges ``ea..eb-1`` (CSR by target).

    ``groups`` are ``(start, end, fn, params)`` relative to ``a`` in position
    order, ``fn`` None for the rows a combine fills; ``combines`` are
    ``(start, end, unit_start, unit_end, branches, fn)`` relative to ``a``.
    """

    level: int
    a: int
    b: int
    ea: int
    eb: int
    groups: tuple
    combines: tuple


def graph_levels(runtime: Runtime) -> list[tuple[GraphLevel, torch.Tensor, torch.Tensor]]:
    """Return ``(level, sources, targets)`` for each non-empty level after the inputs.

    ``sources`` are the positions each edge of the level reads, ``targets``
    the row (relative to the level's first position) it adds into.
    """
    in_ptr = runtime.index["in_ptr"].long()
    in_src = runtime.index["in_src"]
    ptr = runtime.level_ptr.tolist()
    levels = []
    for l in range(1, len(ptr) - 1):
        a, b = ptr[l], ptr[l + 1]
        if a == b:
            continue
        ea, eb = int(in_ptr[a]), int(in_ptr[b])
        counts = in_ptr[a + 1 : b + 1] - in_ptr[a:b]  # in-edges of each node of the level
        targets = torch.repeat_interleave(torch.arange(b - a, device=in_src.device), counts)
        groups = [(g.start - a, g.end - a, g.fn, g.params) for g in runtime._groups_by_level.get(l, ())]
        combines = []
        for c in runtime._combines_by_level.get(l, ()):
            groups.append((c.start - a, c.end - a, None, ()))  # filled by the combine
            combines.append((c.start - a, c.end - a, c.unit_start - a, c.unit_end - a, c.branches, c.fn))
        groups.sort(key=lambda g: g[0])
        level = GraphLevel(l, a, b, ea, eb, tuple(groups), tuple(combines))
        levels.append((level, in_src[ea:eb].long(), targets))
    return levels


def graph_forward(
    levels: list[tuple[GraphLevel, torch.Tensor, torch.Tensor]],
    output_pos: torch.Tensor,
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    act_params,
) -> torch.Tensor:
    """Return the outputs, (batch, outputs), of the network whose ``levels`` are given, for ``x`` (batch, inputs).

    ``bias`` holds one value per non-input position, ``act_params`` the
    activation modules' parameters the groups index.
    """
    n_in = x.shape[1]
    H = x.t()
    for level, src, tgt in levels:
        a, b = level.a, level.b
        msg = H.index_select(0, src) * weight[level.ea : level.eb].unsqueeze(1)
        z = msg.new_zeros(b - a, H.shape[1]).index_add(0, tgt, msg) + bias[a - n_in : b - n_in].unsqueeze(1)
        parts = []
        for start, end, fn, params in level.groups:  # in position order; multi-branch nodes' rows wait
            if fn is None:
                parts.append(z[start:end])
            else:
                parts.append(fn(z[start:end], *[act_params[i] for i in params]) if params else fn(z[start:end]))
        rows = torch.cat(parts, 0) if len(parts) > 1 else parts[0]
        for start, end, u0, u1, branches, fn in level.combines:
            combined = fn(rows[u0:u1].reshape(end - start, branches, -1))
            rows = torch.cat([rows[:start], combined, rows[end:]], 0)
        H = torch.cat([H, rows], 0)
    return H.index_select(0, output_pos).t()
