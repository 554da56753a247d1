"""Publishing a notebook's outputs: where they go, what is kept, and all or nothing.

A notebook run by ``topotta-lite reproduce`` writes into a staging folder of its own. Once it has
succeeded, :func:`publish_notebook` moves its files into the destination folder:

* **Where.** Only the ``quick`` profile (:data:`~topotta_lite.cli.parameters.OWNER_PROFILE`),
  with its own parameters, publishes into the committed ``figures/`` and rewrites the README's
  results block. Any other profile, and any run with overrides, publishes into
  ``build/scratch/<profile>-...`` unless ``--figures-dir`` (or ``$TOPOTTA_FIGURES``) names a
  folder (:func:`choose_destination`). The folder is checked writable before anything runs
  (:func:`prepare_destination`).
* **What is kept.** Every fresh table is first copied to the run's fresh folder
  (:func:`fresh_dir`, read by ``topotta-lite verify``). A published table is then kept, byte for
  byte, when its manifest entry says the same notebook made it with the same parameters and the
  same code (:func:`code_fingerprint`), and the fresh table has the same columns, rows and labels
  with every number within its tolerance (:func:`~topotta_lite.outputs.tolerance_for`). A published figure (or
  page) is kept on the same condition for all of its notebook's tables; a notebook with a timing
  table (:data:`~topotta_lite.outputs.TIMING_TABLES`) publishes its figures afresh. So a run on
  another machine leaves the committed files as they are, apart from the timing files.
* **All or nothing.** The files to write and the new manifest are handed to
  :func:`topotta_lite.safe_io.replace_all`: free space checked first, every file staged beside
  its target, then swapped in (undone on failure). On failure every published file and the
  manifest are as they were, and :class:`PublishError` says why in one line.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from topotta_lite.cli.kernels import RunResult
from topotta_lite.cli.parameters import OWNER_PROFILE, scratch_name
from topotta_lite.config import env, repo_root
from topotta_lite.outputs import (
    MANIFEST,
    PER_IMAGE_TOLERANCE,
    TABLE_TOLERANCE,
    compare_table,
    is_timing_table,
    manifest_after,
    manifest_bytes,
    read_manifest,
    sha256_file,
)
from topotta_lite.safe_io import (
    NotEnoughSpace,
    check_writable,
    file_lock,
    process_alive,
    recover_interrupted_replacements,
    remove_stale_temporaries,
    replace_all,
)

__all__ = [
    "DestinationError",
    "PublishError",
    "choose_destination",
    "code_fingerprint",
    "committed_figures_dir",
    "describe_kept",
    "fresh_dir",
    "prepare_destination",
    "publish_notebook",
    "refresh_readme",
    "remove_dead_runs",
]


class DestinationError(ValueError):
    """The folder to publish into cannot be created or written (found before anything runs)."""


class PublishError(RuntimeError):
    """A notebook ran but its files could not be published; nothing was changed."""


def committed_figures_dir() -> Path:
    """``<repo>/figures``: the committed figures, owned by the ``quick`` profile."""
    return (repo_root() / "figures").absolute()


def choose_destination(profile: str, changed_by_nb: dict[str, dict], build_root: Path,
                       figures_dir: Path | None = None) -> tuple[Path, str]:
    """Where a run publishes, and a sentence saying why when it is not the committed figures.

    ``figures_dir`` (``--figures-dir``), else ``$TOPOTTA_FIGURES``, else the committed
    ``figures/`` for a ``quick`` run with the profile's parameters, else
    ``<build_root>/scratch/<profile>-...``.

    Examples
    --------
    >>> dest, why = choose_destination("smoke", {"06_x": {}}, Path("/b"), Path("/mine"))
    >>> dest.as_posix(), why
    ('/mine', '')
    """
    if figures_dir is not None:
        return Path(figures_dir).absolute(), ""
    if env("TOPOTTA_FIGURES"):
        return Path(env("TOPOTTA_FIGURES")).absolute(), ""
    changed = {k: v for d in changed_by_nb.values() for k, v in d.items()}
    if profile == OWNER_PROFILE and not changed:
        return committed_figures_dir(), ""
    dest = Path(build_root).absolute() / "scratch" / scratch_name(profile, changed_by_nb)
    if changed:
        changes = ", ".join(f"{k}={json.dumps(v)}" for k, v in changed.items())
        why = (f"parameters differ from the {profile} profile ({changes}): outputs go to {dest} "
               "(name --figures-dir to choose)")
    else:
        why = (f"only the {OWNER_PROFILE} profile publishes into figures/ and the README: the "
               f"{profile} profile's outputs go to {dest} (name --figures-dir to choose)")
    return dest, why


def prepare_destination(dest: Path) -> Path:
    """Create ``dest``, prove it writable, and tidy what killed runs left in it (half-done
    replacements are undone, stale temporary files removed).

    Raises
    ------
    DestinationError
        When the folder cannot be created or written, naming it (before anything runs).
    """
    dest = Path(dest).absolute()
    try:
        check_writable(dest)
    except OSError as exc:
        raise DestinationError(f"cannot publish into {dest}: {exc.strerror or exc} "
                               f"({exc.filename or dest}); nothing was run") from None
    recover_interrupted_replacements(dest)
    remove_stale_temporaries(dest, recursive=True)
    return dest


def fresh_dir(build_root: Path, profile: str, dest: Path) -> Path:
    """Where a run keeps its fresh tables (``topotta-lite verify`` compares them with ``dest``):
    ``<build>/<profile>/fresh`` for the committed figures, ``.../fresh-<hash of dest>`` for any
    other destination.

    >>> fresh_dir(Path("/b"), "quick", Path("/elsewhere")).name.startswith("fresh-")
    True
    """
    base = Path(build_root).absolute() / profile
    dest = Path(dest).absolute()
    if dest == committed_figures_dir():
        return base / "fresh"
    return base / f"fresh-{hashlib.sha256(str(dest).encode()).hexdigest()[:10]}"


_CODE_FINGERPRINT: str | None = None


def code_fingerprint(source: Path) -> str:
    """A sha256 of a notebook's source and of the package's code (``topotta_lite/**/*.py``, line
    endings normalised): a published file is kept only when the same code made it.

    >>> len(code_fingerprint(Path(__file__)))
    16
    """
    global _CODE_FINGERPRINT
    if _CODE_FINGERPRINT is None:
        package = Path(__file__).resolve().parent.parent
        h = hashlib.sha256()
        for p in sorted(package.rglob("*.py")):
            if "__pycache__" in p.parts:
                continue
            h.update(p.relative_to(package).as_posix().encode() + b"\0")
            h.update(p.read_bytes().replace(b"\r\n", b"\n") + b"\0")
        _CODE_FINGERPRINT = h.hexdigest()
    h = hashlib.sha256(_CODE_FINGERPRINT.encode())
    h.update(Path(source).read_bytes().replace(b"\r\n", b"\n"))
    return h.hexdigest()[:16]


def _same_origin(entry: dict | None, notebook: str, info: dict) -> bool:
    """Whether a manifest entry was made by this notebook, parameters and code."""
    if not entry or entry.get("notebook") != notebook:
        return False
    return all(entry.get(k) == v for k, v in info.items())


def _save_fresh_tables(staged: list[Path], stage: Path, fresh: Path) -> str:
    """Copy the staged CSV tables to the fresh folder; an error message, or ``""``."""
    tables = {fresh / p.relative_to(stage): p for p in staged
              if p.suffix == ".csv" and p.parent.name == "tables"}
    if not tables:
        return ""
    try:
        replace_all(tables, journal_dir=fresh)
    except OSError as exc:
        return f"the fresh tables could not be kept in {fresh} ({exc.strerror or exc})"
    return ""


def publish_notebook(res: RunResult, stage: Path, dest: Path, info: dict, *,
                     fresh: Path | None = None, atol: float | None = None,
                     source: Path | None = None) -> RunResult:
    """Publish one successful notebook's staged files into ``dest``, all or nothing.

    Fills ``res.files`` (every published file, kept ones included), ``res.kept`` (published
    files left as they were because the fresh ones agree within ``atol``) and ``res.warnings``.

    Parameters
    ----------
    res : RunResult
        A successful run; ``res.staged`` lists what it wrote.
    stage, dest : path
        Its staging folder, and the folder to publish into.
    info : dict
        The manifest's record of each file (profile, parameters, profile_run, overrides).
    fresh : path, optional
        Where the fresh tables are kept for ``topotta-lite verify`` (nothing kept when ``None``).
    atol : float, optional
        The tolerance within which a published table is kept (default: each table's own,
        :func:`topotta_lite.outputs.tolerance_for`).
    source : path, optional
        The notebook source (its code fingerprint decides, with the package's, what is kept).

    Raises
    ------
    PublishError
        When the files cannot be published (no space, a read-only folder, ...): then every
        published file and the manifest are as they were.
    """
    stage, dest = Path(stage).resolve(), Path(dest).absolute()
    staged, outside = [], []
    for f in res.staged:
        p = Path(f).resolve()
        try:
            p.relative_to(stage)
        except ValueError:
            outside.append(str(p))  # written directly by the notebook, not through the stage
            continue
        if p.is_file():
            staged.append(p)
    if fresh is not None:
        problem = _save_fresh_tables(staged, stage, Path(fresh))
        if problem:
            res.warnings.append(problem)
    info = {**info, "code": code_fingerprint(source) if source is not None else None}
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"{exc.strerror or exc} ({dest})") from None
    with file_lock(dest):
        entries = read_manifest(dest)
        targets = {p: dest / p.relative_to(stage) for p in staged}
        identical = {p for p, t in targets.items() if _identical(p, t)}
        keep = identical | _files_to_keep(res.notebook, targets, entries, dest, info, atol)
        writes = {targets[p]: p for p in staged if p not in keep}
        hashes = {t: (sha256_file(t) if p in keep else sha256_file(p))
                  for p, t in targets.items()}
        final = set(targets.values())
        after = manifest_after(dest, entries, res.notebook, hashes, info,
                               present=lambda key: (dest / key) in final or (dest / key).exists())
        new_manifest = manifest_bytes(after)
        manifest = dest / MANIFEST
        if manifest.is_file() and manifest.read_bytes() == new_manifest:
            pass  # nothing changes in the manifest
        else:
            writes[manifest] = new_manifest
        try:
            replace_all(writes, journal_dir=dest)
        except NotEnoughSpace as exc:
            raise PublishError(f"{exc.strerror} on {exc.filename}; every published file and "
                               "the manifest are as they were") from None
        except OSError as exc:
            raise PublishError(
                f"{exc.strerror or exc} ({exc.filename or dest}); every published file and the "
                "manifest are as they were") from None
    res.kept = sorted(str(targets[p]) for p in keep - identical)
    res.files = [str(targets[p]) for p in staged] + outside
    return res


def _identical(staged: Path, target: Path) -> bool:
    return (target.is_file() and not target.is_symlink()
            and staged.stat().st_size == target.stat().st_size
            and staged.read_bytes() == target.read_bytes())


def _files_to_keep(notebook: str, targets: dict[Path, Path], entries: dict, dest: Path,
                   info: dict, atol: float | None) -> set[Path]:
    """The staged files whose published version stays (see the module's docstring)."""
    def entry(target: Path):
        return entries.get(target.relative_to(dest).as_posix())

    keep = set()
    tables = [p for p in targets if p.suffix == ".csv" and p.parent.name == "tables"]
    all_tables_agree = True
    for p in tables:
        t = targets[p]
        agrees = (not is_timing_table(p.name) and t.is_file() and not t.is_symlink()
                  and _same_origin(entry(t), notebook, info)
                  and compare_table(t, p, atol=atol)["status"] in ("same", "within"))
        if agrees:
            keep.add(p)
            md = p.with_suffix(".md")
            if md in targets and targets[md].is_file() and _same_origin(entry(targets[md]),
                                                                        notebook, info):
                keep.add(md)
        else:
            all_tables_agree = False
    if all_tables_agree:
        for p, t in targets.items():
            if p.parent.name == "tables" and p.suffix in (".csv", ".md"):
                continue
            if t.is_file() and not t.is_symlink() and _same_origin(entry(t), notebook, info):
                keep.add(p)
    return keep


def refresh_readme(dest: Path, params: dict, write, *, profile_run: bool) -> bool:
    """Rewrite the README's results block from ``dest/tables``, once they are published.

    Only for a notebook that asks for it (``update_readme_block = True``: the claims report),
    only for a run of the ``quick`` profile with its own parameters (``profile_run``), and only
    when ``dest`` is the committed ``figures/``. It runs after publishing, because the notebook
    itself writes into a staging folder: while it runs, ``figures/tables`` still holds the
    previous run's claims. Returns whether the README was checked.
    """
    if not params.get("update_readme_block"):
        return False
    if not profile_run or params.get("profile") != OWNER_PROFILE:
        return False
    if Path(dest).resolve() != committed_figures_dir().resolve():
        return False
    from topotta_lite.experiments.readme import update_readme

    changed = update_readme(repo_root() / "README.md", folder=Path(dest) / "tables")
    write("README results block " + ("rewritten from the published tables" if changed
                                     else "already matches the published tables"))
    return True


def remove_dead_runs(runs: Path) -> None:
    """Delete the staging folders of runs whose process was killed (``<pid>-<token>``)."""
    if not runs.is_dir():
        return
    for d in runs.iterdir():
        pid = d.name.split("-", 1)[0]
        if d.is_dir() and pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def describe_kept(res: RunResult) -> str:
    """A short phrase for the report line: how many published files were kept although the
    fresh ones differ (within the tolerance)."""
    if not res.kept:
        return ""
    return (f" ({len(res.kept)} kept as they were: the fresh tables agree within "
            f"{TABLE_TOLERANCE:g}, {PER_IMAGE_TOLERANCE:g} per image)")

