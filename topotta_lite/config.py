"""Where things live: the one module that reads paths and ``TOPOTTA_*`` environment variables.

=====================  ==========================================  =================================
variable               meaning                                     default
=====================  ==========================================  =================================
``TOPOTTA_FIGURES``    where figures and tables are written        ``<repo>/figures``
``TOPOTTA_CACHE``      experiment result cache and score bundles   ``<repo>/build/cache``
``TOPOTTA_DATA``       cache of the generated embedded benchmark   ``<repo>/data/cache``
``TOPOTTA_WEIGHTS``    a local checkpoint file for DINO backbones  (none)
``TOPOTTA_RUN_LOG``    file the batch runner reads outputs from    (none: nothing is logged)
``TOPOTTA_STAGE``      where a running notebook's outputs are      (none: see :func:`output_dir`)
                       staged until it succeeds (set by the runner)
``TOPOTTA_EXECUTOR``   ``local`` or ``dask`` for experiment grids  ``local``
``TOPOTTA_SCHEDULER``  Dask scheduler address                      (none)
=====================  ==========================================  =================================

Threads: results are computed with a fixed number of BLAS / OpenMP / torch threads (one), set by
:func:`pin_threads` in each notebook's import cell (and by ``topotta-lite reproduce`` in the
kernels' environment, :data:`THREAD_VARIABLES`). A sum computed by two threads adds its terms in
another order than one thread does, so its last bits, and a training run that starts from them,
depend on the thread count; with the count fixed, they do not depend on the machine's cores.
Parallelism comes from processes instead (``topotta-lite reproduce --jobs N``).

Memory: by default glibc's ``malloc`` maps large blocks afresh and hands freed memory back to the
system early, so a process that allocates and frees arrays of a few megabytes per image (feature
maps, embeddings, encoder activations) takes page faults on fresh pages again and again. The
notebook kernels of ``topotta-lite reproduce`` (and the grid workers they start) get
:data:`MALLOC_TUNABLES` instead (``GLIBC_TUNABLES``, read at a process's start; a value the user
set is kept; no effect outside glibc). It changes where arrays live, not what is computed. To give
it to a notebook opened in JupyterLab, start JupyterLab with ``GLIBC_TUNABLES`` set to the same
value.

``<repo>`` is the checkout holding ``pyproject.toml`` when the package is installed in editable mode,
else the working directory. The paper's tables ship inside the package (:func:`paper_tables_dir`), so
a wheel install finds them too.

Reading and writing are kept apart: :func:`figures_dir` is where results are *read* (the
committed ``figures/``, or ``$TOPOTTA_FIGURES``), :func:`output_dir` where a notebook *writes*
them. Under ``topotta-lite reproduce`` the two differ (outputs are staged and published only when
the notebook succeeds); in an interactive session without ``$TOPOTTA_FIGURES``, outputs go to
``<repo>/build/scratch/figures`` so that ``figures/`` only ever holds what a profile run made.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib import resources
from pathlib import Path

__all__ = [
    "set_env",
    "cache_dir",
    "data_cache_dir",
    "env",
    "figures_dir",
    "MALLOC_TUNABLES",
    "output_dir",
    "paper_tables_dir",
    "pin_threads",
    "repo_root",
    "scratch_dir",
    "tables_dir",
    "use_cache_dir",
]

ENV_VARS = ("TOPOTTA_FIGURES", "TOPOTTA_CACHE", "TOPOTTA_DATA", "TOPOTTA_WEIGHTS", "TOPOTTA_RUN_LOG",
            "TOPOTTA_EXECUTOR", "TOPOTTA_SCHEDULER", "TOPOTTA_STAGE")

_CACHE_OVERRIDE: ContextVar[str | None] = ContextVar("topotta_cache_dir", default=None)


def env(name: str) -> str | None:
    """The value of one of :data:`ENV_VARS` (``None`` when unset or empty).

    Examples
    --------
    >>> env("TOPOTTA_NOT_A_VARIABLE")
    Traceback (most recent call last):
    ...
    KeyError: "unknown setting 'TOPOTTA_NOT_A_VARIABLE'"
    """
    if name not in ENV_VARS:
        raise KeyError(f"unknown setting {name!r}")
    return os.environ.get(name) or None


def set_env(name: str, value: str | None) -> None:
    """Set one of :data:`ENV_VARS` for this process and its children (``None``: unset it).

    Examples
    --------
    >>> set_env("TOPOTTA_STAGE", "demo"); env("TOPOTTA_STAGE")
    'demo'
    >>> set_env("TOPOTTA_STAGE", None); env("TOPOTTA_STAGE") is None
    True
    """
    if name not in ENV_VARS:
        raise KeyError(f"unknown setting {name!r}")
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = str(value)


def repo_root() -> Path:
    """The checkout holding ``pyproject.toml`` above this package, or the working directory."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def figures_dir() -> Path:
    """Where figures go: ``$TOPOTTA_FIGURES`` if set, else ``<repo>/figures`` (created on demand).

    Examples
    --------
    >>> figures_dir().is_dir()
    True
    """
    path = Path(env("TOPOTTA_FIGURES") or repo_root() / "figures")
    path.mkdir(parents=True, exist_ok=True)
    return path


def tables_dir() -> Path:
    """``figures_dir() / "tables"``, created on demand."""
    path = figures_dir() / "tables"
    path.mkdir(parents=True, exist_ok=True)
    return path


def output_dir() -> Path:
    """Where notebooks *write* figures: ``$TOPOTTA_STAGE`` (set by the batch runner), else
    ``$TOPOTTA_FIGURES``, else ``<repo>/build/scratch/figures`` (created on demand).

    ``figures/`` itself is written only by ``topotta-lite reproduce`` with a profile's
    parameters, which publishes a notebook's staged outputs once the notebook has succeeded.

    Examples
    --------
    >>> output_dir().is_dir()
    True
    """
    path = Path(env("TOPOTTA_STAGE") or env("TOPOTTA_FIGURES") or scratch_dir() / "figures")
    path.mkdir(parents=True, exist_ok=True)
    return path


def scratch_dir() -> Path:
    """``<repo>/build/scratch``: outputs of runs whose parameters are not a profile's.

    Examples
    --------
    >>> scratch_dir().name
    'scratch'
    """
    return repo_root() / "build" / "scratch"


def cache_dir() -> Path:
    """The experiment cache: the folder set by :func:`use_cache_dir` (Dask workers get the run's
    folder this way), else ``$TOPOTTA_CACHE``, else ``<repo>/build/cache``.

    Examples
    --------
    >>> with use_cache_dir("/tmp/run-cache"):
    ...     print(cache_dir())
    /tmp/run-cache
    """
    override = _CACHE_OVERRIDE.get()
    if override:
        return Path(override)
    return Path(env("TOPOTTA_CACHE") or repo_root() / "build" / "cache")


@contextmanager
def use_cache_dir(path: str | os.PathLike | None) -> Iterator[None]:
    """Within this block (this thread or task only), :func:`cache_dir` is ``path``.

    :func:`topotta_lite.experiments.grid.run_grid` wraps every cell it sends to a Dask worker in
    it, so that a worker reads and writes the run's cache, not one of its own.
    """
    token = _CACHE_OVERRIDE.set(None if path is None else str(path))
    try:
        yield
    finally:
        _CACHE_OVERRIDE.reset(token)


def data_cache_dir(root: str | os.PathLike | None = None) -> Path:
    """Cache of the generated embedded benchmark: ``root``, else ``$TOPOTTA_DATA``, else
    ``<repo>/data/cache``.

    Examples
    --------
    >>> data_cache_dir("/tmp/x").name
    'x'
    """
    if root is not None:
        return Path(root)
    if env("TOPOTTA_DATA"):
        return Path(env("TOPOTTA_DATA"))
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").exists():
        return here / "data" / "cache"
    return Path.home() / ".cache" / "topotta-lite"


def paper_tables_dir() -> Path:
    """The folder of the paper's tables (CSV), shipped as package data.

    Examples
    --------
    >>> (paper_tables_dir() / "table1_main.csv").is_file()
    True
    """
    return Path(str(resources.files("topotta_lite.experiments") / "paper"))


MALLOC_TUNABLES = ("glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=33554432:"
                   "glibc.malloc.trim_threshold=1073741824")
"""``GLIBC_TUNABLES`` for the processes that compute results: blocks up to 32 MiB come from the
heap (not a fresh ``mmap`` each), up to 1 GiB of freed heap stays in the process for the next
image, and the heap may use transparent huge pages (the README's timing section gives what it
saves)."""

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS")
"""Environment variables that fix the thread count of libraries loaded later (read at their
start): OpenMP, MKL, OpenBLAS, numexpr, Apple's Accelerate, numba."""


def pin_threads(n: int = 1) -> dict[str, int]:
    """Compute with ``n`` threads in BLAS, OpenMP and torch, whatever the machine's core count.

    Call it once, at the top of a notebook or script, before computing results. It sets
    :data:`THREAD_VARIABLES` (for libraries loaded later, and for child processes), limits every
    BLAS / OpenMP library already loaded (``threadpoolctl``), and sets torch's intra-op threads
    (and its inter-op threads, where torch still allows it). With one thread, a reduction adds
    its terms in one fixed order, so a table does not depend on ``OMP_NUM_THREADS`` or on the
    number of cores (``tests/test_reliability.py`` runs an experiment under three thread
    counts). Parallel work comes from processes (``topotta-lite reproduce --jobs N``).

    Parameters
    ----------
    n : int
        Threads per library (default 1, what every result of this project is computed with).

    Returns
    -------
    dict
        The thread count each kind of library now uses (``"torch"``, and one entry per library
        ``threadpoolctl`` found, e.g. ``"blas"``, ``"openmp"``).

    Raises
    ------
    ValueError
        If ``n`` is not a positive integer.

    Examples
    --------
    >>> pin_threads(1)["torch"]
    1
    >>> os.environ["OMP_NUM_THREADS"]
    '1'
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"pin_threads: n must be a positive integer, got {n!r}")
    for var in THREAD_VARIABLES:
        os.environ[var] = str(n)
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    controller.limit(limits=n)  # stays in force: the returned object is not used as a context
    import torch

    torch.set_num_threads(n)
    try:
        torch.set_num_interop_threads(n)
    except RuntimeError:  # torch allows it once, before any parallel work: already done
        pass
    out = {"torch": torch.get_num_threads()}
    for info in ThreadpoolController().info():
        out[info["user_api"]] = max(out.get(info["user_api"], 0), info["num_threads"])
    return out
