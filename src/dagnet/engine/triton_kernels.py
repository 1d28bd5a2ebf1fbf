"""Triton kernels of the engine: one launch per level and pass.

The buffer ``H`` is (positions, batch), node-major, as on the CPU (see
:mod:`.numba_kernels`); a program takes one node of the level and one block of
``BLOCK_B`` batch columns, and reads its edges ``BLOCK_E`` at a time as a
(BLOCK_E, BLOCK_B) tile of gathered rows. Sums run in ``ACC`` (float32, or
float64 when ``H`` is float64), whatever the dtype of ``H``.

* forward, node v:   H[v] = f_v(b_v + sum_{u -> v} w_uv H[u])
* backward, node u:  G[u] = dL/dout_u + sum_{u -> t} w_ut D[t];  dW_ut = <D[t], H[u]>;
  then D[u] = G[u] * f_u'(.), read off the activation value H[u], and the
  bias gradient, its sum over the batch. The weights are read in out-edge
  order (``w_out = w[out_edge]``); a weight gradient goes to ``dw[out_edge]``,
  stored when one block covers the batch (``ATOMIC`` false), added atomically
  across blocks otherwise (``dw`` and ``db`` then start at zero).

Rows of torch-code activations and of multi-branch nodes are left as
pre-activations (code ``CUSTOM``) for the runtime's torch code. Inputs (positions
below ``n_in``) take no derivative and have no bias.

With ``TRITON_INTERPRET=1`` set before triton is first imported, Triton's
interpreter runs these kernels on CPU tensors (how the tests run them); the
choice is made once per process, for triton's own library as for these kernels.
"""

from __future__ import annotations

import triton
import triton.language as tl

from . import codes

__all__ = ["forward_level", "backward_level"]

_RELU = tl.constexpr(codes.RELU)
_TANH = tl.constexpr(codes.TANH)
_SIGMOID = tl.constexpr(codes.SIGMOID)
_LEAKY_RELU = tl.constexpr(codes.LEAKY_RELU)
_SLOPE = tl.constexpr(codes.LEAKY_SLOPE)


@triton.jit(do_not_specialize=["lo"])  # one compiled variant for every level
def forward_level(
    H, in_ptr, in_src, w, bias, act, lo, n_in, batch, BLOCK_E: tl.constexpr, BLOCK_B: tl.constexpr, ACC: tl.constexpr
):  # pragma: no cover - run by Triton
    """Rows ``lo .. lo + grid[0] - 1`` of ``H``, columns of block ``program_id(1)``."""
    v = lo + tl.program_id(0)
    cols = tl.program_id(1) * BLOCK_B + tl.arange(0, BLOCK_B)
    cm = cols < batch
    start = tl.load(in_ptr + v)
    end = tl.load(in_ptr + v + 1)
    acc = tl.full((BLOCK_B,), 0, ACC) + tl.load(bias + (v - n_in)).to(ACC)
    for e0 in range(start, end, BLOCK_E):
        e = e0 + tl.arange(0, BLOCK_E)
        em = e < end
        src = tl.load(in_src + e, mask=em, other=0).to(tl.int64)
        wv = tl.load(w + e, mask=em, other=0).to(ACC)
        rows = tl.load(H + src[:, None] * batch + cols[None, :], mask=em[:, None] & cm[None, :], other=0)
        acc += tl.sum(wv[:, None] * rows.to(ACC), axis=0)
    code = tl.load(act + v)
    if code == _RELU:
        acc = tl.where(acc < 0, 0.0, acc)
    elif code == _TANH:
        # tanh(|z|) = (1 - e) / (1 + e) with e = exp(-2|z|), a series where that cancels.
        a = tl.abs(acc)
        e2 = tl.exp(-2.0 * a)
        z2 = acc * acc
        series = a * (
            1.0
            + z2
            * (-1.0 / 3.0 + z2 * (2.0 / 15.0 + z2 * (-17.0 / 315.0 + z2 * (62.0 / 2835.0 + z2 * (-1382.0 / 155925.0)))))
        )
        t = tl.where(a < 0.1, series, (1.0 - e2) / (1.0 + e2))
        acc = tl.where(acc < 0, -t, t)
    elif code == _SIGMOID:
        acc = 1.0 / (1.0 + tl.exp(-acc))
    elif code == _LEAKY_RELU:
        acc = tl.where(acc < 0, acc * _SLOPE, acc)
    tl.store(H + v.to(tl.int64) * batch + cols, acc.to(H.dtype.element_ty), mask=cm)


@triton.jit(do_not_specialize=["lo"])
def backward_level(
    H,
    G,
    GO,
    out_col,
    out_ptr,
    out_dst,
    out_edge,
    w_out,
    dw,
    db,
    act,
    lo,
    n_in,
    batch,
    BLOCK_E: tl.constexpr,
    BLOCK_B: tl.constexpr,
    ACC: tl.constexpr,
    ATOMIC: tl.constexpr,
):  # pragma: no cover - run by Triton
    """Rows ``lo .. lo + grid[0] - 1`` of ``G`` (``D`` once done), their weight and bias gradients."""
    u = lo + tl.program_id(0)
    cols = tl.program_id(1) * BLOCK_B + tl.arange(0, BLOCK_B)
    cm = cols < batch
    row = u.to(tl.int64) * batch
    h = tl.load(H + row + cols, mask=cm, other=0).to(ACC)
    c = tl.load(out_col + u)
    upstream = cols < tl.where(c >= 0, batch, 0)  # out_col: the node's column of the outputs, or -1
    g = tl.load(GO + tl.maximum(c, 0).to(tl.int64) * batch + cols, mask=upstream, other=0).to(ACC)
    start = tl.load(out_ptr + u)
    end = tl.load(out_ptr + u + 1)
    for k0 in range(start, end, BLOCK_E):
        k = k0 + tl.arange(0, BLOCK_E)
        km = k < end
        dst = tl.load(out_dst + k, mask=km, other=0).to(tl.int64)
        wv = tl.load(w_out + k, mask=km, other=0).to(ACC)
        d = tl.load(G + dst[:, None] * batch + cols[None, :], mask=km[:, None] & cm[None, :], other=0).to(ACC)
        g += tl.sum(wv[:, None] * d, axis=0)
        part = tl.sum(d * h[None, :], axis=1)
        edge = tl.load(out_edge + k, mask=km, other=0)
        if ATOMIC:
            tl.atomic_add(dw + edge, part.to(dw.dtype.element_ty), mask=km)
        else:
            tl.store(dw + edge, part.to(dw.dtype.element_ty), mask=km)
    if u >= n_in:
        code = tl.load(act + u)
        if code == _RELU:
            g = tl.where(h <= 0, 0.0, g)
        elif code == _TANH:
            g = g * (1.0 - h * h)
        elif code == _SIGMOID:
            g = g * (h * (1.0 - h))
        elif code == _LEAKY_RELU:
            g = tl.where(h <= 0, g * _SLOPE, g)
        total = tl.sum(g, axis=0)  # columns past the batch hold zeros
        if ATOMIC:
            tl.atomic_add(db + (u - n_in), total.to(db.dtype.element_ty))
        else:
            tl.store(db + (u - n_in), total.to(db.dtype.element_ty))
    tl.store(G + row + cols, g.to(G.dtype.element_ty), mask=cm)
