"""Random subsets drawn in time linear in their size, not in the population's."""

from __future__ import annotations

import math

import numpy as np


def bernoulli_positions(total: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """Return the sorted positions ``0 <= k < total`` kept by independent coin flips of bias ``p``.

    The gaps between kept positions are geometric, so they are drawn directly:
    the cost is linear in the number of positions kept, never in ``total``.
    Gaps are capped at ``total + 1`` (any gap past the end is the end), so a
    tiny ``p``, whose geometric draws saturate at the int64 maximum, cannot
    overflow the running sum.

    Examples
    --------
    >>> bernoulli_positions(5, 1.0, np.random.default_rng(0)).tolist()
    [0, 1, 2, 3, 4]
    >>> bernoulli_positions(10**12, 1e-300, np.random.default_rng(0)).size
    0
    """
    if p <= 0.0 or total <= 0:
        return np.zeros(0, dtype=np.int64)
    if p >= 1.0:
        return np.arange(total, dtype=np.int64)
    chunks = []
    pos = -1
    expected = total * p
    while True:
        size = int(expected + 6.0 * math.sqrt(expected + 1.0) + 16)
        gaps = np.minimum(rng.geometric(p, size=size), total + 1).astype(np.int64)
        steps = pos + np.cumsum(gaps)  # increasing while below total; may wrap only after
        end = np.flatnonzero((steps >= total) | (steps < 0))
        if end.size:
            chunks.append(steps[: end[0]])
            return np.concatenate(chunks)
        chunks.append(steps)
        pos = int(steps[-1])


def with_draws(kernel, draw, size: int):
    """Run ``kernel(draws)`` on a buffer of pre-drawn random numbers, doubling it until it suffices.

    Compiled kernels cannot share a NumPy ``Generator``, so they consume numbers
    drawn beforehand; a kernel returns ``None`` when the buffer ran out (a
    rejection loop can need more than expected), and is run again on a fresh,
    larger buffer. The result stays a function of the generator's state alone.

    Examples
    --------
    >>> float(with_draws(lambda d: d.sum() if d.size >= 8 else None, np.ones, 2))
    8.0
    """
    size = max(int(size), 1)
    while True:
        out = kernel(draw(size))
        if out is not None:
            return out
        size *= 2
