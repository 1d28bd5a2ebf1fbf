"""The GPU back end: one Triton launch per level and pass (see :mod:`.triton_kernels`).

Triton is imported when a runtime is built, not with this module. The kernels
are compiled for CUDA tensors; CPU tensors need Triton's interpreter (for tests).

Mixed precision: under ``torch.autocast`` for the tensors' device with
float16 or bfloat16, the buffers ``H`` and ``G`` (and so the outputs) are in
that dtype while the weights, the biases and their gradients stay float32 and
every sum runs in float32.
"""

from __future__ import annotations

import numpy as np
import torch

from .precision import autocast_dtype
from .runtime import Runtime

__all__ = ["TritonRuntime"]


def _pow2(n: int) -> int:
    """The least power of two ``>= max(n, 1)``."""
    return 1 << max(0, int(n) - 1).bit_length()


class TritonRuntime(Runtime):
    """The passes as Triton kernels, one launch per level; rows of torch-code groups run as torch code.

    Attributes
    ----------
    block_batch : int
        Most batch columns one program takes (a power of two). A batch wider
        than that is split across programs, which then add their weight and
        bias gradients atomically.
    tile : int
        Most elements of one gathered (edges, batch) tile.
    """

    backend = "triton"
    block_batch = 128
    tile = 4096

    def __init__(self, index, level_ptr, num_inputs, groups, combines=()):
        super().__init__(index, level_ptr, num_inputs, groups, combines)
        from . import triton_kernels  # imports triton

        self._forward_kernel = triton_kernels.forward_level
        self._backward_kernel = triton_kernels.backward_level
        bounds = level_ptr.astype(np.int64)
        degree_in = np.diff(index["in_ptr"].cpu().numpy())
        degree_out = np.diff(index["out_ptr"].cpu().numpy())
        # Per level: (first position, nodes, widest in-degree, widest out-degree).
        self._levels = [
            (
                int(a),
                int(b - a),
                int(degree_in[a:b].max(initial=0)),
                int(degree_out[a:b].max(initial=0)),
            )
            for a, b in zip(bounds[:-1], bounds[1:])
        ]

    def _new_buffer(self, batch, like):
        dtype = like.dtype
        low = autocast_dtype(like.device.type)
        if dtype == torch.float32 and low is not None:
            dtype = low
        return torch.empty((self.n, batch), dtype=dtype, device=like.device)

    def _blocks(self, batch: int, degree: int) -> tuple[int, int]:
        """``(BLOCK_E, BLOCK_B)`` for a level whose widest node has ``degree`` edges."""
        bb = min(_pow2(batch), self.block_batch)
        return min(_pow2(degree), max(1, self.tile // bb)), bb

    def _forward_levels(self, H, weight, bias, act_params, saved) -> None:
        ix = self.index
        batch = H.shape[1]
        acc = _accumulator(H)
        weight, bias = weight.contiguous(), bias.contiguous()  # the kernels index them flat
        for l, (lo, size, degree, _) in enumerate(self._levels):
            if l == 0 or size == 0:
                continue
            block_e, block_b = self._blocks(batch, degree)
            if batch:
                grid = (size, -(-batch // block_b))
                self._forward_kernel[grid](
                    H,
                    ix["in_ptr"],
                    ix["in_src"],
                    weight,
                    bias,
                    ix["act_code"],
                    lo,
                    self.n_in,
                    batch,
                    BLOCK_E=block_e,
                    BLOCK_B=block_b,
                    ACC=acc,
                )
            if l in self.custom_levels:
                self._apply_custom(H, l, act_params, saved)

    def _backward_levels(self, GO, H, saved, weight, bias, dw, db, act_params, dparams):
        ix = self.index
        batch = H.shape[1]
        acc = _accumulator(H)
        G = torch.empty_like(H)
        w_out = weight.detach().index_select(0, ix["out_edge"].long())
        blocks = -(-batch // min(_pow2(batch), self.block_batch))
        atomic = blocks != 1
        if atomic:  # programs of several batch blocks add into them (none at all for an empty batch)
            dw.zero_()
            db.zero_()
        for l in range(len(self._levels) - 1, -1, -1):
            lo, size, _, degree = self._levels[l]
            if size == 0:
                continue
            block_e, block_b = self._blocks(batch, degree)
            if batch:
                self._backward_kernel[(size, blocks)](
                    H,
                    G,
                    GO,
                    ix["out_col"],
                    ix["out_ptr"],
                    ix["out_dst"],
                    ix["out_edge"],
                    w_out,
                    dw,
                    db,
                    ix["act_code"],
                    lo,
                    self.n_in,
                    batch,
                    BLOCK_E=block_e,
                    BLOCK_B=block_b,
                    ACC=acc,
                    ATOMIC=atomic,
                )
            if l in self.custom_levels:  # torch-code groups overwrite their rows of G and db
                self._custom_backward(G, l, saved, db, act_params, dparams)
        return G


def _accumulator(H: torch.Tensor):
    """The Triton dtype sums over ``H`` run in."""
    import triton.language as tl

    return tl.float64 if H.dtype == torch.float64 else tl.float32
