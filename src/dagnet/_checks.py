"""Argument checks with one message template, shared across dagnet.

Messages read "The 'x' parameter of f must be ... Got v instead.", as in
scikit-learn. (The graph generators keep their own range-style template in
:mod:`dagnet.topology._checks`.)
"""

from __future__ import annotations

import math
import numbers

__all__ = ["check_int", "check_float", "check_bool"]


def check_int(value, name: str, owner: str, low: int = 1, high: int | None = None, high_name: str | None = None) -> int:
    """Return ``value`` as an int if it is one in ``[low, high]``, else raise a ValueError.

    Examples
    --------
    >>> check_int(3, "k", "Layer", 1, 4, "out_features")
    3
    """
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    ok = ok and value >= low and (high is None or value <= high)
    if not ok:
        if high is None:
            rule = f"an int >= {low}"
        elif high_name is None:
            rule = f"an int in [{low}, {high}]"
        else:
            rule = f"an int in [{low}, {high_name}] ({high_name} is {high})"
        raise ValueError(f"The '{name}' parameter of {owner} must be {rule}. Got {value!r} instead.")
    return int(value)


def check_float(
    value, name: str, owner: str, low: float, high: float, low_open: bool = False, high_open: bool = False
) -> float:
    """Return ``value`` as a float if it is a finite number in ``[low, high]``, else raise a ValueError.

    ``low_open``/``high_open`` exclude the bounds.

    Examples
    --------
    >>> check_float(0.5, "p", "Dropout", 0, 1, high_open=True)
    0.5
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low < value if low_open else low <= value) and (value < high if high_open else value <= high)
    if not ok:
        span = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"The '{name}' parameter of {owner} must be a float in {span}. Got {value!r} instead.")
    return float(value)


def check_bool(value, name: str, owner: str) -> bool:
    """Return ``value`` if it is a bool, else raise a ValueError.

    Examples
    --------
    >>> check_bool(True, "bias", "Layer")
    True
    """
    if not isinstance(value, bool):
        raise ValueError(f"The '{name}' parameter of {owner} must be a bool. Got {value!r} instead.")
    return value
