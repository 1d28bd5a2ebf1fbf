"""Executing a plan: what both back ends share, and how a pass is laid out.

A :class:`Runtime` holds what one network needs on one device (index tensors,
the activation groups) and runs the forward and backward passes over the
level blocks of the buffer ``H`` (positions x batch). A back end fills in
the per-level products; :func:`dagnet.engine.backends.make_runtime` picks one:

* :class:`~dagnet.engine.numba_runtime.NumbaRuntime` (CPU): compiled pull kernels.
* :class:`~dagnet.engine.torch_runtime.TorchRuntime` (any device, CUDA
  included): per-level sparse CSR products and a gathered dot product (SDDMM)
  on existing edges only for the weight gradient.
* :class:`~dagnet.engine.triton_runtime.TritonRuntime` (CUDA): the pull
  kernels of the CPU back end as Triton kernels, one launch per level.

Activations without a kernel code, and multi-branch combines, run as torch
code on their rows, the same way on every back end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from .codes import CUSTOM

__all__ = ["Runtime", "Group", "CombineGroup"]


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
    """Forward and backward passes of one plan on one device (a back end subclasses it).

    Parameters
    ----------
    index : dict of str to Tensor
        ``in_ptr, in_src, out_ptr, out_dst, out_edge, act_code, out_col,
        output_pos`` on the target device (see :class:`dagnet.plan.Plan`).
    level_ptr : numpy array
        Level boundaries.
    num_inputs : int
    groups : list of Group
    combines : list of CombineGroup

    Attributes
    ----------
    retain : bool
        Keep ``activity = (H, G)`` after each backward pass: the activations
        and the gradients of the pre-activations, (positions, batch) each
        (read by gradient-based rewiring such as RigL).
    need_input_grad : bool
        Set by each backward pass: whether the input rows of ``G`` are wanted
        (for the input's gradient, or kept with ``retain``); a back end may
        skip work that only they need.
    """

    backend = ""
    retain = False
    need_input_grad = True
    activity = None

    def __init__(
        self,
        index: dict,
        level_ptr: np.ndarray,
        num_inputs: int,
        groups: list[Group],
        combines: list[CombineGroup] = (),
    ):
        self.index = index
        self.level_ptr = level_ptr
        self.n = int(level_ptr[-1])
        self.n_in = int(num_inputs)
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

    def saved_starts(self) -> list[int]:
        """The first positions of the groups whose pre-activations a forward pass saves (torch-code ones), sorted."""
        starts = [g.start for groups in self._groups_by_level.values() for g in groups if g.code == CUSTOM]
        return sorted(starts + [c.start for c in self._combines])

    # ------------------------------------------------------------------ what a back end provides
    def _new_buffer(self, batch: int, like: torch.Tensor) -> torch.Tensor:
        """An uninitialised (positions, batch) buffer of ``like``'s dtype and device."""
        return torch.empty((self.n, batch), dtype=like.dtype, device=like.device)

    def _write_inputs(self, H: torch.Tensor, x: torch.Tensor) -> None:
        """Copy the batch ``x`` (batch, inputs) into the input rows of ``H``."""
        H[: self.n_in] = x.t()

    def _transposed(self, x: torch.Tensor) -> torch.Tensor:
        """A contiguous copy of the transpose of a 2-D tensor."""
        return x.t().contiguous()

    def _outputs(self, H: torch.Tensor) -> torch.Tensor:
        """The output rows of ``H``, as (batch, outputs)."""
        return H.index_select(0, self.index["output_pos"]).t().contiguous()

    def _forward_levels(self, H, weight, bias, act_params, saved) -> None:
        raise NotImplementedError

    def _backward_levels(self, GO, H, saved, weight, bias, dw, db, act_params, dparams) -> torch.Tensor:
        """Fill ``dw``, ``db``, ``dparams``; return ``G``, the gradients of the pre-activations."""
        raise NotImplementedError

    # ------------------------------------------------------------------ the passes
    def forward(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, act_params: list):
        """Return ``(out, H, saved)``: outputs (batch, outputs), the activation
        buffer (nodes, batch) and the pre-activations of torch-code groups."""
        saved: dict[int, torch.Tensor] = {}
        H = self._new_buffer(x.shape[0], weight)
        self._write_inputs(H, x)
        self._forward_levels(H, weight, bias, act_params, saved)
        return self._outputs(H), H, saved

    def backward(self, grad_out, H, saved, weight, bias, act_params, need_x: bool):
        """Return ``(dx, dweight, dbias, dparams)`` for ``grad_out`` (batch, outputs)."""
        GO = self._transposed(grad_out)
        dw = torch.empty_like(weight)
        db = torch.empty_like(bias)
        dparams = [None] * len(act_params)
        self.need_input_grad = need_x or self.retain  # whether G's input rows are wanted
        G = self._backward_levels(GO, H, saved, weight, bias, dw, db, act_params, dparams)
        self.activity = (H, G) if self.retain else None
        dx = self._transposed(G[: self.n_in]) if need_x else None
        return dx, dw, db, dparams

    # ------------------------------------------------------------------ torch-code rows, shared
    def _apply_custom(self, H, level: int, act_params, saved) -> None:
        for g in self._groups_by_level.get(level, ()):
            if g.code != CUSTOM:
                continue
            z = H[g.start : g.end].clone()
            a = g.fn(z, *[act_params[i] for i in g.params]) if g.params else g.fn(z)
            if not isinstance(a, torch.Tensor) or a.shape != z.shape:
                raise ValueError(
                    f"Activation {g.fn!r} must map a tensor to one of the same shape; "
                    f"got {getattr(a, 'shape', type(a))} from shape {tuple(z.shape)}."
                )
            saved[g.start] = z
            H[g.start : g.end] = a
        for c in self._combines_by_level.get(level, ()):
            z = H[c.unit_start : c.unit_end].reshape(c.end - c.start, c.branches, H.shape[1]).clone()
            saved[c.start] = z
            H[c.start : c.end] = c.fn(z)

    def _level_of(self, position: int) -> int:
        return int(np.searchsorted(self.level_ptr, position, side="right") - 1)

    def _custom_backward(self, G, level, saved, db, act_params, dparams) -> None:
        for g in self._groups_by_level.get(level, ()):
            if g.code != CUSTOM:
                continue
            z = saved[g.start]
            grads = _vjp(g.fn, [z, *[act_params[i] for i in g.params]], G[g.start : g.end])
            dz = grads[0] if grads[0] is not None else torch.zeros_like(z)
            G[g.start : g.end] = dz
            db[g.start - self.n_in : g.end - self.n_in] = dz.sum(1)
            for i, d in zip(g.params, grads[1:]):
                if d is not None:
                    dparams[i] = d if dparams[i] is None else dparams[i] + d
        for c in self._combines_by_level.get(level, ()):
            z = saved[c.start]
            (dz,) = _vjp(c.fn, [z], G[c.start : c.end])
            dz = (torch.zeros_like(z) if dz is None else dz).reshape(c.unit_end - c.unit_start, z.shape[-1])
            G[c.unit_start : c.unit_end] = dz
            db[c.unit_start - self.n_in : c.unit_end - self.n_in] = dz.sum(1)
            db[c.start - self.n_in : c.end - self.n_in] = 0  # the node's own bias is not used


def _vjp(fn: Callable, inputs: list[torch.Tensor], grad: torch.Tensor) -> tuple:
    """The gradients of ``fn(*inputs)`` against ``grad`` for each input (None where one is unused).

    Autograd where it records (the eager passes); ``torch.func.vjp`` where it
    does not, as inside a custom operator, below the autograd dispatch key.
    """
    with torch.enable_grad():
        leaves = [t.detach().requires_grad_(True) for t in inputs]
        out = fn(*leaves)
        if out.requires_grad:
            return torch.autograd.grad(out, leaves, grad, allow_unused=True)
    _, pullback = torch.func.vjp(fn, *[t.detach() for t in inputs])
    return pullback(grad)
