"""Compiled CPU kernels of the engine (numba).

Activations live in one node-major buffer ``H`` of shape (nodes, batch): each
edge reads one contiguous batch row. Both passes *pull*: a node's row is
written by one thread only, so results do not depend on the thread count and
are reproducible bit for bit.

* forward, node v:   H[v] = f_v(b_v + sum_{u -> v} w_uv H[u])
* backward, node u:  G[u] = dL/dout_u + sum_{u -> t} w_ut D[t];  dW_ut = <D[t], H[u]>;
  then D[u] = G[u] * f_u'(.) in place, read off the activation value H[u].

The backward walks nodes in reverse position order; every successor of ``u``
has a larger position, so its ``D`` row is final when ``u`` pulls it.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from ..activations.registry import IDENTITY, LEAKY_RELU, LEAKY_SLOPE, RELU, SIGMOID, TANH

# Reassociation lets the batch dot products vectorise; the order is fixed at
# compile time, so results stay deterministic. No 'nnan'/'ninf': NaN and inf
# propagate as in torch.
_FM = {"reassoc", "nsz", "contract"}


@numba.njit(inline="always", fastmath=_FM)
def _forward_node(H, in_ptr, in_src, w, bias, act, v, n_in):  # pragma: no cover - compiled
    row = H[v]
    nb = row.shape[0]
    bv = bias[v - n_in]
    for b in range(nb):
        row[b] = bv
    e = in_ptr[v]
    end = in_ptr[v + 1]
    # Two edges per sweep: half the loads and stores of the output row.
    while e + 1 < end:
        s0 = H[in_src[e]]
        s1 = H[in_src[e + 1]]
        w0 = w[e]
        w1 = w[e + 1]
        for b in range(nb):
            row[b] += w0 * s0[b] + w1 * s1[b]
        e += 2
    if e < end:
        s0 = H[in_src[e]]
        w0 = w[e]
        for b in range(nb):
            row[b] += w0 * s0[b]
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


@numba.njit(inline="always", fastmath=_FM)
def _backward_node(H, G, GO, out_col, out_ptr, out_dst, out_edge, w, dw, dbias, act, u, n_in, zero):  # pragma: no cover
    g = G[u]
    h = H[u]
    nb = g.shape[0]
    c = out_col[u]
    if c >= 0:
        go = GO[c]
        for b in range(nb):
            g[b] = go[b]
    else:
        for b in range(nb):
            g[b] = zero
    for k in range(out_ptr[u], out_ptr[u + 1]):
        d = G[out_dst[k]]
        e = out_edge[k]
        wv = w[e]
        s = zero
        for b in range(nb):
            db = d[b]
            g[b] += wv * db
            s += db * h[b]
        dw[e] = s
    if u < n_in:
        return
    code = act[u]
    if code == RELU:
        for b in range(nb):
            if h[b] <= 0:
                g[b] = 0
    elif code == TANH:
        for b in range(nb):
            g[b] *= 1.0 - h[b] * h[b]
    elif code == SIGMOID:
        for b in range(nb):
            g[b] *= h[b] * (1.0 - h[b])
    elif code == LEAKY_RELU:
        for b in range(nb):
            if h[b] <= 0:
                g[b] *= LEAKY_SLOPE
    elif code != IDENTITY:
        return  # torch code: the caller applies f' and sums the bias gradient
    s = zero
    for b in range(nb):
        s += g[b]
    dbias[u - n_in] = s


@numba.njit(cache=True, fastmath=_FM)
def forward_serial(H, in_ptr, in_src, w, bias, act, lo, hi, n_in):  # pragma: no cover
    """Compute positions lo..hi-1 in order (any levels, one thread)."""
    for v in range(lo, hi):
        _forward_node(H, in_ptr, in_src, w, bias, act, v, n_in)


@numba.njit(cache=True, parallel=True, fastmath=_FM)
def forward_parallel(H, in_ptr, in_src, w, bias, act, lo, hi, n_in):  # pragma: no cover
    """Compute positions lo..hi-1 of one level, in parallel."""
    for v in prange(lo, hi):
        _forward_node(H, in_ptr, in_src, w, bias, act, v, n_in)


@numba.njit(cache=True, fastmath=_FM)
def backward_serial(H, G, GO, out_col, out_ptr, out_dst, out_edge, w, dw, dbias, act, lo, hi, n_in, zero):  # pragma: no cover
    """Pull gradients into positions hi-1 down to lo (any levels, one thread)."""
    for u in range(hi - 1, lo - 1, -1):
        _backward_node(H, G, GO, out_col, out_ptr, out_dst, out_edge, w, dw, dbias, act, u, n_in, zero)


@numba.njit(cache=True, parallel=True, fastmath=_FM)
def backward_parallel(H, G, GO, out_col, out_ptr, out_dst, out_edge, w, dw, dbias, act, lo, hi, n_in, zero):  # pragma: no cover
    """Pull gradients into positions lo..hi-1 of one level, in parallel."""
    for u in prange(lo, hi):
        _backward_node(H, G, GO, out_col, out_ptr, out_dst, out_edge, w, dw, dbias, act, u, n_in, zero)
