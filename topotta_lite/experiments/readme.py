"""The README's results block, generated from the regenerated tables (no number typed by hand).

The README holds one block between :data:`README_MARKERS`; :func:`results_block` writes it from
``figures/tables`` (Table I's 2D and 3D rows, the claims report), :func:`update_readme` puts it
in place (``topotta-lite reproduce`` calls it once notebook 14's claims are published into the
committed ``figures/``), and a test fails when
the committed README and the committed tables disagree.

Examples
--------
>>> block = results_block("/nonexistent")
>>> block.splitlines()[0] == README_MARKERS[0], "no results" in block
(True, True)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["README_MARKERS", "readme_block", "results_block", "update_readme"]

README_MARKERS = ("<!-- results:start -->", "<!-- results:end -->")
_VERDICT_ORDER = ("holds", "does not hold", "inconclusive", "not testable here")
_VERDICT_WORDS = {"holds": "hold here", "does not hold": "do not hold",
                  "inconclusive": "are inconclusive", "not testable here": "are not testable in "
                  "this run"}


def _read(folder: Path, name: str) -> pd.DataFrame | None:
    path = folder / f"{name}.csv"
    if not path.exists():
        return None
    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError):
        return None


def _f(v) -> str:
    return "" if v is None or pd.isna(v) else f"{float(v):.3f}"


def _results_rows(folder: Path) -> list[str]:
    from topotta_lite.experiments.claims import _expand_presets
    from topotta_lite.experiments.grid import paper_table
    from topotta_lite.experiments.stats import Interval
    from topotta_lite.experiments.tables import paper_counterparts

    frames = [t for t in (_read(folder, "table1_2d"), _read(folder, "table1_3d")) if t is not None]
    if not frames:
        return []
    t1 = _expand_presets(pd.concat(frames, ignore_index=True))
    has_preset = "preset" in t1.columns
    settings = _read(folder, "claims_settings")
    ci = {}
    if settings is not None and {"claim", "side", "setting", "low", "high"} <= set(settings):
        rows = settings[(settings["claim"] == "beats_ttt4as_f1") & (settings["side"] == "ours")]
        for r in rows.itertuples():
            if pd.notna(r.low):
                ci[r.setting] = Interval(r.estimate, r.low, r.high, 0, 0).text()
    from topotta_lite.experiments.paper_checks import paper_sanity

    paper = paper_table("table1_main").set_index(["dataset", "backbone", "method"])["f1"]
    sanity = paper_sanity()
    flagged = set(sanity.loc[sanity["severity"] == "impossible", "row"])
    keys = ["dataset", "scorer", "backbone", *(["preset"] if has_preset else [])]
    head = ["data", "scorer", "backbone", *(["preset"] if has_preset else []), "classes",
            "images", "THR F1", "TTT4AS F1", "TopoTTA F1", "TopoTTA - TTT4AS, 95% CI",
            "paper analogue: THR / TTT4AS / TopoTTA"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    for key, g in t1.groupby(keys, sort=False, dropna=False):
        row = dict(zip(keys, key))
        f1 = dict(zip(g["method"], g["f1"]))
        topo = g[g["method"] == "TopoTTA"]
        n_cls = topo["n_classes"].iloc[0] if len(topo) and "n_classes" in g else None
        n_img = topo["n_images"].iloc[0] if len(topo) and "n_images" in g else None
        label = "/".join(str(row[k]) for k in ("dataset", "backbone", "scorer")) + (
            f"/{row['preset']}" if has_preset else "")
        cp = paper_counterparts(pd.DataFrame([row]))
        pd_, ps = cp["paper_dataset"].iloc[0], cp["paper_scorer"].iloc[0]
        if pd_ is not None and (pd_, ps, "TopoTTA") in paper.index:
            ref = f"{pd_} {ps}: " + " / ".join(
                _f(paper.get((pd_, ps, m))) + ("*" if f"Table I: {pd_}/{ps}/{m}" in flagged
                                                else "")
                for m in ("THR", "TTT4AS", "TopoTTA"))
        else:
            ref = "-"
        cells = [row["dataset"], row["scorer"], row["backbone"],
                 *([row["preset"]] if has_preset else []),
                 "" if n_cls is None else str(int(n_cls)),
                 "" if n_img is None else str(int(n_img)),
                 _f(f1.get("THR")), _f(f1.get("TTT4AS")), _f(f1.get("TopoTTA")),
                 ci.get(label, "-"), ref]
        lines.append("| " + " | ".join(cells) + " |")
    if any("*" in line.rsplit("|", 2)[-2] for line in lines[2:]):
        where = ("`figures/tables/paper_sanity.md`" if (folder / "paper_sanity.csv").exists()
                 else "notebook 14's sanity check of the paper's tables")
        lines += ["", "\\* a paper row its own table cannot hold (IoU above F1, or F1 above "
                  f"2 IoU / (1 + IoU)): see {where}."]
    return lines


def results_block(folder: str | Path | None = None) -> str:
    """The README block (markers included) from the tables in ``folder``.

    Parameters
    ----------
    folder : str or Path, optional
        A ``figures/tables`` folder (default: this checkout's).

    Returns
    -------
    str
        Table I's rows (F1 of the three operators per data set and scorer, the number of
        classes and images, TopoTTA - TTT4AS with its 95% interval from the claims report, the
        paper's analogue row) and the count of claim verdicts.
    """
    from topotta_lite.config import tables_dir

    folder = Path(folder) if folder is not None else tables_dir()
    lines = [README_MARKERS[0],
             "<!-- generated from figures/tables by topotta_lite.experiments.readme "
             "(rewritten by topotta-lite reproduce after notebook 14); edits by hand are "
             "overwritten -->"]
    rows = _results_rows(folder)
    claims = _read(folder, "claims")
    if not rows and claims is None:
        lines.append("(no results: run `topotta-lite reproduce --profile quick`)")
    if rows:
        lines += [""] + rows + [""]
    if claims is not None and "verdict" in claims.columns:
        counts = claims["verdict"].value_counts()
        order = [v for v in _VERDICT_ORDER if v in counts] + sorted(
            v for v in counts.index if v not in _VERDICT_ORDER)
        parts = [f"{int(counts[v])} {_VERDICT_WORDS.get(v, v)}" for v in order]
        lines.append(f"`figures/tables/claims.md` gives a computed verdict for {len(claims)} "
                     f"quantitative claims: {', '.join(parts)} (none is typed by hand).")
        if "claim" in claims.columns:
            lines.append("")
            for v in order:
                names = ", ".join(f"`{c}`" for c in claims.loc[claims["verdict"] == v, "claim"])
                lines.append(f"- {v}: {names}")
    lines.append(README_MARKERS[1])
    return "\n".join(lines) + "\n"


def _default_readme() -> Path:
    from topotta_lite.config import repo_root

    return repo_root() / "README.md"


def readme_block(path: str | Path | None = None) -> str | None:
    """The block currently in the README (markers included), or None when it has none."""
    text = Path(path or _default_readme()).read_text(encoding="utf-8")
    start, end = README_MARKERS
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        return None
    stop = j + len(end) + (1 if text[j + len(end):j + len(end) + 1] == "\n" else 0)
    return text[i:stop]


def update_readme(path: str | Path | None = None, folder: str | Path | None = None) -> bool:
    """Replace the README's block by :func:`results_block`; True when the file changed.

    Raises
    ------
    ValueError
        If the README has no block between :data:`README_MARKERS`.
    """
    path = Path(path or _default_readme())
    text = path.read_text(encoding="utf-8")
    old = readme_block(path)
    if old is None:
        raise ValueError(f"{path} has no block between {README_MARKERS[0]} and "
                         f"{README_MARKERS[1]}")
    i = text.find(README_MARKERS[0])
    new_text = text[:i] + results_block(folder) + text[i + len(old):]
    if new_text == text:
        return False
    path.write_text(new_text, encoding="utf-8")
    return True
