"""Dense blocks: runs of a level's nodes that read every one of the same positions, computed as one GEMM.

Where consecutive positions ``t0..t1-1`` of one level all read exactly the
positions ``s0..s1-1`` (a complete bipartite block: every dense layer over its
inputs or over the layer before, every hidden layer of a ParallelMLPs
population), their weights are,
in the engine's order (by target, then source), the row-major matrix
``W = weight[in_ptr[t0]:in_ptr[t1]].view(t1 - t0, s1 - s0)``. The forward
pass computes ``H[t0:t1] = f(W @ H[s0:s1] + b)``, and the backward pass
``dW = D[t0:t1] @ H[s0:s1].T`` and the sources' share ``W.T @ D[t0:t1]`` of
their gradients, by BLAS instead of per-edge gathers. The runtime runs a
block's forward GEMM once its sources' level is done, and its backward GEMMs
once its own level is: the sources' share goes to rows that the per-edge pull
starts from (as it starts an output's row from the loss gradient), before it
adds the rest and applies the derivative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .codes import CUSTOM, IDENTITY, LEAKY_RELU, LEAKY_SLOPE, RELU, SIGMOID, TANH

__all__ = ["DenseBlock", "find_dense_blocks", "DENSE_MIN_EDGES"]

# Blocks with fewer edges than this stay with the per-edge kernels: the GEMM pays
# from between 8,192 and 16,384 edges (bench/dense_blocks.py, bench/RESULTS.md).
DENSE_MIN_EDGES = 8192


@dataclass(frozen=True)
class DenseBlock:
    """Targets ``t0..t1-1`` (one level, one activation ``code``) reading exactly the positions ``s0..s1-1``."""

    t0: int
    t1: int
    s0: int
    s1: int
    e0: int  # their first weight: the block is weight[e0 : e0 + (t1 - t0) * (s1 - s0)]
    code: int

    @property
    def edges(self) -> int:
        return (self.t1 - self.t0) * (self.s1 - self.s0)


def find_dense_blocks(
    in_ptr: np.ndarray,
    in_src: np.ndarray,
    act_code: np.ndarray,
    level_ptr: np.ndarray,
    n_in: int,
    min_edges: int | None = DENSE_MIN_EDGES,
) -> list[DenseBlock]:
    """Return the dense blocks of a plan with at least ``min_edges`` edges each, in position order.

    A block is a maximal run of consecutive positions on one level with one
    kernel activation code (not a torch-code one) whose in-edges come from
    the same contiguous range of positions, all of it (``min_edges=None``:
    no block). Linear in nodes + edges.

    Examples
    --------
    >>> in_ptr = np.array([0, 0, 0, 2, 4, 5])          # inputs 0, 1; nodes 2, 3 read both; 4 reads 2
    >>> in_src = np.array([0, 1, 0, 1, 2])
    >>> find_dense_blocks(in_ptr, in_src, np.array([9, 9, 1, 1, 0]), np.array([0, 2, 4, 5]), 2, min_edges=4)
    [DenseBlock(t0=2, t1=4, s0=0, s1=2, e0=0, code=1)]
    """
    n = in_ptr.size - 1
    if min_edges is None or n <= n_in or in_src.size == 0:
        return []
    v = np.arange(n_in, n)
    deg = np.diff(in_ptr)[n_in:]
    has = deg > 0
    start = in_ptr[v]
    first = np.where(has, in_src[np.minimum(start, in_src.size - 1)], -1)
    last = np.where(has, in_src[np.maximum(in_ptr[v + 1] - 1, 0)], -1)
    ok = has & (last - first + 1 == deg) & (act_code[n_in:] != CUSTOM)
    level = np.searchsorted(level_ptr, v, side="right") - 1
    key = np.stack([first, deg, level, act_code[n_in:].astype(np.int64)], axis=1)
    # Runs break wherever a node does not continue the run of the one before it.
    same = np.zeros(v.size, dtype=bool)
    same[1:] = ok[1:] & ok[:-1] & (key[1:] == key[:-1]).all(axis=1)
    breaks = np.append(np.flatnonzero(~same), v.size)
    starts = breaks[:-1][ok[breaks[:-1]]]
    ends = breaks[np.searchsorted(breaks, starts, side="right")]
    big = (ends - starts) * deg[starts] >= min_edges
    return [
        DenseBlock(int(v[i]), int(v[j - 1]) + 1, int(first[i]), int(last[i]) + 1, int(start[i]), int(key[i, 3]))
        for i, j in zip(starts[big].tolist(), ends[big].tolist())
    ]


def forward_block(b: DenseBlock, H: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, n_in: int) -> None:
    """``H[t0:t1] = f(W @ H[s0:s1] + bias)`` in place, ``f`` by the block's kernel code."""
    W = weight[b.e0 : b.e0 + b.edges].view(b.t1 - b.t0, b.s1 - b.s0)
    out = H[b.t0 : b.t1]
    torch.addmm(bias[b.t0 - n_in : b.t1 - n_in, None], W, H[b.s0 : b.s1], out=out)
    if b.code == RELU:
        out.clamp_(min=0)
    elif b.code == TANH:
        out.tanh_()
    elif b.code == SIGMOID:
        out.sigmoid_()
    elif b.code == LEAKY_RELU:
        F.leaky_relu_(out, LEAKY_SLOPE)
    elif b.code != IDENTITY:  # pragma: no cover - find_dense_blocks keeps kernel codes only
        raise AssertionError(f"no kernel activation {b.code}")


def backward_block(
    b: DenseBlock, G: torch.Tensor, H: torch.Tensor, weight: torch.Tensor, dw: torch.Tensor, share: torch.Tensor | None
) -> None:
    """The block's weight gradients, ``dW = D[t0:t1] @ H[s0:s1].T``, and ``share += W.T @ D[t0:t1]``.

    ``share`` holds the sources' rows the pull starts from; None when nothing reads them.
    """
    rows, cols = b.t1 - b.t0, b.s1 - b.s0
    D = G[b.t0 : b.t1]
    torch.mm(D, H[b.s0 : b.s1].t(), out=dw[b.e0 : b.e0 + b.edges].view(rows, cols))
    if share is not None:
        W = weight[b.e0 : b.e0 + b.edges].view(rows, cols)
        share.addmm_(W.t(), D)
