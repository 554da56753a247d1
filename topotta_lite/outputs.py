"""One figure style and one way to write figures and tables.

Every notebook writes its outputs only through :func:`savefig` and :func:`write_table`, so that

* figures land in the output folder as PNG + PDF and tables in its ``tables/`` as CSV + Markdown
  (:func:`topotta_lite.config.output_dir`: the runner's staging folder, ``$TOPOTTA_FIGURES``, or
  ``build/scratch/figures`` in an interactive session);
* files are byte-reproducible (no timestamps or software versions in the metadata);
* every file is written to a temporary name in its folder and renamed into place, so a reader (or a
  run killed half-way) never sees a half-written file;
* the batch runner can list what a notebook produced (each write is appended to the run log named by
  the ``TOPOTTA_RUN_LOG`` environment variable, when it is set).

``figures/MANIFEST.json`` (:func:`read_manifest`, :func:`update_manifest`) records which notebook,
profile and parameters made each published file; it is updated under a lock and replaced
atomically, and rebuilt from the files (with a warning) when it cannot be read.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import matplotlib.pyplot as plt  # noqa: E402

from topotta_lite.config import env, output_dir  # noqa: E402
from topotta_lite.safe_io import append_records, atomic_write, file_lock  # noqa: E402

__all__ = [
    "MANIFEST",
    "OUTPUT_SUFFIXES",
    "PER_IMAGE_TOLERANCE",
    "TABLE_TOLERANCE",
    "TIMING_TABLES",
    "TUNING_TABLES",
    "atomic_write",
    "compare_table",
    "compare_tables",
    "is_timing_table",
    "manifest_after",
    "manifest_bytes",
    "tolerance_for",
    "read_manifest",
    "register_output",
    "savefig",
    "sha256_file",
    "to_markdown",
    "update_manifest",
    "use_style",
    "write_table",
]

MANIFEST = "MANIFEST.json"
TABLE_TOLERANCE = 0.002
"""Largest difference allowed between a table made here and the committed one, in any numeric
entry of a table of means (:func:`compare_table`; the README's "What you can rely on" says where
it was measured, and the one place where it does not hold: the release preset's TopoTTA rows)."""
PER_IMAGE_TOLERANCE = 0.01
"""The same for a per-image table (``*_per_image``): one image's F1 moves more than a mean when
another processor's BLAS kernels shift TTT4AS's decision by a few pixels (measured: up to 0.0054
for TTT4AS per image, its means within 0.0001)."""
TIMING_TABLES = ("table10_runtime", "table10_runtime_vs_paper", "claims", "claims_settings")
"""The one list of tables that hold wall-clock timings, or verdicts and estimates computed from
them (the claims report's overhead claim): never compared by ``topotta-lite verify`` (listed as
``timing``), and always published afresh, with their notebook's figures."""
TUNING_TABLES = ("tuning_record", "tuning_candidates")
"""Tables written by ``topotta-lite tune`` (the defaults chosen on the development part), not by
any notebook: ``topotta-lite verify`` lists them as ``tuning`` (not compared, not a failure) when
the last ``reproduce`` run did not compute them."""
OUTPUT_SUFFIXES = (".png", ".pdf", ".html", ".csv", ".md")
"""Suffixes of the files notebooks publish (what a rebuilt manifest lists)."""


_PNG_METADATA = {"Software": None}
_PDF_METADATA = {"Creator": None, "Producer": None, "CreationDate": None, "ModDate": None}

STYLE = {
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "image.cmap": "magma",
    "image.interpolation": "nearest",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "topotta-lite",
    "pdf.fonttype": 42,
}


def use_style() -> None:
    """Apply the project's matplotlib style (call once at the top of a notebook)."""
    plt.rcParams.update(STYLE)


def _log_output(paths: list[Path], kind: str) -> None:
    log = env("TOPOTTA_RUN_LOG")
    if log:  # one write: lines of concurrent writers never mix
        append_records(log, [{"path": str(Path(p).resolve()), "kind": kind} for p in paths])


def register_output(path, kind: str = "html") -> Path:
    """Record a file written by other means (e.g. a plotly HTML page) in the run log."""
    path = Path(path)
    _log_output([path], kind)
    return path


def savefig(fig, name: str, *, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``<output folder>/<name>.png`` and ``.pdf`` with reproducible bytes.

    Each file is written to a temporary name and renamed into place (never half-written). Under
    ``topotta-lite reproduce`` the output folder is the notebook's staging folder, published to
    ``figures/`` when the notebook succeeds (:func:`topotta_lite.config.output_dir`).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure to write.
    name : str
        File stem, named after what it answers (e.g. ``"fig04_multilevel_filtration"``).
    formats : tuple of str
        Subset of ``("png", "pdf")``.

    Returns
    -------
    list of Path
        The files written.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> _ = ax.plot([0, 1], [0, 1])
    >>> [p.suffix for p in savefig(fig, "doctest_line")]  # doctest: +SKIP
    ['.png', '.pdf']
    """
    if not name or "/" in name or "\\" in name:
        raise ValueError(f"figure name must be a plain file stem, got {name!r}")
    out = []
    for fmt in formats:
        if fmt not in ("png", "pdf"):
            raise ValueError(f"unsupported figure format {fmt!r}")
        path = output_dir() / f"{name}.{fmt}"
        meta = _PNG_METADATA if fmt == "png" else _PDF_METADATA
        with atomic_write(path) as tmp:
            fig.savefig(tmp, format=fmt, metadata=meta)
        out.append(path)
    _log_output(out, "figure")
    return out


def _fmt(value) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.3f}"
    # a "|" inside a cell would end it: escape it, and keep each row on one line
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_markdown(df) -> str:
    """A GitHub-flavoured Markdown table of a DataFrame (floats with 3 decimals, NaN blank)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_table(df, name: str) -> list[Path]:
    """Write a table as ``<output folder>/tables/<name>.csv`` and ``.md`` (each atomically).

    Floats are written with 4 decimals in the CSV (so tables are byte-stable across runs) and 3 in
    Markdown. The index is not written: put what identifies a row in columns.

    Examples
    --------
    >>> import pandas as pd
    >>> print(to_markdown(pd.DataFrame({"method": ["THR"], "f1": [0.5]})), end="")
    | method | f1 |
    | --- | --- |
    | THR | 0.500 |
    >>> print(to_markdown(pd.DataFrame({"note": ["a | b"]})).splitlines()[-1])
    | a \\| b |
    """
    if not name or "/" in name:
        raise ValueError(f"table name must be a plain file stem, got {name!r}")
    folder = output_dir() / "tables"
    csv, md = folder / f"{name}.csv", folder / f"{name}.md"
    with atomic_write(csv) as tmp:
        df.to_csv(tmp, index=False, float_format="%.4f", lineterminator="\n")
    with atomic_write(md) as tmp:
        tmp.write_text(to_markdown(df), encoding="utf-8")
    _log_output([csv, md], "table")
    return [csv, md]


# --------------------------------------------------------------------------------------------
# The manifest
# --------------------------------------------------------------------------------------------
def sha256_file(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes (hex).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x"; _ = p.write_bytes(b"")
    >>> sha256_file(p)[:12]
    'e3b0c44298fc'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _published_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in OUTPUT_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _valid_manifest(obj) -> bool:
    return isinstance(obj, dict) and all(
        isinstance(k, str) and isinstance(v, dict) and isinstance(v.get("sha256"), str)
        for k, v in obj.items())


def read_manifest(folder: str | os.PathLike) -> dict[str, dict]:
    """The manifest of a figures folder, ``{relative path: entry}`` (empty when there is none).

    A manifest that cannot be read (truncated, not JSON, wrong layout) is rebuilt from the files
    in the folder, with a warning naming it: each file gets its sha256 and ``"notebook": None``
    until the notebook that makes it runs again.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); _ = (d / "a.png").write_bytes(b"png")
    >>> _ = (d / MANIFEST).write_text('{"a.png": {"noteb')
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     entries = read_manifest(d)
    >>> sorted(entries), entries["a.png"]["notebook"], "cannot be read" in str(caught[0].message)
    (['a.png'], None, True)
    """
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        if not _valid_manifest(entries):
            raise ValueError("not a mapping of file -> entry with a sha256")
        return entries
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        warnings.warn(f"{path} cannot be read ({type(exc).__name__}: {exc}); rebuilding it from the "
                      f"files in {folder}", RuntimeWarning, stacklevel=2)
    return {p.relative_to(folder).as_posix(): {"notebook": None, "profile": None, "parameters": None,
                                               "profile_run": None, "sha256": sha256_file(p)}
            for p in _published_files(folder)}


def update_manifest(folder: str | os.PathLike, notebook: str, files: Iterable[str | os.PathLike],
                    info: dict) -> Path:
    """Record ``files`` (just published by ``notebook``) in ``<folder>/MANIFEST.json``.

    The notebook's previous entries are replaced, entries of other notebooks kept, entries whose file
    has vanished dropped. The read-modify-write happens under a lock on the folder and the new
    manifest replaces the old one atomically, so concurrent runs cannot lose each other's entries.

    Parameters
    ----------
    folder : path
        The figures folder holding the manifest.
    notebook : str
        The notebook's stem, e.g. ``"03_multilevel_filtration"``.
    files : iterable of path
        The files it published (absolute, or relative to ``folder``).
    info : dict
        Recorded with each file: ``profile``, ``parameters``, ``profile_run``, ``overrides``.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); _ = (d / "a.csv").write_text("x\\n")
    >>> _ = update_manifest(d, "01_x", [d / "a.csv"], {"profile": "smoke"})
    >>> read_manifest(d)["a.csv"]["notebook"]
    '01_x'
    """
    folder = Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST
    with file_lock(folder):
        hashes = {}
        for f in files:
            p = Path(f)
            p = p if p.is_absolute() else folder / p
            if p.exists():
                hashes[p] = sha256_file(p)
        entries = manifest_after(folder, read_manifest(folder), notebook, hashes, info)
        with atomic_write(path) as tmp:
            tmp.write_bytes(manifest_bytes(entries))
    return path


def manifest_after(folder: str | os.PathLike, entries: dict[str, dict], notebook: str,
                   hashes: dict, info: dict, *, present=None) -> dict[str, dict]:
    """The manifest once ``notebook`` has published the files of ``hashes`` (``{path: sha256}``).

    The notebook's previous entries are replaced, entries of other notebooks kept, entries whose
    file is not ``present`` dropped (default: not on disk).

    Examples
    --------
    >>> after = manifest_after("/f", {"a.csv": {"notebook": "01", "sha256": "1"},
    ...                               "b.csv": {"notebook": "02", "sha256": "2"}},
    ...                        "01", {"/f/c.csv": "3"}, {"profile": "quick"},
    ...                        present=lambda key: True)
    >>> sorted(after), after["c.csv"]
    (['b.csv', 'c.csv'], {'profile': 'quick', 'notebook': '01', 'sha256': '3'})
    """
    folder = Path(folder).resolve()
    present = present or (lambda key: (folder / key).exists())
    out = {k: v for k, v in entries.items() if v.get("notebook") != notebook}
    for f, digest in hashes.items():
        p = Path(f)
        p = p if p.is_absolute() else folder / p
        try:
            key = p.resolve().relative_to(folder).as_posix()
        except ValueError:
            key = p.as_posix()
        out[key] = {**info, "notebook": notebook, "sha256": digest}
    return {k: v for k, v in out.items() if present(k)}


def manifest_bytes(entries: dict[str, dict]) -> bytes:
    """The bytes of ``MANIFEST.json`` for ``entries`` (sorted keys: stable across runs).

    >>> manifest_bytes({"a.png": {"sha256": "0"}})
    b'{\\n "a.png": {\\n  "sha256": "0"\\n }\\n}\\n'
    """
    return (json.dumps(entries, indent=1, sort_keys=True) + "\n").encode("utf-8")


# --------------------------------------------------------------------------------------------
# Comparing two runs' tables
# --------------------------------------------------------------------------------------------
def _is_timing(column: str) -> bool:
    c = column.lower()
    return c.endswith(("_s", "_ms", "seconds", "_mb")) or c in ("seconds", "time")


def is_timing_table(name: str) -> bool:
    """Whether a table (its stem or file name) holds wall-clock timings (:data:`TIMING_TABLES`).

    >>> is_timing_table("table10_runtime.csv"), is_timing_table("table1_2d")
    (True, False)
    """
    return Path(str(name)).stem in TIMING_TABLES if str(name).endswith((".csv", ".md")) \
        else str(name) in TIMING_TABLES


def tolerance_for(name: str) -> float:
    """The tolerance of one table (its stem or file name): :data:`PER_IMAGE_TOLERANCE` for a
    per-image table, else :data:`TABLE_TOLERANCE`.

    >>> tolerance_for("table1_2d.csv"), tolerance_for("table1_2d_per_image")
    (0.002, 0.01)
    """
    stem = Path(str(name)).stem if str(name).endswith((".csv", ".md")) else str(name)
    return PER_IMAGE_TOLERANCE if stem.endswith("_per_image") else TABLE_TOLERANCE


def _row_label(df, i: int) -> str:
    """What names row ``i``: its text cells, joined (or its number when it has none)."""
    import pandas as pd

    text = [str(df.iloc[i][c]) for c in df.columns
            if not pd.api.types.is_numeric_dtype(df[c]) and str(df.iloc[i][c]) != "nan"]
    return " / ".join(text)[:160] or f"row {i}"


def compare_table(committed: str | os.PathLike, fresh: str | os.PathLike, *,
                  atol: float | None = None, max_listed: int = 50) -> dict:
    """Compare one committed CSV table with a fresh one, number by number.

    ``atol`` defaults to the table's own tolerance (:func:`tolerance_for`). Returns
    ``{"table", "status", "tolerance", "max_abs_diff", "moved", "n_moved", "reason"}`` where
    ``status`` is ``"same"`` (equal numbers and labels; identical bytes among them),
    ``"within"`` (same columns, rows and labels, every number within ``atol``), ``"moved"``
    (a number beyond ``atol``, or other columns, rows or labels), ``"missing"`` (one side has no
    such table) or ``"timing"`` (a table of :data:`TIMING_TABLES`, not compared). ``moved`` lists
    up to ``max_listed`` entries ``{"row", "label", "column", "committed", "fresh"}`` (the
    numbers beyond ``atol``, or the labels that differ); ``n_moved`` counts them all. Columns of
    timings (``*_s``, ``*_ms``, ``seconds``, ``*_mb``) are not compared.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> d = Path(tempfile.mkdtemp()); (d / "a").mkdir(); (d / "b").mkdir()
    >>> pd.DataFrame({"method": ["THR", "TTT4AS"], "f1": [0.2992, 0.5]}).to_csv(d / "a/t.csv", index=False)
    >>> pd.DataFrame({"method": ["THR", "TTT4AS"], "f1": [0.3003, 0.5]}).to_csv(d / "b/t.csv", index=False)
    >>> r = compare_table(d / "a/t.csv", d / "b/t.csv")
    >>> r["status"], round(r["max_abs_diff"], 4)
    ('within', 0.0011)
    >>> r = compare_table(d / "a/t.csv", d / "b/t.csv", atol=0.001)
    >>> r["status"], r["moved"]
    ('moved', [{'row': 0, 'label': 'THR', 'column': 'f1', 'committed': 0.2992, 'fresh': 0.3003}])

    Empty cells are equal to each other, and differ from a filled one:

    >>> pd.DataFrame({"note": [None], "f1": [0.2992]}).to_csv(d / "a/n.csv", index=False)
    >>> pd.DataFrame({"note": [None], "f1": [0.3003]}).to_csv(d / "b/n.csv", index=False)
    >>> pd.DataFrame({"method": ["THR"], "note": [None]}).to_csv(d / "a/m.csv", index=False)
    >>> pd.DataFrame({"method": ["THR"], "note": ["x"]}).to_csv(d / "b/m.csv", index=False)
    >>> compare_table(d / "a/n.csv", d / "b/n.csv")["status"]
    'within'
    >>> compare_table(d / "a/m.csv", d / "b/m.csv")["moved"]
    [{'row': 0, 'label': 'THR', 'column': 'note', 'committed': '', 'fresh': 'x'}]
    """
    import numpy as np
    import pandas as pd

    committed, fresh = Path(committed), Path(fresh)
    name = committed.stem if committed.name else fresh.stem
    atol = tolerance_for(name) if atol is None else float(atol)
    out = {"table": name, "status": "same", "tolerance": atol, "max_abs_diff": 0.0, "moved": [],
           "n_moved": 0, "reason": ""}
    if is_timing_table(name):
        return {**out, "status": "timing", "max_abs_diff": None, "reason": "wall-clock timings"}
    for side, path in (("committed", committed), ("fresh", fresh)):
        if not path.is_file():
            return {**out, "status": "missing", "max_abs_diff": None,
                    "reason": f"no {side} table ({path})"}
    if committed.read_bytes() == fresh.read_bytes():
        return out
    try:
        a, b = pd.read_csv(committed), pd.read_csv(fresh)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        return {**out, "status": "moved", "max_abs_diff": None,
                "reason": f"cannot be read: {type(exc).__name__}: {exc}"}
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return {**out, "status": "moved", "max_abs_diff": None,
                "reason": f"columns or rows differ ({a.shape} vs {b.shape})"}
    moved, worst = [], 0.0
    for col in a.columns:
        if _is_timing(str(col)):
            continue
        x, y = a[col], b[col]
        if pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y):
            xv, yv = x.to_numpy(float), y.to_numpy(float)
            diff = np.where(np.isnan(xv) & np.isnan(yv), 0.0, np.abs(xv - yv))
            diff = np.where(np.isnan(diff), np.inf, diff)
            if diff.size:
                worst = max(worst, float(diff.max()))
            for i in np.flatnonzero(diff > atol + 1e-12):
                moved.append({"row": int(i), "label": _row_label(a, int(i)), "column": str(col),
                              "committed": _plain(xv[i]), "fresh": _plain(yv[i])})
        else:
            # an empty cell reads as missing (NaN, which equals nothing): as text it is ""
            xs, ys = (c.astype(object).where(c.notna(), "").astype(str).to_numpy() for c in (x, y))
            for i in np.flatnonzero(xs != ys):
                worst = float("inf")
                moved.append({"row": int(i), "label": _row_label(a, int(i)), "column": str(col),
                              "committed": str(xs[i]), "fresh": str(ys[i])})
    status = "moved" if moved else ("within" if worst > 0 else "same")
    reason = (f"{len(moved)} entr{'y' if len(moved) == 1 else 'ies'} beyond {atol:g} or with "
              "other labels" if moved else "")
    return {**out, "status": status, "max_abs_diff": worst, "moved": moved[:max_listed],
            "n_moved": len(moved), "reason": reason}


def _plain(v: float):
    """A JSON-able number (``None`` for NaN, a string for infinities)."""
    v = float(v)
    if v != v:
        return None
    return v if abs(v) != float("inf") else str(v)


def _num(v) -> str:
    return "nan" if v is None else f"{v:.4f}"


def compare_tables(reference: str | os.PathLike, candidate: str | os.PathLike, *,
                   atol: float | None = None, skip: Iterable[str] = TIMING_TABLES) -> list[str]:
    """Differences between the CSV tables of two figures folders (empty list: they agree).

    Each table of ``reference`` is compared with :func:`compare_table` (at ``atol``, default
    each table's own tolerance, :func:`tolerance_for`); the tables in ``skip``
    (wall-clock timings, and the claims computed from them) are not. A table of ``reference``
    missing from ``candidate`` is a difference.

    Parameters
    ----------
    reference, candidate : path
        Figures folders (their ``tables/`` is read) or tables folders.

    Examples
    --------
    >>> import tempfile, pandas as pd
    >>> a, b = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())
    >>> pd.DataFrame({"method": ["THR"], "f1": [0.2992]}).to_csv(a / "t.csv", index=False)
    >>> pd.DataFrame({"method": ["THR"], "f1": [0.3003]}).to_csv(b / "t.csv", index=False)
    >>> compare_tables(a, b)
    []
    >>> compare_tables(a, b, atol=0.001)
    ['t.csv: column f1 differs by 0.0011 > 0.001 (row 0: 0.2992 vs 0.3003)']
    """
    import pandas as pd

    def folder(p):
        p = Path(p)
        return p / "tables" if (p / "tables").is_dir() else p

    ref, cand = folder(reference), folder(candidate)
    skip = set(skip)
    out = []
    for path in sorted(ref.glob("*.csv")):
        if path.stem in skip:
            continue
        other = cand / path.name
        if not other.exists():
            out.append(f"{path.name}: missing from {cand}")
            continue
        r = compare_table(path, other, atol=atol)
        if r["status"] not in ("moved", "missing"):
            continue
        if not r["moved"]:
            out.append(f"{path.name}: {r['reason']}")
            continue
        m = r["moved"][0]
        if not pd.api.types.is_numeric_dtype(pd.read_csv(path, usecols=[m["column"]]).iloc[:, 0]):
            out.append(f"{path.name}: column {m['column']} differs (row {m['row']}: "
                       f"{m['committed']!r} vs {m['fresh']!r})")
            continue
        worst = max(abs(float(e["committed"]) - float(e["fresh"]))
                    if None not in (e["committed"], e["fresh"]) else float("inf")
                    for e in r["moved"] if e["column"] == m["column"])
        out.append(f"{path.name}: column {m['column']} differs by {worst:.4g} > {r['tolerance']:g} "
                   f"(row {m['row']}: {_num(m['committed'])} vs {_num(m['fresh'])})")
    return out
