"""Experiment grids with a result cache: every cell is computed once, anywhere, and read back.

An experiment is a grid of *cells* (dataset x class x scorer x operator x parameters). Each cell is a
plain dict of JSON-able parameters; its key is the sha256 of the canonical JSON, and its result (a
JSON-able dict) is stored as ``<cache>/<key[:2]>/<key>.json``. So

* a second run recomputes nothing (every cell is found in the cache);
* a run killed half-way resumes where it stopped (results are written atomically, one per cell);
* a failing cell is reported, not cached, and the other cells still run;
* cells can run on an existing Dask cluster (``executor="dask"``) and land in the same cache.

The paper's own numbers are read with :func:`paper_table`;
:func:`topotta_lite.experiments.tables.side_by_side` puts them beside ours.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from topotta_lite.config import cache_dir, env, paper_tables_dir

__all__ = [
    "GridReport",
    "ResultCache",
    "cell_key",
    "default_cache",
    "paper_table",
    "run_grid",
]


def cell_key(cell: dict) -> str:
    """The cache key of a cell: sha256 of its canonical JSON (sorted keys, no spaces).

    >>> cell_key({"b": 1, "a": 2}) == cell_key({"a": 2, "b": 1})
    True
    """
    text = json.dumps(cell, sort_keys=True, separators=(",", ":"), default=_jsonable)
    return hashlib.sha256(text.encode()).hexdigest()


def _jsonable(obj):
    if hasattr(obj, "item"):  # numpy scalar
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot store {type(obj).__name__} in a cell or result")


RESULTS_VERSION = 8
"""Part of every cached result's key: bump it when an operator default, a metric or the data
generator changes, so that old results are not read back as new ones."""


def default_cache() -> Path:
    """``$TOPOTTA_CACHE`` or ``<repo>/build/cache``."""
    return cache_dir()


class ResultCache:
    """A folder of JSON results keyed by :func:`cell_key`, written atomically."""

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache()

    def path(self, cell: dict) -> Path:
        key = cell_key({"cell": cell, "results_version": RESULTS_VERSION})
        return self.root / key[:2] / f"{key}.json"

    def get(self, cell: dict):
        """The stored result of ``cell``, or ``None``."""
        p = self.path(cell)
        if not p.exists():
            return None
        return json.loads(p.read_text(encoding="utf-8"))["result"]

    def put(self, cell: dict, result) -> Path:
        """Store ``result`` for ``cell`` (write to a temporary file, then rename)."""
        p = self.path(cell)
        p.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"cell": cell, "result": result}, sort_keys=True, default=_jsonable)
        fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, p)
        return p

    def __contains__(self, cell: dict) -> bool:
        return self.path(cell).exists()


@dataclass
class GridReport:
    """What :func:`run_grid` did: results in cell order (``None`` where a cell failed)."""

    cells: list[dict]
    results: list
    computed: int = 0
    cached: int = 0
    failures: dict[int, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures

    def records(self) -> list[dict]:
        """Cell parameters merged with their (dict) results, for a DataFrame."""
        return [{**c, **r} for c, r in zip(self.cells, self.results) if r is not None]


def _call(fn: Callable, cell: dict):
    try:
        return True, fn(cell)
    except Exception:  # noqa: BLE001 - reported per cell; the grid goes on
        return False, traceback.format_exc()


def run_grid(cells: Iterable[dict], fn: Callable[[dict], object], *, cache: ResultCache | None = None,
             executor: str | None = None, scheduler=None, progress: bool = True,
             desc: str = "cells") -> GridReport:
    """Compute ``fn(cell)`` for every cell not already in ``cache``; return all results in order.

    Parameters
    ----------
    cells : iterable of dict
        JSON-able parameters, one dict per cell.
    fn : callable
        Computes one cell's JSON-able result. Must be importable (a module-level function) to run on
        Dask workers.
    cache : ResultCache, optional
        Defaults to :func:`default_cache`.
    executor : {"local", "dask"}, optional
        Default: ``$TOPOTTA_EXECUTOR`` or ``"local"`` (``topotta-lite reproduce --executor dask
        --scheduler ADDRESS`` sets both variables for the notebooks it runs). ``"local"`` runs
        cells one after the other in this process. ``"dask"`` submits them to the
        Dask scheduler at ``scheduler`` (an address such as ``"tcp://10.0.0.5:8786"``, or a
        ``distributed.Client``; default ``$TOPOTTA_SCHEDULER``); results are written to the cache
        here as they arrive.
    progress : bool
        Show a tqdm progress bar.

    Examples
    --------
    >>> import tempfile
    >>> report = run_grid([{"x": 2}, {"x": 3}], lambda c: {"y": c["x"] ** 2},
    ...                   cache=ResultCache(tempfile.mkdtemp()), progress=False)
    >>> [r["y"] for r in report.results], report.computed
    ([4, 9], 2)
    """
    from tqdm.auto import tqdm

    cells = [dict(c) for c in cells]
    cache = cache or ResultCache()
    executor = executor or env("TOPOTTA_EXECUTOR") or "local"
    scheduler = scheduler or env("TOPOTTA_SCHEDULER")
    report = GridReport(cells, [None] * len(cells))
    todo = []
    for i, cell in enumerate(cells):
        hit = cache.get(cell)
        if hit is None:
            todo.append(i)
        else:
            report.results[i] = hit
            report.cached += 1

    def record(i, ok, value):
        if ok:
            cache.put(cells[i], value)
            report.results[i] = value
            report.computed += 1
        else:
            report.failures[i] = value

    bar = tqdm(total=len(todo), desc=desc, disable=not progress or not todo)
    if executor == "local":
        for i in todo:
            record(i, *_call(fn, cells[i]))
            bar.update()
    elif executor == "dask":
        if scheduler is None:
            raise ValueError("executor='dask' needs scheduler= (an address or a distributed.Client)")
        from distributed import Client, as_completed

        client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
        try:
            futures = {client.submit(_call, fn, cells[i], pure=False): i for i in todo}
            for fut in as_completed(futures):
                record(futures[fut], *fut.result())
                bar.update()
        finally:
            if client is not scheduler:
                client.close()
    else:
        raise ValueError(f"unknown executor {executor!r}; use 'local' or 'dask'")
    bar.close()
    for i, tb in report.failures.items():
        last = tb.strip().splitlines()[-1]
        print(f"cell {i} failed: {last}  (parameters: {json.dumps(cells[i], sort_keys=True)})")
    return report


def paper_table(name: str):
    """One of the paper's tables as a DataFrame, e.g. ``paper_table("table7_lambda")``.

    The CSVs ship inside the package (``topotta_lite/experiments/paper/``, see its README).
    """
    import pandas as pd

    folder = paper_tables_dir()
    path = folder / f"{name}.csv"
    if not path.exists():
        names = ", ".join(sorted(p.stem for p in folder.glob("*.csv")))
        raise FileNotFoundError(f"no paper table {name!r} in {folder}; available: {names}")
    return pd.read_csv(path)
