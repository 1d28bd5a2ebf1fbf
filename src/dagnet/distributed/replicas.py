"""`Replicas`: a model's copies on the ranks of a process group, trained data-parallel and rewired alike."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

import torch
import torch.distributed as dist
from torch import nn

from .activity import gather_activity
from .dropout_streams import seed_dropout
from .gradients import all_reduce_gradients
from .process_group import is_distributed
from .slices import rank_slice
from .wiring_checks import check_replicas

__all__ = ["Replicas"]


class Replicas:
    """The copies of one model on the ranks of a process group, kept identical through training and rewiring.

    Each rank takes its slice of every global batch (:meth:`shard`), runs its
    forward and backward passes, and :meth:`all_reduce_gradients` leaves on
    every rank the gradient of the whole batch's mean loss; the optimizers
    then take the same step. Rules (SET, RigL, pruning, ...) run on every rank
    through :meth:`rule_step`: with the same seeds, weights and (gathered)
    activity they choose the same connections, and a checksum of the wiring
    (:func:`~dagnet.distributed.check_replicas`) makes sure of it after each
    step. A rewiring remaps each rank's optimizer state as in one process.

    Parameters
    ----------
    group : process group, optional
        Default: the default group, which must be initialised
        (``torch.distributed.init_process_group``, or
        :func:`~dagnet.distributed.join_from_env` under ``torchrun``).

    Raises
    ------
    RuntimeError
        If torch.distributed is not initialised.

    Examples
    --------
    A training loop, in each process of a group (rank ``r`` of ``n``)::

        replicas = Replicas()
        for epoch in range(epochs):
            replicas.seed_dropout(model, seed, epoch)
            for xb, yb in batches(X, y, batch_size, seed=gen):   # the same global order on every rank
                xb, yb = replicas.shard(xb), replicas.shard(yb)
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(xb), yb)
                loss.backward()
                replicas.all_reduce_gradients(model, len(yb), loss)
                optimizer.step()
            replicas.rule_step(rule, model, optimizer)            # SET, RigL, ...: the same on every rank
    """

    def __init__(self, group=None):
        if not is_distributed():
            raise RuntimeError(
                "Replicas needs an initialised torch.distributed process group: call "
                "torch.distributed.init_process_group (or dagnet.distributed.join_from_env under torchrun) first."
            )
        self.group = group
        self.rank, self.world_size = dist.get_rank(group), dist.get_world_size(group)
        self.backend = str(dist.get_backend(group))
        self._share: tuple[int, torch.Tensor] | None = None  # the last reduce: this rank's samples, the total

    @classmethod
    def current(cls) -> Replicas | None:
        """The replicas of the default process group, or None when torch.distributed is not initialised."""
        return cls() if is_distributed() else None

    def __repr__(self) -> str:
        return f"Replicas(rank={self.rank}, world_size={self.world_size}, backend={self.backend!r})"

    @property
    def lead(self) -> bool:
        """Whether this is rank 0, the one that writes files and reports."""
        return self.rank == 0

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's slice of a global batch (:func:`~dagnet.distributed.rank_slice`)."""
        return rank_slice(batch, self.rank, self.world_size)

    def shard_batches(self, batches: Iterable) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield this rank's slice of every ``(x, y)`` global batch of ``batches``."""
        for xb, yb in batches:
            yield self.shard(xb), self.shard(yb)

    def all_reduce_gradients(
        self, parameters: nn.Module | Iterable[torch.Tensor], count: int, loss: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """:func:`~dagnet.distributed.all_reduce_gradients` over this group; return the whole batch's mean loss.

        The shares of the samples are kept for the activity that
        :meth:`rule_step` gathers.
        """
        total, mean_loss = all_reduce_gradients(parameters, count, loss, self.group)
        self._share = (count, total)
        return mean_loss

    def rule_step(self, rule, model: nn.Module, optimizer: torch.optim.Optimizer | None = None, name=None):
        """Step ``rule`` on this rank's model as on every other, check that the wirings agree; return what it returns.

        Before the step, the activity that gradient-based growth reads is
        gathered over the ranks (:func:`~dagnet.distributed.gather_activity`),
        if the networks keep it; after it, the wirings are compared
        (:func:`~dagnet.distributed.check_replicas`).

        Raises
        ------
        dagnet.errors.ReplicaMismatchError
            If the ranks' wirings differ after the step, on every rank.
        """
        if self._share is not None:  # once per backward pass, for however many rules step after it
            count, total = self._share
            gather_activity(model, count / float(total), self.group)
            self._share = None
        changes = rule.step(model, optimizer=optimizer)
        label = name or getattr(rule, "name", None) or type(rule).__name__
        check_replicas(model, f"after a step of rule {label!r}", group=self.group)
        return changes

    def check(self, model: nn.Module, when: str, values: bool = True) -> None:
        """Raise :class:`~dagnet.errors.ReplicaMismatchError` unless the ranks hold the same wiring (and weights)."""
        check_replicas(model, when, values=values, group=self.group)

    def seed_dropout(self, model: nn.Module, seed: int, epoch: int) -> int:
        """:func:`~dagnet.distributed.seed_dropout` for this rank; return how many Dropout modules were seeded."""
        return seed_dropout(model, seed, self.rank, epoch)

    def combine_totals(self, totals):
        """Return the :class:`~dagnet.train.metrics.Totals` of all the ranks' batches, the same on every rank.

        Losses, hits and counts are summed in rank order; the first
        non-finite batch is the earliest of any rank's. One all-gather (of a
        few numbers per rank).
        """
        parts: list = [None] * self.world_size
        dist.all_gather_object(parts, totals, group=self.group)
        bad = [t.nonfinite for t in parts if t.nonfinite is not None]
        hits = None if any(t.hits is None for t in parts) else sum(t.hits for t in parts)
        loss = 0.0
        for t in parts:
            loss += t.loss
        return dataclasses.replace(
            totals, loss=loss, hits=hits, nonfinite=min(bad, default=None), count=sum(t.count for t in parts)
        )
