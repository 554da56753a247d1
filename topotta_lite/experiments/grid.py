"""Experiment grids with a result cache: every cell is computed once, anywhere, and read back.

An experiment is a grid of *cells* (dataset x class x scorer x operator x parameters). Each cell is a
plain dict of JSON-able parameters; its key is the sha256 of the canonical JSON, and its result (a
JSON-able dict) is stored as ``<cache>/<key[:2]>/<key>.json``. So

* a second run recomputes nothing (every cell is found in the cache);
* a run killed half-way resumes where it stopped (results are written atomically, one per cell);
* an entry is **verified before it is served**: it carries its full key, its cell and a checksum of
  its result, and one that cannot be read or does not match is reported with its path, moved to
  ``<cache>/corrupt/`` and recomputed;
* a cell that reads a dataset from disk (``data_root``) is keyed with a fingerprint of the files
  the loader reads (:func:`topotta_lite.data.dataset_fingerprint`), so an edited dataset is
  recomputed;
* concurrent runs on one cache take a lock per cell: a cell is computed once, the other run waits
  for it (and meanwhile computes other cells);
* a failing cell is reported, not cached, the other cells still run, and then
  :class:`GridError` is raised (``strict=False`` returns the partial report instead);
* cells can run on an existing Dask cluster (``executor="dask"``); the workers read and write the
  run's cache folder (which they must be able to reach), not one of their own.

The paper's own numbers are read with :func:`paper_table`;
:func:`topotta_lite.experiments.tables.side_by_side` puts them beside ours.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import traceback
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from topotta_lite.config import cache_dir, env, paper_tables_dir, use_cache_dir
from topotta_lite.safe_io import LockBusy, append_records, atomic_write, file_lock

__all__ = [
    "CorruptCacheWarning",
    "GridError",
    "GridReport",
    "ResultCache",
    "cell_key",
    "default_cache",
    "paper_table",
    "quarantine",
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


RESULTS_VERSION = 15
"""Part of every cached result's key: bump it when an operator default, a metric or the data
generator changes, so that old results are not read back as new ones (12: the defaults chosen by
``topotta-lite tune`` on the development part; 13: the release preset's encoder trains with
Adam's fused update, equal up to rounding; 14: TTT4AS's SVM solved to convergence, ``tol``
1e-6 and up to 10000 iterations; 15: TTT4AS's SVM solved exactly by a finite Newton method)."""


def default_cache() -> Path:
    """``$TOPOTTA_CACHE`` or ``<repo>/build/cache``."""
    return cache_dir()


ENTRY_FORMAT = 2
"""Layout of a cache entry (part of its key): 2 = ``{key, cell, results_version, sha256, result}``."""


class CorruptCacheWarning(UserWarning):
    """A cache entry or score bundle could not be verified; it was moved aside and is recomputed."""


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_jsonable)


def quarantine(path: str | os.PathLike, reason: str, root: str | os.PathLike | None = None) -> Path:
    """Move a bad cache file to ``<root>/corrupt/`` (default: beside its folder) and warn, naming it.

    Returns the new path. The entry is then recomputed by whoever asked for it. A folder or a
    symbolic link (even a loop) in the entry's place is moved aside the same way (the link
    itself, never what it points to). Under ``topotta-lite reproduce`` the warning is also written
    to the run's log, so that the command prints it in the terminal, not only in the notebook.
    """
    path = Path(path)
    folder = Path(root) / "corrupt" if root is not None else path.parent / "corrupt"
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}.{os.getpid()}"
    try:
        os.replace(path, dest)
    except FileNotFoundError:  # another process moved it first
        dest = path
    message = f"cache entry {path} is unusable ({reason}); moved to {dest}, recomputing"
    warnings.warn(message, CorruptCacheWarning, stacklevel=3)
    log = env("TOPOTTA_RUN_LOG")
    if log:
        try:
            append_records(log, [{"kind": "warning", "category": "CorruptCacheWarning",
                                  "message": message}])
        except OSError:  # the warning above still reaches the notebook
            pass
    return dest


class ResultCache:
    """A folder of JSON results keyed by :func:`cell_key`, written atomically, verified on read.

    Each entry holds its key, its cell, the results version and the sha256 of its result; an entry
    that cannot be read or does not match is moved to ``<root>/corrupt/`` with a
    :class:`CorruptCacheWarning` naming it, and counts as missing (so it is recomputed).

    Examples
    --------
    >>> import tempfile
    >>> cache = ResultCache(tempfile.mkdtemp())
    >>> _ = cache.put({"x": 1}, {"y": 2})
    >>> cache.get({"x": 1}), {"x": 1} in cache, cache.get({"x": 2})
    ({'y': 2}, True, None)
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache()

    def key(self, cell: dict) -> str:
        """The full key of ``cell``'s entry (cell, results version, entry format)."""
        return cell_key({"cell": cell, "results_version": RESULTS_VERSION, "format": ENTRY_FORMAT})

    def path(self, cell: dict) -> Path:
        key = self.key(cell)
        return self.root / key[:2] / f"{key}.json"

    def lock(self, cell: dict, *, blocking: bool = True):
        """A lock on ``cell`` (context manager): concurrent runs compute a cell once."""
        key = self.key(cell)
        return file_lock(self.root / "locks" / key[:2] / f"{key}.lock", blocking=blocking)

    def get(self, cell: dict):
        """The stored result of ``cell``, or ``None`` (missing, or unusable and moved aside)."""
        p = self.path(cell)
        try:
            raw = p.read_bytes()
        except FileNotFoundError:
            if not os.path.islink(p):
                return None
            quarantine(p, "a symbolic link to nothing", self.root)  # a dangling link
            return None
        except OSError as exc:  # a folder, a symbolic-link loop, an unreadable file
            quarantine(p, f"{type(exc).__name__}: {exc.strerror or exc}", self.root)
            return None
        try:
            entry = json.loads(raw.decode("utf-8"))
            if not isinstance(entry, dict):
                raise ValueError("not a JSON object")
            missing = {"key", "cell", "sha256", "result"} - set(entry)
            if missing:
                raise ValueError(f"no {', '.join(sorted(missing))}")
            if entry["key"] != p.stem:
                raise ValueError(f"it holds the key {str(entry['key'])[:16]}... of another entry")
            if _canonical(entry["cell"]) != _canonical(cell):
                raise ValueError("its stored cell is not the cell of its key")
            digest = hashlib.sha256(_canonical(entry["result"]).encode()).hexdigest()
            if digest != entry["sha256"]:
                raise ValueError("its result does not match its checksum")
        except (ValueError, UnicodeDecodeError) as exc:
            quarantine(p, f"{type(exc).__name__}: {exc}", self.root)
            return None
        return entry["result"]

    def put(self, cell: dict, result) -> Path:
        """Store ``result`` for ``cell`` (write to a temporary file, then rename)."""
        p = self.path(cell)
        result = json.loads(_canonical(result))  # what is stored is exactly what is served
        entry = {"key": p.stem, "cell": cell, "results_version": RESULTS_VERSION,
                 "sha256": hashlib.sha256(_canonical(result).encode()).hexdigest(),
                 "result": result}
        text = json.dumps(entry, sort_keys=True, default=_jsonable)
        with atomic_write(p) as tmp:
            tmp.write_text(text, encoding="utf-8")
        return p

    def __contains__(self, cell: dict) -> bool:
        return self.path(cell).exists()


class GridError(RuntimeError):
    """Some cells of a grid failed (raised after every cell has run; ``.report`` has the rest)."""

    def __init__(self, message: str, report: GridReport):
        super().__init__(message)
        self.report = report


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


def _call(fn: Callable, cell: dict, cache_root: str | None = None):
    try:
        with use_cache_dir(cache_root):  # a Dask worker reads and writes the run's cache
            return True, fn(cell)
    except Exception:  # noqa: BLE001 - reported per cell; the grid goes on
        return False, traceback.format_exc()


def _keyed(cell: dict, memo: dict) -> dict:
    """The cell as it is keyed in the cache: with fingerprints of the dataset files and of the
    score maps (``maps_dir``) it reads."""
    extra = {}
    root, dataset, maps = cell.get("data_root"), cell.get("dataset"), cell.get("maps_dir")
    if root is not None and dataset is not None and not str(dataset).startswith("embedded-"):
        group = ("data", str(dataset), str(root), str(cell.get("category")))
        if group not in memo:
            from topotta_lite.data.loaders import dataset_fingerprint

            try:
                memo[group] = dataset_fingerprint(dataset, root, cell.get("category"))
            except (OSError, ValueError) as exc:  # the cell will fail with the loader's error
                memo[group] = f"unreadable: {type(exc).__name__}"
        extra["_data_fingerprint"] = memo[group]
    if maps is not None:
        group = ("maps", str(maps), str(cell.get("category")))
        if group not in memo:
            from topotta_lite.experiments.bundles import maps_fingerprint

            memo[group] = maps_fingerprint(maps, str(cell.get("category")))
        extra["_maps_fingerprint"] = memo[group]
    return {**cell, **extra} if extra else cell


def run_grid(cells: Iterable[dict], fn: Callable[[dict], object], *, cache: ResultCache | None = None,
             executor: str | None = None, scheduler=None, progress: bool = True,
             desc: str = "cells", strict: bool = True) -> GridReport:
    """Compute ``fn(cell)`` for every cell not already in ``cache``; return all results in order.

    Parameters
    ----------
    cells : iterable of dict
        JSON-able parameters, one dict per cell.
    fn : callable
        Computes one cell's JSON-able result. Must be importable (a module-level function) to run on
        Dask workers.
    cache : ResultCache, optional
        Defaults to :func:`default_cache`. Its folder is also the cache of the cells' own
        computations (score bundles), here and on Dask workers.
    executor : {"local", "dask"}, optional
        Default: ``$TOPOTTA_EXECUTOR`` or ``"local"`` (``topotta-lite reproduce --executor dask
        --scheduler ADDRESS`` sets both variables for the notebooks it runs). ``"local"`` runs
        cells one after the other in this process, taking a lock per cell so that a concurrent
        run on the same cache never computes the same cell. ``"dask"`` submits them to the
        Dask scheduler at ``scheduler`` (an address such as ``"tcp://10.0.0.5:8786"``, or a
        ``distributed.Client``; default ``$TOPOTTA_SCHEDULER``); results are written to the cache
        here as they arrive.
    progress : bool
        Show a tqdm progress bar.
    strict : bool
        Raise :class:`GridError` (naming the first failure) once every cell has run, if any
        failed. ``False``: return the report with ``failures`` filled in.

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
    cache_root = str(Path(cache.root).absolute())
    executor = executor or env("TOPOTTA_EXECUTOR") or "local"
    scheduler = scheduler or env("TOPOTTA_SCHEDULER")
    if executor not in ("local", "dask"):
        raise ValueError(f"unknown executor {executor!r}; use 'local' or 'dask'")
    report = GridReport(cells, [None] * len(cells))
    memo: dict = {}
    keyed = [_keyed(c, memo) for c in cells]
    todo = []
    for i in range(len(cells)):
        hit = cache.get(keyed[i])
        if hit is None:
            todo.append(i)
        else:
            report.results[i] = hit
            report.cached += 1

    def record(i, ok, value, computed=True):
        if ok:
            if computed:
                cache.put(keyed[i], value)
                report.computed += 1
            else:
                report.cached += 1
            report.results[i] = value
        else:
            report.failures[i] = value

    bar = tqdm(total=len(todo), desc=desc, disable=not progress or not todo)
    def compute(i):  # under the cell's lock: a concurrent run may have finished it meanwhile
        hit = cache.get(keyed[i])
        if hit is not None:
            record(i, True, hit, computed=False)
        else:
            record(i, *_call(fn, cells[i], cache_root))
        bar.update()

    if executor == "local":
        pending = list(todo)
        while pending:
            busy = []
            for i in pending:
                try:
                    lock = cache.lock(keyed[i], blocking=False)
                    lock.__enter__()
                except LockBusy:  # another run computes it: do the others first
                    busy.append(i)
                    continue
                try:
                    compute(i)
                finally:
                    lock.__exit__(None, None, None)
            if busy and len(busy) == len(pending):  # every remaining cell is busy: wait for one
                i = busy.pop(0)
                with cache.lock(keyed[i]):
                    compute(i)
            pending = busy
    else:
        if scheduler is None:
            raise ValueError("executor='dask' needs scheduler= (an address or a distributed.Client)")
        from distributed import Client, as_completed

        client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
        try:
            futures = {client.submit(_call, fn, cells[i], cache_root, pure=False): i for i in todo}
            for fut in as_completed(futures):
                record(futures[fut], *fut.result())
                bar.update()
        finally:
            if client is not scheduler:
                client.close()
    bar.close()
    for i, tb in report.failures.items():
        last = tb.strip().splitlines()[-1]
        print(f"cell {i} failed: {last}  (parameters: {json.dumps(cells[i], sort_keys=True)})")
    if strict and report.failures:
        first = min(report.failures)
        last = report.failures[first].strip().splitlines()[-1]
        raise GridError(f"{len(report.failures)} of {len(cells)} cell(s) failed ({desc}); the first: "
                        f"{last}  (parameters: {json.dumps(cells[first], sort_keys=True)}); the "
                        "finished cells are cached, a re-run retries only the failures", report)
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
