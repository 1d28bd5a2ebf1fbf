"""The autograd Functions that run a whole network forward and backward, for autograd and torch.func alike."""

from __future__ import annotations

import torch
from torch._functorch.utils import unwrap_dead_wrappers

from .runtime import Runtime
from .torch_graph import graph_forward, graph_levels

__all__ = ["DAGFunction", "DAGBackward", "run_network"]


def run_network(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, runtime: Runtime, *act_params):
    """Return ``network(x)``, (batch, outputs), for the plan ``runtime`` holds; differentiable.

    Works with autograd and with ``torch.func`` (``grad``, ``vjp``, ``jacrev``,
    ``vmap``, ``jvp``, ``jacfwd``): a vmapped input dimension becomes more
    batch; a vmapped weight or upstream gradient is run one slice at a time;
    forward mode runs the pass written in torch operations
    (:func:`~dagnet.engine.torch_graph.graph_forward`).
    """
    return _apply(DAGFunction, x, weight, bias, runtime, *act_params)[0]


def _apply(fn, *args):
    """``fn.apply(*args)``, without the signature binding torch does on every call outside torch.func.

    ``Function.apply`` binds the arguments to ``forward``'s signature with
    ``inspect.signature`` for every Function with ``setup_context`` (about
    25-30 µs a call, two per layer and step); these forwards have no
    default arguments to fill in, so outside torch.func transforms the call
    goes straight to autograd, as ``Function.apply`` itself then does.
    """
    if torch._C._are_functorch_transforms_active():
        return fn.apply(*args)
    return super(torch.autograd.Function, fn).apply(*unwrap_dead_wrappers(args))


class DAGFunction(torch.autograd.Function):
    """``(out, H, *pre-activations) = network(x)`` for the plan held by ``runtime``, with a hand-written backward.

    ``forward(x, weight, bias, runtime, *act_params)``: ``x`` is (batch,
    inputs), ``weight`` one value per edge, ``bias`` one value per non-input
    node, ``act_params`` the parameters of activation modules. Besides the
    outputs it returns, not differentiable, the activation buffer ``H``
    (positions, batch) and the pre-activations of torch-code groups, which
    the backward pass reads (use :func:`run_network` for the outputs alone).
    The backward returns the gradients of all of them through
    :class:`DAGBackward`; double backward is not supported.
    """

    @staticmethod
    def forward(x, weight, bias, runtime: Runtime, *act_params):
        out, H, saved = runtime.forward(x, weight, bias, list(act_params))
        return (out, H, *[saved[s] for s in sorted(saved)])

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, bias, runtime, *act_params = inputs
        _, H, *saved = output
        ctx.mark_non_differentiable(H, *saved)
        ctx.runtime = runtime
        ctx.saved_starts = runtime.saved_starts()
        ctx.save_for_backward(H, weight, bias, *saved, *act_params)
        ctx.save_for_forward(x, weight, bias, *act_params)

    @staticmethod
    def backward(ctx, grad_out, *_):
        H, weight, bias, *rest = ctx.saved_tensors
        need_x = ctx.needs_input_grad[0]
        dx, dw, db, *dparams = _apply(
            DAGBackward, grad_out, H, weight, bias, ctx.runtime, ctx.saved_starts, need_x, *rest
        )
        return (
            dx if need_x else None,
            dw if ctx.needs_input_grad[1] else None,
            db if ctx.needs_input_grad[2] else None,
            None,
            *dparams,
        )

    @staticmethod
    def jvp(ctx, x_t, weight_t, bias_t, _, *act_params_t):
        # forward mode through the same pass written in torch operations (the kernels have no tangent pass)
        primals = ctx.saved_tensors
        tangents = [
            torch.zeros_like(p) if t is None else t for p, t in zip(primals, (x_t, weight_t, bias_t, *act_params_t))
        ]
        levels, output_pos = _graph_of(ctx.runtime)
        _, out_t = torch.func.jvp(
            lambda x, w, b, *p: graph_forward(levels, output_pos, x, w, b, p), tuple(primals), tuple(tangents)
        )
        return (out_t.contiguous(), None, *[None] * len(ctx.saved_starts))

    @staticmethod
    def vmap(info, in_dims, x, weight, bias, runtime, *act_params):
        if all(d is None for d in in_dims[1:]):  # only the input is vmapped: more batch
            v = info.batch_size
            xb = x.movedim(in_dims[0], 0)
            batch = xb.shape[1]
            out, H, *saved = DAGFunction.apply(xb.reshape(v * batch, -1), weight, bias, runtime, *act_params)
            return (
                (out.reshape(v, batch, -1), H.reshape(H.shape[0], v, batch), *[_split_columns(s, v) for s in saved]),
                (0, 1, *[s.dim() - 1 for s in saved]),
            )
        return _one_slice_at_a_time(DAGFunction, info, in_dims, (x, weight, bias, runtime, *act_params))


class DAGBackward(torch.autograd.Function):
    """The backward pass of :class:`DAGFunction` as a Function of its own, so ``torch.func`` can vmap it.

    Returns ``(dx, dweight, dbias, *dparams)``; ``dx`` is empty when not asked
    for, an activation parameter's gradient empty when it has none.
    """

    @staticmethod
    def forward(grad_out, H, weight, bias, runtime: Runtime, saved_starts, need_x, *rest):
        k = len(saved_starts)
        saved = dict(zip(saved_starts, rest[:k]))
        act_params = list(rest[k:])
        dx, dw, db, dparams = runtime.backward(grad_out, H, saved, weight, bias, act_params, need_x)
        dx = grad_out.new_zeros(0) if dx is None else dx
        dparams = [torch.zeros_like(p) if d is None else d for d, p in zip(dparams, act_params)]
        return (dx, dw, db, *dparams)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, *grads):
        raise RuntimeError("dagnet networks do not support double backward (gradients of gradients).")

    @staticmethod
    def vmap(info, in_dims, grad_out, H, weight, bias, runtime, saved_starts, need_x, *rest):
        return _one_slice_at_a_time(
            DAGBackward, info, in_dims, (grad_out, H, weight, bias, runtime, saved_starts, need_x, *rest)
        )


def _graph_of(runtime: Runtime):
    """The runtime's levels as torch operations (built once per runtime), and its output positions."""
    if getattr(runtime, "_graph_levels", None) is None:
        runtime._graph_levels = graph_levels(runtime)
    return runtime._graph_levels, runtime.index["output_pos"].long()


def _split_columns(t: torch.Tensor, v: int) -> torch.Tensor:
    """A (..., v * batch) tensor as (..., v, batch)."""
    return t.reshape(*t.shape[:-1], v, t.shape[-1] // v)


def _one_slice_at_a_time(fn, info, in_dims, args):
    """Run ``fn`` on each slice of the vmapped arguments and stack the results along dimension 0."""
    results = []
    for i in range(info.batch_size):
        sliced = [a if d is None or not isinstance(a, torch.Tensor) else a.select(d, i) for a, d in zip(args, in_dims)]
        results.append(fn.apply(*sliced))
    stacked = tuple(torch.stack(parts) for parts in zip(*results))
    return stacked, tuple(0 for _ in stacked)
