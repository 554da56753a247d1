"""Which notebooks may run at the same time: what each one reads, and an order that respects it.

``topotta-lite reproduce --jobs N`` runs up to ``N`` notebooks at once, each in its own kernel
process (every kernel computes with one thread, :func:`topotta_lite.config.pin_threads`). A
notebook starts only once the selected notebooks whose outputs it reads have finished
(:data:`READS`); among the notebooks that may start, the one that the most others wait for
starts first, and among those equally awaited, when several run at once, the longest
(:data:`LONGEST_FIRST`), so that a long notebook does not start last and run alone while the
other cores wait; one at a time, they run in their numbered (reading) order.

The dependencies are ordering only: a notebook runs even when one it reads from failed (it then
computes what it needs itself, or reads the previously published tables), as it did when the
notebooks ran one after the other.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["LONGEST_FIRST", "READS", "default_jobs", "dependencies", "ready_order"]

READS: dict[str, tuple[str, ...] | str] = {
    # the 2D score bundles (maps + features) that notebook 06 scores and caches
    "05": ("06",),  # the brick / PatchCore bundle of section 1
    "08": ("06",),
    "09": ("06",),
    "10": ("06",),
    "11": ("06",),
    # the tuning record and 06's bundles (the development / evaluation protocol)
    "13": ("06",),
    # 2D bundles of 06, 2.5D / 3D bundles of 07 (`require_cached_bundles` skips what is missing)
    "12": ("06", "07"),
    # the claims report reads every table the others publish
    "14": "*",
}
"""For each notebook number, the numbers of the notebooks whose outputs it reads (``"*"``: all
the others). Found by reading the notebooks: the score bundles are cached by
:func:`topotta_lite.experiments.score_bundle`, the tables are read from the published
``figures/tables``."""


LONGEST_FIRST: tuple[str, ...] = ("06", "13", "08", "07", "10", "03", "02", "11", "09", "05",
                                   "04", "14", "12", "01", "00")
"""Notebook numbers from the longest run to the shortest, as a cold ``quick`` run times them
(``benchmarks/time_profiles.py``); an order, not a promise (in the ``full`` profile 07, 08 and
10 weigh more). Numbers not listed come after, by number."""


def default_jobs() -> int:
    """The default ``--jobs``: the cores this process may use, at most 4 (at least 1).

    >>> 1 <= default_jobs() <= 4
    True
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


def dependencies(stems: list[str]) -> dict[str, set[str]]:
    """For each selected notebook (``NN_name``), the selected notebooks it waits for.

    Examples
    --------
    >>> deps = dependencies(["06_experiments_2d", "07_experiments_3d", "12_runtime",
    ...                      "14_claims_report"])
    >>> sorted(deps["12_runtime"]), sorted(deps["14_claims_report"]), deps["06_experiments_2d"]
    (['06_experiments_2d', '07_experiments_3d'], ['06_experiments_2d', '07_experiments_3d', \
'12_runtime'], set())
    """
    by_number = {Path(s).name[:2]: s for s in stems}
    out = {}
    for stem in stems:
        reads = READS.get(Path(stem).name[:2], ())
        if reads == "*":
            out[stem] = {s for s in stems if s != stem and READS.get(s[:2]) != "*"}
        else:
            out[stem] = {by_number[n] for n in reads if n in by_number and by_number[n] != stem}
    return out


def _waiting_on(deps: dict[str, set[str]]) -> dict[str, int]:
    """How many notebooks wait, directly or not, for each one."""
    count = {}
    for stem in deps:
        seen, todo = set(), [s for s, d in deps.items() if stem in d]
        while todo:
            s = todo.pop()
            if s not in seen:
                seen.add(s)
                todo.extend(t for t, d in deps.items() if s in d)
        count[stem] = len(seen)
    return count


def ready_order(deps: dict[str, set[str]], done: set[str], started: set[str], *,
                longest_first: bool = True) -> list[str]:
    """The notebooks that may start now (all they wait for is done), most awaited first, then
    (``longest_first``) the longest (:data:`LONGEST_FIRST`), then by number.

    >>> deps = {"01_a": set(), "06_b": set(), "08_c": {"06_b"}, "99_d": set()}
    >>> ready_order(deps, done=set(), started=set())
    ['06_b', '01_a', '99_d']
    >>> ready_order(deps, done={"06_b"}, started={"06_b"})
    ['08_c', '01_a', '99_d']
    >>> ready_order(deps, done={"06_b"}, started={"06_b"}, longest_first=False)
    ['01_a', '08_c', '99_d']
    """
    waiting = _waiting_on(deps)
    rank = {n: i for i, n in enumerate(LONGEST_FIRST)} if longest_first else {}
    ready = [s for s, d in deps.items() if s not in started and d <= done]
    return sorted(ready, key=lambda s: (-waiting[s], rank.get(Path(s).name[:2], len(rank)), s))
