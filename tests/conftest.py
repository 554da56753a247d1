"""Suite-wide set-up: numba's kernels are compiled once, before parallel workers start.

With ``pytest -n N`` (what ``make test`` runs) every worker, and every notebook kernel a test
starts, would otherwise compile the same numba kernels side by side on a fresh checkout. The
controller fills numba's cache first, the two kernel families in two processes at once
(:mod:`topotta_lite.compile`); the workers then load the compiled code. A plain ``pytest`` in
one process compiles on demand, as before.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys

import pytest

from topotta_lite.compile import FAMILIES


def _parallel_controller(config) -> bool:
    """True in the process that starts xdist workers (not in a worker, not without xdist)."""
    if hasattr(config, "workerinput"):
        return False
    n = getattr(config.option, "numprocesses", None)
    return bool(n) and getattr(config.option, "dist", "no") != "no"


def pytest_configure(config):
    if not _parallel_controller(config):
        return
    procs = [subprocess.Popen([sys.executable, "-m", "topotta_lite.compile", family],
                              env=os.environ.copy(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
             for family in FAMILIES]
    for family, proc in zip(FAMILIES, procs):
        out, _ = proc.communicate()
        if proc.returncode != 0:  # the tests that call these kernels will show the error
            config.issue_config_time_warning(pytest.PytestWarning(
                f"compiling the {family} kernels failed:\n{out[-2000:]}"), stacklevel=2)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``long`` (each runs notebooks or several processes: tens of seconds) run
    first. ``pytest -n N`` hands each worker a contiguous share of this list and lets an idle
    worker take tests from the end of another's share; a long test collected late could start
    last and run alone while the other workers wait (the sort is stable: the order is otherwise
    the collection order)."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture(scope="session")
def made_once(tmp_path_factory, request):
    """``made_once(name, make)``: a folder that ``make(folder)`` filled once for the whole run.

    Under xdist the first worker that asks makes it (the others wait on a lock and reuse it), so
    an expensive read-only fixture, such as a notebook run rendered as a site, is not computed
    again by every worker that happens to run one of its tests. ``make`` must only write inside
    the folder; the tests must not change it.
    """
    shared = hasattr(request.config, "workerinput")  # an xdist worker
    root = tmp_path_factory.getbasetemp().parent  # under xdist: this run's workers only

    def get(name, make):
        if not shared:  # one process: an ordinary session-wide folder
            folder = tmp_path_factory.mktemp(name)
            make(folder)
            return folder
        folder = root / name
        with open(root / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
            if not (root / f"{name}.done").exists():
                if (root / f"{name}.started").exists():  # ours: a worker failed midway, again
                    shutil.rmtree(folder, ignore_errors=True)
                (root / f"{name}.started").touch()
                folder.mkdir()  # fails if something else already holds the name
                make(folder)
                (root / f"{name}.done").touch()
        return folder

    return get
