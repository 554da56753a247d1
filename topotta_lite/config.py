"""Where things live: the one module that reads paths and ``TOPOTTA_*`` environment variables.

=====================  ==========================================  =================================
variable               meaning                                     default
=====================  ==========================================  =================================
``TOPOTTA_FIGURES``    where figures and tables are written        ``<repo>/figures``
``TOPOTTA_CACHE``      experiment result cache and score bundles   ``<repo>/build/cache``
``TOPOTTA_DATA``       cache of the generated embedded benchmark   ``<repo>/data/cache``
``TOPOTTA_WEIGHTS``    a local checkpoint file for DINO backbones  (none)
``TOPOTTA_RUN_LOG``    file the batch runner reads outputs from    (none: nothing is logged)
``TOPOTTA_EXECUTOR``   ``local`` or ``dask`` for experiment grids  ``local``
``TOPOTTA_SCHEDULER``  Dask scheduler address                      (none)
=====================  ==========================================  =================================

``<repo>`` is the checkout holding ``pyproject.toml`` when the package is installed in editable mode,
else the working directory. The paper's tables ship inside the package (:func:`paper_tables_dir`), so
a wheel install finds them too.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = [
    "cache_dir",
    "data_cache_dir",
    "env",
    "figures_dir",
    "paper_tables_dir",
    "repo_root",
    "tables_dir",
]

ENV_VARS = ("TOPOTTA_FIGURES", "TOPOTTA_CACHE", "TOPOTTA_DATA", "TOPOTTA_WEIGHTS", "TOPOTTA_RUN_LOG",
            "TOPOTTA_EXECUTOR", "TOPOTTA_SCHEDULER")


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


def cache_dir() -> Path:
    """``$TOPOTTA_CACHE`` or ``<repo>/build/cache``: experiment results and score bundles."""
    return Path(env("TOPOTTA_CACHE") or repo_root() / "build" / "cache")


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
