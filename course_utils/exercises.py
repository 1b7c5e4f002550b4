"""Self-checking exercises of three kinds: predict then measure, write code, explain why.

The expected value is always computed by code in the notebook (never typed in), so a check
stays true on every machine. An unanswered exercise (``...`` or ``None``, or a function that
still returns ``...``) prints a reminder instead of failing, so the notebook runs top to bottom;
every check prints one readable sentence and returns True, False or None (unanswered). Worked
solutions at the end of each notebook ``assert`` the same checks (notebooks/CONTRIBUTING.md).

* :func:`check` - a number, a string or a list, e.g. a count worked out by hand.
* :func:`check_prediction` - a prediction against what the next cell measured, within a
  stated tolerance (a factor, since timings vary across machines).
* :func:`check_function` - the student's function against a reference on several cases.
* :func:`check_choice` - a multiple-choice answer about *why* (memory-, compute- or
  overhead-bound, ...), with the reason printed once answered.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


def _unanswered(answer: Any) -> bool:
    return answer is ... or answer is None


def _close(answer: Any, expected: Any, rel_tol: float, abs_tol: float) -> bool:
    if isinstance(expected, str):
        return str(answer).strip().lower() == expected.strip().lower()
    if isinstance(expected, np.ndarray) or isinstance(answer, np.ndarray):
        a, e = np.asarray(answer), np.asarray(expected)
        return a.shape == e.shape and bool(np.allclose(a, e, rtol=rel_tol, atol=abs_tol))
    if isinstance(expected, Sequence):
        if not (isinstance(answer, Sequence) and len(answer) == len(expected)):
            return False
        return all(_close(a, e, rel_tol, abs_tol) for a, e in zip(answer, expected, strict=True))
    try:
        return math.isclose(float(answer), float(expected), rel_tol=rel_tol, abs_tol=abs_tol)
    except (TypeError, ValueError):
        return answer == expected


def check(name: str, answer: Any, expected: Any, rel_tol: float = 0.01, abs_tol: float = 0.0,
          hint: str = "") -> bool | None:  # fmt: skip
    """Print whether ``answer`` matches ``expected``; return True/False (None if unanswered).

    Numbers match within ``rel_tol`` (relative, default 1 %) or ``abs_tol``; strings
    case-insensitively; sequences and arrays element by element.
    """
    if _unanswered(answer):
        print(f"[{name}] not answered yet: replace ... with your answer and run the cell again.")
        return None
    if ok := _close(answer, expected, rel_tol, abs_tol):
        print(f"[{name}] correct: {answer!r}")
    else:
        print(f"[{name}] not quite: you said {answer!r}." + (f" Hint: {hint}" if hint else ""))
    return ok


def check_prediction(
    name: str, prediction: Any, measured: float, factor: float = 1.5
) -> bool | None:
    """Compare a prediction with a measurement: right if within ``factor`` either way.

    Timings differ from machine to machine, so a prediction counts when it is within a
    factor (default 1.5: between measured / 1.5 and measured x 1.5). Prints both numbers
    and by how much they differ; return True/False (None if unanswered).
    """
    if factor <= 1:
        raise ValueError(f"factor must be > 1, got {factor}")
    if _unanswered(prediction):
        print(f"[{name}] no prediction yet: write your number first, then run the measurement.")
        return None
    predicted = float(prediction)
    ratio = predicted / measured if measured else math.inf
    ok = predicted > 0 and 1 / factor <= ratio <= factor
    verdict = "within" if ok else "outside"
    print(f"[{name}] you predicted {predicted:.3g}, this machine measured {measured:.3g} "
          f"(prediction / measurement = {ratio:.2f}: {verdict} the x{factor:g} band).")  # fmt: skip
    return ok


def check_function(
    name: str, fn: Callable[..., Any], cases: Sequence[tuple[Any, ...]],
    reference: Callable[..., Any], rel_tol: float = 1e-6, abs_tol: float = 1e-9,
) -> bool | None:  # fmt: skip
    """Run the student's ``fn`` and ``reference`` on every case (a tuple of arguments) and compare.

    Prints how many cases agree and the first that does not; return True/False (None while
    ``fn`` still returns ``...``).
    """
    for i, args in enumerate(cases):
        try:
            got = fn(*args)
        except Exception as err:  # the student's code: report, don't crash the notebook
            print(f"[{name}] case {i + 1} raised {type(err).__name__}: {err}")
            return False
        if _unanswered(got):
            print(f"[{name}] not written yet: complete the function, then run this cell again.")
            return None
        want = reference(*args)
        if not _close(got, want, rel_tol, abs_tol):
            shown = ", ".join(f"array{np.shape(a)}" if isinstance(a, np.ndarray) else repr(a)
                              for a in args)  # fmt: skip
            print(f"[{name}] case {i + 1} ({shown}): expected {want!r}, got {got!r}.")
            return False
    print(f"[{name}] correct on all {len(cases)} cases.")
    return True


def check_choice(
    name: str, answer: Any, expected: str, reasons: Mapping[str, str] | None = None
) -> bool | None:
    """A multiple-choice answer (a letter or a word) against ``expected``, with the reason.

    ``reasons`` maps each option to one sentence printed once the student has answered, so
    a wrong answer still teaches; return True/False (None if unanswered).
    """
    if _unanswered(answer):
        print(f"[{name}] not answered yet: put the letter of your choice in quotes.")
        return None
    picked = str(answer).strip().lower()
    ok = picked == expected.strip().lower()
    print(f"[{name}] {'correct' if ok else 'not this one'}: {answer!r}.")
    if reasons:
        if picked in reasons and not ok:
            print(f"  {reasons[picked]}")
        if expected in reasons:
            print(f"  Why {expected!r}: {reasons[expected]}")
    return ok
