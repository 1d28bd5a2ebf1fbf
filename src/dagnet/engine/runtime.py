"""Executing a plan: the forward and backward passes over the level blocks.

:class:`Runtime` holds what one network needs on one device (index tensors,
the schedule, the activation groups). Two back ends share the same buffers
and semantics:

* ``"numba"`` (CPU): compiled pull kernels, see :mod:`.numba_kernels`.
* ``"torch"`` (any device, CUDA included): per level, a sparse CSR product for
  the forward and for the transposed product, and a gathered dot product
  (SDDMM) on existing edges only for the weight gradient.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numba
import numpy as np
import torch

from . import numba_kernels as nk
from .codes import CUSTOM, IDENTITY, LEAKY_RELU, LEAKY_SLOPE, RELU, SIGMOID, TANH
from .memory import empty_buffer
from .schedule import build_schedule

__all__ = ["Runtime", "BACKENDS", "DTYPES"]

BACKENDS = ("numba", "torch")
DTYPES = (torch.float32, torch.float64)  # what both back ends compute in

# Largest (edges x batch) block the torch back end gathers at once for the
# weight gradient, to bound its temporary memory (64 Mi numbers).
_SDDMM_CHUNK = 1 << 26

# Buffers larger than this (bytes, about an L2 cache) do not stay in cache: the
# kernels prefetch rows ahead of use.
_CACHE_BYTES = 1 << 20


@dataclass(frozen=True)
class Group:
    """Positions ``start..end-1`` on one level sharing one activation."""

    start: int
    end: int
    code: int
    fn: Callable
    params: tuple  # indices into the runtime's activation parameter list


@dataclass(frozen=True)
class CombineGroup:
    """Multi-branch nodes ``start..end-1`` on one level: ``fn`` maps their branch
    sums, rows ``unit_start ..`` viewed as (nodes, branches, batch), to (nodes, batch)."""

    start: int
    end: int
    unit_start: int
    branches: int
    fn: Callable

    @property
    def unit_end(self) -> int:
        return self.unit_start + (self.end - self.start) * self.branches


class Runtime:
    """Forward and backward passes of one plan on one device.

    Parameters
    ----------
    index : dict of str to Tensor
        ``in_ptr, in_src, out_ptr, out_dst, out_edge, act_code, out_col,
        output_pos`` on the target device (see :class:`dagnet.plan.Plan`).
    level_ptr : numpy array
        Level boundaries.
    num_inputs : int
    groups : list of Group
    backend : "numba" or "torch"

    Attributes
    ----------
    retain : bool
        Keep ``activity = (H, G)`` after each backward pass: the activations
        and the gradients of the pre-activations, (positions, batch) each
        (read by gradient-based rewiring such as RigL).
    """

    retain = False
    activity = None

    def __init__(self, index: dict, level_ptr: np.ndarray, num_inputs: int,
                 groups: list[Group], backend: str, combines: list[CombineGroup] = ()):
        if backend not in BACKENDS:
            raise ValueError(f"The 'backend' parameter must be one of {BACKENDS}. Got {backend!r} instead.")
        self.index = index
        self.level_ptr = level_ptr
        self.n = int(level_ptr[-1])
        self.n_in = int(num_inputs)
        self.backend = backend
        levels = np.repeat(np.arange(level_ptr.size - 1), np.diff(level_ptr))
        self.custom_levels = {int(levels[g.start]) for g in groups if g.code == CUSTOM}
        self.custom_levels |= {int(levels[c.start]) for c in combines}
        self._groups_by_level: dict[int, list[Group]] = {}
        for g in groups:
            self._groups_by_level.setdefault(int(levels[g.start]), []).append(g)
        self._combines = list(combines)
        self._combines_by_level: dict[int, list[CombineGroup]] = {}
        for c in combines:
            self._combines_by_level.setdefault(int(levels[c.start]), []).append(c)
        if backend == "numba":
            cpu = {k: v.numpy() for k, v in index.items()}
            self._np = cpu
            self._in_work = np.diff(cpu["in_ptr"][level_ptr])
            self._out_work = np.diff(cpu["out_ptr"][level_ptr])
            self._schedules: dict[int, tuple] = {}
            self._consts: dict = {}
        else:
            self._level_index = None

    # ------------------------------------------------------------------ numba
    def _schedule(self, threads: int):
        if threads not in self._schedules:
            fwd = build_schedule(self.level_ptr, self._in_work, self.custom_levels, threads, 1)
            bwd = build_schedule(self.level_ptr, self._out_work, self.custom_levels, threads, 0)
            self._schedules[threads] = (fwd, bwd[::-1])
        return self._schedules[threads]

    _threads_seen = None  # torch's thread count when numba's was last set

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

    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, act_params: list):
        """Return ``(out, H, saved)``: outputs (batch, outputs), the activation
        buffer (nodes, batch) and the pre-activations of torch-code groups."""
        batch = x.shape[0]
        saved: dict[int, torch.Tensor] = {}
        if self.backend == "numba":
            H = empty_buffer((self.n, batch), weight.dtype)
            nk.copy_transposed(x.detach().numpy(), H[: self.n_in].numpy())
            self._forward_numba(H, weight, bias, act_params, saved)
            out = torch.empty((batch, self.index["output_pos"].numel()), dtype=H.dtype)
            nk.gather_transposed(H.numpy(), self._np["output_pos"], out.numpy())
            return out, H, saved
        H = torch.empty((self.n, batch), dtype=weight.dtype, device=weight.device)
        H[: self.n_in] = x.t()
        self._forward_torch(H, weight, bias, act_params, saved)
        out = H.index_select(0, self.index["output_pos"]).t().contiguous()
        return out, H, saved

    def _apply_custom(self, H, level: int, act_params, saved) -> None:
        for g in self._groups_by_level.get(level, ()):
            if g.code != CUSTOM:
                continue
            z = H[g.start:g.end].clone()
            a = g.fn(z, *[act_params[i] for i in g.params]) if g.params else g.fn(z)
            if not isinstance(a, torch.Tensor) or a.shape != z.shape:
                raise ValueError(
                    f"Activation {g.fn!r} must map a tensor to one of the same shape; "
                    f"got {getattr(a, 'shape', type(a))} from shape {tuple(z.shape)}."
                )
            saved[g.start] = z
            H[g.start:g.end] = a
        for c in self._combines_by_level.get(level, ()):
            z = H[c.unit_start:c.unit_end].reshape(c.end - c.start, c.branches, H.shape[1]).clone()
            saved[c.start] = z
            H[c.start:c.end] = c.fn(z)

    def _level_of(self, position: int) -> int:
        return int(np.searchsorted(self.level_ptr, position, side="right") - 1)

    def _forward_numba(self, H, weight, bias, act_params, saved) -> None:
        ix = self._np
        fwd, _ = self._schedule(self._threads())
        Hn = H.numpy()
        w = weight.detach().numpy()
        b = bias.detach().numpy()
        ahead = nk.AHEAD if Hn.nbytes > _CACHE_BYTES else 0
        for seg in fwd:
            kernel = nk.forward_parallel if seg.parallel else nk.forward_serial
            kernel(Hn, ix["in_ptr"], ix["in_src"], w, b, ix["act_code"], seg.lo, seg.hi, self.n_in,
                   ahead)
            if seg.custom:
                self._apply_custom(H, self._level_of(seg.lo), act_params, saved)

    def backward(self, grad_out, H, saved, weight, bias, act_params, need_x: bool):
        """Return ``(dx, dweight, dbias, dparams)`` for ``grad_out`` (batch, outputs)."""
        if self.backend == "numba":
            GO = torch.empty((grad_out.shape[1], grad_out.shape[0]), dtype=grad_out.dtype)
            nk.copy_transposed(grad_out.numpy(), GO.numpy())
        else:
            GO = grad_out.t().contiguous()
        dw = torch.empty_like(weight)
        db = torch.empty_like(bias)
        dparams = [None] * len(act_params)
        if self.backend == "numba":
            G = empty_buffer(tuple(H.shape), H.dtype)
            self._backward_numba(G, GO, H, saved, weight, bias, dw, db, act_params, dparams)
        else:
            G = self._backward_torch(GO, H, saved, weight, dw, db, act_params, dparams)
        self.activity = (H, G) if self.retain else None
        dx = None
        if need_x and self.backend == "numba":
            dx = torch.empty((G.shape[1], self.n_in), dtype=G.dtype)
            nk.copy_transposed(G[: self.n_in].numpy(), dx.numpy())
        elif need_x:
            dx = G[: self.n_in].t().contiguous()
        return dx, dw, db, dparams

    def _custom_backward(self, G, level, saved, db, act_params, dparams) -> None:
        for g in self._groups_by_level.get(level, ()):
            if g.code != CUSTOM:
                continue
            params = [act_params[i] for i in g.params]
            with torch.enable_grad():
                z = saved[g.start].detach().requires_grad_(True)
                p = [q.detach().requires_grad_(True) for q in params]
                a = g.fn(z, *p) if p else g.fn(z)
                grads = torch.autograd.grad(a, [z, *p], G[g.start:g.end], allow_unused=True)
            dz = grads[0] if grads[0] is not None else torch.zeros_like(z)
            G[g.start:g.end] = dz
            db[g.start - self.n_in:g.end - self.n_in] = dz.sum(1)
            for i, d in zip(g.params, grads[1:]):
                if d is not None:
                    dparams[i] = d if dparams[i] is None else dparams[i] + d
        for c in self._combines_by_level.get(level, ()):
            with torch.enable_grad():
                z = saved[c.start].detach().requires_grad_(True)
                (dz,) = torch.autograd.grad(c.fn(z), z, G[c.start:c.end], allow_unused=True)
            dz = (torch.zeros_like(z) if dz is None else dz).reshape(-1, z.shape[-1])
            G[c.unit_start:c.unit_end] = dz
            db[c.unit_start - self.n_in:c.unit_end - self.n_in] = dz.sum(1)
            db[c.start - self.n_in:c.end - self.n_in] = 0  # the node's own bias is not used

    def _backward_numba(self, G, GO, H, saved, weight, bias, dw, db, act_params, dparams) -> None:
        ix = self._np
        _, bwd = self._schedule(self._threads())
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
            kernel(Hn, Gn, GOn, ix["out_col"], ix["out_ptr"], ix["out_dst"],
                   w_out, dw_out, dbn, ix["act_code"], seg.lo, seg.hi, self.n_in, consts, ahead)
            if seg.custom:  # torch-code groups overwrite their rows of G and db
                self._custom_backward(G, self._level_of(seg.lo), saved, db, act_params, dparams)
        nk.scatter(dw_out, ix["out_edge"], dw.numpy())

    # ------------------------------------------------------------------ torch
    def _levels_torch(self):
        """Per-level CSR pieces, cut once and kept (device tensors)."""
        if self._level_index is None:
            ix = self.index
            in_ptr = ix["in_ptr"].cpu().numpy()
            out_ptr = ix["out_ptr"].cpu().numpy()
            levels = []
            for l in range(self.level_ptr.size - 1):
                a, b = int(self.level_ptr[l]), int(self.level_ptr[l + 1])
                ea, eb = int(in_ptr[a]), int(in_ptr[b])
                oa, ob = int(out_ptr[a]), int(out_ptr[b])
                col = ix["in_src"][ea:eb].long()
                ocol = ix["out_dst"][oa:ob].long()
                counts = torch.as_tensor(np.diff(out_ptr[a:b + 1]), device=col.device)
                levels.append(dict(
                    a=a, b=b, ea=ea, eb=eb,
                    crow=(ix["in_ptr"][a:b + 1] - ea).long(), col=col,
                    ocrow=(ix["out_ptr"][a:b + 1] - oa).long(), ocol=ocol,
                    oedge=ix["out_edge"][oa:ob].long(),
                    osrc=torch.repeat_interleave(torch.arange(a, b, device=col.device), counts),
                ))
            self._level_index = levels
        return self._level_index

    def _forward_torch(self, H, weight, bias, act_params, saved) -> None:
        for l, lv in enumerate(self._levels_torch()):
            if l == 0 or lv["a"] == lv["b"]:
                continue
            a, b = lv["a"], lv["b"]
            z = bias[a - self.n_in:b - self.n_in, None].expand(b - a, H.shape[1]).clone()
            if lv["eb"] > lv["ea"]:
                W = _csr(lv["crow"], lv["col"], weight[lv["ea"]:lv["eb"]], (b - a, a))
                z += torch.sparse.mm(W, H[:a])
            H[a:b] = z
            for g in self._groups_by_level.get(l, ()):
                if g.code != CUSTOM:
                    H[g.start:g.end] = g.fn(H[g.start:g.end])
            self._apply_custom(H, l, act_params, saved)

    def _backward_torch(self, GO, H, saved, weight, dw, db, act_params, dparams):
        G = torch.zeros_like(H)
        G.index_copy_(0, self.index["output_pos"], GO)
        for l in range(self.level_ptr.size - 2, -1, -1):
            lv = self._levels_torch()[l]
            a, b = lv["a"], lv["b"]
            if a == b:
                continue
            if lv["ocol"].numel():
                O = _csr(lv["ocrow"], lv["ocol"], weight[lv["oedge"]], (b - a, self.n))
                G[a:b] += torch.sparse.mm(O, G)
                _sddmm(G, H, lv["ocol"], lv["osrc"], lv["oedge"], dw)
            if l == 0:
                continue
            for g in self._groups_by_level.get(l, ()):
                if g.code != CUSTOM:
                    G[g.start:g.end] *= _FAST_DERIVATIVE[g.code](H[g.start:g.end])
                    db[g.start - self.n_in:g.end - self.n_in] = G[g.start:g.end].sum(1)
            self._custom_backward(G, l, saved, db, act_params, dparams)
        return G


def _csr(crow, col, values, size):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(crow, col, values, size=size, check_invariants=False)


def _sddmm(D, H, rows, cols, edges, out) -> None:
    """out[edges[k]] = <D[rows[k]], H[cols[k]]>, in chunks of bounded memory."""
    step = max(1, _SDDMM_CHUNK // max(1, D.shape[1]))
    for s in range(0, rows.numel(), step):
        r, c = rows[s:s + step], cols[s:s + step]
        out[edges[s:s + step]] = (D.index_select(0, r) * H.index_select(0, c)).sum(1)


_FAST_DERIVATIVE = {
    IDENTITY: lambda a: torch.ones_like(a),
    RELU: lambda a: (a > 0).to(a.dtype),
    TANH: lambda a: 1 - a * a,
    SIGMOID: lambda a: a * (1 - a),
    LEAKY_RELU: lambda a: torch.where(a > 0, torch.ones_like(a), torch.full_like(a, LEAKY_SLOPE)),
}
