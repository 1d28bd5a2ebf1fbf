"""Each rank's share of a global batch: contiguous slices, in rank order, sizes differing by one at most."""

from __future__ import annotations

import torch

from .._checks import check_int

__all__ = ["rank_slice", "slice_sizes"]


def slice_sizes(n: int, world_size: int) -> list[int]:
    """Return how many of ``n`` samples each rank takes: ``n // world_size``, one more for the first ``n % world_size``.

    Examples
    --------
    >>> slice_sizes(10, 3)
    [4, 3, 3]
    """
    n = check_int(n, "n", "slice_sizes", low=0)
    world_size = check_int(world_size, "world_size", "slice_sizes")
    base, extra = divmod(n, world_size)
    return [base + (r < extra) for r in range(world_size)]


def rank_slice(batch: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Return rank ``rank``'s slice of ``batch`` (rows), a view: the ranks' slices, in order, make up the batch.

    The sizes are :func:`slice_sizes`'s (those of ``torch.tensor_split``).

    Examples
    --------
    >>> x = torch.arange(5)
    >>> [rank_slice(x, r, 2).tolist() for r in range(2)]
    [[0, 1, 2], [3, 4]]
    """
    world_size = check_int(world_size, "world_size", "rank_slice")
    rank = check_int(rank, "rank", "rank_slice", low=0, high=world_size - 1, high_name="world_size - 1")
    sizes = slice_sizes(batch.shape[0], world_size)
    start = sum(sizes[:rank])
    return batch[start : start + sizes[rank]]
