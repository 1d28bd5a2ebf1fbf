"""The autograd Function that runs a whole network forward and backward."""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from .runtime import Runtime

__all__ = ["DAGFunction"]


class DAGFunction(torch.autograd.Function):
    """``out = network(x)`` for the plan held by ``runtime``, with a hand-written backward.

    ``forward(x, weight, bias, runtime, *act_params)``: ``x`` is (batch, inputs),
    ``weight`` one value per edge, ``bias`` one value per non-input node,
    ``act_params`` the parameters of activation modules. The backward returns
    the gradients of all of them; double backward is not supported.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, runtime: Runtime, *act_params):
        out, H, saved = runtime.forward(x, weight, bias, list(act_params))
        ctx.runtime = runtime
        ctx.saved_starts = sorted(saved)
        ctx.save_for_backward(H, weight, bias, *[saved[s] for s in ctx.saved_starts], *act_params)
        ctx.num_act_params = len(act_params)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        H, weight, bias, *rest = ctx.saved_tensors
        k = len(ctx.saved_starts)
        saved = dict(zip(ctx.saved_starts, rest[:k]))
        act_params = rest[k:]
        dx, dw, db, dparams = ctx.runtime.backward(
            grad_out, H, saved, weight, bias, list(act_params), ctx.needs_input_grad[0]
        )
        return (
            dx,
            dw if ctx.needs_input_grad[1] else None,
            db if ctx.needs_input_grad[2] else None,
            None,
            *dparams,
        )
