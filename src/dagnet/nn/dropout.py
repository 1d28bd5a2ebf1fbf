"""`Dropout` with its own seeded random stream, saved in the state dict."""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import nn

from .._checks import check_float
from ..seeding import resolve_seed

__all__ = ["Dropout"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)


@numba.njit(cache=True)
def _dropout_kernel(x, out, mask, state, threshold, scale):  # pragma: no cover
    """out = x * mask with mask = scale or 0: a SplitMix64 stream, one number per element."""
    s = state[0]
    for i in range(x.size):
        s += _GAMMA
        z = s
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        if z >= threshold:
            out[i] = x[i] * scale
            mask[i] = scale
        else:
            out[i] = 0
            mask[i] = 0
    state[0] = s


class _DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, state, p):
        xc = x.detach().to("cpu").contiguous()
        out, mask = torch.empty_like(xc), torch.empty_like(xc)
        threshold = np.uint64(min(p * 2.0**64, 2.0**64 - 1))
        cpu_state = state if state.device.type == "cpu" else state.cpu()
        _dropout_kernel(
            xc.numpy().reshape(-1),
            out.numpy().reshape(-1),
            mask.numpy().reshape(-1),
            cpu_state.numpy().view(np.uint64),
            threshold,
            xc.numpy().dtype.type(1.0 / (1.0 - p)),
        )
        if cpu_state is not state:
            state.copy_(cpu_state)
        mask = mask.to(x.device)
        ctx.save_for_backward(mask)
        return out.to(x.device)

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None


class Dropout(nn.Module):
    """Inverted dropout drawn from the module's own random stream.

    In training mode each element is zeroed with probability ``p`` and the
    others are scaled by ``1 / (1 - p)``; in eval mode the input passes
    unchanged. Unlike ``torch.nn.Dropout`` it never touches the global RNG:
    the mask comes from a SplitMix64 stream whose state is the buffer
    ``rng_state``, part of ``state_dict()``, so a checkpointed run resumes bit
    for bit. The mask is drawn by a compiled kernel on the CPU (several times
    faster than ``torch.rand`` there) and moved to the input's device.

    Parameters
    ----------
    p : float in [0, 1), default 0.5
    seed : int, optional

    Examples
    --------
    >>> d = Dropout(0.5, seed=0)
    >>> y = d(torch.ones(1000))
    >>> sorted(set(y.tolist())), 400 < int((y == 0).sum()) < 600
    ([0.0, 2.0], True)
    """

    def __init__(self, p: float = 0.5, seed: int | None = None):
        super().__init__()
        self.p = check_float(p, "p", "Dropout", 0, 1, high_open=True)
        self.seed = resolve_seed(seed)
        start = np.random.default_rng(self.seed).integers(0, 2**63, dtype=np.int64)
        self.register_buffer("rng_state", torch.tensor([start], dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        return _DropoutFunction.apply(x, self.rng_state, self.p)

    def extra_repr(self) -> str:
        return f"p={self.p:g}, seed={self.seed}"
