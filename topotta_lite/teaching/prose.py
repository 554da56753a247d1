"""Results prose rendered from computed values, so that a sentence cannot contradict its output.

The notebooks never type a number (or a direction such as "higher" or "stays put") about their
own results into a Markdown cell. They build the sentence from the values with these helpers and
show it with ``IPython.display.Markdown``; what a sentence cannot hold (a direction that should
always be true) is asserted by a check cell instead.

Examples
--------
>>> print(takeaways([f"PCES {change_word(0.287, 0.251)} F1 ({fmt(0.287)} -> {fmt(0.251)})."]))
**Take-aways** (rendered from this run's results)
<BLANKLINE>
* PCES lowers F1 (0.287 -> 0.251).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = ["bullets", "change_word", "f1_sentences", "fmt", "is_monotone", "note", "plural",
           "subset_note", "takeaways"]


def fmt(value, digits: int = 3) -> str:
    """A number as text with ``digits`` decimals; integers stay integers, NaN/None read "n/a".

    Rounds like ``pandas.DataFrame.round`` (numpy's rounding), so a sentence shows the same digits
    as a table displayed with ``.round(digits)`` beside it.

    Examples
    --------
    >>> fmt(0.35714), fmt(7), fmt(float("nan")), fmt(2.0, 1), fmt(0.1305)
    ('0.357', '7', 'n/a', '2.0', '0.130')
    """
    if value is None:
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{float(np.round(value, digits)):.{digits}f}"


def plural(n: int, word: str, words: str | None = None) -> str:
    """``"1 class"``, ``"6 classes"``: a count with the right form of the noun.

    Examples
    --------
    >>> plural(1, "class", "classes"), plural(6, "class", "classes"), plural(2, "image")
    ('1 class', '6 classes', '2 images')
    """
    n = int(n)
    return f"{n} {word if n == 1 else (words or word + 's')}"


def change_word(before: float, after: float, *, tol: float = 0.0, up: str = "raises",
                down: str = "lowers", same: str = "leaves unchanged") -> str:
    """The verb that describes going from ``before`` to ``after``: ``up``, ``down`` or ``same``.

    A change of at most ``tol`` counts as no change.

    Examples
    --------
    >>> change_word(0.287, 0.251), change_word(0.2, 0.3), change_word(0.3, 0.3004, tol=1e-3)
    ('lowers', 'raises', 'leaves unchanged')
    >>> change_word(1, 2, up="helps", down="hurts", same="does nothing")
    'helps'
    """
    diff = float(after) - float(before)
    if abs(diff) <= tol:
        return same
    return up if diff > 0 else down


def is_monotone(values: Sequence[float], *, increasing: bool = True, strict: bool = False,
                tol: float = 0.0) -> bool:
    """Whether a sequence never goes down (``increasing``) or never goes up, within ``tol``.

    Examples
    --------
    >>> is_monotone([0.50, 0.526, 0.521])   # the paper's Table VIII, PatchCore, n = 8, 16, 32
    False
    >>> is_monotone([3, 2, 2], increasing=False), is_monotone([3, 2, 2], increasing=False, strict=True)
    (True, False)
    """
    v = np.asarray(values, dtype=float)
    d = np.diff(v) if increasing else -np.diff(v)
    return bool(np.all(d > tol) if strict else np.all(d >= -tol))


def f1_sentences(table, by: Sequence[str]) -> list[tuple[str, object, str]]:
    """One sentence per group of a results table: each method's F1 and the best method.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows with ``method`` and ``f1`` columns (e.g. a regenerated Table I).
    by : sequence of str
        Grouping columns; those absent from ``table`` are skipped.

    Returns
    -------
    list of (label, group, sentence)
        ``label`` joins the group's key with " / "; ``group`` is its rows, for further sentences.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"scorer": ["a", "a"], "method": ["THR", "TopoTTA"], "f1": [0.2, 0.35]})
    >>> [s for _, _, s in f1_sentences(t, ["dataset", "scorer"])]
    ['a: F1 THR 0.200, TopoTTA 0.350; best: TopoTTA.']
    """
    cols = [c for c in by if c in table.columns]
    out = []
    for key, g in table.groupby(cols, sort=False):
        f1 = g.set_index("method")["f1"]
        label = " / ".join(str(k) for k in (key if isinstance(key, tuple) else (key,)))
        out.append((label, g, f"{label}: F1 " + ", ".join(f"{m} {fmt(v)}" for m, v in f1.items())
                    + f"; best: {f1.idxmax()}."))
    return out


def bullets(items: Iterable[str]) -> str:
    """A Markdown bullet list (empty items are skipped).

    Examples
    --------
    >>> print(bullets(["one", "", "two"]))
    * one
    * two
    """
    return "\n".join(f"* {item}" for item in items if item)


def takeaways(items: Iterable[str], title: str = "Take-aways") -> str:
    """The closing Markdown of a notebook: a bold title and a bullet list of rendered sentences.

    Examples
    --------
    >>> takeaways(["a", "b"]).splitlines()[0]
    "**Take-aways** (rendered from this run's results)"
    """
    return f"**{title}** (rendered from this run's results)\n\n{bullets(items)}"


def note(text: str) -> str:
    """A Markdown block quote starting with **NOTE.**

    Examples
    --------
    >>> note("quick profile")
    '> **NOTE.** quick profile'
    """
    return f"> **NOTE.** {text}"


_SINGULAR = {"classes": "class", "categories": "category"}


def _as_list(x) -> list:
    if isinstance(x, (int, np.integer)):
        return list(range(int(x)))
    return list(x)


def subset_note(profile: str, **parts) -> str:
    """A NOTE when a run uses fewer classes (scorers, ...) than are available; else ``""``.

    Parameters
    ----------
    profile : str
        The run's profile (named in the note).
    **parts : (used, available)
        For each kind of thing (``classes=``, ``scorers=``...), the items this run uses and the
        items the full run uses (sequences, or counts).

    Examples
    --------
    >>> text = subset_note("quick", classes=(["brick"], ["brick", "grass", "nut"]),
    ...                    scorers=(["patchcore"], ["patchcore"]))
    >>> text[:67]
    '> **NOTE.** This run (profile `quick`) uses 1 of 3 classes (brick).'
    >>> subset_note("quick", **{"voxel classes": (["casting"], ["casting", "composite"])})[39:74]
    'uses 1 of 2 voxel classes (casting)'
    >>> subset_note("full", classes=(["a", "b"], ["a", "b"]))
    ''
    """
    pieces = []
    for kind, (used, available) in parts.items():
        used, available = _as_list(used), _as_list(available)
        if len(used) < len(available):
            *head, last = kind.split(" ")
            one = " ".join([*head, _SINGULAR.get(last, last[:-1] if last.endswith("s") else last)])
            names = ", ".join(str(u) for u in used)
            pieces.append(f"{len(used)} of {plural(len(available), one, kind)}"
                          + (f" ({names})" if used and not isinstance(used[0], int) else ""))
    if not pieces:
        return ""
    return note(f"This run (profile `{profile}`) uses {' and '.join(pieces)}. Every mean below is "
                "over these only; the full profile runs them all.")
