"""Training a :class:`~dagnet.nn.Population`: each member's loss, its test metrics, the best member."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..data.batching import batches
from ..nn.population import Population, member_losses

__all__ = ["population_loss", "evaluate_members", "member_rows"]


def population_loss(loss: str | Callable) -> Callable:
    """The training objective of a population: the sum over members of each member's mean ``loss``.

    ``loss`` is a name :func:`~dagnet.nn.member_losses` knows or a callable
    taking ``reduction="none"``. Minimising the sum trains every member as
    its own mean loss would train it alone.

    Examples
    --------
    >>> fn = population_loss("cross_entropy")
    >>> round(float(fn(torch.zeros(4, 3, 2), torch.tensor([0, 1, 0, 1]))), 4)  # 3 members x log 2
    2.0794
    """

    def objective(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return member_losses(output, target, loss).sum()

    return objective


@torch.no_grad()
def evaluate_members(
    pop: Population, X: torch.Tensor, y: torch.Tensor, loss: str | Callable = "cross_entropy", batch_size: int = 1024
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return each member's mean test loss and accuracy, arrays of shape ``(members,)`` (accuracy None unless labels).

    Computed on the population's device and read once; the train/eval mode is restored.

    Examples
    --------
    >>> import networkx as nx
    >>> pop = Population([nx.DiGraph([(0, 2), (1, 2), (0, 3)]), nx.DiGraph([(0, 2), (1, 3)])], seed=0)
    >>> losses, accuracy = evaluate_members(pop, torch.eye(2), torch.tensor([0, 1]))
    >>> losses.shape, accuracy.shape
    ((2,), (2,))
    """
    was_training = pop.training
    pop.eval()
    device = next(pop.parameters()).device
    total_loss = torch.zeros(len(pop), dtype=torch.float64, device=device)
    hits = torch.zeros(len(pop), dtype=torch.float64, device=device)
    classes = y.dtype in (torch.int64, torch.int32)
    try:
        for xb, yb in batches(X, y, batch_size, shuffle=False):
            xb, yb = xb.to(device), yb.to(device)
            out = pop(xb)
            total_loss += member_losses(out, yb, loss).double() * yb.shape[0]
            if classes:
                hits += (out.argmax(-1) == yb[:, None]).double().sum(0)
    finally:
        pop.train(was_training)
    n = max(int(X.shape[0]), 1)
    return (total_loss / n).cpu().numpy(), ((hits / n).cpu().numpy() if classes else None)


def member_rows(rows: list[dict]) -> list[dict]:
    """The per-member metrics of fit's rows, one row per (epoch, member), for ``members.csv``.

    Examples
    --------
    >>> member_rows([{"epoch": 1, "members.test_loss": [0.5, 0.25], "members.test_accuracy": [0.75, 1.0]}])
    [{'epoch': 1, 'member': 0, 'test_loss': 0.5, 'test_accuracy': 0.75}, {'epoch': 1, 'member': 1, 'test_loss': 0.25, 'test_accuracy': 1.0}]
    """
    out = []
    for row in rows:
        losses = row.get("members.test_loss")
        if losses is None:
            continue
        accuracy = row.get("members.test_accuracy") or [None] * len(losses)
        for i, (loss, acc) in enumerate(zip(losses, accuracy)):
            out.append({"epoch": row["epoch"], "member": i, "test_loss": loss, "test_accuracy": acc})
    return out
