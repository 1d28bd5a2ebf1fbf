"""Dropout streams of data-parallel training: one per rank, drawn from the run's seed, the rank and the epoch."""

from __future__ import annotations

import numpy as np
from torch import nn

from ..nn.dropout import Dropout, initial_state

__all__ = ["seed_dropout"]


def seed_dropout(model: nn.Module, seed: int, rank: int, epoch: int) -> int:
    """Start every :class:`~dagnet.nn.Dropout` of ``model`` on the stream of ``(seed, rank, epoch, its number)``; return how many.

    The ranks' masks then differ (each rank drops from its own slice of the
    batch as one process would from the whole batch, with other draws), and
    an epoch's masks depend on nothing but the seed, the rank and the epoch,
    so a run resumed from a checkpoint after any epoch draws them again bit
    for bit, whatever the rank that wrote the checkpoint.

    Examples
    --------
    >>> from dagnet.nn import sparse_mlp
    >>> mlp = sparse_mlp([8, 6, 2], epsilon=2, dropout=0.5, seed=0)
    >>> seed_dropout(mlp, 0, rank=1, epoch=3)
    1
    """
    drops = [m for m in model.modules() if isinstance(m, Dropout)]
    for i, d in enumerate(drops):
        stream = int(np.random.SeedSequence([seed, rank, epoch, i]).generate_state(1, np.uint64)[0])
        d.rng_state.fill_(initial_state(stream))
    return len(drops)
