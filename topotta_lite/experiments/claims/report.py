"""The claims report as tables: every claim per preset (``claims``), every setting
(``claims_settings``), in the schema the dashboard reads.

``claims``: one row per (claim, preset) with ``claim, preset, origin, group, verdict, leaning,
statement, source, comparands, statistic, rule, sesoi, paper_value, paper_check, paper_notes,
setting, estimate, low, high, mc_low, mc_high, n_images, n_classes, n_settings, n_vacuous,
activity, effect, reason``, where ``estimate/low/high`` summarise the claim's deciding setting.
``claims_settings``: one row per (claim, preset, side, setting) with ``comparands`` (the
deciding contrast), the interval and its Monte-Carlo errors, ``p_holds`` and ``p_refutes``
(Holm-adjusted over the settings), the images, classes, activity, effect and verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from topotta_lite.experiments.claims.catalogue import CLAIMS, TABLE_NOTEBOOK, Claim
from topotta_lite.experiments.claims.evaluate import (
    PER_IMAGE,
    UNTESTABLE,
    ClaimResult,
    SettingResult,
    all_claims,
)
from topotta_lite.experiments.paper_checks import paper_caveats, paper_sanity, paper_tables
from topotta_lite.experiments.stats import N_BOOT, SESOI

__all__ = ["ClaimsReport", "assess_claims", "evaluate_claims", "load_tables"]

Tables = Mapping[str, pd.DataFrame]
SETTINGS_COLUMNS = ("claim", "preset", "side", "setting", "comparands", "estimate", "low", "high",
                    "mc_low", "mc_high", "p_holds", "p_refutes", "n_images", "n_classes",
                    "classes", "activity", "effect", "verdict", "leaning", "borderline", "flags",
                    "scale")
"""Columns of ``claims_settings`` (present even when no setting could be measured)."""


@dataclass
class ClaimsReport:
    """What :func:`assess_claims` computed.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per (claim, preset) (the ``claims`` table).
    settings : pandas.DataFrame
        One row per (claim, preset, side, setting) (the ``claims_settings`` table).
    sanity : pandas.DataFrame
        :func:`~topotta_lite.experiments.paper_checks.paper_sanity`'s findings.
    """

    summary: pd.DataFrame
    settings: pd.DataFrame
    sanity: pd.DataFrame = field(default_factory=pd.DataFrame)


def load_tables(folder: str | Path | None = None, names=None) -> dict[str, pd.DataFrame]:
    """Our tables that exist in ``folder`` (default ``figures/tables``), by name.

    Both the mean tables and their ``<name>_per_image`` companions are read. Missing or
    unreadable tables are simply absent (the claims using them become "not testable here").
    """
    from topotta_lite.config import tables_dir

    folder = Path(folder) if folder is not None else tables_dir()
    names = names or sorted(TABLE_NOTEBOOK)
    out = {}
    for name in [*names, *(n + PER_IMAGE for n in names)]:
        path = folder / f"{name}.csv"
        if path.exists():
            try:
                out[name] = pd.read_csv(path)
            except (pd.errors.EmptyDataError, pd.errors.ParserError):
                continue
    return out


# ----------------------------------------------------------------------------- paper notes
def _flags(sanity: pd.DataFrame) -> dict[str, list[str]]:
    """Paper rows that cannot be trusted (severity "impossible") -> the reasons."""
    out: dict[str, list[str]] = {}
    for r in sanity[sanity["severity"] == "impossible"].itertuples():
        out.setdefault(r.row, []).append(f"{r.check} ({r.values})")
    return out


def _caveat_notes(caveats: Mapping[str, str], used) -> list[str]:
    """The caveats of the reconstructed paper rows a claim used, one note per caveat."""
    by_text: dict[str, list[str]] = {}
    for key, text in caveats.items():
        if key.split(" (")[0] in used:
            by_text.setdefault(text, []).append(key)
    return [f"{', '.join(rows)}: {text}" for text, rows in by_text.items()]


def _sanity_notes(sanity: pd.DataFrame, used, limit: int = 3) -> list[str]:
    """The sanity findings about the paper rows a claim used, grouped by check."""
    if not len(sanity) or not used:
        return []
    hit = sanity[sanity["row"].apply(lambda row: any(u in str(row).split(" = ") for u in used))]
    notes = []
    for (severity, check), g in hit.groupby(["severity", "check"], sort=False):
        items = [f"{r.row} ({r.values})" for r in g.itertuples()]
        more = f" ... ({len(items) - limit} more, see paper_sanity)" if len(items) > limit else ""
        head = (f"flagged, not counted ({check})" if severity == "impossible"
                else f"{severity}, {check}")
        notes.append(f"{head}: " + "; ".join(items[:limit]) + more)
    return notes


def _paper_text(claim: Claim, readings) -> tuple[str, str, set]:
    """``(paper_value, paper_check, rows used)`` over the readings of the paper's tables."""
    texts, checks, used = [], [], set()
    for reading, res in readings:
        body = "; ".join(
            f"{s.label}: {claim.fmt(s.interval.estimate)}"
            + (" [flagged, not counted]" if s.flags else "") for s in res.settings) or res.reason
        texts.append(f"{reading}: {body}" if reading else body)
        checks.append((reading, (res.verdict if res.settings else "n/a")
                       + _small_margins(claim, res)))
        used |= {src for s in res.settings for src in s.comparison.sources}
    verdicts = {v for _, v in checks}
    check = checks[0][1] if len(verdicts) == 1 else "; ".join(
        f"{v} ({r.split(' read as ')[-1]})" for r, v in checks)
    return " | ".join(texts), check, used


def _small_margins(claim: Claim, res: ClaimResult) -> str:
    """A note when the paper's own margins for a claim that holds are below the SESOI."""
    if claim.scale != "score" or res.verdict != "holds":
        return ""
    sign = 1.0 if claim.direction == "above" else -1.0
    gaps = [sign * (s.interval.estimate - claim.threshold) for s in res.settings if s.counted]
    small = sum(g < SESOI for g in gaps)
    if not small:
        return ""
    where = "every setting" if small == len(gaps) else f"{small} of {len(gaps)} settings"
    return f" (margin below the smallest effect of interest in {where})"


# ----------------------------------------------------------------------------- rows
def _setting_row(claim: Claim, side: str, preset: str, s: SettingResult) -> dict:
    iv, c = s.interval, s.comparison
    has_iv = side == "ours" and iv.n_boot > 0
    return {
        "claim": claim.id, "preset": preset, "side": side, "setting": s.label,
        "comparands": s.contrast, "estimate": iv.estimate,
        "low": iv.low if has_iv else np.nan, "high": iv.high if has_iv else np.nan,
        "mc_low": iv.mc_low if has_iv else np.nan, "mc_high": iv.mc_high if has_iv else np.nan,
        "p_holds": s.p_holds if has_iv else np.nan,
        "p_refutes": s.p_refutes if has_iv else np.nan,
        "n_images": c.n_images if side == "ours" else np.nan,
        "n_classes": len(c.classes) if side == "ours" else np.nan,
        "classes": ", ".join(c.classes) if side == "ours" else "",
        "activity": c.activity if c.activity is not None else np.nan,
        "effect": s.effect, "verdict": s.verdict,
        "leaning": s.verdict if s.borderline else "",
        "borderline": "; ".join(f"could be {a}" for a in s.alternatives),
        "flags": "; ".join(s.flags), "scale": claim.scale}


def _summary_row(claim: Claim, res: ClaimResult, paper: tuple[str, str, str]) -> dict:
    d = res.decisive
    iv = d.interval if d is not None else None
    has_iv = iv is not None and iv.n_boot > 0
    counted = [s for s in res.settings if s.counted]
    acts = [s.comparison.activity for s in res.settings if s.comparison.activity is not None]
    return {
        "claim": claim.id, "preset": res.preset, "origin": claim.origin, "group": claim.group,
        "verdict": res.verdict, "leaning": res.leaning, "statement": claim.statement,
        "source": claim.source, "comparands": claim.comparands, "statistic": claim.statistic,
        "rule": claim.rule, "sesoi": SESOI if claim.scale == "score" else np.nan,
        "paper_value": paper[0], "paper_check": paper[1], "paper_notes": paper[2],
        "setting": d.label if d is not None else "",
        "estimate": iv.estimate if iv is not None and res.verdict != UNTESTABLE else np.nan,
        "low": iv.low if has_iv else np.nan, "high": iv.high if has_iv else np.nan,
        "mc_low": iv.mc_low if has_iv else np.nan, "mc_high": iv.mc_high if has_iv else np.nan,
        "n_images": d.comparison.n_images if d is not None else np.nan,
        "n_classes": len(d.comparison.classes) if d is not None else np.nan,
        "n_settings": len(counted), "n_vacuous": len(res.settings) - len(counted),
        "activity": min(acts) if acts else np.nan,
        "effect": _effect(counted, d), "scale": claim.scale,
        "reason": res.reason}


def _effect(counted, decisive) -> str:
    """The claim's effect: negligible only when every counted setting's is."""
    effects = {s.effect for s in counted}
    if effects == {"negligible"}:
        return "negligible"
    return decisive.effect if decisive is not None and decisive.effect != "negligible" else (
        "undetermined" if effects else "")


def assess_claims(ours: Tables, paper: Tables | None = None, claims=CLAIMS, *,
                  n_boot: int = N_BOOT) -> ClaimsReport:
    """Every claim, per preset, on our tables (intervals, verdicts) and on the paper's (points).

    Parameters
    ----------
    ours : mapping of str -> DataFrame
        :func:`load_tables` output (per-image tables under ``<name>_per_image``).
    paper : mapping, optional
        :func:`~topotta_lite.experiments.paper_checks.paper_tables` output (default); ``{}``
        skips the paper side.
    claims : sequence of Claim
    n_boot : int
        Resamples per setting.

    Returns
    -------
    ClaimsReport

    Examples
    --------
    >>> rows = [{"dataset": "d", "category": c, "image": str(i), "method": m,
    ...          "f1": 0.3 + 0.1 * (m == "TopoTTA") + 0.01 * i}
    ...         for c in "ab" for i in range(5) for m in ("TTT4AS", "TopoTTA")]
    >>> rep = assess_claims({"table1_2d_per_image": pd.DataFrame(rows)}, paper={},
    ...                     claims=[CLAIMS[0]], n_boot=200)
    >>> rep.summary[["preset", "verdict", "n_images", "n_classes"]].values.tolist()[0]
    ['paper', 'holds', 10, 2]
    >>> rep.summary.loc[1, ["preset", "verdict"]].tolist()  # no release-preset rows
    ['release', 'not testable here']
    """
    paper = paper_tables() if paper is None else paper
    sanity = paper_sanity() if paper else pd.DataFrame(
        columns=["severity", "check", "row", "values", "finding"])
    caveats = paper_caveats() if paper else {}
    summary, detail = [], []
    for c, results, readings in all_claims(ours, paper, claims, n_boot=n_boot,
                                           flags=_flags(sanity)):
        if readings:
            value, check, used = _paper_text(c, readings)
            notes = _caveat_notes(caveats, used) + _sanity_notes(sanity, sorted(used))
            if check == "n/a" and c.paper_note:
                notes = [c.paper_note, *notes]
        else:
            value, check, notes = "paper side not computed", "n/a", []
        for res in results:
            summary.append(_summary_row(c, res, (value, check, " | ".join(notes))))
            detail += [_setting_row(c, "ours", res.preset, s) for s in res.settings]
        for _, res in readings[:1]:
            detail += [_setting_row(c, "paper", "paper", s) for s in res.settings]
    return ClaimsReport(_counts(pd.DataFrame(summary)),
                        _counts(pd.DataFrame(detail, columns=SETTINGS_COLUMNS)), sanity)


def _counts(df: pd.DataFrame) -> pd.DataFrame:
    """Counts as integers (blank where there is none), never ``10.0``."""
    for col in ("n_images", "n_classes", "n_settings", "n_vacuous"):
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce").round().astype("Int64")
    return df


def evaluate_claims(ours: Tables, paper: Tables | None = None, claims=CLAIMS, *,
                    n_boot: int = N_BOOT) -> pd.DataFrame:
    """The claims table: :func:`assess_claims` ``(...).summary``.

    Examples
    --------
    >>> rows = [{"dataset": "d", "category": "a", "image": str(i), "method": m, "f1": 0.4}
    ...         for i in range(4) for m in ("TTT4AS", "TopoTTA")]
    >>> t = {"table1_2d_per_image": pd.DataFrame(rows)}
    >>> evaluate_claims(t, paper={}, claims=[CLAIMS[0]], n_boot=200).loc[0, "verdict"]
    'inconclusive'
    """
    return assess_claims(ours, paper, claims, n_boot=n_boot).summary

