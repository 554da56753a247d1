"""Experiment grids on local worker processes: every core of the machine, one thread each.

A notebook's grid (:func:`topotta_lite.experiments.grid.run_grid`) computes its cells one after
the other in the notebook's own process. :func:`use_workers` starts ``n`` local worker processes
(a Dask ``LocalCluster``, one thread per worker: the parallelism comes from processes, so every
cell computes with the same single-threaded numerics wherever it runs) and points every grid of
this process at them through ``$TOPOTTA_EXECUTOR`` / ``$TOPOTTA_SCHEDULER``; the workers read and
write the run's cache folder. :func:`prepare_bundles` then builds the score bundles a grid needs
on the workers first, each bundle once, the scorers of one class in the same worker (they share
the backbone's features), so that no worker waits for another's bundle.

Nothing changes when ``n <= 1`` (``-p workers 1``), or when the grids already go to a Dask
cluster of the caller's (``topotta-lite reproduce --executor dask --scheduler ...``): the notebook
runs as before.

Examples
--------
>>> use_workers(1) is None   # one process: the grids run in this one, as before
True
"""

from __future__ import annotations

import atexit
import logging
from collections.abc import Iterable

from topotta_lite.config import env, set_env

__all__ = ["WorkerPool", "available_memory", "bundle_specs", "prepare_bundles", "use_workers",
           "workers_that_fit"]

_BUNDLE_KEYS = ("dataset", "category", "scorer", "backbone", "feature_backbone", "size", "seed",
                "data_root", "maps_dir")


class WorkerPool:
    """Local worker processes serving this process's experiment grids until :meth:`close`."""

    def __init__(self, n: int):
        from distributed import Client, LocalCluster

        self.n = int(n)
        # one thread per worker (the nanny also sets OMP/MKL/OpenBLAS to one thread before the
        # worker starts), no dashboard, no log lines in the notebook
        self.cluster = LocalCluster(n_workers=self.n, threads_per_worker=1, processes=True,
                                    dashboard_address=None, silence_logs=logging.ERROR)
        self.client = Client(self.cluster)
        self._saved = {k: env(k) for k in ("TOPOTTA_EXECUTOR", "TOPOTTA_SCHEDULER")}
        set_env("TOPOTTA_EXECUTOR", "dask")
        set_env("TOPOTTA_SCHEDULER", self.cluster.scheduler_address)
        atexit.register(self.close)

    def close(self) -> None:
        """Stop the workers; the grids of this process run in it again."""
        if self.client is None:
            return
        for k, v in self._saved.items():
            set_env(k, v)
        self.client.close()
        self.cluster.close()
        self.client = None

    def __enter__(self) -> WorkerPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"WorkerPool({self.n} processes, one thread each)"


def use_workers(n: int | None) -> WorkerPool | None:
    """Start ``n`` local worker processes for this process's grids, or do nothing (``None``).

    Nothing is started when ``n`` is None or below 2, or when the grids already go to a Dask
    cluster of the caller's (``$TOPOTTA_EXECUTOR`` is ``dask``, as ``topotta-lite reproduce
    --executor dask`` sets it). The workers stop when the process exits (or at
    :meth:`WorkerPool.close`).
    """
    from topotta_lite.config import env

    if n is None or int(n) < 2 or env("TOPOTTA_EXECUTOR") == "dask":
        return None
    return WorkerPool(int(n))


def bundle_specs(cells: Iterable[dict]) -> list[dict]:
    """The distinct score bundles a list of experiment cells reads, as keyword dicts.

    Examples
    --------
    >>> cells = [{"dataset": "d", "category": "a", "scorer": "padim", "operator": op}
    ...          for op in ("thr", "topotta")]
    >>> bundle_specs(cells)
    [{'dataset': 'd', 'category': 'a', 'scorer': 'padim'}]
    """
    out, seen = [], set()
    for c in cells:
        spec = {k: c[k] for k in _BUNDLE_KEYS if c.get(k) is not None}
        key = tuple(sorted((k, str(v)) for k, v in spec.items()))
        if key not in seen:
            seen.add(key)
            out.append(spec)
    return out


def _build(specs: list[dict], cache_root: str) -> int:
    """Build bundles one after the other in this worker (the scorers of one class: the
    backbone's features of its images are then computed once)."""
    from topotta_lite.config import use_cache_dir
    from topotta_lite.experiments.bundles import score_bundle

    with use_cache_dir(cache_root):
        for spec in specs:
            spec = dict(spec)
            score_bundle(spec.pop("dataset"), spec.pop("category"), spec.pop("scorer"),
                         spec.pop("backbone", None), **spec)
    return len(specs)


def prepare_bundles(cells: Iterable[dict]) -> int:
    """Build the score bundles of ``cells`` on the workers, in parallel, before the grid runs.

    Without workers (no :func:`use_workers`) this does nothing: the grid builds each bundle when
    its first cell needs it. Returns the number of bundles the workers built (those already in
    the cache are not read).
    """
    from topotta_lite.config import cache_dir, env

    if env("TOPOTTA_EXECUTOR") != "dask" or not env("TOPOTTA_SCHEDULER"):
        return 0
    from distributed import Client

    from topotta_lite.experiments.bundles import bundle_path

    def missing(spec: dict) -> bool:
        s = dict(spec)
        return not bundle_path(s.pop("dataset"), s.pop("category"), s.pop("scorer"),
                               s.pop("backbone", None), **s).exists()

    specs = [s for s in bundle_specs(cells) if missing(s)]
    if not specs:
        return 0
    groups: dict[tuple, list[dict]] = {}  # one task per class: its scorers share the features
    for s in specs:
        groups.setdefault(tuple(sorted((k, str(v)) for k, v in s.items() if k != "scorer")),
                          []).append(s)
    root = str(cache_dir().absolute())
    with Client(env("TOPOTTA_SCHEDULER")) as client:
        client.gather([client.submit(_build, g, root, pure=False) for g in groups.values()])
    return len(specs)


def available_memory() -> int | None:
    """Bytes of memory available to new processes (``MemAvailable``, Linux), else ``None``.

    Examples
    --------
    >>> m = available_memory()
    >>> m is None or m > 0
    True
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def workers_that_fit(n: int, need: int | None, *, what: str, instead: str,
                     available: int | None = None) -> int:
    """How many processes (at most ``n``, at least one) fit in the available memory, each
    needing ``need`` bytes beside this process (which needs as much).

    Raises
    ------
    MemoryError
        When not even this process alone fits: the message names ``what`` needs the memory and
        the run to start ``instead``.

    Examples
    --------
    >>> workers_that_fit(2, 3 * 2**30, what="x", instead="y", available=8 * 2**30)
    1
    >>> workers_that_fit(2, 2**30, what="x", instead="y", available=8 * 2**30)
    2
    >>> workers_that_fit(2, 6 * 2**30, what="07", instead="a smaller run", available=4 * 2**30)
    Traceback (most recent call last):
    ...
    MemoryError: 07 needs about 6.4 GB of free memory, and 4.3 GB are available: run a smaller run instead
    """
    n = max(int(n or 1), 1)
    avail = available_memory() if available is None else available
    if need is None or avail is None:
        return n
    if need > avail:
        raise MemoryError(f"{what} needs about {need / 1e9:.1f} GB of free memory, and "
                          f"{avail / 1e9:.1f} GB are available: run {instead} instead")
    # the notebook's own process keeps its share; each worker builds bundles of its own
    fit = int(avail // need) - 1 if n > 1 else 1
    return max(1, min(n, fit))
