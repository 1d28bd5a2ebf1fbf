"""Compiled CPU kernels of the engine (numba).

Activations live in one node-major buffer ``H`` of shape (nodes, batch): each
edge reads one contiguous batch row. Both passes *pull*: a node's row is
written by one thread only, so results do not depend on the thread count and
are reproducible bit for bit.

* forward, node v:   H[v] = f_v(b_v + sum_{u -> v} w_uv H[u])
* backward, node u:  G[u] = dL/dout_u + sum_{u -> t} w_ut D[t];  dW_ut = <D[t], H[u]>;
  then D[u] = G[u] * f_u'(.) in place, read off the activation value H[u];
  the bias gradients are the row sums of D, taken once at the end.
  The backward reads weights and writes their gradients in out-edge order
  (``w_out = w[out_edge]``), so that those accesses are sequential too.

The backward walks nodes in reverse position order; every successor of ``u``
has a larger position, so its ``D`` row is final when ``u`` pulls it.

Each pass has a serial kernel (one thread over any run of levels) and a
parallel one (one level, its nodes shared out in chunks through an atomic
cursor, see :mod:`.threads`); both run the same per-node code.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .codes import LEAKY_RELU, LEAKY_SLOPE, RELU, SIGMOID, TANH
from .prefetch import prefetch_row
from .threads import claim

# Rows are prefetched this many edges ahead of their use, when the buffer
# does not fit in cache (``ahead`` is 0 otherwise: the hints would only cost).
AHEAD = 8

# Reassociation lets the batch dot products vectorise; the order is fixed at
# compile time, so results stay deterministic. No 'nnan'/'ninf': NaN and inf
# propagate as in torch.
_FM = {"reassoc", "nsz", "contract"}


@numba.njit(cache=True, fastmath=_FM, inline="always")
def _forward_node(H, in_ptr, in_src, w, bias, act, v, n_in, ahead):  # pragma: no cover
    """H[v] = f_v(b_v + sum_{u -> v} w_uv H[u])."""
    nb = H.shape[1]
    last = in_src.size - ahead - 3
    row = H[v]
    bv = bias[v - n_in]
    for b in range(nb):
        row[b] = bv
    e = in_ptr[v]
    end = in_ptr[v + 1]
    # Four edges per sweep: a quarter of the loads and stores of the output row.
    while e + 3 < end:
        if ahead > 0 and e < last:
            for j in range(4):
                prefetch_row(H, in_src[e + ahead + j])
        s0 = H[in_src[e]]
        s1 = H[in_src[e + 1]]
        s2 = H[in_src[e + 2]]
        s3 = H[in_src[e + 3]]
        w0 = w[e]
        w1 = w[e + 1]
        w2 = w[e + 2]
        w3 = w[e + 3]
        for b in range(nb):
            row[b] += (w0 * s0[b] + w1 * s1[b]) + (w2 * s2[b] + w3 * s3[b])
        e += 4
    while e < end:
        if ahead > 0 and e < last + 3:
            prefetch_row(H, in_src[e + ahead])
        s0 = H[in_src[e]]
        w0 = w[e]
        for b in range(nb):
            row[b] += w0 * s0[b]
        e += 1
    code = act[v]
    if code == RELU:
        for b in range(nb):
            if row[b] < 0:
                row[b] = 0
    elif code == TANH:
        for b in range(nb):
            row[b] = np.tanh(row[b])
    elif code == SIGMOID:
        for b in range(nb):
            row[b] = 1.0 / (1.0 + np.exp(-row[b]))
    elif code == LEAKY_RELU:
        for b in range(nb):
            if row[b] < 0:
                row[b] *= LEAKY_SLOPE


@numba.njit(cache=True, fastmath=_FM)
def forward_serial(H, in_ptr, in_src, w, bias, act, lo, hi, n_in, ahead):  # pragma: no cover
    """Nodes ``lo..hi-1`` in order, on one thread (any run of levels)."""
    for v in range(lo, hi):
        _forward_node(H, in_ptr, in_src, w, bias, act, v, n_in, ahead)


@numba.njit(cache=True, parallel=True, fastmath=_FM)
def forward_parallel(H, in_ptr, in_src, w, bias, act, lo, hi, n_in, ahead, threads, chunk):  # pragma: no cover
    """Nodes ``lo..hi-1`` of one level on ``threads`` threads, each taking ``chunk`` nodes at a time."""
    cursor = np.zeros(1, dtype=np.int64)
    for _ in prange(threads):
        c = claim(cursor, chunk)
        while c < hi - lo:
            for v in range(lo + c, min(hi, lo + c + chunk)):
                _forward_node(H, in_ptr, in_src, w, bias, act, v, n_in, ahead)
            c = claim(cursor, chunk)


@numba.njit(cache=True, fastmath=_FM, inline="always")
def _backward_node(H, G, GO, out_col, out_ptr, out_dst, w, dw, db, act, u, n_in, consts, ahead):  # pragma: no cover
    """G[u] (then D[u] in place), the weight gradients of u's out-edges and, for u not an input, db[u]."""
    nb = H.shape[1]
    zero = consts[0]
    slope = consts[1]
    g = G[u]
    h = H[u]
    c = out_col[u]
    if c >= 0:
        go = GO[c]
        for b in range(nb):
            g[b] = go[b]
    else:
        for b in range(nb):
            g[b] = zero
    k = out_ptr[u]
    end = out_ptr[u + 1]
    # Edges are read by decreasing node: prefetch the next node's first rows too.
    if ahead > 0 and u > 0:
        nxt = out_ptr[u - 1]
        for j in range(nxt, min(nxt + ahead, k)):
            prefetch_row(G, out_dst[j])
    # Four edges per sweep: a quarter of the loads and stores of the gradient row.
    while k + 3 < end:
        if ahead > 0 and k + ahead + 3 < end:
            for j in range(4):
                prefetch_row(G, out_dst[k + ahead + j])
        d0 = G[out_dst[k]]
        d1 = G[out_dst[k + 1]]
        d2 = G[out_dst[k + 2]]
        d3 = G[out_dst[k + 3]]
        w0 = w[k]
        w1 = w[k + 1]
        w2 = w[k + 2]
        w3 = w[k + 3]
        s0 = zero
        s1 = zero
        s2 = zero
        s3 = zero
        for b in range(nb):
            x0 = d0[b]
            x1 = d1[b]
            x2 = d2[b]
            x3 = d3[b]
            hb = h[b]
            g[b] += (w0 * x0 + w1 * x1) + (w2 * x2 + w3 * x3)
            s0 += x0 * hb
            s1 += x1 * hb
            s2 += x2 * hb
            s3 += x3 * hb
        dw[k] = s0
        dw[k + 1] = s1
        dw[k + 2] = s2
        dw[k + 3] = s3
        k += 4
    while k < end:
        if ahead > 0 and k + ahead < end:
            prefetch_row(G, out_dst[k + ahead])
        d0 = G[out_dst[k]]
        w0 = w[k]
        s0 = zero
        for b in range(nb):
            x0 = d0[b]
            g[b] += w0 * x0
            s0 += x0 * h[b]
        dw[k] = s0
        k += 1
    if u >= n_in:
        # D[u] = G[u] * f'(z_u), read off the activation a_u = H[u]; the bias
        # gradient is its sum over the batch (one thread per row: the same
        # result for every thread count).
        code = act[u]
        if code == RELU:
            for b in range(nb):
                if h[b] <= 0:
                    g[b] = zero
        elif code == TANH:
            for b in range(nb):
                g[b] *= 1 - h[b] * h[b]
        elif code == SIGMOID:
            for b in range(nb):
                g[b] *= h[b] * (1 - h[b])
        elif code == LEAKY_RELU:
            for b in range(nb):
                if h[b] <= 0:
                    g[b] *= slope
        s0 = zero
        for b in range(nb):
            s0 += g[b]
        db[u - n_in] = s0


@numba.njit(cache=True, fastmath=_FM)
def backward_serial(
    H, G, GO, out_col, out_ptr, out_dst, w, dw, db, act, lo, hi, n_in, consts, ahead
):  # pragma: no cover
    """Nodes ``hi-1`` down to ``lo``, on one thread (any run of levels: the pull needs this order)."""
    for i in range(hi - lo):
        _backward_node(H, G, GO, out_col, out_ptr, out_dst, w, dw, db, act, hi - 1 - i, n_in, consts, ahead)


@numba.njit(cache=True, parallel=True, fastmath=_FM)
def backward_parallel(
    H, G, GO, out_col, out_ptr, out_dst, w, dw, db, act, lo, hi, n_in, consts, ahead, threads, chunk
):  # pragma: no cover
    """Nodes of one level, ``hi-1`` down to ``lo``, on ``threads`` threads taking ``chunk`` nodes at a time."""
    cursor = np.zeros(1, dtype=np.int64)
    for _ in prange(threads):
        c = claim(cursor, chunk)
        while c < hi - lo:
            for i in range(c, min(hi - lo, c + chunk)):
                _backward_node(H, G, GO, out_col, out_ptr, out_dst, w, dw, db, act, hi - 1 - i, n_in, consts, ahead)
            c = claim(cursor, chunk)


@numba.njit(cache=True)
def gather(src, index, out):  # pragma: no cover
    """out[k] = src[index[k]]."""
    for k in range(index.size):
        out[k] = src[index[k]]


@numba.njit(cache=True)
def scatter(src, index, out):  # pragma: no cover
    """out[index[k]] = src[k]."""
    for k in range(index.size):
        out[index[k]] = src[k]


@numba.njit(cache=True)
def copy_transposed(src, dst):  # pragma: no cover
    """dst[j, b] = src[b, j]: a batch (batch, columns) into node-major rows.

    One side of a transpose is read or written with a stride; strides that
    are multiples of 256 bytes fall into few cache sets, so the loop order is
    chosen to keep the strided side off them (tiles when both sides are).
    """
    n, m = src.shape
    if m % 64 != 0:  # contiguous writes, reads strided by m
        for j in range(m):
            d = dst[j]
            for b in range(n):
                d[b] = src[b, j]
    elif n % 64 != 0:  # contiguous reads, writes strided by n
        for b in range(n):
            for j in range(m):
                dst[j, b] = src[b, j]
    else:
        for b0 in range(0, n, 16):
            for j in range(m):
                for b in range(b0, b0 + 16):
                    dst[j, b] = src[b, j]


@numba.njit(cache=True)
def gather_transposed(H, rows, out):  # pragma: no cover
    """out[b, j] = H[rows[j], b]: the output nodes' rows as a (batch, outputs) block."""
    for j in range(rows.size):
        h = H[rows[j]]
        for b in range(h.size):
            out[b, j] = h[b]
