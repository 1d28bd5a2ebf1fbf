"""One place that turns a user's ``seed`` into a random generator.

dagnet never touches the global random state of Python, NumPy or PyTorch.
Every random choice goes through a generator made here from an explicit seed.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

__all__ = ["resolve_seed", "numpy_rng", "torch_generator"]


def resolve_seed(seed: int | None) -> int:
    """Return ``seed`` as a non-negative int, drawing a fresh one from the OS if None.

    Objects store the resolved seed so that a run made with ``seed=None`` can be
    repeated exactly by passing the stored value.

    Examples
    --------
    >>> resolve_seed(7)
    7
    >>> isinstance(resolve_seed(None), int)
    True
    """
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"The 'seed' parameter must be a non-negative int or None. Got {seed!r} instead.")
    if seed >= 2**64:
        raise ValueError(
            f"The 'seed' parameter must be below 2**64 (what torch's generators take). Got {seed!r} instead."
        )
    return int(seed)


def numpy_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """Return a NumPy ``Generator`` for ``seed`` (an int, None or a Generator).

    Examples
    --------
    >>> rng = numpy_rng(0)
    >>> float(rng.random()) == float(numpy_rng(0).random())
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(resolve_seed(seed))


def torch_generator(seed: int | torch.Generator | None) -> torch.Generator:
    """Return a CPU ``torch.Generator`` for ``seed`` (an int, None or a Generator).

    Examples
    --------
    >>> g = torch_generator(0)
    >>> torch.rand(1, generator=g).item() == torch.rand(1, generator=torch_generator(0)).item()
    True
    """
    if isinstance(seed, torch.Generator):
        return seed
    g = torch.Generator()
    g.manual_seed(resolve_seed(seed))
    return g
