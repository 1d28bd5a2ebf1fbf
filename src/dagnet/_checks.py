"""Argument validation for all of dagnet: declared constraints and one message template.

Every message reads "The 'x' parameter of f must be ... Got v instead.", as in
scikit-learn's ``utils/_param_validation.py``, so a user can tell at once which
argument of which call is wrong. :func:`invalid` builds that message; the
constraints (:class:`Interval`, :class:`Options`) say what is accepted and
describe themselves for it; the ``check_*`` functions join the two.

Examples
--------
>>> str(Interval(int, 1))
'an int >= 1'
>>> str(Interval(float, 0, 1, closed="left"))
'a float in [0, 1)'
>>> str(Options(("random", "degree")))
"one of 'random', 'degree'"
>>> invalid("k", "Layer", Interval(int, 1), 0).args[0]
"The 'k' parameter of Layer must be an int >= 1. Got 0 instead."
"""

from __future__ import annotations

import argparse
import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "invalid",
    "Interval",
    "Options",
    "check_int",
    "check_float",
    "check_bool",
    "check_choice",
    "check_sizes",
    "int_argument",
]

_CLOSED = ("both", "left", "right", "neither")


def invalid(name: str, owner: str, what: Any, value: Any) -> ValueError:
    """Return the ValueError for a bad ``value`` of parameter ``name`` of ``owner``.

    ``what`` is what the parameter must be: a phrase, or a constraint whose
    ``str`` is one. The caller raises it (or builds another exception type
    from its message).

    Examples
    --------
    >>> invalid("p", "Dropout", "a float in [0, 1)", 2).args[0]
    "The 'p' parameter of Dropout must be a float in [0, 1). Got 2 instead."
    """
    return ValueError(f"The '{name}' parameter of {owner} must be {what}. Got {value!r} instead.")


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


class Interval:
    """The ints (``kind=int``) or finite floats (``kind=float``) between ``low`` and ``high``.

    A bound of ``None`` is unbounded. ``closed`` is ``"both"``, ``"left"``,
    ``"right"`` or ``"neither"``: which bounds belong to the interval. Bools
    are neither ints nor floats here; a float interval accepts ints, never
    inf or nan (so a float unbounded on a side describes itself as finite).

    Examples
    --------
    >>> 3 in Interval(int, 1, 4), True in Interval(int, 0), 1.0 in Interval(float, 0, 1, closed="left")
    (True, False, False)
    >>> str(Interval(float, 0, closed="neither"))
    'a finite float > 0'
    """

    def __init__(self, kind: type, low: float | None = None, high: float | None = None, closed: str = "both"):
        if kind not in (int, float):
            raise ValueError(f"Interval kind must be int or float. Got {kind!r} instead.")
        if closed not in _CLOSED:
            raise ValueError(f"Interval closed must be one of {_CLOSED}. Got {closed!r} instead.")
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def __contains__(self, value: Any) -> bool:
        if isinstance(value, (bool, np.bool_)):
            return False
        if self.kind is int:
            if not isinstance(value, numbers.Integral):
                return False
        elif not isinstance(value, numbers.Real):
            return False
        elif not isinstance(value, numbers.Integral) and not math.isfinite(value):
            return False
        low_in = self.closed in ("both", "left")
        high_in = self.closed in ("both", "right")
        if self.low is not None and not (value >= self.low if low_in else value > self.low):
            return False
        return self.high is None or (value <= self.high if high_in else value < self.high)

    def __str__(self) -> str:
        noun = "an int" if self.kind is int else "a float"
        if self.kind is float and (self.low is None or self.high is None):
            noun = "a finite float"  # where inf would otherwise pass
        low_in = self.closed in ("both", "left")
        high_in = self.closed in ("both", "right")
        if self.low is None and self.high is None:
            return noun
        if self.high is None:
            return f"{noun} {'>=' if low_in else '>'} {_num(self.low)}"
        if self.low is None:
            return f"{noun} {'<=' if high_in else '<'} {_num(self.high)}"
        left, right = "[" if low_in else "(", "]" if high_in else ")"
        return f"{noun} in {left}{_num(self.low)}, {_num(self.high)}{right}"

    def __repr__(self) -> str:
        return f"Interval({self.kind.__name__}, {self.low!r}, {self.high!r}, closed={self.closed!r})"


class Options:
    """One of a few allowed values (strings, as a rule), compared by equality and type.

    Examples
    --------
    >>> "in" in Options(("total", "in", "out")), 1 in Options(("a",))
    (True, False)
    >>> str(Options(("cosine", "constant")))
    "one of 'cosine', 'constant'"
    """

    def __init__(self, choices: Iterable):
        self.choices = tuple(choices)

    def __contains__(self, value: Any) -> bool:
        return any(isinstance(value, type(c)) and value == c for c in self.choices)

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def __repr__(self) -> str:
        return f"Options({self.choices!r})"


def check_int(
    value: Any,
    name: str,
    owner: str,
    low: int | None = 1,
    high: int | None = None,
    high_name: str | None = None,
) -> int:
    """Return ``value`` as an int if it is one in ``[low, high]``, else raise a ValueError.

    ``low=None`` or ``high=None`` leave that side unbounded. ``high_name``
    names what ``high`` comes from, for the message.

    Examples
    --------
    >>> check_int(3, "k", "Layer", 1, 4, "out_features")
    3
    """
    rule = Interval(int, low, high)
    if value not in rule:
        what = str(rule)
        if high is not None and high_name is not None:
            what = f"an int in [{_num(low) if low is not None else '-inf'}, {high_name}] ({high_name} is {high})"
        raise invalid(name, owner, what, value)
    return int(value)


def check_float(
    value: Any,
    name: str,
    owner: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a float if it is a finite number in ``[low, high]``, else raise a ValueError.

    ``low_open``/``high_open`` exclude the bounds; ``None`` leaves a side unbounded.

    Examples
    --------
    >>> check_float(0.5, "p", "Dropout", 0, 1, high_open=True)
    0.5
    """
    closed = _CLOSED[2 * bool(low_open) + bool(high_open)]
    rule = Interval(float, low, high, closed=closed)
    if value not in rule:
        raise invalid(name, owner, rule, value)
    return float(value)


def check_bool(value: Any, name: str, owner: str) -> bool:
    """Return ``value`` if it is a bool, else raise a ValueError.

    Examples
    --------
    >>> check_bool(True, "bias", "Layer")
    True
    """
    if not isinstance(value, bool):
        raise invalid(name, owner, "a bool", value)
    return value


def check_choice(value: Any, name: str, owner: str, choices: Iterable) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise a ValueError.

    Examples
    --------
    >>> check_choice("in", "which", "describe", ("total", "in", "out"))
    'in'
    """
    rule = Options(choices)
    if value not in rule:
        raise invalid(name, owner, rule, value)
    return value


def check_sizes(sizes: Any, owner: str, min_layers: int = 2) -> np.ndarray:
    """Return layer sizes as an int64 array of at least ``min_layers`` positive ints.

    Examples
    --------
    >>> check_sizes([4, 3, 2], "layered_sparse").tolist()
    [4, 3, 2]
    """
    what = f"a sequence of at least {min_layers} positive ints"
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__") or len(sizes) < min_layers:
        raise invalid("sizes", owner, what, sizes)
    if not all(s in Interval(int, 1) for s in sizes):
        raise invalid("sizes", owner, what, sizes)
    return np.asarray([int(s) for s in sizes], dtype=np.int64)


def int_argument(low: int):
    """Return an argparse ``type`` that parses an int ``>= low`` and says so when it is not.

    Examples
    --------
    >>> int_argument(1)("3")
    3
    >>> int_argument(1)("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: must be an integer >= 1, got '0'
    """

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value

    parse.__name__ = "int"
    return parse
