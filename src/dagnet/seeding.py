"""One place that turns a user's ``seed`` into a random generator.

dagnet never touches the global random state of Python, NumPy or PyTorch.
Every random choice goes through a generator made here from an explicit seed.
"""

from __future__ import annotations

import numbers
import random

import numpy as np
import torch

__all__ = ["resolve_seed", "numpy_rng", "torch_generator"]


def resolve_seed(seed: int | np.random.Generator | random.Random | None) -> int:
    """Return ``seed`` as a non-negative int, drawing a fresh one from the OS if None.

    A NumPy ``Generator`` or a ``random.Random`` gives the next int it draws
    (its state advances, as when any other random number is drawn from it),
    so a run seeded from a generator is repeated by seeding that generator
    the same way. Objects store the resolved seed so that a run made with
    ``seed=None`` can be repeated exactly by passing the stored value.

    Examples
    --------
    >>> resolve_seed(7)
    7
    >>> isinstance(resolve_seed(None), int)
    True
    >>> resolve_seed(np.random.default_rng(0)) == resolve_seed(np.random.default_rng(0))
    True
    """
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(0, 2**63))
    if isinstance(seed, random.Random):
        return seed.getrandbits(63)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(
            "The 'seed' parameter must be a non-negative int, a numpy Generator, a random.Random or None. "
            f"Got {seed!r} instead."
        )
    if seed >= 2**64:
        raise ValueError(
            f"The 'seed' parameter must be below 2**64 (what torch's generators take). Got {seed!r} instead."
        )
    return int(seed)


def numpy_rng(seed: int | np.random.Generator | random.Random | None) -> np.random.Generator:
    """Return a NumPy ``Generator`` for ``seed``: a Generator itself, else one seeded by :func:`resolve_seed`.

    Examples
    --------
    >>> rng = numpy_rng(0)
    >>> float(rng.random()) == float(numpy_rng(0).random())
    True
    """
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(resolve_seed(seed))


def torch_generator(seed: int | torch.Generator | np.random.Generator | random.Random | None) -> torch.Generator:
    """Return a CPU ``torch.Generator`` for ``seed``: a torch Generator itself, else one seeded by :func:`resolve_seed`.

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
