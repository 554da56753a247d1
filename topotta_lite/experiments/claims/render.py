"""The claims report as text: ``claims.md``, the component sentences of the README, the files.

Everything here reads the ``claims`` / ``claims_settings`` tables (:mod:`.report`), so the same
functions render a fresh report and committed CSV files (older ones with fewer columns too).
Every cell read from a table is escaped; a missing number prints as ``-``, never ``nan``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from topotta_lite.experiments.stats import ALPHA, MC_BATCHES, N_BOOT, SESOI, number_text

__all__ = ["cell", "claims_markdown", "component_lines", "interval_text", "write_claims"]

OPTIMISM_COLUMNS = ("choice", "operator", "chosen", "alternative", "dev_gain", "eval_gain",
                    "eval_low", "eval_high", "n_images")
"""The optimism table notebook 13 writes (development gain of each tuned choice beside its
gain on the evaluation split)."""
_ORDER = ("holds", "does not hold", "inconclusive", "borderline", "vacuous (mechanism inactive)",
          "not testable here")
_MECHANISM_WORDS = {"pces_helps": "PCES", "eai_beats_intersection": "EAI (where it acts)",
                    "eai_fallback": "EAI's fallback (where it fires)",
                    "superlevel_branch_helps": "the superlevel branch"}


def cell(value) -> str:
    """A table cell as safe Markdown text: ``|`` escaped, one line, no ``nan``.

    Examples
    --------
    >>> cell("a | b"), cell(float("nan")), cell(None), cell(3), cell("none")
    ('a \\\\| b', '-', '-', '3', 'none')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = str(value)
    if text.strip() in ("nan", "NaN", "<NA>", ""):
        return "-"
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _num(v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        return float("nan")
    return v


def interval_text(row, mc: bool = False) -> str:
    """``"+0.053 [+0.030, +0.078]"`` (ratios for timings), ``"+0.050 (point)"`` without an
    interval, ``"-"`` without an estimate.

    Examples
    --------
    >>> interval_text({"estimate": 0.05, "low": 0.02, "high": 0.08})
    '+0.050 [+0.020, +0.080]'
    >>> interval_text({"estimate": 0.1, "low": 0.05, "high": 0.15, "scale": "log time"})
    '1.11x [1.05x, 1.16x]'
    """
    get = row.get if isinstance(row, dict) else (lambda k, d=None: getattr(row, k, d))
    est, lo, hi = _num(get("estimate")), _num(get("low")), _num(get("high"))
    ratio = get("scale", "score") == "log time"

    def f(v):
        return f"{math.exp(v):.2f}x" if ratio else number_text(v)

    if not np.isfinite(est):
        return "-"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{f(est)} (point)"
    ends = []
    for v, err in ((lo, _num(get("mc_low"))), (hi, _num(get("mc_high")))):
        tail = f" ±{err:.1g}" if mc and np.isfinite(err) and not ratio else ""
        ends.append(f(v) + tail)
    return f"{f(est)} [{ends[0]}, {ends[1]}]"


# ----------------------------------------------------------------------------- mechanisms
def component_lines(summary: pd.DataFrame, settings: pd.DataFrame | None = None,
                    preset: str = "paper") -> list[str]:
    """One sentence per mechanism claim: it helps, it does not, it is inactive, or undecided.

    "Does not help" covers a refuted claim and a difference shown smaller than the smallest
    effect of interest (the whole interval within it); "inactive" is a vacuous verdict. Per K,
    the settings say where the mechanism acts.

    Examples
    --------
    >>> s = pd.DataFrame({"claim": ["pces_helps", "eai_beats_intersection"],
    ...                   "preset": "paper", "verdict": ["inconclusive", "vacuous (mechanism "
    ...                   "inactive)"], "effect": ["negligible", ""], "estimate": [0.002, None],
    ...                   "low": [-0.004, None], "high": [0.008, None], "setting": ["d", ""]})
    >>> for line in component_lines(s): print(line)
    - PCES: does not help: no effect of interest (+0.002 [-0.004, +0.008] at d), within ±0.01
    - EAI (where it acts): inactive (it changes too few masks to be judged)
    """
    if summary is None or not {"claim", "verdict", "effect"} <= set(summary.columns):
        return []  # an older claims table: its verdicts predate the mechanism claims
    rows = summary[summary["claim"].isin(list(_MECHANISM_WORDS))]
    if "preset" in rows.columns:
        rows = rows[rows["preset"].astype(str) == preset]
    out = []
    for r in rows.to_dict("records"):
        name = _MECHANISM_WORDS[r["claim"]]
        verdict, effect = str(r.get("verdict", "")), str(r.get("effect", "") or "")
        where = f" ({interval_text(r)} at {cell(r.get('setting'))})" \
            if interval_text(r) != "-" else ""
        if verdict.startswith("vacuous"):
            text = "inactive (it changes too few masks to be judged)"
        elif verdict == "holds":
            text = f"helps{where}"
        elif verdict == "does not hold":
            text = f"does not help{where}"
        elif effect == "negligible":
            text = f"does not help: no effect of interest{where}, within ±{SESOI:g}"
        elif verdict == "not testable here":
            text = f"not measured in this run ({cell(r.get('reason'))})"
        else:
            text = f"undecided, {cell(verdict)}" + (f" (leaning: {r['leaning']})" if isinstance(
                r.get("leaning"), str) and r.get("leaning") else "") + where
        out.append(f"- {name}: {text}" + _per_k(settings, r["claim"], preset))
    return out


def _per_k(settings, claim: str, preset: str) -> str:
    if settings is None or "claim" not in settings.columns:
        return ""
    rows = settings[(settings["claim"] == claim) & (settings.get("side", "ours") == "ours")]
    if "preset" in rows.columns:
        rows = rows[rows["preset"].astype(str) == preset]
    if len(rows) < 2 or "activity" not in rows.columns:
        return ""
    parts = []
    for r in rows.to_dict("records"):
        share = _num(r.get("activity"))
        acts = f"changes {share:.0%} of the masks" if np.isfinite(share) else ""
        parts.append(f"{cell(r['setting'])}: {acts}, {cell(r['verdict'])}")
    return "; per setting: " + "; ".join(parts)


# ----------------------------------------------------------------------------- claims.md
def _table(head, rows) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _verdicts_per_preset(summary: pd.DataFrame) -> list[str]:
    head = ["claim", "preset", "verdict", "deciding setting: estimate [95% interval]", "origin",
            "source", "the paper's own tables"]
    rows = []
    for r in summary.to_dict("records"):
        verdict = cell(r.get("verdict"))
        leaning = r.get("leaning")
        if isinstance(leaning, str) and leaning:
            verdict += f" (leaning: {leaning})"
        iv = interval_text(r)
        where = f"{cell(r.get('setting'))}: {iv}" if iv != "-" else "-"
        rows.append([f"`{cell(r['claim'])}`", cell(r.get("preset")), verdict, where,
                     cell(r.get("origin")), cell(r.get("source")), cell(r.get("paper_check"))])
    return _table(head, rows)


def _optimism(optimism: pd.DataFrame | None) -> list[str]:
    if optimism is None or not len(optimism):
        return ["Not available: `figures/tables/optimism.csv` (notebook 13, the development / "
                "evaluation protocol) was not found."]
    cols = [c for c in OPTIMISM_COLUMNS if c in optimism.columns]
    rows = []
    for r in optimism[cols].to_dict("records"):
        out = []
        for c in cols:
            v = r[c]
            out.append(f"{_num(v):+.3f}" if c in ("dev_gain", "eval_gain", "eval_low",
                                                   "eval_high") and np.isfinite(_num(v))
                       else cell(v))
        rows.append(out)
    return _table(cols, rows)


def _details(summary: pd.DataFrame, settings: pd.DataFrame) -> list[str]:
    out = []
    ours = settings[settings["side"] == "ours"] if "side" in settings.columns else settings
    for r in summary.to_dict("records"):
        out.append(f"- **`{cell(r['claim'])}`, {cell(r['preset'])} preset** "
                   f"({cell(r.get('verdict'))}): {cell(r.get('statement'))}; "
                   f"{cell(r.get('comparands'))}; rule: {cell(r.get('rule'))}. "
                   f"{cell(r.get('reason'))}.")
        mine = ours[(ours["claim"] == r["claim"]) & (ours["preset"] == r["preset"])]
        for s in mine.to_dict("records"):
            n = _num(s.get("n_images"))
            extra = (f"{int(n)} images, {int(_num(s.get('n_classes')))} classes"
                     if np.isfinite(n) else "")
            act = _num(s.get("activity"))
            if np.isfinite(act):
                extra += f", the mechanism changes {act:.0%} of the masks"
            effect = s.get("effect")
            if isinstance(effect, str) and effect:
                extra += f", effect {effect}"
            out.append(f"    - {cell(s['setting'])}: {cell(s.get('comparands'))} "
                       f"{interval_text(s, mc=True)} ({extra}): {cell(s.get('verdict'))}"
                       + (f" ({cell(s.get('borderline'))})" if s.get("borderline") else ""))
        paper = r.get("paper_value")
        if isinstance(paper, str) and paper:
            out.append(f"    - the paper's tables: {cell(paper)}")
        notes = r.get("paper_notes")
        if isinstance(notes, str) and notes:
            out.append(f"    - caveats: {cell(notes)}")
    return out


def claims_markdown(summary: pd.DataFrame, settings: pd.DataFrame,
                    optimism: pd.DataFrame | None = None, n_boot: int = N_BOOT) -> str:
    """``claims.md``: verdicts per preset, the mechanism verdicts with the optimism table beside
    them, then every setting and the paper's side.

    Examples
    --------
    >>> s = pd.DataFrame({"claim": ["c"], "preset": ["paper"], "verdict": ["holds"],
    ...                   "estimate": [0.05], "low": [0.02], "high": [0.08], "setting": ["d"]})
    >>> text = claims_markdown(s, pd.DataFrame(columns=["claim", "preset", "side"]))
    >>> "| `c` | paper | holds | d: +0.050 [+0.020, +0.080] |" in text, "nan" in text
    (True, False)
    """
    counts = summary.groupby("preset")["verdict"].value_counts() if len(summary) else None
    lines = [
        "# Claims report: verdicts on the evaluation split",
        "",
        "Generated by `topotta_lite.experiments.claims` from the per-image tables of the "
        "evaluation split (no verdict is typed by hand). Each setting compares the comparands "
        f"on the same images: {n_boot} resamples of the images within their class, "
        f"{1 - ALPHA:.0%} simultaneous intervals over a claim's contrasts (max-t), refutations "
        "adjusted over the settings (Holm); a claim holds when every setting holds. Smallest "
        f"effect of interest for every F1 / IoU / precision / recall claim: {SESOI:g}. A verdict "
        "whose deciding interval end lies within its Monte-Carlo error (two batch-means "
        f"standard errors over {MC_BATCHES} batches) of the threshold is *borderline*; a "
        "mechanism that changes fewer than 5% of the masks of a setting makes it *vacuous*.",
        "",
        "## Verdicts per preset",
        "",
        *_verdicts_per_preset(summary),
    ]
    if counts is not None:
        def ordered(c):
            return sorted(c.items(), key=lambda kv: _ORDER.index(kv[0]) if kv[0] in _ORDER
                          else len(_ORDER))

        lines += ["", "Counts: " + "; ".join(
            f"{p} preset: " + ", ".join(f"{int(n)} {v}" for v, n in ordered(counts[p]))
            for p in counts.index.get_level_values(0).unique())]
    lines += ["", "## Mechanisms: does each one act, and does it help?", "",
              *(component_lines(summary, settings) or ["No mechanism verdicts."]),
              "", "## Beside them: the optimism of the tuned defaults", "",
              "How much each default chosen on the development split gained there, and what "
              "the same choice gains on the evaluation split (notebook 13).", "",
              *_optimism(optimism), "", "## Every setting", "",
              *_details(summary, settings)]
    text = "\n".join(lines) + "\n"
    return text.replace(" nan", " -")


def write_claims(report, tables_folder: str | Path | None = None) -> list[Path]:
    """Write ``claims.csv``, ``claims_settings.csv``, ``paper_sanity.csv`` (each with its plain
    ``.md``), then ``claims.md`` (:func:`claims_markdown`), into the output folder.

    The optimism table shown beside the mechanism verdicts is read from ``tables_folder`` (the
    folder the claims' tables came from; default ``figures/tables``).
    """
    from topotta_lite.config import output_dir, tables_dir
    from topotta_lite.outputs import atomic_write, register_output, write_table

    files = write_table(report.summary, "claims")
    files += write_table(report.settings.round(
        {c: 4 for c in ("estimate", "low", "high", "mc_low", "mc_high", "p_holds", "p_refutes",
                        "activity")}), "claims_settings")
    if len(report.sanity.columns):
        files += write_table(report.sanity, "paper_sanity")
    optimism = None
    path = Path(tables_folder if tables_folder is not None else tables_dir()) / "optimism.csv"
    if path.exists():
        try:
            optimism = pd.read_csv(path)
        except (pd.errors.EmptyDataError, pd.errors.ParserError):
            optimism = None
    md = output_dir() / "tables" / "claims.md"
    with atomic_write(md) as tmp:
        tmp.write_text(claims_markdown(report.summary, report.settings, optimism),
                       encoding="utf-8")
    register_output(md, "table")
    return [*files, md]
