"""Batch reproduction: run the numbered notebooks through papermill with a named profile.

``topotta-lite reproduce [--profile smoke|quick|full] [--only 03 06] [-p name value ...]``

* Notebook sources are the jupytext ``py:percent`` files in ``notebooks/``; each is converted to an
  ``.ipynb`` on the fly, executed by papermill with the profile's parameters, and the executed copy is
  kept under ``build/<profile>/``.
* Every figure and table a notebook writes goes through :mod:`topotta_lite.outputs`, into a staging
  folder of this run (``build/<profile>/.runs/<run>/``), and is listed in this run's own log.
* Only when the notebook succeeds are its files **published**: each is copied beside its target
  and renamed over it, then ``MANIFEST.json`` (file, notebook, profile, parameters, sha256) is
  updated under a lock. A failed, interrupted or killed notebook leaves every published file
  byte-identical; its staged files are discarded.
* ``-p NAME VALUE`` must name a parameter that a selected notebook declares in its ``parameters``
  cell; the value is read as JSON / TOML / a Python literal and checked against the declared
  default's type; path parameters (``*_root``, ``*_dir``, ``*_folder``, ``*_path``) are made
  absolute.
* A run whose parameters differ from the profile's writes into ``build/scratch/<profile>-...``
  unless ``--figures-dir`` is given: ``figures/`` only ever holds what a profile run made, and the
  manifest records, per file, whether it did (``profile_run``) and what was changed
  (``overrides``).
* A failing notebook is reported (its exception, cell and executed copy) and the others still
  run; the exit code is non-zero at the end. Ctrl-C (or SIGTERM) stops the run.
* Real data: ``--dataset NAME --data-root DIR [--maps-dir DIR]`` (or the same ``-p`` parameters)
  reach the experiment notebooks 06-14; a profile's embedded class lists are then dropped (the
  notebooks default to the classes found on disk), and the dataset is checked before anything
  runs or is written (:func:`check_data`).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import signal
import sys
import threading
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from topotta_lite.config import cache_dir, env, repo_root
from topotta_lite.safe_io import atomic_write, process_alive, remove_stale_temporaries

PROFILES = ("smoke", "quick", "full")
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def notebooks_dir() -> Path:
    """The folder of the numbered notebook sources."""
    return repo_root() / "notebooks"


def list_notebooks(only: list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """Numbered notebook sources (``NN_name.py``), optionally restricted to some numbers or stems.

    Raises
    ------
    ValueError
        If an entry of ``only`` matches no notebook.
    """
    folder = Path(folder or notebooks_dir())
    if not folder.is_dir():
        raise ValueError(f"notebook folder not found: {folder}")
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.py"))
    if not only:
        return found
    chosen = []
    for key in only:
        hits = [p for p in found if p.stem == key or p.stem.split("_", 1)[0] == key.zfill(2)]
        if not hits:
            names = ", ".join(p.stem for p in found)
            raise ValueError(f"no notebook matches {key!r}; available: {names}")
        chosen.extend(h for h in hits if h not in chosen)
    return sorted(chosen)


def load_profile(profile: str, stem: str, folder: Path | None = None) -> dict:
    """The parameters a profile injects into one notebook (always including ``profile``).

    Raises
    ------
    ValueError
        On an unknown profile, or a ``profiles.toml`` that is not valid TOML (naming the file).
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    path = (folder or notebooks_dir()) / "profiles.toml"
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    params = dict(table.get(profile, {}).get(stem, {}))
    params["profile"] = profile
    return params


# ----------------------------------------------------------------------------- real data

#: The parameters naming the data of each modality in the experiment notebooks:
#: (dataset, data_root, maps_dir, class-list parameters). 2D uses the plain names.
DATA_PARAMS = {
    "2d": ("dataset", "data_root", "maps_dir",
           ("classes", "categories", "texture_categories", "category_2d")),
    "2.5d": ("dataset_25d", "data_root_25d", "maps_dir_25d", ("classes_25d", "category_25d")),
    "3d": ("dataset_3d", "data_root_3d", "maps_dir_3d", ("classes_3d", "category_3d")),
}
#: The experiment notebooks, which take the data parameters (00-05 teach on the embedded data).
EXPERIMENT_NOTEBOOKS = tuple(f"{n:02d}" for n in range(6, 14))
_PATH_PARAMS = ("data_root", "maps_dir", "tables_folder")


def _dataset_names() -> list[str]:
    from topotta_lite.data import DATASETS

    return list(DATASETS)


def _modality(dataset: str) -> str:
    if str(dataset).startswith("embedded-"):
        return str(dataset).split("-", 1)[1]
    return {"mvtec_3d": "2.5d", "anomaly_shapenet": "3d"}.get(str(dataset), "2d")


def data_overrides(dataset: str | None, data_root=None, maps_dir=None) -> dict:
    """The notebook parameters of ``--dataset / --data-root / --maps-dir``, named by modality.

    Paths become absolute (the notebooks run in ``notebooks/``).

    >>> data_overrides("mvtec_3d", "/data/m3d")
    {'dataset_25d': 'mvtec_3d', 'data_root_25d': '/data/m3d'}
    >>> data_overrides(None)
    {}
    """
    if dataset is None:
        if data_root is not None or maps_dir is not None:
            raise ValueError("--data-root and --maps-dir need --dataset NAME (e.g. mvtec_ad)")
        return {}
    names = _dataset_names()
    key = str(dataset).lower().replace("-", "_")
    if key not in names and not str(dataset).startswith("embedded-"):
        raise ValueError(f"unknown dataset {dataset!r}; choose from {names}")
    if key in names and data_root is None:
        raise ValueError(f"--dataset {dataset} is read from disk: give --data-root DIR")
    ds, root, maps, _ = DATA_PARAMS[_modality(key)]
    out = {ds: key if key in names else str(dataset)}
    if data_root is not None:
        out[root] = str(Path(data_root).expanduser().resolve())
    if maps_dir is not None:
        out[maps] = str(Path(maps_dir).expanduser().resolve())
    return out


def notebook_defaults(source: Path) -> dict:
    """The literal defaults of a notebook's ``parameters`` cell (names whose value is not a
    literal map to ``None``)."""
    text = source.read_text(encoding="utf-8")
    marker = '# %% tags=["parameters"]'
    if marker not in text:
        return {}
    cell = text.split(marker, 1)[1].split("\n# %%", 1)[0]
    out = {}
    for node in ast.parse(cell).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(
                node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                out[node.targets[0].id] = None
    return out


def notebook_params(profile: str, source: Path, overrides: dict | None = None,
                    data: dict | None = None) -> dict:
    """The parameters one notebook receives: its profile's, then ``overrides`` (``-p``), then
    ``data`` (``--dataset ...``, experiment notebooks only, and only the names it declares).

    A profile's class lists are dropped for a modality whose dataset the user set to a real one:
    a profile never replaces a user's dataset with the embedded benchmark's class names. Path
    parameters become absolute.
    """
    params = load_profile(profile, source.stem, source.parent)
    declared = notebook_defaults(source)
    user = dict(overrides or {})
    if source.stem[:2] in EXPERIMENT_NOTEBOOKS:
        user.update({k: v for k, v in (data or {}).items() if k in declared})
    for ds_key, _root, _maps, class_keys in DATA_PARAMS.values():
        if ds_key in user and not str(user[ds_key]).startswith("embedded-"):
            for k in class_keys:
                if k not in user:
                    params.pop(k, None)
    for k, v in user.items():
        if k.startswith(_PATH_PARAMS) and isinstance(v, str | Path):
            v = str(Path(v).expanduser().resolve())
        params[k] = v
    return params


def check_data(params_by_nb: dict[str, dict], folder: Path | None = None) -> list:
    """Check every real dataset (and maps folder) the notebooks will read; raise on the first
    problem, before anything runs.

    Each notebook's data is its defaults overridden by ``params_by_nb[stem]``; a dataset is
    checked once however many notebooks read it.

    Raises
    ------
    topotta_lite.data.DatasetError
        Naming the notebook, the dataset and the first problem found.
    """
    from topotta_lite.data import DatasetError, check_dataset

    folder = folder or notebooks_dir()
    done, reports = {}, []
    for stem, params in params_by_nb.items():
        final = {**notebook_defaults(folder / f"{stem}.py"), **params}
        for ds_key, root_key, maps_key, class_keys in DATA_PARAMS.values():
            dataset = final.get(ds_key)
            if dataset is None or (str(dataset).startswith("embedded-")
                                   and final.get(maps_key) is None):
                continue
            classes = next((final[k] for k in class_keys[:2] if final.get(k) is not None), None)
            if classes is None and class_keys[-1] in final and final[class_keys[-1]] is not None:
                classes = final[class_keys[-1]]  # notebook 12: one class per modality
            if isinstance(classes, str):
                classes = [classes]
            key = (str(dataset), str(final.get(root_key)), tuple(classes or ()),
                   str(final.get(maps_key)))
            if key in done:
                continue
            try:
                done[key] = check_dataset(dataset, final.get(root_key), classes,
                                          maps_dir=final.get(maps_key))
            except DatasetError as exc:
                raise DatasetError(f"dataset check failed, nothing was run or written: {stem} "
                                   f"({ds_key}={dataset!r}): {exc}") from None
            reports.append(done[key])
    return reports


# --------------------------------------------------------------------------------------------
# Parameters: what the notebooks declare, what the command line asks for
# --------------------------------------------------------------------------------------------
class ParameterError(ValueError):
    """A ``-p NAME VALUE`` that no selected notebook declares, or of the wrong type."""


_ANY = object()  # a declared default that is not a literal: any value is accepted
_PATH_NAME = re.compile(r"(^|_)(root|dir|folder|path|file)$")


def parse_value(text: str):
    """Read a ``-p name value`` value: JSON, then a TOML array / inline table, then a Python literal,
    else the text itself (a string).

    >>> parse_value("64"), parse_value("0.5"), parse_value("[1, 2]"), parse_value("eai")
    (64, 0.5, [1, 2], 'eai')
    >>> parse_value('["brick", "grass"]'), parse_value("{kind = 'noise', strength = 0.1}")
    (['brick', 'grass'], {'kind': 'noise', 'strength': 0.1})
    >>> parse_value("true"), parse_value("None"), parse_value("null")
    (True, None, None)
    """
    if not isinstance(text, str):
        return text
    stripped = text.strip()
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    if stripped[:1] in "[{":
        try:
            return tomllib.loads(f"v = {stripped}")["v"]
        except tomllib.TOMLDecodeError:
            pass
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text


def declared_parameters(source: Path) -> dict[str, object]:
    """The parameters a notebook declares: ``{name: default}`` from its ``parameters`` cell.

    A default that is not a literal (an expression) is returned as an opaque marker that accepts
    any value.

    Examples
    --------
    >>> sorted(declared_parameters(next(notebooks_dir().glob("*_multilevel_filtration.py"))))[:3]
    ['alpha', 'construction', 'level_grid']
    """
    text = Path(source).read_text(encoding="utf-8")
    marker = '# %% tags=["parameters"]'
    if marker not in text:
        return {}
    cell = text.split(marker, 1)[1].split("\n# %%", 1)[0]
    out: dict[str, object] = {}
    for node in ast.parse(cell).body:
        targets = []
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for t in targets:
            if isinstance(t, ast.Name):
                try:
                    out[t.id] = ast.literal_eval(value)
                except (ValueError, SyntaxError, TypeError):
                    out[t.id] = _ANY
    return out


def _type_name(value) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a dict"
    return type(value).__name__


def _example(default) -> str:
    return json.dumps(list(default) if isinstance(default, tuple) else default)


def absolute_path_parameter(name: str, value):
    """Make a path-valued parameter (``*_root``, ``*_dir``, ``*_folder``, ``*_path``, ``*_file``)
    absolute, relative to the current working directory (the notebooks run from ``notebooks/``).

    >>> import os
    >>> absolute_path_parameter("data_root", "data") == os.path.abspath("data")
    True
    >>> absolute_path_parameter("classes", "data"), absolute_path_parameter("data_root", None)
    ('data', None)
    """
    if isinstance(value, str) and value and _PATH_NAME.search(name) and "://" not in value:
        return os.path.abspath(os.path.expanduser(value))
    return value


def coerce_parameter(notebook: str, name: str, value, default, *, raw: str | None = None):
    """Check ``value`` against the type of the declared ``default``; return the value to inject.

    ``raw`` is the text given on the command line: a string parameter receives it verbatim (so
    ``-p category 123`` is the string ``"123"``).

    Raises
    ------
    ParameterError
        Naming the notebook, the parameter, the expected type and an example.

    Examples
    --------
    >>> coerce_parameter("06", "classes", ["brick"], ["brick", "grass"])
    ['brick']
    >>> coerce_parameter("06", "classes", "brick", ["brick", "grass"], raw="brick")
    Traceback (most recent call last):
    ...
    topotta_lite.cli.reproduce.ParameterError: parameter 'classes' of 06 is a list (default \
["brick", "grass"]), got the string 'brick'; write a JSON list, e.g. -p classes '["brick"]'
    """
    value = absolute_path_parameter(name, value)
    if default is _ANY or default is None:
        return value

    def bad(what: str = ""):
        got = f"the string {value!r}" if isinstance(value, str) else f"{_type_name(value)} {value!r}"
        hint = {list: "a JSON list", tuple: "a JSON list", dict: "a JSON object"}.get(type(default))
        example = _example(default)
        if isinstance(default, list | tuple) and not isinstance(value, list | tuple | dict):
            example = json.dumps([value])  # the value the user probably meant, as a list
        hint = f"; write {hint}, e.g. -p {name} '{example}'" if hint else ""
        return ParameterError(f"parameter {name!r} of {notebook} is {what or _type_name(default)} "
                              f"(default {_example(default)}), got {got}{hint}")

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad()
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise bad("a finite number")
        return float(value)
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        if raw is not None:
            return absolute_path_parameter(name, raw)
        raise bad()
    if isinstance(default, list | tuple):
        if not isinstance(value, list | tuple):
            raise bad("a list")
        kinds = {_type_name(v) for v in default}
        if len(kinds) == 1 and value:
            want = kinds.pop()
            numeric = {"an integer", "a number"}
            for v in value:
                got = _type_name(v)
                if got != want and not (want == "a number" and got in numeric):
                    raise bad(f"a list of {want.split(' ', 1)[1]}s")
        return list(value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise bad("a dict")
        return value
    return value


def resolve_parameters(profile: str, sources: list[Path], overrides: dict | None = None, *,
                       raw: dict[str, str] | None = None, folder: Path | None = None,
                       data: dict | None = None) -> tuple[dict[str, dict], dict[str, dict]]:
    """Per notebook: the parameters to inject, and those that differ from the profile's.

    An override goes to the selected notebooks that declare it (others never see it); a name that
    none of them declares is an error, as is a value of the wrong type. ``data`` (the parameters
    of ``--dataset / --data-root / --maps-dir``, see :func:`data_overrides`) then goes to the
    experiment notebooks as :func:`notebook_params` says.

    Returns
    -------
    (params_by_notebook, overrides_by_notebook)

    Raises
    ------
    ParameterError
        For an unknown name (listing the declared ones), a wrong type, or ``profile``.
    """
    overrides = dict(overrides or {})
    raw = raw or {}
    if "profile" in overrides:
        raise ParameterError("choose the profile with --profile, not -p profile")
    declared = {src.stem: declared_parameters(src) for src in sources}
    for name in overrides:
        if not any(name in d for d in declared.values()):
            known = sorted({n for d in declared.values() for n in d} - {"profile"})
            close = [k for k in known if _similar(name, k)]
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ParameterError(
                f"no selected notebook declares a parameter {name!r}{hint} "
                f"(declared: {', '.join(known) or 'none'})")
    params_by_nb, changed_by_nb = {}, {}
    for src in sources:
        decl = declared[src.stem]
        params = load_profile(profile, src.stem, folder)
        unknown = sorted(set(params) - set(decl) - {"profile"}) if decl else []
        if unknown:
            raise ParameterError(f"profiles.toml sets {', '.join(unknown)} for {src.stem}, "
                                 f"which its parameters cell does not declare")
        base = {**{k: v for k, v in decl.items() if v is not _ANY}, **params}
        typed = _type_evidence(src.stem, decl, folder or src.parent)
        mine = {name: coerce_parameter(src.stem, name, value,
                                       decl[name] if value is None else typed[name],
                                       raw=raw.get(name))
                for name, value in overrides.items() if name in decl}
        params = notebook_params(profile, src, mine, data)
        changed = {k: v for k, v in params.items() if k not in base or base[k] != v}
        params_by_nb[src.stem], changed_by_nb[src.stem] = params, changed
    return params_by_nb, changed_by_nb


def _type_evidence(stem: str, declared: dict, folder: Path) -> dict:
    """Each declared parameter's default, or, where that is ``None`` (e.g. ``classes = None``:
    the classes found on disk), the first value a profile gives it: its type is the one to check."""
    path = Path(folder) / "profiles.toml"
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except tomllib.TOMLDecodeError:
        table = {}
    out = dict(declared)
    for name, default in declared.items():
        if default is None:
            seen = [sec[stem][name] for sec in table.values()
                    if isinstance(sec, dict) and name in sec.get(stem, {})]
            if seen:
                out[name] = seen[0]
    return out


def _similar(a: str, b: str) -> bool:
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.8


def scratch_name(profile: str, changed_by_nb: dict[str, dict]) -> str:
    """A folder name for the outputs of a run with non-profile parameters.

    >>> scratch_name("quick", {"03_x": {"levels": 64}})
    'quick-levels=64-...'
    """
    changed = {k: v for d in changed_by_nb.values() for k, v in d.items()}
    text = json.dumps({nb: d for nb, d in sorted(changed_by_nb.items()) if d}, sort_keys=True)
    slug = "-".join(f"{k}={v}" for k, v in sorted(changed.items()))
    slug = re.sub(r"[^A-Za-z0-9_.=,-]+", "", slug)[:48]
    return f"{profile}-{slug}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


# --------------------------------------------------------------------------------------------
# Running one notebook
# --------------------------------------------------------------------------------------------
@dataclass
class RunResult:
    """What happened to one notebook.

    ``files`` are the published files (empty unless ``ok``); ``discarded`` the files a failed run
    had staged and that were thrown away; ``output`` the executed copy (with any traceback).
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


@contextmanager
def _environment(**values: str | None):
    """Set environment variables (inherited by the notebook kernels) and restore them after."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _describe_failure(exc: BaseException) -> tuple[str, int | None, str]:
    """``(type: message, cell, traceback text)`` of a papermill failure, colours removed."""
    if hasattr(exc, "ename"):  # papermill's PapermillExecutionError: the cell's own exception
        tb = _ANSI.sub("", "\n".join(getattr(exc, "traceback", []) or []))
        message = str(exc.evalue or "").strip()
        if not message:  # e.g. a bare StopIteration: say where it was raised
            frames = [ln.strip() for ln in tb.splitlines() if ln.strip().startswith("---->")]
            message = f"raised at: {frames[-1][5:].strip()}" if frames else "(no message)"
        return f"{exc.ename}: {message}", getattr(exc, "exec_count", None), tb
    return f"{type(exc).__name__}: {exc}", None, ""


# --------------------------------------------------------------------------------------------
# Interrupts: Ctrl-C (or SIGTERM) stops the run, kills its kernel, and publishes nothing more
# --------------------------------------------------------------------------------------------
_KERNELS: list = []  # kernel managers started by this process


def _kernel_manager_class():
    """A kernel manager that registers itself, so that an interrupted run can kill its kernel."""
    from jupyter_client.manager import AsyncKernelManager

    class RecordingKernelManager(AsyncKernelManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            _KERNELS.append(self)

    return RecordingKernelManager


def _kill_kernels() -> None:
    while _KERNELS:
        km = _KERNELS.pop()
        pid = getattr(getattr(km, "provisioner", None), "pid", None)
        if pid and process_alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:  # pragma: no cover - it ended meanwhile
                pass


def _in_thread(fn):
    """Run ``fn`` in a worker thread while this (main) thread waits, interruptible.

    papermill's notebook client installs its own SIGINT / SIGTERM handlers in the main thread,
    which swallow Ctrl-C (the run went on to the next notebook). In a worker thread it cannot; a
    KeyboardInterrupt here kills the kernel, waits for the worker, and propagates.
    """
    if threading.current_thread() is not threading.main_thread():
        return fn()
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            box["error"] = exc

    worker = threading.Thread(target=target, name="papermill", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        _kill_kernels()
        worker.join(60)
        raise
    if "error" in box:
        raise box["error"]
    return box.get("value")


class _Interrupts:
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


# A kernel can die before its first reply when two runs start kernels at the same moment:
# jupyter_client picks free TCP ports by opening and closing them, and the other run's kernel can
# take one in between (ZMQError "Address already in use"). No cell has run then, so starting the
# notebook again is safe; anything else (a cell's error, a kernel that dies mid-run) is not retried.
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


def execute_notebook(source: Path, params: dict, build: Path, kernel: str = "python3", *,
                     stage: Path | None = None, work: Path | None = None,
                     extra_env: dict[str, str] | None = None) -> RunResult:
    """Convert one jupytext source, run it with papermill, and collect the files it staged.

    The kernel writes its outputs into ``stage`` (``$TOPOTTA_STAGE``) and lists them in a log of
    its own in ``work`` (so concurrent runs never share one); the executed copy lands in
    ``build/<stem>.ipynb``. Nothing is published here (see :func:`publish`).
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
    start = time.perf_counter()
    error, cell, tb = "", None, ""
    restarts: list[str] = []
    try:
        # figures appear in the executed notebook (and so in `topotta-lite report`) even when
        # the caller exported MPLBACKEND=Agg, as .ci/run does; savefig's bytes do not change
        with _environment(TOPOTTA_RUN_LOG=str(log), TOPOTTA_STAGE=str(stage),
                          MPLBACKEND=INLINE_BACKEND, **(extra_env or {})):
            for attempt in range(1, KERNEL_START_ATTEMPTS + 1):
                try:
                    _in_thread(lambda: pm.execute_notebook(
                        str(nb_in), str(nb_run), parameters=params, kernel_name=kernel,
                        cwd=str(source.parent), progress_bar=False,
                        kernel_manager_class=_kernel_manager_class(),
                    ))
                    break
                except Exception as exc:  # noqa: BLE001 - retried or reported below
                    if attempt == KERNEL_START_ATTEMPTS or not _kernel_start_failed(exc, nb_run):
                        raise
                    restarts.append(f"{type(exc).__name__}: {exc}")
                    # a random pause, so that two runs that raced for a port do not race again
                    time.sleep(secrets.SystemRandom().uniform(0.5, 2.0))
    except Exception as exc:  # noqa: BLE001 - reported; the other notebooks still run
        error, cell, tb = _describe_failure(exc)
    finally:
        nb_in.unlink(missing_ok=True)
        if nb_run.exists():
            with atomic_write(nb_out) as tmp:
                shutil.copyfile(nb_run, tmp)
            nb_run.unlink()
    files = []
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            if line.strip():
                files.append(json.loads(line)["path"])
    files = list(dict.fromkeys(files))
    return RunResult(source.stem, not error, time.perf_counter() - start, nb_out, error, files,
                     cell, tb, kernel_restarts=restarts)


def publish(files: list[str], stage: Path, dest: Path) -> list[str]:
    """Copy each staged file to the same place under ``dest``, atomically (copy, then rename).

    Files listed outside ``stage`` (written directly by a notebook) are returned as they are.

    Examples
    --------
    >>> import tempfile
    >>> stage, dest = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    >>> (stage / "tables").mkdir(); _ = (stage / "tables" / "t.csv").write_text("x\\n")
    >>> [Path(p).relative_to(dest).as_posix() for p in publish([stage / "tables" / "t.csv"], stage, dest)]
    ['tables/t.csv']
    """
    stage, dest = Path(stage).resolve(), Path(dest).absolute()
    out = []
    for f in files:
        p = Path(f).resolve()
        try:
            rel = p.relative_to(stage)
        except ValueError:
            out.append(str(p))
            continue
        if not p.exists():
            continue
        target = dest / rel
        with atomic_write(target) as tmp:
            shutil.copyfile(p, tmp)
        out.append(str(target))
    return out


def default_figures_dir() -> Path:
    """``$TOPOTTA_FIGURES`` or ``<repo>/figures``: where a profile run publishes."""
    return Path(env("TOPOTTA_FIGURES") or repo_root() / "figures").absolute()


def reproduce(profile: str = "full", only: list[str] | None = None, overrides: dict | None = None,
              build_dir: Path | None = None, progress: bool = True, *,
              figures_dir: Path | None = None, raw: dict[str, str] | None = None,
              notebooks: Path | None = None, data: dict | None = None) -> list[RunResult]:
    """Run the selected notebooks with a profile; return one :class:`RunResult` per notebook.

    Parameters
    ----------
    profile : {"smoke", "quick", "full"}
    only : list of str, optional
        Notebook numbers or stems.
    overrides : dict, optional
        Parameter values replacing the profile's (checked by :func:`resolve_parameters`).
    build_dir : path, optional
        Executed notebooks go to ``<build_dir>/<profile>/`` (default ``<repo>/build``).
    figures_dir : path, optional
        Where outputs are published. Default: ``$TOPOTTA_FIGURES`` or ``<repo>/figures`` for a
        profile run; ``<build_dir>/scratch/<profile>-<changes>-<hash>/`` when ``overrides``
        change a profile's parameter.
    raw : dict, optional
        The command-line text of each override (string parameters receive it verbatim).
    notebooks : path, optional
        The folder of notebook sources (default ``<repo>/notebooks``).
    data : dict, optional
        The parameters of ``--dataset / --data-root / --maps-dir`` (see :func:`data_overrides`),
        given to the experiment notebooks only. The datasets the notebooks will read are checked
        first.

    Raises
    ------
    ValueError
        On an unknown notebook or profile; :class:`ParameterError` on a bad override; a
        :class:`topotta_lite.data.DatasetError` before any notebook runs.
    KeyboardInterrupt
        Re-raised after the interrupted notebook's staged files are discarded (notebooks finished
        before it stay published).
    """
    from tqdm.auto import tqdm

    sources = list_notebooks(only, notebooks)
    params_by_nb, changed_by_nb = resolve_parameters(profile, sources, overrides, raw=raw,
                                                     folder=notebooks, data=data)
    check_data(params_by_nb, folder=sources[0].parent if sources else notebooks)
    build_root = Path(build_dir or repo_root() / "build").absolute()
    build = build_root / profile
    profile_run = not any(changed_by_nb.values())
    if figures_dir is not None:
        dest = Path(figures_dir).absolute()
    elif profile_run or env("TOPOTTA_FIGURES"):
        dest = default_figures_dir()
    else:
        dest = build_root / "scratch" / scratch_name(profile, changed_by_nb)
        changes = ", ".join(f"{k}={json.dumps(v)}" for k, v in
                            {k: v for d in changed_by_nb.values() for k, v in d.items()}.items())
        print(f"parameters differ from the {profile} profile ({changes}): outputs go to {dest} "
              "(name --figures-dir to choose)", flush=True)
    dest.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(dest, recursive=True)
    _remove_dead_runs(build / ".runs")
    work = build / ".runs" / f"{os.getpid()}-{secrets.token_hex(4)}"
    kernel_env = {"TOPOTTA_FIGURES": str(dest), "TOPOTTA_CACHE": str(cache_dir().absolute())}
    results = []
    bar = tqdm(sources, desc=f"reproduce[{profile}]", unit="nb", disable=not progress)
    try:
        with _Interrupts() as interrupts:
            for src in bar:
                bar.set_postfix_str(src.stem)
                stage = work / src.stem / "figures"
                res = execute_notebook(src, params_by_nb[src.stem], build, stage=stage, work=work,
                                       extra_env=kernel_env)
                if res.ok:
                    with interrupts.deferred():  # an interrupt waits until files and manifest agree
                        res.files = publish(res.files, stage, dest)
                        _record(dest, res, profile, params_by_nb[src.stem],
                                changed_by_nb[src.stem])
                        _refresh_readme(dest, {**notebook_defaults(src),
                                               **params_by_nb[src.stem]}, tqdm.write)
                else:
                    res.discarded, res.files = res.files, []
                shutil.rmtree(work / src.stem, ignore_errors=True)
                results.append(res)
                _report(res, tqdm.write)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        try:
            work.parent.rmdir()  # .runs/, when no other run is using it
        except OSError:
            pass
    return results


def _remove_dead_runs(runs: Path) -> None:
    """Delete the staging folders of runs whose process was killed (``<pid>-<token>``)."""
    if not runs.is_dir():
        return
    for d in runs.iterdir():
        pid = d.name.split("-", 1)[0]
        if d.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def _refresh_readme(dest: Path, params: dict, write) -> None:
    """Rewrite the README's results block from ``dest/tables``, once they are published.

    Only for a notebook that asks for it (``update_readme_block = True``: notebook 14, the claims
    report) and only when ``dest`` is the committed ``figures/``. It runs here, after publishing,
    because the notebook itself writes into a staging folder: while it runs, ``figures/tables``
    still holds the previous run's claims.
    """
    if not params.get("update_readme_block"):
        return
    if dest.resolve() != (repo_root() / "figures").resolve():
        return
    from topotta_lite.experiments.readme import update_readme

    changed = update_readme(repo_root() / "README.md", folder=dest / "tables")
    write("README results block " + ("rewritten from the published tables" if changed
                                     else "already matches the published tables"))


def _record(dest: Path, res: RunResult, profile: str, params: dict, changed: dict) -> None:
    from topotta_lite.outputs import update_manifest

    update_manifest(dest, res.notebook, res.files,
                    {"profile": profile, "parameters": params, "profile_run": not changed,
                     "overrides": changed})


def _report(res: RunResult, write) -> None:
    for i, why in enumerate(res.kernel_restarts, start=2):
        write(f"{res.notebook}: its kernel failed to start ({why}); started again "
              f"(attempt {i} of {KERNEL_START_ATTEMPTS})")
    if res.ok:
        write(f"{res.notebook}: ok in {res.seconds:.1f} s, {len(res.files)} file(s) published")
        return
    where = f" at cell In [{res.cell}]" if res.cell is not None else ""
    write(f"{res.notebook}: FAILED in {res.seconds:.1f} s{where}; nothing published "
          f"({len(res.discarded)} staged file(s) discarded, earlier files kept)")
    for line in (res.error or "").splitlines()[:6]:
        write(f"  {line}")
    write(f"  executed copy with the traceback: {res.output}")


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=PROFILES, default="full",
                        help="parameter profile (default: full, the paper-scale settings)")
    parser.add_argument("--only", nargs="+", metavar="NN",
                        help="notebook numbers or stems to run, e.g. --only 03 06")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"),
                        help="override one notebook parameter (lists and dicts as JSON, e.g. "
                             "-p classes '[\"brick\"]'); a run with overrides writes to "
                             "build/scratch/ unless --figures-dir is given")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="where executed notebooks are kept (default: build/)")
    parser.add_argument("--figures-dir", type=Path, default=None,
                        help="where figures and tables are published (default: figures/ or "
                             "$TOPOTTA_FIGURES for a profile run, build/scratch/... otherwise)")
    parser.add_argument("--executor", choices=("local", "dask"), default="local",
                        help="where experiment grid cells run (default: this process)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler address for --executor dask, e.g. tcp://host:8786")
    parser.add_argument("--notebooks-dir", type=Path, default=None,
                        help="folder of NN_name.py notebook sources and profiles.toml "
                             "(default: notebooks/)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    g = parser.add_argument_group(
        "real data", "run the experiment notebooks (06-14) on a benchmark on disk; the parameter "
        "names follow the dataset's modality (2D: dataset, data_root, maps_dir; MVTec 3D-AD: "
        "dataset_25d, ...; AnomalyShapeNet: dataset_3d, ...)")
    g.add_argument("--dataset", metavar="NAME",
                   help="a real dataset: " + ", ".join(_dataset_names()))
    g.add_argument("--data-root", type=Path, metavar="DIR",
                   help="the folder holding the dataset's class folders")
    g.add_argument("--maps-dir", type=Path, metavar="DIR",
                   help="your own score maps (.npy or float .tiff, one per test image) used "
                        "instead of our scorers")


def run(args: argparse.Namespace) -> int:
    if args.executor == "dask" and not args.scheduler:
        print("topotta-lite reproduce: --executor dask needs --scheduler ADDRESS", file=sys.stderr)
        return 2
    figures = Path(args.figures_dir).absolute() if args.figures_dir is not None else None
    build = Path(args.build_dir).absolute() if args.build_dir is not None else None
    notebooks = getattr(args, "notebooks_dir", None)
    notebooks = Path(notebooks).absolute() if notebooks is not None else None
    raw = {name: value for name, value in args.parameter}
    overrides = {name: parse_value(value) for name, value in args.parameter}
    try:
        data = data_overrides(args.dataset, args.data_root, args.maps_dir)
        with _environment(TOPOTTA_EXECUTOR=args.executor, TOPOTTA_SCHEDULER=args.scheduler):
            results = reproduce(args.profile, args.only, overrides, build,
                                progress=not args.no_progress, figures_dir=figures, raw=raw,
                                notebooks=notebooks, data=data)
    except ValueError as exc:
        print(f"topotta-lite reproduce: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("topotta-lite reproduce: interrupted; the notebook that was running published "
              "nothing, those finished before it are published", file=sys.stderr)
        return 130
    failed = [r.notebook for r in results if not r.ok]
    print(f"{len(results) - len(failed)} notebook(s) ran, {len(failed)} failed"
          + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
