"""Argument checks shared by the whole package: one rule, one message style.

Every check takes ``(name, value, ...)``: the argument's name first, as the
message says it, then the value. A value of the wrong *type* raises
``TypeError``; a value of the right type but out of range raises
``ValueError``. Each message says what was expected and what came, e.g.::

    >>> positive_int("batch", 0)
    Traceback (most recent call last):
    ...
    ValueError: batch must be an integer >= 1, got 0
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any


def integer(name: str, value: Any, minimum: int | None = None) -> int:
    """``value`` as an ``int`` (NumPy integers too, not ``bool``), at least ``minimum`` if given."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def positive_int(name: str, value: Any) -> int:
    """``value`` as an ``int`` >= 1 (a count: layers, repeats, channels)."""
    return integer(name, value, minimum=1)


def number(
    name: str,
    value: Any,
    minimum: float | None = None,
    maximum: float | None = None,
    strict: bool = False,
) -> float:
    """``value`` as a finite ``float`` in [minimum, maximum] (open ends with ``strict=True``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    low_bad = minimum is not None and (value <= minimum if strict else value < minimum)
    high_bad = maximum is not None and (value >= maximum if strict else value > maximum)
    if low_bad or high_bad:
        lo = "" if minimum is None else f"{minimum:g} {'<' if strict else '<='} "
        hi = "" if maximum is None else f" {'<' if strict else '<='} {maximum:g}"
        raise ValueError(f"{name} must satisfy {lo}{name}{hi}, got {value:g}")
    return value


def positive_number(name: str, value: Any) -> float:
    """``value`` as a finite ``float`` > 0 (a duration, a rate, a price; bits=1.58 is fine)."""
    return number(name, value, minimum=0.0, strict=True)


def non_negative_number(name: str, value: Any) -> float:
    """``value`` as a finite ``float`` >= 0."""
    return number(name, value, minimum=0.0)


def fraction(name: str, value: Any, allow_zero: bool = True, allow_one: bool = True) -> float:
    """``value`` as a ``float`` in [0, 1]: a share, a sparsity, a utilization.

    ``allow_zero=False`` / ``allow_one=False`` exclude the ends.
    """
    value = number(name, value)
    if (
        not (0.0 <= value <= 1.0)
        or (value == 0.0 and not allow_zero)
        or (value == 1.0 and not allow_one)
    ):
        low = "0" if allow_zero else "0 (exclusive)"
        high = "1" if allow_one else "1 (exclusive)"
        raise ValueError(f"{name} must be a fraction between {low} and {high}, got {value:g}")
    return value


def one_of(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``; else a ValueError listing them."""
    options = tuple(choices)
    if value not in options:
        listed = ", ".join(repr(c) for c in options)
        raise ValueError(f"{name}={value!r} is not one of {listed}")
    return value


def instance(name: str, value: Any, kind: type | tuple[type, ...], what: str = "") -> Any:
    """``value`` if ``isinstance(value, kind)``; else a TypeError saying what was expected."""
    if not isinstance(value, kind):
        expected = what or (
            kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        )
        raise TypeError(f"{name} must be a {expected}, got {type(value).__name__}")
    return value
