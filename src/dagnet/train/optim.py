"""SGD with decoupled weight decay: every step shrinks the parameters by a fixed fraction, not scaled by the lr."""

from __future__ import annotations

import torch

from .._checks import check_float

__all__ = ["SGDW"]


class SGDW(torch.optim.SGD):
    r"""SGD (with momentum) whose weight decay is decoupled from the gradient and the learning rate.

    Each step first shrinks every parameter, ``p -= weight_decay * p``, then
    takes torch's SGD step on the gradient alone (the momentum buffer never
    sees the decay). So with velocity ``v``::

        v = momentum * v + grad
        p = (1 - weight_decay) * p - lr * v

    This is the rule of the SET and truly sparse SET-MLP code
    (``w += velocity - weight_decay * w``, biases included) and SGDW of
    Loshchilov and Hutter with a constant schedule. ``torch.optim.SGD``'s
    ``weight_decay`` instead adds ``weight_decay * p`` to the gradient: a
    shrink of ``lr * weight_decay`` per step, amplified by the momentum to
    about ``lr * weight_decay / (1 - momentum)``, i.e. 10 times weaker than
    this rule's at lr 0.01 and momentum 0.9.

    Parameters
    ----------
    params : iterable
        Parameters or parameter groups, as for ``torch.optim.SGD``.
    lr : float > 0, default 1e-3
    momentum : float >= 0, default 0
    weight_decay : float in [0, 1), default 0
        Fraction of each parameter removed per step (per group, as the other
        options).
    dampening, nesterov, maximize : optional
        As for ``torch.optim.SGD``.

    Raises
    ------
    ValueError
        If ``lr``, ``momentum`` or ``weight_decay`` is out of range.

    Examples
    --------
    >>> p = torch.nn.Parameter(torch.tensor([1.0]))
    >>> opt = SGDW([p], lr=0.1, weight_decay=0.5)
    >>> p.grad = torch.tensor([0.0])
    >>> opt.step()
    >>> p.item()
    0.5
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ):
        check_float(lr, "lr", "SGDW", 0, low_open=True)
        check_float(momentum, "momentum", "SGDW", 0)
        check_float(weight_decay, "weight_decay", "SGDW", 0, 1, high_open=True)
        super().__init__(
            params,
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            dampening=dampening,
            nesterov=nesterov,
            maximize=maximize,
        )

    def add_param_group(self, param_group: dict) -> None:
        """Add a group as ``torch.optim.SGD`` does, its ``weight_decay`` (default: the optimizer's) made decoupled."""
        decay = param_group.get("weight_decay", self.defaults["weight_decay"])
        check_float(decay, "weight_decay", "SGDW", 0, 1, high_open=True)
        super().add_param_group({**param_group, "weight_decay": 0.0, "decoupled_weight_decay": float(decay)})

    @torch.no_grad()
    def step(self, closure=None):
        """Shrink the parameters that have a gradient, then take SGD's step; return the closure's loss, if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            decay = group["decoupled_weight_decay"]
            if decay:
                params = [p for p in group["params"] if p.grad is not None]
                if params:
                    torch._foreach_mul_(params, 1.0 - decay)
        super().step()
        return loss
