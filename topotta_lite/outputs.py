"""One figure style and one way to write figures and tables.

Every notebook writes its outputs only through :func:`savefig` and :func:`write_table`, so that

* figures land in ``figures/`` as PNG + PDF and tables in ``figures/tables/`` as CSV + Markdown;
* files are byte-reproducible (no timestamps or software versions in the metadata);
* the batch runner can list what a notebook produced (each write is appended to the run log named by
  the ``TOPOTTA_RUN_LOG`` environment variable, when it is set).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use(os.environ.get("MPLBACKEND", "Agg"))
import matplotlib.pyplot as plt  # noqa: E402

from topotta_lite.config import env, figures_dir, tables_dir

__all__ = [
    "register_output",
    "savefig",
    "to_markdown",
    "use_style",
    "write_table",
]


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
    if not log:
        return
    with open(log, "a", encoding="utf-8") as fh:
        for p in paths:
            fh.write(json.dumps({"path": str(Path(p).resolve()), "kind": kind}) + "\n")


def register_output(path, kind: str = "html") -> Path:
    """Record a file written by other means (e.g. a plotly HTML page) in the run log."""
    path = Path(path)
    _log_output([path], kind)
    return path


def savefig(fig, name: str, *, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Save ``fig`` as ``figures/<name>.png`` and ``.pdf`` with reproducible bytes.

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
        path = figures_dir() / f"{name}.{fmt}"
        meta = _PNG_METADATA if fmt == "png" else _PDF_METADATA
        fig.savefig(path, format=fmt, metadata=meta)
        out.append(path)
    _log_output(out, "figure")
    return out


def _fmt(value) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.3f}"
    return str(value)


def to_markdown(df) -> str:
    """A GitHub-flavoured Markdown table of a DataFrame (floats with 3 decimals, NaN blank)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(" --- " for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_table(df, name: str) -> list[Path]:
    """Write a table as ``figures/tables/<name>.csv`` and ``.md``.

    Floats are written with 4 decimals in the CSV (so tables are byte-stable across runs) and 3 in
    Markdown. The index is not written: put what identifies a row in columns.

    Examples
    --------
    >>> import pandas as pd
    >>> print(to_markdown(pd.DataFrame({"method": ["THR"], "f1": [0.5]})), end="")
    | method | f1 |
    | --- | --- |
    | THR | 0.500 |
    """
    if not name or "/" in name:
        raise ValueError(f"table name must be a plain file stem, got {name!r}")
    csv = tables_dir() / f"{name}.csv"
    md = tables_dir() / f"{name}.md"
    df.to_csv(csv, index=False, float_format="%.4f", lineterminator="\n")
    md.write_text(to_markdown(df), encoding="utf-8")
    _log_output([csv, md], "table")
    return [csv, md]
