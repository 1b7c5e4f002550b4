"""Self-checking exercises: the student writes an answer, a cell says whether it is right.

The expected value is always computed by code in the notebook (never typed in), so
the check stays true on every machine::

    my_answer = ...          # student: replace ... with your number
    check("conv MACs", my_answer, expected=conv_cost(28, 1, 6, 5).macs)

An unanswered exercise (``...`` or ``None``) prints a reminder rather than failing,
so the notebook still runs top to bottom.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def _close(answer: Any, expected: Any, rel_tol: float, abs_tol: float) -> bool:
    if isinstance(expected, str):
        return str(answer).strip().lower() == expected.strip().lower()
    if isinstance(expected, Sequence):
        return (
            isinstance(answer, Sequence)
            and len(answer) == len(expected)
            and all(_close(a, e, rel_tol, abs_tol) for a, e in zip(answer, expected, strict=True))
        )
    try:
        return math.isclose(float(answer), float(expected), rel_tol=rel_tol, abs_tol=abs_tol)
    except (TypeError, ValueError):
        return answer == expected


def check(
    name: str,
    answer: Any,
    expected: Any,
    rel_tol: float = 0.01,
    abs_tol: float = 0.0,
    hint: str = "",
) -> bool | None:
    """Print whether ``answer`` matches ``expected`` and return True/False (None if unanswered).

    Numbers match within ``rel_tol`` (relative, default 1 %) or ``abs_tol``;
    strings match case-insensitively; sequences element by element.
    """
    if answer is ... or answer is None:
        print(f"[{name}] not answered yet: replace ... with your answer and run the cell again.")
        return None
    ok = _close(answer, expected, rel_tol, abs_tol)
    if ok:
        print(f"[{name}] correct: {answer!r}")
    else:
        print(f"[{name}] not quite: you said {answer!r}." + (f" Hint: {hint}" if hint else ""))
    return ok
