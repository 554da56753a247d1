"""Running one notebook: a Jupyter kernel of its own, its environment, retries and interrupts.

* :func:`execute_notebook` converts a jupytext source, runs it with papermill and returns a
  :class:`RunResult` (the files it staged, its error, cell and traceback). It publishes nothing.
* Each kernel gets its environment and working folder from its own kernel manager (never from
  ``os.environ`` or ``os.chdir``), so several notebooks can run at once, one per thread of the
  runner and one kernel process each. The environment pins the BLAS / OpenMP threads to one
  (:data:`topotta_lite.config.THREAD_VARIABLES`): parallelism comes from processes.
* Kernels talk to the runner over IPC (Unix sockets in a private folder), not TCP: no port can be
  taken by another run between choosing and binding it, and the kernel has no reason to warn
  that it runs over TCP without encryption.
* A kernel that dies before its first reply (no cell has run) is started again, at most
  :data:`KERNEL_START_ATTEMPTS` times; anything else is reported, never retried.
* Ctrl-C or SIGTERM: :class:`Interrupts` turns SIGTERM into ``KeyboardInterrupt``;
  :func:`kill_kernels` ends every kernel this process started.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from topotta_lite.config import MALLOC_TUNABLES, THREAD_VARIABLES
from topotta_lite.safe_io import atomic_write, process_alive

__all__ = [
    "KERNEL_START_ATTEMPTS",
    "Interrupts",
    "RunResult",
    "execute_notebook",
    "kernel_environment",
    "kill_kernels",
    "read_run_log",
]

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


@dataclass
class RunResult:
    """What happened to one notebook.

    ``files`` are the published files (empty unless ``ok``); ``discarded`` the files a failed run
    had staged and that were thrown away; ``output`` the executed copy (with any traceback);
    ``warnings`` what the notebook's code asked the runner to tell the user (e.g. cache entries
    moved aside); ``kept`` the published files left as they were because the fresh ones agreed
    with them within the tolerance; ``publish_error`` why a notebook that ran could not publish.
    """

    notebook: str
    ok: bool
    seconds: float
    output: Path
    error: str = ""
    files: list[str] = field(default_factory=list)
    cell: int | None = None
    traceback: str = ""
    discarded: list[str] = field(default_factory=list)
    kernel_restarts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    staged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    publish_error: str = ""


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def describe_failure(exc: BaseException) -> tuple[str, int | None, str]:
    """``(type: message, cell, traceback text)`` of a papermill failure, colours removed."""
    if hasattr(exc, "ename"):  # papermill's PapermillExecutionError: the cell's own exception
        tb = _ANSI.sub("", "\n".join(getattr(exc, "traceback", []) or []))
        message = str(exc.evalue or "").strip()
        if not message:  # e.g. a bare StopIteration: say where it was raised
            frames = [ln.strip() for ln in tb.splitlines() if ln.strip().startswith("---->")]
            message = f"raised at: {frames[-1][5:].strip()}" if frames else "(no message)"
        return f"{exc.ename}: {message}", getattr(exc, "exec_count", None), tb
    return f"{type(exc).__name__}: {exc}", None, ""


def kernel_environment(extra: dict[str, str | None] | None = None) -> dict[str, str]:
    """The environment of a notebook's kernel: this process's, one thread per BLAS / OpenMP
    library, glibc's allocator tuned (:data:`~topotta_lite.config.MALLOC_TUNABLES`, unless
    ``GLIBC_TUNABLES`` is already set), then ``extra`` (``None`` removes a variable).

    >>> env = kernel_environment({"TOPOTTA_STAGE": "/tmp/stage"})
    >>> env["OMP_NUM_THREADS"], env["TOPOTTA_STAGE"]
    ('1', '/tmp/stage')
    """
    env = dict(os.environ)
    env.update({var: "1" for var in THREAD_VARIABLES})
    env.setdefault("GLIBC_TUNABLES", MALLOC_TUNABLES)
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


# --------------------------------------------------------------------------------------------
# Kernels: started with their own environment, over IPC, and killed on an interrupt
# --------------------------------------------------------------------------------------------
_KERNELS: list = []  # kernel managers started by this process (list.append is thread-safe)


def _kernel_manager_class(env: dict[str, str], cwd: str, ipc_dir: str):
    """A kernel manager that starts its kernel with ``env`` in ``cwd``, talks to it over IPC
    sockets in ``ipc_dir``, and registers itself so that an interrupted run can kill it."""
    from jupyter_client.manager import AsyncKernelManager

    class RunnerKernelManager(AsyncKernelManager):
        def __init__(self, *args, **kwargs):
            # a kernel that ends normally is not interrupted (SIGINT) while it shuts down, even
            # when a busy machine makes that slow (it printed "KeyboardInterrupt caught")
            kwargs.setdefault("shutdown_wait_time", 60.0)
            kwargs.setdefault("transport", "ipc")
            kwargs.setdefault("ip", os.path.join(ipc_dir, "k"))
            super().__init__(*args, **kwargs)
            _KERNELS.append(self)

        async def _async_pre_start_kernel(self, **kw):
            kw["env"] = dict(env)
            kw["cwd"] = cwd
            return await super()._async_pre_start_kernel(**kw)

    return RunnerKernelManager


def kill_kernels() -> None:
    """Kill (SIGKILL) every kernel this process started and that still runs."""
    while _KERNELS:
        try:
            km = _KERNELS.pop()
        except IndexError:  # pragma: no cover - emptied by another thread
            return
        pid = getattr(getattr(km, "provisioner", None), "pid", None)
        if pid and process_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:  # pragma: no cover - it ended meanwhile
                pass


def _forget_kernels(ipc_dir: str) -> None:
    """Drop the finished kernels of one notebook from the registry."""
    prefix = os.path.join(ipc_dir, "k")
    for km in list(_KERNELS):
        if getattr(km, "ip", None) == prefix:
            try:
                _KERNELS.remove(km)
            except ValueError:  # pragma: no cover
                pass


def _in_thread(fn):
    """Run ``fn`` in a worker thread while this (main) thread waits, interruptible.

    papermill's notebook client installs its own SIGINT / SIGTERM handlers in the main thread,
    which swallow Ctrl-C (the run went on to the next notebook). In a worker thread it cannot; a
    KeyboardInterrupt here kills the kernels and propagates at once (the worker is a daemon
    thread, which ends with the kernel or with the process).
    """
    if threading.current_thread() is not threading.main_thread():
        return fn()
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            box["error"] = exc

    worker = threading.Thread(target=target, name=f"papermill-{secrets.token_hex(3)}",
                              daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        kill_kernels()
        worker.join(5)
        raise
    if "error" in box:
        raise box["error"]
    return box.get("value")


class Interrupts:
    """SIGTERM raises KeyboardInterrupt like Ctrl-C (main thread only); ``deferred()`` holds both
    back while published files and the manifest are being updated."""

    def __init__(self):
        self.pending = False
        self.active = threading.current_thread() is threading.main_thread()

    def __enter__(self):
        if self.active:
            self.old_term = signal.signal(signal.SIGTERM, self._raise)
        return self

    def __exit__(self, *exc):
        if self.active:
            signal.signal(signal.SIGTERM, self.old_term)

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    @contextmanager
    def deferred(self):
        if not self.active:
            yield
            return

        def hold(signum, frame):
            self.pending = True

        old = signal.signal(signal.SIGINT, hold), signal.signal(signal.SIGTERM, hold)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, old[0])
            signal.signal(signal.SIGTERM, old[1])
        if self.pending:
            raise KeyboardInterrupt("interrupted while publishing (finished first)")


# A kernel can die before its first reply (over TCP, when two runs start kernels at the same
# moment: jupyter_client picks free ports by opening and closing them, and the other run's kernel
# can take one in between; IPC sockets in a private folder cannot race, but a kernel can still
# fail to start). No cell has run then, so starting the notebook again is safe; anything else (a
# cell's error, a kernel that dies mid-run) is not retried.
KERNEL_START_ATTEMPTS = 3
_KERNEL_START_ERRORS = ("Kernel died before replying to kernel_info", "Kernel didn't respond in")


def _kernel_start_failed(exc: BaseException, executed: Path) -> bool:
    """True when ``exc`` says the kernel never answered and ``executed`` shows no cell ran."""
    if not (isinstance(exc, RuntimeError) and str(exc).startswith(_KERNEL_START_ERRORS)):
        return False
    if not executed.exists():
        return True
    nb = json.loads(executed.read_text(encoding="utf-8"))
    return not any(c.get("execution_count") or c.get("outputs") for c in nb.get("cells", []))


def read_run_log(log: Path) -> tuple[list[str], list[str]]:
    """The files a notebook wrote (in order, once each) and the warnings it asked the runner to
    show, from its run log (JSON lines written by :mod:`topotta_lite.outputs` and the caches).

    >>> import tempfile
    >>> log = Path(tempfile.mkdtemp()) / "log.jsonl"
    >>> _ = log.write_text('{"path": "/a.png", "kind": "figure"}\\n{"kind": "warning", '
    ...                    '"message": "cache entry x is unusable"}\\n{"path": "/a.png"}\\n')
    >>> read_run_log(log)
    (['/a.png'], ['cache entry x is unusable'])
    """
    files, warnings = [], []
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut by a killed kernel
            if not isinstance(record, dict):
                continue
            if record.get("kind") == "warning":
                warnings.append(str(record.get("message", "")))
            elif "path" in record:
                files.append(str(record["path"]))
    return list(dict.fromkeys(files)), list(dict.fromkeys(warnings))


def execute_notebook(source: Path, params: dict, build: Path, kernel: str = "python3", *,
                     stage: Path | None = None, work: Path | None = None,
                     extra_env: dict[str, str] | None = None) -> RunResult:
    """Convert one jupytext source, run it with papermill, and collect the files it staged.

    The kernel writes its outputs into ``stage`` (``$TOPOTTA_STAGE``) and lists them in a log of
    its own in ``work`` (so concurrent runs never share one); the executed copy lands in
    ``build/<stem>.ipynb``. The kernel's environment is :func:`kernel_environment` with
    ``extra_env``; it runs in the notebook's folder. Nothing is published here (see
    :mod:`topotta_lite.cli.publishing`). Safe to call from several threads at once.
    """
    import jupytext
    import papermill as pm

    build = Path(build).absolute()
    build.mkdir(parents=True, exist_ok=True)
    work = Path(work or build / ".runs" / f"{os.getpid()}-{secrets.token_hex(4)}").absolute()
    work.mkdir(parents=True, exist_ok=True)
    stage = Path(stage or work / source.stem / "figures").absolute()
    stage.mkdir(parents=True, exist_ok=True)
    nb_in = work / f"{source.stem}.input.ipynb"
    nb_run = work / f"{source.stem}.ipynb"
    nb_out = build / f"{source.stem}.ipynb"
    jupytext.write(jupytext.read(source), nb_in)
    log = work / f"{source.stem}.outputs.jsonl"
    log.unlink(missing_ok=True)
    # figures appear in the executed notebook (and so in `topotta-lite report`) even when the
    # caller exported MPLBACKEND=Agg, as .ci/run does; savefig's bytes do not change
    env = kernel_environment({"TOPOTTA_RUN_LOG": str(log), "TOPOTTA_STAGE": str(stage),
                              "MPLBACKEND": INLINE_BACKEND, **(extra_env or {})})
    ipc_dir = tempfile.mkdtemp(prefix="topotta-ipc-")  # short: a socket path has ~100 bytes
    manager = _kernel_manager_class(env, str(Path(source).absolute().parent), ipc_dir)
    start = time.perf_counter()
    error, cell, tb = "", None, ""
    restarts: list[str] = []
    try:
        for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
            try:
                _in_thread(lambda: pm.execute_notebook(
                    str(nb_in), str(nb_run), parameters=params, kernel_name=kernel,
                    progress_bar=False, kernel_manager_class=manager,
                ))
                break
            except Exception as exc:  # noqa: BLE001 - retried or reported below
                if attempt == KERNEL_START_ATTEMPTS or not _kernel_start_failed(exc, nb_run):
                    raise
                restarts.append(f"{type(exc).__name__}: {exc}")
                # a random pause, so that two runs that raced for a port do not race again
                time.sleep(secrets.SystemRandom().uniform(0.5, 2.0))
    except Exception as exc:  # noqa: BLE001 - reported; the other notebooks still run
        error, cell, tb = describe_failure(exc)
    finally:
        _forget_kernels(ipc_dir)
        shutil.rmtree(ipc_dir, ignore_errors=True)
        nb_in.unlink(missing_ok=True)
        if nb_run.exists():
            with atomic_write(nb_out) as tmp:
                shutil.copyfile(nb_run, tmp)
            nb_run.unlink()
    files, warnings = read_run_log(log)
    return RunResult(source.stem, not error, time.perf_counter() - start, nb_out, error, files,
                     cell, tb, kernel_restarts=restarts, warnings=warnings)
