"""The CPU back end: compiled pull kernels over level segments (see :mod:`.numba_kernels`)."""

from __future__ import annotations

import numba
import numpy as np
import torch

from . import numba_kernels as nk
from .codes import LEAKY_SLOPE
from .dense import DENSE_MIN_EDGES, backward_block, find_dense_blocks, forward_block
from .memory import empty_buffer
from .runtime import Runtime
from .schedule import build_schedule, split_at, without_ranges
from .threads import start_numba_threads, usable_threads

__all__ = ["NumbaRuntime"]

# Buffers larger than this (bytes, about an L2 cache) do not stay in cache: the
# kernels prefetch rows ahead of use.
_CACHE_BYTES = 1 << 20


class NumbaRuntime(Runtime):
    """The passes on the CPU, with compiled kernels; rows of torch-code groups run as torch code."""

    backend = "numba"
    #: Dense blocks with at least this many edges run as GEMMs (:mod:`.dense`); None: never.
    dense_min_edges = DENSE_MIN_EDGES
    _threads_seen = None  # torch's thread count when numba's was last set

    def __init__(self, index, level_ptr, num_inputs, groups, combines=()):
        super().__init__(index, level_ptr, num_inputs, groups, combines)
        cpu = {k: v.numpy() for k, v in index.items()}
        self._blocks = find_dense_blocks(
            cpu["in_ptr"], cpu["in_src"], cpu["act_code"], level_ptr, num_inputs, self.dense_min_edges
        )
        if self._blocks:  # their edges leave the per-edge pull: the blocks' GEMMs do them
            cpu = dict(cpu, **_without_block_edges(cpu, self._blocks))
        self._np = cpu
        self._in_work = np.diff(cpu["in_ptr"][level_ptr])
        for b in self._blocks:
            self._in_work[self._level_of(b.t0)] -= b.edges
        self._out_work = np.diff(cpu["out_ptr"][level_ptr])
        self._block_cuts()
        self._schedules: dict[int, tuple] = {}
        self._consts: dict = {}

    def _schedule(self, threads: int):
        if threads not in self._schedules:
            fwd = build_schedule(self.level_ptr, self._in_work, self.custom_levels, threads, 1)
            fwd = split_at(without_ranges(fwd, [(b.t0, b.t1) for b in self._blocks]), self._cuts)
            bwd = split_at(build_schedule(self.level_ptr, self._out_work, self.custom_levels, threads, 0), self._cuts)
            self._schedules[threads] = (fwd, bwd[::-1])
        return self._schedules[threads]

    def _block_cuts(self) -> None:
        """Where the blocks' GEMMs run (the start of each block's level), and the rows of their sources' shares.

        Each source of a block gets a row after the outputs' rows of the
        buffer the backward pull starts from (``GO``): its ``out_col`` points
        there, and the blocks add their share to it before the pull.
        """
        blocks = self._blocks
        self._cut_of = [int(self.level_ptr[self._level_of(b.t0)]) for b in blocks]
        self._cuts = sorted(set(self._cut_of))
        ix = self._np
        n_out = ix["output_pos"].size
        is_source = np.zeros(self.n, dtype=bool)
        for b in blocks:
            is_source[b.s0 : b.s1] = True
        sources = np.flatnonzero(is_source)
        row = np.full(self.n, -1, dtype=np.int64)
        row[sources] = np.arange(sources.size)
        self._share_row = row
        out_col = ix["out_col"].copy()
        was_output = sources[out_col[sources] >= 0]
        self._output_shares = (row[was_output], out_col[was_output])  # their loss gradients go along
        out_col[sources] = n_out + row[sources]
        self._out_col = out_col
        self._num_shares = int(sources.size)

    def _pass_schedule(self, backward: bool):
        """The thread count and the segments of one pass (the count as :func:`usable_threads` allows)."""
        threads = self._threads()
        segments = self._schedule(threads)[backward]
        if threads > 1 and any(seg.parallel for seg in segments):
            usable = usable_threads(threads)
            if usable < threads:
                threads, segments = usable, self._schedule(usable)[backward]
            if numba.get_num_threads() != threads:  # the team of each parallel kernel
                numba.set_num_threads(threads)
        return threads, segments

    @classmethod
    def _threads(cls) -> int:
        """Numba threads for this call: torch's setting, which it also keeps.

        The first call starts numba's threading layer with short-spinning
        workers (:func:`~dagnet.engine.threads.start_numba_threads`). Where both
        share one OpenMP runtime, starting numba's layer resets the OpenMP
        thread count, so torch's count is read first and put back.
        """
        torch_threads = torch.get_num_threads()
        threads = max(1, min(torch_threads, numba.config.NUMBA_NUM_THREADS))
        if cls._threads_seen != torch_threads:
            start_numba_threads()
            if numba.get_num_threads() != threads:
                numba.set_num_threads(threads)
            if torch.get_num_threads() != torch_threads:
                torch.set_num_threads(torch_threads)
            cls._threads_seen = torch_threads
        return threads

    def _new_buffer(self, batch, like):
        return empty_buffer((self.n, batch), like.dtype)

    def _write_inputs(self, H, x):
        nk.copy_transposed(x.detach().numpy(), H[: self.n_in].numpy())

    def _transposed(self, x):
        out = torch.empty((x.shape[1], x.shape[0]), dtype=x.dtype)
        nk.copy_transposed(x.detach().numpy(), out.numpy())
        return out

    def _outputs(self, H):
        out = torch.empty((H.shape[1], self.index["output_pos"].numel()), dtype=H.dtype)
        nk.gather_transposed(H.numpy(), self._np["output_pos"], out.numpy())
        return out

    def _forward_levels(self, H, weight, bias, act_params, saved) -> None:
        ix = self._np
        threads, fwd = self._pass_schedule(backward=False)
        Hn = H.numpy()
        w = weight.detach().numpy()
        b = bias.detach().numpy()
        ahead = nk.AHEAD if Hn.nbytes > _CACHE_BYTES else 0
        args = (Hn, ix["in_ptr"], ix["in_src"], w, b, ix["act_code"])
        pending = sorted(range(len(self._blocks)), key=self._cut_of.__getitem__)
        for seg in fwd:
            while pending and self._cut_of[pending[0]] <= seg.lo:  # its sources' levels are done
                forward_block(self._blocks[pending.pop(0)], H, weight.detach(), bias.detach(), self.n_in)
            if seg.parallel:
                nk.forward_parallel(*args, seg.lo, seg.hi, self.n_in, ahead, threads, seg.chunk)
            else:
                nk.forward_serial(*args, seg.lo, seg.hi, self.n_in, ahead)
            if seg.custom:
                self._apply_custom(H, self._level_of(seg.lo), act_params, saved)
        for k in pending:
            forward_block(self._blocks[k], H, weight.detach(), bias.detach(), self.n_in)

    def _backward_levels(self, GO, H, saved, weight, bias, dw, db, act_params, dparams):
        ix = self._np
        threads, bwd = self._pass_schedule(backward=True)
        G = empty_buffer(tuple(H.shape), H.dtype)
        Gn, GOn, Hn, dbn = G.numpy(), GO.numpy(), H.numpy(), db.numpy()
        w = weight.detach().numpy()
        w_out = np.empty_like(w)
        nk.gather(w, ix["out_edge"], w_out)
        dw_out = np.empty_like(w)
        consts = self._consts.get(Hn.dtype)
        if consts is None:  # zero and the leaky slope, typed like the buffers
            consts = self._consts[Hn.dtype] = np.array([0.0, LEAKY_SLOPE], dtype=Hn.dtype)
        ahead = nk.AHEAD if Hn.nbytes > _CACHE_BYTES else 0
        share = None
        if self._blocks:  # the sources' shares start where the pull starts: after the outputs' rows
            GO_ext = torch.zeros((GO.shape[0] + self._num_shares, GO.shape[1]), dtype=GO.dtype)
            GO_ext[: GO.shape[0]] = GO
            share = GO_ext[GO.shape[0] :]
            rows, cols = self._output_shares
            share[torch.from_numpy(rows)] = GO[torch.from_numpy(cols)]
            GOn = GO_ext.numpy()
        args = (Hn, Gn, GOn, self._out_col, ix["out_ptr"], ix["out_dst"], w_out, dw_out, dbn, ix["act_code"])
        pending = sorted(range(len(self._blocks)), key=self._cut_of.__getitem__, reverse=True)
        for seg in bwd:
            while pending and self._cut_of[pending[0]] >= seg.hi:  # the block's level is done
                self._block_backward(self._blocks[pending.pop(0)], G, H, weight, dw, share)
            if seg.parallel:
                nk.backward_parallel(*args, seg.lo, seg.hi, self.n_in, consts, ahead, threads, seg.chunk)
            else:
                nk.backward_serial(*args, seg.lo, seg.hi, self.n_in, consts, ahead)
            if seg.custom:  # torch-code groups overwrite their rows of G and db
                self._custom_backward(G, self._level_of(seg.lo), saved, db, act_params, dparams)
        for k in pending:
            self._block_backward(self._blocks[k], G, H, weight, dw, share)
        nk.scatter(dw_out, ix["out_edge"], dw.numpy())
        return G

    def _block_backward(self, block, G, H, weight, dw, share) -> None:
        inputs_only = block.s1 <= self.n_in
        rows = None
        if not (inputs_only and not self.need_input_grad):  # the inputs' rows matter only for dx
            a = int(self._share_row[block.s0])
            rows = share[a : a + block.s1 - block.s0]
        backward_block(block, G, H, weight.detach(), dw, rows)


def _without_block_edges(ix: dict, blocks) -> dict:
    """The out-edge arrays (``out_ptr``, ``out_dst``, ``out_edge``) less the edges of ``blocks``."""
    in_block = np.zeros(ix["in_src"].size, dtype=bool)
    for b in blocks:
        in_block[b.e0 : b.e0 + b.edges] = True
    out_ptr = ix["out_ptr"]
    keep = ~in_block[ix["out_edge"]]
    source = np.repeat(np.arange(out_ptr.size - 1), np.diff(out_ptr))
    counts = np.bincount(source[keep], minlength=out_ptr.size - 1)
    return {
        "out_ptr": np.concatenate([[0], np.cumsum(counts)]).astype(out_ptr.dtype),
        "out_dst": np.ascontiguousarray(ix["out_dst"][keep]),
        "out_edge": np.ascontiguousarray(ix["out_edge"][keep]),
    }
