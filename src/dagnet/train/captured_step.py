"""A whole training step replayed as a CUDA graph, captured again when the model changes."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .._checks import check_int, invalid

__all__ = ["CapturedStep"]


class CapturedStep:
    """``step(x, y)``: zero the gradients, compute ``loss_fn(model(x), y)``, back-propagate, step ``optimizer``.

    On a CUDA device the step is captured once as a CUDA graph and then
    replayed: one launch for the whole step however many levels the
    networks have, so launch overhead no longer grows with depth. A graph
    is kept per batch shape (a last, smaller batch gets its own) and all are
    captured anew whenever the model or the optimizer changes under it: a
    rewiring (SET, RigL, pruning) replaces the weight, index and optimizer
    state tensors, and a changed learning rate or other hyperparameter is a
    different step. Before each capture, forward and backward run twice on a
    side stream (compiling kernels and allocating autograd's buffers), and
    the optimizer must already hold its state: the first step after a
    parameter gained no state runs eagerly. Everything the model does per step
    must stay on the device (dagnet's layers, Dropout and weight modifiers
    do); an operation that reads a value back to the host fails the capture,
    and the error says so.

    On any other device, or with ``enabled=False``, the same step runs eagerly,
    so a loop written with it runs everywhere.

    Parameters
    ----------
    model : nn.Module
    optimizer : torch.optim.Optimizer
        On CUDA, optimizers with a ``capturable`` option (Adam, AdamW, ...)
        need ``capturable=True``.
    loss_fn : callable ``(output, target) -> scalar tensor``
    enabled : bool, default True
    warmup : int, default 2
        Forward and backward passes on a side stream before each capture.

    Attributes
    ----------
    captures : int
        How many graphs were captured so far (a count for tests and logs).

    Examples
    --------
    >>> import torch, dagnet
    >>> net = dagnet.DAGNetwork(dagnet.topology.erdos_renyi_dag(20, 0.3, seed=0), seed=0)
    >>> step = CapturedStep(net, torch.optim.SGD(net.parameters(), lr=0.1), torch.nn.functional.mse_loss)
    >>> loss, out = step(torch.ones(4, net.in_features), torch.zeros(4, net.out_features))
    >>> out.shape == (4, net.out_features), step.captures   # eager on the CPU
    (True, 0)
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable,
        enabled: bool = True,
        warmup: int = 2,
    ):
        if not isinstance(model, nn.Module):
            raise invalid("model", "CapturedStep", "a torch.nn.Module", model)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise invalid("optimizer", "CapturedStep", "a torch.optim.Optimizer", optimizer)
        if not callable(loss_fn):
            raise invalid("loss_fn", "CapturedStep", "a callable (output, target) -> loss", loss_fn)
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.enabled = bool(enabled)
        self.warmup = check_int(warmup, "warmup", "CapturedStep", low=0)
        self.captures = 0
        self._graphs: dict = {}
        self._signature: tuple | None = None
        self._pool = None

    def __repr__(self) -> str:
        return f"CapturedStep(model={type(self.model).__name__}, enabled={self.enabled}, captures={self.captures})"

    # ------------------------------------------------------------------ the step
    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run one step on the batch ``(x, y)``; return ``(loss, output)``, detached copies."""
        if not (self.enabled and x.is_cuda):
            return self._eager(x, y)
        if not self._has_state():
            return self._eager(x, y)
        if not self._same(self._current_signature()):
            self._graphs.clear()
        key = (tuple(x.shape), x.dtype, tuple(y.shape), y.dtype)
        if key not in self._graphs:
            self._graphs[key] = self._capture(x, y)
            self._signature = self._current_signature()  # the runtimes the warm-up built included
        graph, static_x, static_y, static_loss, static_out, kept = self._graphs[key]
        static_x.copy_(x)
        static_y.copy_(y)
        graph.replay()
        for owner, name, value in kept:  # what the replay wrote: the gradients, the engine's activity
            setattr(owner, name, value)
        return static_loss.detach().clone(), static_out.detach().clone()

    def _eager(self, x, y):
        self.optimizer.zero_grad(set_to_none=True)
        out = self.model(x)
        loss = self.loss_fn(out, y)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), out.detach()

    # ------------------------------------------------------------------ capture
    def _capture(self, x, y):
        static_x, static_y = x.detach().clone(), y.detach().clone()
        side = torch.cuda.Stream(device=x.device)
        side.wait_stream(torch.cuda.current_stream(x.device))
        with torch.cuda.stream(side):
            for _ in range(self.warmup):
                self.optimizer.zero_grad(set_to_none=True)
                self.loss_fn(self.model(static_x), static_y).backward()
        torch.cuda.current_stream(x.device).wait_stream(side)
        self.optimizer.zero_grad(set_to_none=True)
        if self._pool is None:
            self._pool = torch.cuda.graph_pool_handle()
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph, pool=self._pool):
                static_out = self.model(static_x)
                static_loss = self.loss_fn(static_out, static_y)
                static_loss.backward()
                self.optimizer.step()
        except RuntimeError as err:
            raise RuntimeError(
                "Capturing the training step as a CUDA graph failed: something in the step reads a "
                "value back to the host or is not capturable (an optimizer needs capturable=True). "
                f"Use enabled=False to run it eagerly. The error was: {err}"
            ) from err
        self.captures += 1
        # An eager step in between points .grad (and RigL's activity) at tensors of its own;
        # after each replay they are pointed back at the ones the graph writes.
        kept = [(p, "grad", p.grad) for g in self.optimizer.param_groups for p in g["params"]]
        kept += [(r, "activity", r.activity) for r in _runtimes(self.model)]
        return graph, static_x, static_y, static_loss, static_out, kept

    # ------------------------------------------------------------------ when to capture again
    def _has_state(self) -> bool:
        """Whether every parameter the optimizer steps has its state (Adam's moments, ...)."""
        if isinstance(self.optimizer, torch.optim.SGD) and not any(self.optimizer.state.values()):
            return not any(g.get("momentum", 0) for g in self.optimizer.param_groups)  # no state to make
        return all(
            p in self.optimizer.state and self.optimizer.state[p]
            for g in self.optimizer.param_groups
            for p in g["params"]
        )

    def _current_signature(self) -> tuple:
        """Every tensor a captured step reads or writes by address, and the hyperparameters it bakes in.

        The tensors themselves are kept (compared by identity), so none of
        them can be freed and its memory reused by a new one while a graph
        that points at it may still replay.
        """
        tensors = [*self.model.parameters(), *self.model.buffers(), *_runtimes(self.model)]
        hyper = []
        for g in self.optimizer.param_groups:
            tensors.extend(g["params"])
            hyper.append(tuple((k, v) for k, v in sorted(g.items()) if k != "params" and _plain(v)))
            for p in g["params"]:
                tensors.extend(v for v in self.optimizer.state.get(p, {}).values() if isinstance(v, torch.Tensor))
        return tuple(tensors), tuple(hyper)

    def _same(self, signature: tuple) -> bool:
        if self._signature is None:
            return False
        old_tensors, old_hyper = self._signature
        tensors, hyper = signature
        return (
            old_hyper == hyper
            and len(old_tensors) == len(tensors)
            and all(a is b for a, b in zip(old_tensors, tensors))
        )


def _runtimes(model: nn.Module) -> list:
    """The engine runtimes of the DAGNetworks in ``model`` (built ones only)."""
    return [m._runtime for m in model.modules() if getattr(m, "_runtime", None) is not None]


def _plain(v) -> bool:
    return isinstance(v, (bool, int, float, str, type(None))) or (
        isinstance(v, tuple) and all(isinstance(e, (bool, int, float)) for e in v)
    )
