"""Mini-batches in a reproducible order, drawn from an explicit ``torch.Generator``."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .._checks import check_bool, check_int
from ..seeding import torch_generator

__all__ = ["batches", "num_batches"]


def num_batches(n: int, batch_size: int) -> int:
    """Return how many batches :func:`batches` yields for ``n`` samples (the last one may be short).

    Examples
    --------
    >>> num_batches(10, 4)
    3
    """
    return -(-n // check_int(batch_size, "batch_size", "num_batches"))


def batches(
    X: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    shuffle: bool = True,
    seed: int | torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(X[idx], y[idx])`` mini-batches covering every sample once (or all but a short last batch).

    Parameters
    ----------
    X, y : torch.Tensor
        Same number of rows.
    batch_size : int >= 1
        Rows per batch; the last batch holds the rest.
    shuffle : bool, default True
        Visit the rows in a random order (``torch.randperm`` on the generator).
    seed : int, torch.Generator or None
        The order's randomness. Pass a ``torch.Generator`` to draw a new order
        each epoch from one stream (its state advances); an int gives the same
        order on every call. The global RNG is never used.
    drop_last : bool, default False
        Leave out the last batch if it is short (the ``n % batch_size`` samples
        that come last in the order), as ``torch.utils.data.DataLoader`` does.

    Raises
    ------
    ValueError
        If ``batch_size`` is not an int >= 1 or ``X`` and ``y`` differ in length.

    Examples
    --------
    >>> X, y = torch.arange(10.).reshape(5, 2), torch.arange(5)
    >>> [b.tolist() for _, b in batches(X, y, 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    >>> a = [b.tolist() for _, b in batches(X, y, 2, seed=0)]
    >>> a == [b.tolist() for _, b in batches(X, y, 2, seed=0)]
    True
    >>> [b.tolist() for _, b in batches(X, y, 2, shuffle=False, drop_last=True)]
    [[0, 1], [2, 3]]
    """
    batch_size = check_int(batch_size, "batch_size", "batches")
    check_bool(drop_last, "drop_last", "batches")
    n = X.shape[0]
    if y.shape[0] != n:
        raise ValueError(f"X and y must have as many rows. Got {n} and {y.shape[0]} instead.")
    end = n - n % batch_size if drop_last else n
    if shuffle:
        order = torch.randperm(n, generator=torch_generator(seed))
        for start in range(0, end, batch_size):
            idx = order[start : start + batch_size]
            yield X[idx], y[idx]
    else:
        for start in range(0, end, batch_size):
            yield X[start : start + batch_size], y[start : start + batch_size]
