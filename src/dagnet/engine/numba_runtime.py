"""The CPU back end: compiled pull kernels over level segments (see :mod:`.numba_kernels`)."""

from __future__ import annotations

import numba
import numpy as np
import torch

from . import numba_kernels as nk
from .codes import LEAKY_SLOPE
from .memory import empty_buffer
from .runtime import Runtime
from .schedule import build_schedule

__all__ = ["NumbaRuntime"]

# Buffers larger than this (bytes, about an L2 cache) do not stay in cache: the
# kernels prefetch rows ahead of use.
_CACHE_BYTES = 1 << 20


class NumbaRuntime(Runtime):
    """The passes on the CPU, with compiled kernels; rows of torch-code groups run as torch code."""

    backend = "numba"
    _threads_seen = None  # torch's thread count when numba's was last set

    def __init__(self, index, level_ptr, num_inputs, groups, combines=()):
        super().__init__(index, level_ptr, num_inputs, groups, combines)
        cpu = {k: v.numpy() for k, v in index.items()}
        self._np = cpu
        self._in_work = np.diff(cpu["in_ptr"][level_ptr])
        self._out_work = np.diff(cpu["out_ptr"][level_ptr])
        self._schedules: dict[int, tuple] = {}
        self._consts: dict = {}

    def _schedule(self, threads: int):
        if threads not in self._schedules:
            fwd = build_schedule(self.level_ptr, self._in_work, self.custom_levels, threads, 1)
            bwd = build_schedule(self.level_ptr, self._out_work, self.custom_levels, threads, 0)
            self._schedules[threads] = (fwd, bwd[::-1])
        return self._schedules[threads]

    @classmethod
    def _threads(cls) -> int:
        """Numba threads for this call: torch's setting, which it also keeps.

        Starting numba's OpenMP layer resets the shared OpenMP thread count, so
        torch's count is read first and put back.
        """
        torch_threads = torch.get_num_threads()
        threads = max(1, min(torch_threads, numba.config.NUMBA_NUM_THREADS))
        if cls._threads_seen != torch_threads:
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
        fwd, _ = self._schedule(self._threads())
        Hn = H.numpy()
        w = weight.detach().numpy()
        b = bias.detach().numpy()
        ahead = nk.AHEAD if Hn.nbytes > _CACHE_BYTES else 0
        for seg in fwd:
            kernel = nk.forward_parallel if seg.parallel else nk.forward_serial
            kernel(Hn, ix["in_ptr"], ix["in_src"], w, b, ix["act_code"], seg.lo, seg.hi, self.n_in, ahead)
            if seg.custom:
                self._apply_custom(H, self._level_of(seg.lo), act_params, saved)

    def _backward_levels(self, GO, H, saved, weight, bias, dw, db, act_params, dparams):
        ix = self._np
        _, bwd = self._schedule(self._threads())
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
        for seg in bwd:
            kernel = nk.backward_parallel if seg.parallel else nk.backward_serial
            kernel(
                Hn,
                Gn,
                GOn,
                ix["out_col"],
                ix["out_ptr"],
                ix["out_dst"],
                w_out,
                dw_out,
                dbn,
                ix["act_code"],
                seg.lo,
                seg.hi,
                self.n_in,
                consts,
                ahead,
            )
            if seg.custom:  # torch-code groups overwrite their rows of G and db
                self._custom_backward(G, self._level_of(seg.lo), saved, db, act_params, dparams)
        nk.scatter(dw_out, ix["out_edge"], dw.numpy())
        return G
