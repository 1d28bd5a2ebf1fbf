"""`Dropout` with its own seeded random stream, saved in the state dict, drawn on any device."""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import nn

from .._checks import check_float, check_int, invalid
from ..seeding import resolve_seed

__all__ = ["Dropout", "keep_mask", "initial_state", "draws_on_host"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
_TOP = 1 << 63  # the sign bit: flipping it turns an unsigned order into the signed one


def _signed(value: int) -> int:
    """The int64 that holds the 64-bit pattern of ``value`` (taken modulo 2**64)."""
    value %= 1 << 64
    return value - (1 << 64) if value >= _TOP else value


def _threshold(p: float) -> np.uint64:
    """Draws below it (as unsigned 64-bit numbers) drop their element: a fraction ``p`` of them."""
    return np.uint64(min(p * 2.0**64, 2.0**64 - 1))


# Elements of a mask drawn at once by :func:`keep_mask` (its temporaries: about 24 bytes each).
_CHUNK = 1 << 22


def initial_state(seed: int) -> int:
    """Return the first state of the SplitMix64 stream of ``seed`` (an int64, drawn by NumPy).

    Examples
    --------
    >>> initial_state(0) == initial_state(0), 0 <= initial_state(0) < 2**63
    (True, True)
    """
    return int(np.random.default_rng(seed).integers(0, 2**63, dtype=np.int64))


def draws_on_host(device: torch.device) -> bool:
    """Whether masks for tensors on ``device`` are drawn by host code: on the CPU (a compiled kernel, faster there).

    Everywhere else they are computed by torch operations on the device itself.

    Examples
    --------
    >>> draws_on_host(torch.device("cpu")), draws_on_host(torch.device("meta"))
    (True, False)
    """
    return device.type == "cpu"


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


def _logical_shift(z: torch.Tensor, k: int) -> torch.Tensor:
    """``z >> k`` of the unsigned 64-bit numbers that the int64 ``z`` holds (an arithmetic shift, then masked)."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def keep_mask(state: torch.Tensor, n: int, p: float) -> torch.Tensor:
    """Return which of ``n`` elements a drop probability ``p`` keeps, drawn on ``state``'s device; advance ``state``.

    Element ``i`` is kept where the SplitMix64 output of ``state + (i + 1) * GAMMA``
    (unsigned 64-bit arithmetic) is at least ``p * 2**64``; then ``state``, a
    one-element int64 tensor, advances by ``n * GAMMA`` in place. This is the
    stream :class:`Dropout`'s compiled CPU kernel walks one element after the
    other, computed for all elements at once with int64 torch operations
    (they wrap around as unsigned arithmetic does; logical shifts are
    arithmetic shifts masked, unsigned comparisons signed ones with the sign
    bit flipped), so it gives the same mask on every device without a
    transfer, and inside a captured CUDA graph each replay draws anew.

    Parameters
    ----------
    state : LongTensor, shape (1,)
    n : int >= 0
    p : float in [0, 1)

    Returns
    -------
    BoolTensor, shape (n,), on ``state``'s device

    Raises
    ------
    ValueError
        For a ``state`` that is not a one-element int64 tensor, a negative
        ``n`` or a ``p`` outside [0, 1).

    Examples
    --------
    >>> state = torch.tensor([initial_state(0)])
    >>> keep = keep_mask(state, 1000, 0.25)
    >>> 700 < int(keep.sum()) < 800, int(state) == _signed(initial_state(0) + 1000 * int(_GAMMA))
    (True, True)
    """
    if not isinstance(state, torch.Tensor) or state.dtype != torch.int64 or state.shape != (1,):
        raise invalid("state", "keep_mask", "a one-element int64 tensor", state)
    n = check_int(n, "n", "keep_mask", low=0)
    p = check_float(p, "p", "keep_mask", 0, 1, high_open=True)
    keep = torch.empty(n, dtype=torch.bool, device=state.device)
    floor = int(_threshold(p)) - _TOP
    for start in range(0, n, _CHUNK):  # bounded temporaries: a few int64 numbers per element of a chunk
        z = torch.arange(start + 1, min(n, start + _CHUNK) + 1, dtype=torch.int64, device=state.device)
        z.mul_(_signed(int(_GAMMA))).add_(state)
        z = (z ^ _logical_shift(z, 30)).mul_(_signed(_MIX1))
        z = (z ^ _logical_shift(z, 27)).mul_(_signed(_MIX2))
        z = z ^ _logical_shift(z, 31)
        keep[start : start + z.numel()] = (z ^ -_TOP) >= floor
    state.add_(_signed(n * int(_GAMMA)))
    return keep


def _drop(x: torch.Tensor, state: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(out, mask)``: ``x`` with dropout applied and the mask (0 or the scale) it used; advances ``state``."""
    if draws_on_host(x.device):
        xc = x.detach().contiguous()
        out, mask = torch.empty_like(xc), torch.empty_like(xc)
        cpu_state = state if state.device.type == "cpu" else state.cpu()
        _dropout_kernel(
            xc.numpy().reshape(-1),
            out.numpy().reshape(-1),
            mask.numpy().reshape(-1),
            cpu_state.numpy().view(np.uint64),
            _threshold(p),
            xc.numpy().dtype.type(1.0 / (1.0 - p)),
        )
        if cpu_state is not state:
            state.copy_(cpu_state)
        return out, mask
    here = state if state.device == x.device else state.to(x.device)
    keep = keep_mask(here, x.numel(), p).view(x.shape)
    if here is not state:
        state.copy_(here)
    scale = 1.0 / (1.0 - p)  # rounded to x's dtype by the products, as the kernel's scale is
    return torch.where(keep, x.detach() * scale, 0), keep.to(x.dtype).mul_(scale)


class _DropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, state, p):
        out, mask = _drop(x, state, p)
        ctx.save_for_backward(mask)
        return out

    @staticmethod
    def backward(ctx, grad):
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None


@torch.library.custom_op("dagnet::dropout", mutates_args=())
def _dropout_op(x: torch.Tensor, state: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(out, mask, next state)``: dropout as a custom operator, which ``torch.compile`` keeps in its graph."""
    state = state.clone()
    out, mask = _drop(x, state, p)
    return out, mask, state


@_dropout_op.register_fake
def _(x, state, p):
    return torch.empty_like(x), torch.empty_like(x), torch.empty_like(state)


def _dropout_setup(ctx, inputs, output):
    ctx.save_for_backward(output[1])


def _dropout_backward(ctx, grad, *_):
    (mask,) = ctx.saved_tensors
    return grad * mask, None, None


torch.library.register_autograd("dagnet::dropout", _dropout_backward, setup_context=_dropout_setup)


class Dropout(nn.Module):
    """Inverted dropout drawn from the module's own random stream.

    In training mode each element is zeroed with probability ``p`` and the
    others are scaled by ``1 / (1 - p)``; in eval mode the input passes
    unchanged. Unlike ``torch.nn.Dropout`` it never touches the global RNG:
    the mask comes from a SplitMix64 stream whose state is the buffer
    ``rng_state``, part of ``state_dict()``, so a checkpointed run resumes bit
    for bit. On the CPU the mask is drawn by a compiled kernel (several times
    faster than ``torch.rand`` there); on any other device by
    :func:`keep_mask`, torch operations on the input's device that give the
    same mask, so nothing crosses to the host. A network thus draws the same
    masks on every device.

    Parameters
    ----------
    p : float in [0, 1), default 0.5
    seed : int, numpy Generator or random.Random, optional

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
        self.register_buffer("rng_state", torch.tensor([initial_state(self.seed)], dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if torch.compiler.is_compiling():  # the compiler cannot trace the kernel: a custom operator
            out, _, state = _dropout_op(x, self.rng_state, self.p)
            self.rng_state.copy_(state)
            return out
        return _DropoutFunction.apply(x, self.rng_state, self.p)

    def extra_repr(self) -> str:
        return f"p={self.p:g}, seed={self.seed}"
