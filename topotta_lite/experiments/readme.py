"""The README's results block, generated from the regenerated tables (no number typed by hand).

The README holds one block between :data:`README_MARKERS`; :func:`results_block` writes it from
``figures/tables`` (Table I's 2D and 3D rows per preset, the claims report's verdicts per preset,
the smallest effect of interest, and which components help, which do not and which are
inactive), :func:`update_readme` puts it
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
_VERDICT_WORDS = {"holds": ("holds here", "hold here"),
                  "does not hold": ("does not hold", "do not hold"),
                  "inconclusive": ("is inconclusive", "are inconclusive"),
                  "borderline": ("is borderline", "are borderline"),
                  "vacuous (mechanism inactive)": ("is vacuous (mechanism inactive)",
                                                   "are vacuous (mechanism inactive)"),
                  "not testable here": ("is not testable in this run",
                                        "are not testable in this run")}
"""How a count of claims with each verdict reads: (one claim, several claims)."""


def _count_words(n: int, verdict: str) -> str:
    """``3 hold here``, ``1 holds here``: a count of claims and its verdict, in agreement."""
    words = _VERDICT_WORDS.get(verdict, (verdict, verdict))
    return f"{n} {words[0] if n == 1 else words[1]}"


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


def _intervals(settings: pd.DataFrame | None) -> dict:
    """``{(setting, preset): "+0.053 [+0.030, +0.078]"}`` of the TopoTTA - TTT4AS claim.

    Older tables named the preset inside the setting (``.../paper``, ``.../nan``); they are read
    too.
    """
    from topotta_lite.experiments.claims.render import interval_text

    if settings is None or not {"claim", "setting", "low", "high"} <= set(settings.columns):
        return {}
    rows = settings[settings["claim"] == "beats_ttt4as_f1"]
    if "side" in rows.columns:
        rows = rows[rows["side"] == "ours"]
    out = {}
    for r in rows.to_dict("records"):
        if pd.isna(r["low"]):
            continue
        label, preset = str(r["setting"]), r.get("preset")
        if not isinstance(preset, str):  # older tables: the preset was the label's last part
            label, _, preset = label.rpartition("/")
            preset = "paper" if preset == "nan" else preset
        out[(label, preset)] = interval_text(r)
    return out


def _results_rows(folder: Path) -> list[str]:
    from topotta_lite.experiments.claims.frames import assign_presets, setting_label
    from topotta_lite.experiments.grid import paper_table
    from topotta_lite.experiments.paper_checks import paper_sanity
    from topotta_lite.experiments.tables import paper_counterparts

    frames = [t for t in (_read(folder, "table1_2d"), _read(folder, "table1_3d")) if t is not None]
    if not frames:
        return []
    t1 = assign_presets(pd.concat(frames, ignore_index=True))
    ci = _intervals(_read(folder, "claims_settings"))
    paper = paper_table("table1_main").set_index(["dataset", "backbone", "method"])["f1"]
    sanity = paper_sanity()
    flagged = set(sanity.loc[sanity["severity"] == "impossible", "row"])
    keys = [k for k in ("dataset", "scorer", "backbone") if k in t1.columns] + ["preset"]
    head = ["data", "scorer", "backbone", "preset", "classes", "images", "THR F1", "TTT4AS F1",
            "TopoTTA F1", "TopoTTA - TTT4AS, 95% CI", "paper analogue: THR / TTT4AS / TopoTTA"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    for key, g in t1.groupby(keys, sort=False, dropna=False):
        row = dict(zip(keys, key))
        if not (g["method"] == "TopoTTA").any():
            continue
        f1 = dict(zip(g["method"], g["f1"]))
        topo = g[g["method"] == "TopoTTA"]
        n_cls = topo["n_classes"].iloc[0] if "n_classes" in g else None
        n_img = topo["n_images"].iloc[0] if "n_images" in g else None
        label = setting_label(row, ("dataset", "backbone", "scorer"))
        cp = paper_counterparts(pd.DataFrame([row]))
        pd_, ps = cp["paper_dataset"].iloc[0], cp["paper_scorer"].iloc[0]
        if pd_ is not None and (pd_, ps, "TopoTTA") in paper.index:
            ref = f"{pd_} {ps}: " + " / ".join(
                _f(paper.get((pd_, ps, m))) + ("*" if f"Table I: {pd_}/{ps}/{m}" in flagged
                                                else "")
                for m in ("THR", "TTT4AS", "TopoTTA"))
        else:
            ref = "-"
        cells = [*(str(row.get(k, "")) if pd.notna(row.get(k)) else "-"
                   for k in ("dataset", "scorer", "backbone", "preset")),
                 "" if n_cls is None or pd.isna(n_cls) else str(int(n_cls)),
                 "" if n_img is None or pd.isna(n_img) else str(int(n_img)),
                 _f(f1.get("THR")), _f(f1.get("TTT4AS")), _f(f1.get("TopoTTA")),
                 ci.get((label, row["preset"]), "-"), ref]
        lines.append("| " + " | ".join(cells) + " |")
    if any("*" in line.rsplit("|", 2)[-2] for line in lines[2:]):
        where = ("`figures/tables/paper_sanity.md`" if (folder / "paper_sanity.csv").exists()
                 else "notebook 14's sanity check of the paper's tables")
        lines += ["", "\\* a paper row its own table cannot hold (IoU above F1, or F1 above "
                  f"2 IoU / (1 + IoU)): see {where}."]
    return lines


def _claims_lines(claims: pd.DataFrame, settings: pd.DataFrame | None) -> list[str]:
    from topotta_lite.experiments.claims.evaluate import VERDICT_ORDER
    from topotta_lite.experiments.claims.mechanisms import ACTIVE_SHARE
    from topotta_lite.experiments.claims.render import component_lines
    from topotta_lite.experiments.stats import SESOI

    if "preset" not in claims.columns:
        claims = claims.assign(preset="paper")
    n = claims["claim"].nunique() if "claim" in claims.columns else len(claims)
    lines = [f"`figures/tables/claims.md` gives a computed verdict for {n} quantitative claims, "
             "per preset (none is typed by hand). Smallest effect of interest for every F1 / IoU "
             f"claim: {SESOI:g}.", ""]
    for preset, g in claims.groupby("preset", sort=False):
        counts = g["verdict"].value_counts()
        order = [v for v in VERDICT_ORDER if v in counts] + sorted(
            v for v in counts.index if v not in VERDICT_ORDER)
        parts = [_count_words(int(counts[v]), v) for v in order]
        lines.append(f"- **{preset} preset**: {', '.join(parts)}.")
        if "claim" in g.columns:
            for v in order:
                names = ", ".join(f"`{c}`" for c in g.loc[g["verdict"] == v, "claim"])
                lines.append(f"    - {v}: {names}")
    mech = component_lines(claims, settings)
    if mech:
        lines += ["", "Which components help (paper preset; a component that changes fewer than "
                  f"{ACTIVE_SHARE:.0%} of the masks of a setting is inactive there):", "", *mech]
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
        Table I's rows per preset (F1 of the three operators per data set and scorer, the
        number of classes and images, TopoTTA - TTT4AS with its 95% interval from the claims
        report, the paper's analogue row), the verdicts per preset, the smallest effect of
        interest, and which components help, which do not, and which are inactive.
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
        lines += _claims_lines(claims, _read(folder, "claims_settings"))
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
