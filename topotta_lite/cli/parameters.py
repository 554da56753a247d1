"""What the notebooks receive: profiles, the ``-p NAME VALUE`` overrides, the real-data options.

* ``notebooks/profiles.toml`` names, per profile and notebook, the parameters that differ from the
  notebook's own defaults (its ``parameters`` cell, which is the ``full`` profile).
* ``-p NAME VALUE`` must name a parameter that a selected notebook declares; the value is read as
  JSON / TOML / a Python literal and checked against the declared default's type. A list whose
  default is a non-empty list may not be empty (unless the notebook's comment on it says what
  ``[]`` means, or a profile sets it to ``[]``); a path parameter may not be empty (it would mean
  the current folder); paths (``*_root``, ``*_dir``, ``*_folder``, ``*_path``, ``*_file``) are
  made absolute.
* ``--dataset NAME --data-root DIR [--maps-dir DIR]`` fill the data parameters of the experiment
  notebooks, by modality (:func:`data_overrides`), and the datasets are checked before anything
  runs (:func:`check_data`).

Everything here is checked before any notebook runs: a mistake is a :class:`ParameterError`
(a ``ValueError``) naming the notebook and the parameter.
"""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import re
import tomllib
from pathlib import Path

from topotta_lite.config import repo_root

__all__ = [
    "DATA_PARAMS",
    "EXPERIMENT_NOTEBOOKS",
    "OWNER_PROFILE",
    "PROFILES",
    "ParameterError",
    "absolute_path_parameter",
    "check_data",
    "coerce_parameter",
    "data_overrides",
    "declared_parameters",
    "empty_lists_allowed",
    "list_notebooks",
    "load_profile",
    "notebook_defaults",
    "notebook_params",
    "notebooks_dir",
    "parse_value",
    "resolve_parameters",
    "scratch_name",
]

PROFILES = ("smoke", "quick", "full")
OWNER_PROFILE = "quick"
"""The one profile whose run publishes into the committed ``figures/`` and rewrites the README's
results block (every other profile, and any run with overrides, goes to ``build/scratch/``)."""

def notebooks_dir() -> Path:
    """The folder of the numbered notebook sources."""
    return repo_root() / "notebooks"


def list_notebooks(only: list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """Numbered notebook sources (``NN_name.py``), optionally restricted to some numbers or stems.

    Raises
    ------
    ValueError
        If an entry of ``only`` is empty or matches no notebook.

    Examples
    --------
    >>> [p.stem[:2] for p in list_notebooks(["2", "01"])]
    ['01', '02']
    >>> list_notebooks([""])
    Traceback (most recent call last):
    ...
    ValueError: --only got an empty name; give notebook numbers or stems, e.g. --only 03 06
    """
    folder = Path(folder or notebooks_dir())
    if not folder.is_dir():
        raise ValueError(f"notebook folder not found: {folder}")
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.py"))
    if not only:
        return found
    chosen = []
    for key in only:
        key = str(key).strip()
        if not key:
            raise ValueError("--only got an empty name; give notebook numbers or stems, "
                             "e.g. --only 03 06")
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
    for flag, value in (("--data-root", data_root), ("--maps-dir", maps_dir)):
        if value is not None and not str(value).strip():
            raise ValueError(f"{flag} is empty; give a folder (an empty path would mean the "
                             "current folder)")
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


def coerce_parameter(notebook: str, name: str, value, default, *, raw: str | None = None,
                     allow_empty: bool = False):
    """Check ``value`` against the type of the declared ``default``; return the value to inject.

    ``raw`` is the text given on the command line: a string parameter receives it verbatim (so
    ``-p category 123`` is the string ``"123"``). A path parameter may not be the empty string
    (it would mean the current folder); a list whose default is a non-empty list may not be empty
    unless ``allow_empty`` (the notebook says what ``[]`` means).

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
    topotta_lite.cli.parameters.ParameterError: parameter 'classes' of 06 is a list (default \
["brick", "grass"]), got the string 'brick'; write a JSON list, e.g. -p classes '["brick"]'
    >>> coerce_parameter("06", "scorers", [], ["patchcore"])
    Traceback (most recent call last):
    ...
    topotta_lite.cli.parameters.ParameterError: parameter 'scorers' of 06 may not be an empty list \
(default ["patchcore"]): nothing would be computed; name at least one, e.g. -p scorers '["patchcore"]'
    >>> coerce_parameter("06", "maps_dir", "", None, raw="")
    Traceback (most recent call last):
    ...
    topotta_lite.cli.parameters.ParameterError: parameter 'maps_dir' of 06 is a path and may not \
be empty (it would mean the current folder); name a folder, or leave the parameter out
    """
    if _PATH_NAME.search(name) and isinstance(value, str) and not value.strip():
        raise ParameterError(f"parameter {name!r} of {notebook} is a path and may not be empty "
                             "(it would mean the current folder); name a folder, or leave the "
                             "parameter out")
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
        if not value and default and not allow_empty:
            raise ParameterError(
                f"parameter {name!r} of {notebook} may not be an empty list (default "
                f"{_example(default)}): nothing would be computed; name at least one, e.g. "
                f"-p {name} '{json.dumps([list(default)[0]])}'")
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
        empty_ok = empty_lists_allowed(src, folder or src.parent)
        mine = {name: coerce_parameter(src.stem, name, value,
                                       decl[name] if value is None else typed[name],
                                       raw=raw.get(name), allow_empty=name in empty_ok)
                for name, value in overrides.items() if name in decl}
        params = notebook_params(profile, src, mine, data)
        changed = {k: v for k, v in params.items() if k not in base or base[k] != v}
        params_by_nb[src.stem], changed_by_nb[src.stem] = params, changed
    return params_by_nb, changed_by_nb


def empty_lists_allowed(source: Path, folder: Path | None = None) -> set[str]:
    """The list parameters of a notebook that may be ``[]``: those whose comment in the
    ``parameters`` cell says what ``[]`` means (e.g. ``classes_3d = None  # []: skip 3D``), and
    those a profile sets to ``[]``.

    Examples
    --------
    >>> sorted(empty_lists_allowed(next(notebooks_dir().glob("07_*.py"))))
    ['classes_25d', 'classes_3d']
    """
    source = Path(source)
    text = source.read_text(encoding="utf-8")
    marker = '# %% tags=["parameters"]'
    out: set[str] = set()
    if marker in text:
        cell = text.split(marker, 1)[1].split("\n# %%", 1)[0]
        for line in cell.splitlines():
            code, _, comment = line.partition("#")
            name = code.split("=", 1)[0].strip()
            if "=" in code and name.isidentifier() and "[]" in comment:
                out.add(name)
    path = Path(folder or source.parent) / "profiles.toml"
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except tomllib.TOMLDecodeError:
        table = {}
    for section in table.values():
        if isinstance(section, dict):
            out |= {k for k, v in section.get(source.stem, {}).items() if v == []}
    return out


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
    >>> scratch_name("smoke", {"03_x": {}})
    'smoke-profile'
    """
    changed = {k: v for d in changed_by_nb.values() for k, v in d.items()}
    if not changed:
        return f"{profile}-profile"
    text = json.dumps({nb: d for nb, d in sorted(changed_by_nb.items()) if d}, sort_keys=True)
    slug = "-".join(f"{k}={v}" for k, v in sorted(changed.items()))
    slug = re.sub(r"[^A-Za-z0-9_.=,-]+", "", slug)[:48]
    return f"{profile}-{slug}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"

