"""The engine as torch custom operators, so ``torch.compile`` keeps a network in one graph.

``torch.compile`` cannot trace the engine's kernels (numba, Triton launches,
index arithmetic whose shapes depend on data). Under compilation a
:class:`~dagnet.nn.DAGNetwork` therefore calls two operators registered with
``torch.library.custom_op``:

* ``dagnet::network_forward(x, weight, bias, key, act_params) -> (out, H, saved)``
* ``dagnet::network_backward(grad_out, H, weight, bias, key, saved, act_params, need_x)
  -> (dx, dweight, dbias, dparams)``

Each has a fake (shape-only) implementation, so the compiler sees their
outputs' shapes without running them, and the first is differentiable
through the second. ``key`` names the network: :func:`register_network` files
every network under ``id(network)`` in a table of weak references, and the
operators run that network's current runtime, so a rewiring that keeps the
number of connections (SET, RigL) does not recompile anything. Eager calls
keep using :class:`~dagnet.engine.function.DAGFunction`, which has lower
overhead and supports ``torch.func``.
"""

from __future__ import annotations

import weakref

import torch
from torch import Tensor
from torch.utils._python_dispatch import _disable_current_modes

__all__ = ["register_network", "network_forward", "network_backward"]

_NETWORKS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def register_network(network) -> int:
    """File ``network`` (a :class:`~dagnet.nn.DAGNetwork`) for the operators; return its key, ``id(network)``."""
    key = id(network)
    _NETWORKS[key] = network
    return key


def _runtime(key: int, tracing: bool = False):
    """The current runtime of the network filed under ``key``; ``tracing``: called by a fake implementation."""
    network = _NETWORKS.get(key)
    if network is None:  # pragma: no cover - a live network is always registered
        raise RuntimeError(f"No dagnet network is registered under key {key}.")
    if not tracing:
        return network._get_runtime()
    with _disable_current_modes():  # built from the real buffers while the compiler traces with fakes
        return network._get_runtime()


def _saved_shapes(key: int, batch: int) -> list[tuple[int, ...]]:
    """The shapes of the pre-activations a forward pass saves, in the order of ``saved_starts``."""
    runtime = _runtime(key, tracing=True)
    shapes = {}
    for groups in runtime._groups_by_level.values():
        for g in groups:
            shapes[g.start] = (g.end - g.start, batch)
    for c in runtime._combines:
        shapes[c.start] = (c.end - c.start, c.branches, batch)
    return [shapes[s] for s in runtime.saved_starts()]


@torch.library.custom_op("dagnet::network_forward", mutates_args=())
def network_forward(
    x: Tensor, weight: Tensor, bias: Tensor, key: int, act_params: list[Tensor]
) -> tuple[Tensor, Tensor, list[Tensor]]:
    """``(out, H, saved)`` of the network filed under ``key`` (see :class:`~dagnet.engine.function.DAGFunction`)."""
    out, H, saved = _runtime(key).forward(x, weight, bias, list(act_params))
    return out, H, [saved[s] for s in sorted(saved)]


@network_forward.register_fake
def _(x, weight, bias, key, act_params):
    runtime = _runtime(key, tracing=True)
    batch = x.shape[0]
    out = x.new_empty((batch, runtime.index["output_pos"].numel()), dtype=weight.dtype)
    H = x.new_empty((runtime.n, batch), dtype=weight.dtype)
    return out, H, [x.new_empty(s, dtype=weight.dtype) for s in _saved_shapes(key, batch)]


@torch.library.custom_op("dagnet::network_backward", mutates_args=())
def network_backward(
    grad_out: Tensor,
    H: Tensor,
    weight: Tensor,
    bias: Tensor,
    key: int,
    saved: list[Tensor],
    act_params: list[Tensor],
    need_x: bool,
) -> tuple[Tensor, Tensor, Tensor, list[Tensor]]:
    """``(dx, dweight, dbias, dparams)``; ``dx`` is empty unless ``need_x``."""
    runtime = _runtime(key)
    by_start = dict(zip(runtime.saved_starts(), saved))
    dx, dw, db, dparams = runtime.backward(grad_out, H, by_start, weight, bias, list(act_params), need_x)
    dx = grad_out.new_zeros(0) if dx is None else dx
    return dx, dw, db, [torch.zeros_like(p) if d is None else d for d, p in zip(dparams, act_params)]


@network_backward.register_fake
def _(grad_out, H, weight, bias, key, saved, act_params, need_x):
    n_in = _runtime(key, tracing=True).n_in
    dx = grad_out.new_empty((grad_out.shape[0], n_in) if need_x else (0,))
    return dx, torch.empty_like(weight), torch.empty_like(bias), [torch.empty_like(p) for p in act_params]


def _setup_context(ctx, inputs, output):
    x, weight, bias, key, act_params = inputs
    _, H, saved = output
    ctx.key = key
    ctx.num_saved = len(saved)
    ctx.save_for_backward(H, weight, bias, *saved, *act_params)


def _backward(ctx, grad_out, grad_H, grad_saved):
    H, weight, bias, *rest = ctx.saved_tensors
    saved, act_params = rest[: ctx.num_saved], rest[ctx.num_saved :]
    need_x = ctx.needs_input_grad[0]
    dx, dw, db, dparams = network_backward(grad_out, H, weight, bias, ctx.key, saved, act_params, need_x)
    return (dx if need_x else None, dw, db, None, list(dparams))


torch.library.register_autograd("dagnet::network_forward", _backward, setup_context=_setup_context)
