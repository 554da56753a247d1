"""Batch reproduction: run the numbered notebooks through papermill with a named profile.

``topotta-lite reproduce [--profile smoke|quick|full] [--only 03 06] [-p name value ...]``

* Notebook sources are the jupytext ``py:percent`` files in ``notebooks/``; each is converted to an
  ``.ipynb`` on the fly, executed by papermill with the profile's parameters, and the executed copy is
  kept under ``build/<profile>/``.
* Every figure and table a notebook writes goes through :mod:`topotta_lite.outputs`, which appends it to
  a run log; the runner turns the log into ``figures/MANIFEST.json`` (file, notebook, profile,
  parameters, sha256), sorted and without timestamps so that it only changes when results change.
* A failing notebook is reported and the others still run; the exit code is non-zero at the end.
* Real data: ``--dataset NAME --data-root DIR [--maps-dir DIR]`` (or the same ``-p`` parameters)
  reach the experiment notebooks 06-13; a profile's embedded class lists are then dropped (the
  notebooks default to the classes found on disk), and the dataset is checked before anything
  runs or is written (:func:`check_data`).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import sys
import time
import tomllib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from topotta_lite.config import figures_dir, repo_root

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
    folder = folder or notebooks_dir()
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
    """The parameters a profile injects into one notebook (always including ``profile``)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    path = (folder or notebooks_dir()) / "profiles.toml"
    table = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    params = dict(table.get(profile, {}).get(stem, {}))
    params["profile"] = profile
    return params


def parse_value(text: str):
    """Read a ``-p name value`` value as a Python literal when it is one, else as a string.

    >>> parse_value("64"), parse_value("0.5"), parse_value("[1, 2]"), parse_value("eai")
    (64, 0.5, [1, 2], 'eai')
    """
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


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
    params = load_profile(profile, source.stem)
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


@dataclass
class RunResult:
    notebook: str
    ok: bool
    seconds: float
    output: Path
    error: str = ""
    files: list[str] = field(default_factory=list)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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


def execute_notebook(source: Path, params: dict, build: Path, kernel: str = "python3") -> RunResult:
    """Convert one jupytext source, run it with papermill, and collect the files it wrote."""
    import jupytext
    import papermill as pm

    build.mkdir(parents=True, exist_ok=True)
    nb_in = build / f"{source.stem}.input.ipynb"
    nb_out = build / f"{source.stem}.ipynb"
    jupytext.write(jupytext.read(source), nb_in)
    log = build / f"{source.stem}.outputs.jsonl"
    log.unlink(missing_ok=True)
    start = time.perf_counter()
    error = ""
    try:
        # figures appear in the executed notebook (and so in `topotta-lite report`) even when
        # the caller exported MPLBACKEND=Agg, as .ci/run does; savefig's bytes do not change
        with _environment(TOPOTTA_RUN_LOG=str(log), MPLBACKEND=INLINE_BACKEND):
            pm.execute_notebook(
                str(nb_in), str(nb_out), parameters=params, kernel_name=kernel,
                cwd=str(source.parent), progress_bar=False,
            )
    except Exception as exc:  # noqa: BLE001 - reported; the other notebooks still run
        if hasattr(exc, "ename"):  # papermill's PapermillExecutionError: the cell's exception
            error = f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})"
        else:
            error = f"{type(exc).__name__}: {exc}"
    finally:
        nb_in.unlink(missing_ok=True)
    files = []
    if log.exists():
        for line in log.read_text(encoding="utf-8").splitlines():
            files.append(json.loads(line)["path"])
    return RunResult(source.stem, not error, time.perf_counter() - start, nb_out, error, files)


def update_manifest(results: list[RunResult], profile: str, params_by_nb: dict[str, dict]) -> Path:
    """Merge the files written by ``results`` into ``figures/MANIFEST.json``.

    Entries of notebooks that were not re-run are kept; entries whose file has vanished are dropped.
    """
    fig_dir = figures_dir()
    path = fig_dir / "MANIFEST.json"
    entries = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    rerun = {r.notebook for r in results}
    entries = {k: v for k, v in entries.items() if v["notebook"] not in rerun}
    for r in results:
        for f in r.files:
            p = Path(f)
            if not p.exists():
                continue
            try:
                key = p.resolve().relative_to(fig_dir.resolve()).as_posix()
            except ValueError:
                key = p.as_posix()
            entries[key] = {
                "notebook": r.notebook,
                "profile": profile,
                "parameters": params_by_nb[r.notebook],
                "sha256": _sha256(p),
            }
    entries = {k: v for k, v in entries.items() if (fig_dir / k).exists()}
    path.write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def reproduce(profile: str = "full", only: list[str] | None = None, overrides: dict | None = None,
              build_dir: Path | None = None, progress: bool = True,
              data: dict | None = None) -> list[RunResult]:
    """Run the selected notebooks with a profile; return one :class:`RunResult` per notebook.

    ``data`` holds the parameters of ``--dataset / --data-root / --maps-dir`` (see
    :func:`data_overrides`), given to the experiment notebooks only. The datasets the notebooks
    will read are checked first; a :class:`topotta_lite.data.DatasetError` (a ``ValueError``) is
    raised before any notebook runs.
    """
    from tqdm.auto import tqdm

    sources = list_notebooks(only)
    check_data({src.stem: notebook_params(profile, src, overrides, data) for src in sources})
    build = Path(build_dir or repo_root() / "build") / profile
    results, params_by_nb = [], {}
    bar = tqdm(sources, desc=f"reproduce[{profile}]", unit="nb", disable=not progress)
    for src in bar:
        bar.set_postfix_str(src.stem)
        params = notebook_params(profile, src, overrides, data)
        params_by_nb[src.stem] = params
        res = execute_notebook(src, params, build)
        results.append(res)
        status = "ok" if res.ok else "FAILED"
        tqdm.write(f"{src.stem}: {status} in {res.seconds:.1f} s, {len(res.files)} file(s)")
        if not res.ok:
            tqdm.write(f"  {res.error.splitlines()[0] if res.error else ''}")
            tqdm.write(f"  executed copy with the traceback: {res.output}")
    update_manifest(results, profile, params_by_nb)
    return results


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=PROFILES, default="full",
                        help="parameter profile (default: full, the paper-scale settings)")
    parser.add_argument("--only", nargs="+", metavar="NN",
                        help="notebook numbers or stems to run, e.g. --only 03 06")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                        metavar=("NAME", "VALUE"), help="override one notebook parameter")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="where executed notebooks are kept (default: build/)")
    parser.add_argument("--figures-dir", type=Path, default=None,
                        help="where figures and tables go (default: figures/ or $TOPOTTA_FIGURES)")
    parser.add_argument("--executor", choices=("local", "dask"), default="local",
                        help="where experiment grid cells run (default: this process)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="Dask scheduler address for --executor dask, e.g. tcp://host:8786")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    g = parser.add_argument_group(
        "real data", "run the experiment notebooks (06-13) on a benchmark on disk; the parameter "
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
    figures = str(Path(args.figures_dir).resolve()) if args.figures_dir is not None else None
    overrides = {name: parse_value(value) for name, value in args.parameter}
    try:
        data = data_overrides(args.dataset, args.data_root, args.maps_dir)
        with _environment(TOPOTTA_FIGURES=figures, TOPOTTA_EXECUTOR=args.executor,
                          TOPOTTA_SCHEDULER=args.scheduler):
            results = reproduce(args.profile, args.only, overrides, args.build_dir,
                                progress=not args.no_progress, data=data)
    except ValueError as exc:
        print(f"topotta-lite reproduce: {exc}", file=sys.stderr)
        return 2
    failed = [r.notebook for r in results if not r.ok]
    print(f"{len(results) - len(failed)} notebook(s) ran, {len(failed)} failed"
          + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0
