"""Exercises a student answers, and the ``check`` that tells them whether they are right.

Each exercise of the course notebooks (01-05) is declared once, here or in a notebook-specific
module registered below, as an :class:`Exercise`: a key (``"01.2"``: notebook 01, exercise 2), the
question in one line, a function that *computes* the right answer (no answer is typed), how an
answer is compared with it, and hints for the wrong answers a student is likely to give.

In a notebook, the student writes their answer into a cell and calls :func:`check`::

    answer = None          # your answer: b1 of the checkerboard in the T construction
    check("01.2", answer)  # -> "not answered yet", "right", or "not right: <hint>"

``check`` never raises on a wrong or missing answer (the notebook still runs to the end), and
it never shows the right answer: the collapsed solution cell below the exercise does that.
The test suite calls :func:`check` on every registered exercise with its right answer and with
each of its declared wrong answers.

Examples
--------
>>> ex = Exercise("00.1", "How many pixels does a 3 x 4 image have?", solve=lambda: 12,
...               wrong={11: "count the rows times the columns"})
>>> register(ex) is ex
True
>>> check("00.1", 12).correct, check("00.1", 11).correct, check("00.1", None).answered
(True, False, False)
>>> print(check("00.1", 11).text)
**Exercise 00.1: not right yet.** Hint: count the rows times the columns.
>>> del EXERCISES["00.1"]
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["EXERCISES", "CheckResult", "Exercise", "check", "exercises", "register", "same_answer"]

#: every registered exercise, by key (filled on first use from the modules in _MODULES)
EXERCISES: dict[str, Exercise] = {}

#: modules that register a notebook's exercises when imported (one per course notebook)
_MODULES: tuple[str, ...] = (
    "topotta_lite.teaching.exercises_01",
    "topotta_lite.teaching.exercises_02",
    "topotta_lite.teaching.exercises_03",
    "topotta_lite.teaching.exercises_04",
    "topotta_lite.teaching.exercises_05",
)
_loaded = False


def same_answer(given: Any, expected: Any, *, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """Whether ``given`` equals ``expected``: numbers within a tolerance, arrays and tuples entry by
    entry, sets as sets, strings without case or surrounding spaces.

    Examples
    --------
    >>> same_answer(0.1 + 0.2, 0.3), same_answer((1, 2), [1, 2]), same_answer("V", " v ")
    (True, True, True)
    >>> same_answer(np.array([[1, 0]]), np.array([[1, 1]])), same_answer({1, 2}, {2, 1})
    (False, True)
    """
    if given is None:
        return expected is None
    if isinstance(expected, str):
        return isinstance(given, str) and given.strip().lower() == expected.strip().lower()
    if isinstance(expected, (set, frozenset)):
        try:
            return set(given) == set(expected)
        except TypeError:
            return False
    if isinstance(expected, Mapping):
        return (isinstance(given, Mapping) and set(given) == set(expected)
                and all(same_answer(given[k], expected[k], rtol=rtol, atol=atol) for k in expected))
    if isinstance(expected, (bool, np.bool_)):
        return isinstance(given, (bool, np.bool_)) and bool(given) == bool(expected)
    if isinstance(expected, (int, float, np.integer, np.floating)):
        if isinstance(given, (bool, np.bool_)) or not isinstance(given, (int, float, np.integer,
                                                                           np.floating)):
            return False
        return math.isclose(float(given), float(expected), rel_tol=rtol, abs_tol=atol)
    try:
        g = np.asarray(given)
        e = np.asarray(expected)
    except (TypeError, ValueError):
        return False
    if g.shape != e.shape or g.dtype == object or e.dtype == object:
        return False
    if e.dtype.kind in "fc" or g.dtype.kind in "fc":
        return bool(np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True))
    return bool(np.array_equal(g, e))


@dataclass(frozen=True)
class Exercise:
    """One exercise: its key, question, how to compute the answer and how to judge an answer.

    Parameters
    ----------
    key : str
        ``"NN.k"``: notebook ``NN``, exercise ``k``.
    question : str
        The question in one line (the notebook states it in full).
    solve : callable
        ``solve() -> answer``: computes the right answer.
    compare : callable, optional
        ``compare(given, expected) -> bool`` (default :func:`same_answer`). For a function answer,
        a ``compare`` that calls the student's function on test inputs.
    wrong : dict, optional
        Likely wrong answers and the hint each deserves (keys must be hashable: use tuples for
        arrays). An answer not listed gets ``hint``.
    hint : str
        The hint for any other wrong answer.
    """

    key: str
    question: str
    solve: Callable[[], Any]
    compare: Callable[[Any, Any], bool] | None = None
    wrong: Mapping[Any, str] = field(default_factory=dict)
    hint: str = "look again at the definition in the cell above the exercise"

    def answer(self) -> Any:
        """The right answer, computed."""
        return self.solve()

    def judge(self, given: Any) -> bool:
        """Whether ``given`` is right."""
        cmp = self.compare or same_answer
        try:
            return bool(cmp(given, self.answer()))
        except Exception:  # a student's function that raises is a wrong answer, not a crash
            return False

    def hint_for(self, given: Any) -> str:
        """The hint for a wrong answer (a declared one's own hint, else the general one)."""
        for bad, text in self.wrong.items():
            if same_answer(given, bad):
                return text
        return self.hint


@dataclass(frozen=True)
class CheckResult:
    """What :func:`check` says: answered or not, right or not, and the sentence to show."""

    key: str
    answered: bool
    correct: bool
    text: str

    def __bool__(self) -> bool:
        return self.correct

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text


def register(exercise: Exercise) -> Exercise:
    """Add an exercise to :data:`EXERCISES` (a key may be registered once)."""
    if exercise.key in EXERCISES and EXERCISES[exercise.key] is not exercise:
        raise ValueError(f"exercise {exercise.key!r} is registered twice")
    EXERCISES[exercise.key] = exercise
    return exercise


def _load() -> None:
    global _loaded
    if not _loaded:
        for name in _MODULES:
            importlib.import_module(name)
        _loaded = True


def exercises(notebook: str | None = None) -> list[Exercise]:
    """The registered exercises, of one notebook (``"01"``) or of all, in key order.

    Examples
    --------
    >>> all(ex.key.count(".") == 1 for ex in exercises())
    True
    """
    _load()
    found = [ex for k, ex in sorted(EXERCISES.items())
             if notebook is None or k.split(".")[0] == str(notebook)]
    return found


def check(key: str, answer: Any) -> CheckResult:
    """Say whether ``answer`` to exercise ``key`` is right; never reveals the right answer.

    ``None`` (the placeholder in the notebooks) means "not answered yet".
    """
    _load()
    if key not in EXERCISES:
        raise KeyError(f"no exercise {key!r}; known: {sorted(EXERCISES)}")
    ex = EXERCISES[key]
    if answer is None:
        return CheckResult(key, False, False,
                           f"**Exercise {key}: not answered yet.** Replace `None` with your answer "
                           "and run the cell again.")
    if ex.judge(answer):
        return CheckResult(key, True, True, f"**Exercise {key}: right.**")
    return CheckResult(key, True, False,
                       f"**Exercise {key}: not right yet.** Hint: {ex.hint_for(answer)}.")
