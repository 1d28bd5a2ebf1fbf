"""Argument checks shared by the generators, with one message template.

Every message reads "The 'x' parameter of f must be ... Got v instead.", as in
scikit-learn, so a user can tell at once which argument of which call is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def _fail(name: str, func: str, what: str, value: Any) -> ValueError:
    return ValueError(f"The '{name}' parameter of {func} must be {what}. Got {value!r} instead.")


def _bound(x: float | None, default: str) -> str:
    return default if x is None else f"{x:g}" if isinstance(x, float) else str(x)


def check_int(value: Any, name: str, func: str, low: int | None = 0, high: int | None = None) -> int:
    """Return ``value`` as an int in ``[low, high]`` (bools are not ints here)."""
    ok = not isinstance(value, bool) and isinstance(value, (int, np.integer))
    if ok and (low is None or value >= low) and (high is None or value <= high):
        return int(value)
    raise _fail(name, func, f"an int in the range [{_bound(low, '-inf')}, {_bound(high, 'inf')}]", value)


def check_float(
    value: Any, name: str, func: str, low: float | None = None, high: float | None = None, low_open: bool = False
) -> float:
    """Return ``value`` as a finite float in ``[low, high]`` (``(low, high]`` if ``low_open``)."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if ok:
        x = float(value)
        above = low is None or (x > low if low_open else x >= low)
        if math.isfinite(x) and above and (high is None or x <= high):
            return x
    left = "(" if low_open or low is None else "["
    right = "]" if high is not None else ")"
    raise _fail(name, func, f"a float in the range {left}{_bound(low, '-inf')}, {_bound(high, 'inf')}{right}", value)


def check_choice(value: Any, name: str, func: str, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if isinstance(value, str) and value in choices:
        return value
    raise _fail(name, func, "one of " + ", ".join(repr(c) for c in choices), value)


def check_sizes(sizes: Any, func: str, min_layers: int = 2) -> np.ndarray:
    """Return layer sizes as an int64 array of at least ``min_layers`` positive ints."""
    what = f"a sequence of at least {min_layers} positive ints"
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__") or len(sizes) < min_layers:
        raise _fail("sizes", func, what, sizes)
    if not all(not isinstance(s, bool) and isinstance(s, (int, np.integer)) and s >= 1 for s in sizes):
        raise _fail("sizes", func, what, sizes)
    return np.asarray([int(s) for s in sizes], dtype=np.int64)
