"""When a rule runs: schedules in epochs or optimizer steps, and a rule paired with its schedule.

A schedule is a callable ``when(count) -> bool``; one whose ``unit`` is
``"step"`` counts optimizer steps, any other counts epochs.
:func:`dagnet.train.fit` calls a rule after each epoch (or step) for which its
schedule is true.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._checks import check_int

__all__ = ["every_epoch_but_last", "every_steps", "every_epochs", "per_step", "ScheduledRule"]


@dataclass(frozen=True)
class every_epoch_but_last:  # noqa: N801  (a schedule, used like a function)
    """The default schedule of an evolution rule: run after every epoch except the last.

    SET's schedule (Mocanu et al. 2018): the network that is evaluated and
    returned is never one just rewired.

    Examples
    --------
    >>> when = every_epoch_but_last(epochs=3)
    >>> [when(e) for e in (1, 2, 3)]
    [True, True, False]
    """

    epochs: int

    def __call__(self, epoch: int) -> bool:
        return epoch < self.epochs


@dataclass(frozen=True)
class every_steps:  # noqa: N801  (a schedule, used like a function)
    """A schedule in optimizer steps: run after every ``n``-th step (RigL's ΔT).

    ``fit`` calls a rule with this schedule inside the epoch, right after the
    optimizer step, while the gradients of that batch are still there.

    Examples
    --------
    >>> when = every_steps(100)
    >>> [when(s) for s in (99, 100, 200)]
    [False, True, True]
    """

    n: int
    unit = "step"

    def __post_init__(self):
        check_int(self.n, "n", "every_steps")

    def __call__(self, step: int) -> bool:
        return step % self.n == 0


@dataclass(frozen=True)
class every_epochs:  # noqa: N801  (a schedule, used like a function)
    """A schedule in epochs: run after epoch ``start`` and every ``every`` epochs after it.

    Examples
    --------
    >>> when = every_epochs(every=10, start=200)
    >>> [e for e in (1, 199, 200, 205, 210, 220) if when(e)]
    [200, 210, 220]
    """

    every: int = 1
    start: int = 1

    def __post_init__(self):
        check_int(self.every, "every", "every_epochs")
        check_int(self.start, "start", "every_epochs", low=0)

    def __call__(self, epoch: int) -> bool:
        return epoch >= self.start and (epoch - self.start) % self.every == 0


def per_step(when) -> bool:
    """Whether schedule ``when`` counts optimizer steps (else epochs)."""
    return getattr(when, "unit", "epoch") == "step"


@dataclass(frozen=True)
class ScheduledRule:
    """An evolution rule, its name in the metrics, and when it runs.

    Parameters
    ----------
    rule : object
        Has ``step(model, optimizer=None) -> dict`` (what changed, recorded in
        the metrics as ``"<name>.<key>"``); optionally ``state_dict()`` and
        ``load_state_dict(state)`` for the state it owns (its random
        generator, counters), saved in checkpoints and restored on resume.
    when : callable
        ``when(epoch) -> bool`` for the 1-based epoch just finished, or a
        schedule in optimizer steps such as :class:`every_steps` (an object
        whose ``unit`` is ``"step"``), called with the 1-based step count.
    name : str
        Prefix of its entries in the metrics.

    Examples
    --------
    >>> class Noop:
    ...     def step(self, model, optimizer=None):
    ...         return {"changed": 0}
    >>> r = ScheduledRule(Noop(), lambda epoch: epoch % 2 == 0, "noop")
    >>> r.when(2), r.rule.step(None)
    (True, {'changed': 0})
    """

    rule: Any
    when: Callable[[int], bool]
    name: str
