"""Tables -> comparisons -> verdicts: each claim judged per preset, on our side and the paper's.

For each claim and preset:

1. the claim's measurement gives one :class:`~.frames.Comparison` per setting;
2. a mechanism claim's setting in which the mechanism changes fewer than
   :data:`~.mechanisms.ACTIVE_SHARE` of the masks is **vacuous** and is left out;
3. every other setting gets simultaneous max-t intervals and p-values
   (:func:`~topotta_lite.experiments.stats.contrast_test`, :data:`~topotta_lite.experiments.stats.N_BOOT`
   resamples, seeded per claim, preset and setting);
4. the claim **holds** when every setting holds, **does not hold** when a setting's refutation
   survives Holm's adjustment over the settings, and is **inconclusive** otherwise; it is
   **borderline** when a setting whose verdict could change the claim's has its deciding interval
   end within the Monte-Carlo error of the threshold (``leaning`` keeps the verdict it would
   have);
5. the paper's side runs the same measurement on the paper's tables (one number per row: point
   values, no interval). Rows the paper's tables cannot hold are flagged and not counted; Table
   VI's row with lost check marks is read both ways.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from topotta_lite.experiments.claims.catalogue import CLAIMS, TABLE_NOTEBOOK, Claim
from topotta_lite.experiments.claims.frames import Comparison, NotTestable, normalise
from topotta_lite.experiments.claims.mechanisms import ACTIVE_SHARE
from topotta_lite.experiments.stats import (
    ALPHA,
    BORDERLINE,
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    N_BOOT,
    Interval,
    contrast_test,
    effect_label,
    holm,
    holm_levels,
    protocol_mean,
    seed_for,
)

__all__ = [
    "PER_IMAGE",
    "READINGS",
    "UNTESTABLE",
    "VACUOUS",
    "VERDICT_ORDER",
    "ClaimResult",
    "SettingResult",
    "all_claims",
    "assess",
    "assess_paper",
]

PER_IMAGE = "_per_image"
"""Suffix of the per-image table written next to each table a claim reads."""
UNTESTABLE = "not testable here"
VACUOUS = "vacuous (mechanism inactive)"
VERDICT_ORDER = (HOLDS, FAILS, INCONCLUSIVE, BORDERLINE, VACUOUS, UNTESTABLE)
"""Every verdict a claim can get, in the order reports list them."""
READINGS = {"table6_components": "the third row read as sub + super + EAI, no PCES",
            "table6_components_no_eai": "the third row read as sub + super + IoU fusion + PCES, "
                                        "no EAI"}
"""The two readings of Table VI's row whose check marks were lost (paper side)."""


@dataclass(frozen=True)
class SettingResult:
    """A claim's outcome in one setting.

    ``verdict`` is the setting's own verdict (holds / does not hold after Holm over the
    settings / inconclusive / vacuous); ``alternatives`` are the verdicts it would get if a
    deciding interval end lying within its Monte-Carlo error of the threshold crossed it (empty:
    not borderline); ``interval`` is the deciding contrast's.
    """

    comparison: Comparison
    interval: Interval
    contrast: str
    verdict: str
    p_holds: float = 1.0
    p_refutes: float = 1.0
    alternatives: tuple[str, ...] = ()
    effect: str = ""
    flags: tuple[str, ...] = ()
    holm_kept: bool = False  # on the wrong side in its own interval, not after Holm

    @property
    def label(self) -> str:
        return self.comparison.label

    @property
    def borderline(self) -> bool:
        return bool(self.alternatives)

    @property
    def counted(self) -> bool:
        """Whether it counts for the claim's verdict (not vacuous, not on a flagged row)."""
        return self.verdict != VACUOUS and not self.flags


@dataclass(frozen=True)
class ClaimResult:
    """A claim on one side and preset: the verdict, why, and the per-setting results."""

    claim: str
    preset: str
    side: str
    verdict: str
    reason: str
    settings: tuple[SettingResult, ...] = ()
    leaning: str = ""
    decisive: SettingResult | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


# ----------------------------------------------------------------------------- the view
def _view(claim: Claim, tables: Mapping[str, pd.DataFrame], side: str) -> dict:
    names = claim.paper_tables if side == "paper" and claim.paper_tables else claim.tables
    suffix = PER_IMAGE if side == "ours" else ""
    view = {t: tables[t + suffix] for t in names
            if t + suffix in tables and len(tables[t + suffix])}
    missing = [t for t in names if t not in view]
    if (claim.any_table and not view) or (not claim.any_table and missing):
        if side == "paper":
            raise NotTestable("not in the paper's tables" + (
                f" ({claim.paper_note})" if claim.paper_note else ""))
        why = []
        for t in missing:
            nb = TABLE_NOTEBOOK.get(t, "?")
            if t in tables and len(tables[t]):
                hint = ("not testable on a shared CPU: its medians carry no interval; it needs "
                        "per-image timings measured interleaved" if t == "table10_runtime" else
                        f"notebook {nb} ran before it wrote per-image tables: rerun it")
                why.append(f"{t}{PER_IMAGE} ({hint})")
            else:
                why.append(f"{t}{PER_IMAGE} (notebook {nb})")
        raise NotTestable("table missing: " + ", ".join(why) + " did not run or wrote nothing"
                          if not any("shared CPU" in w for w in why) else "; ".join(why))
    if side == "ours":
        for t, df in view.items():
            if "image" not in normalise(df).columns:
                raise NotTestable(f"{t}{PER_IMAGE} has no 'image' column: not a per-image table")
    return view


# ----------------------------------------------------------------------------- one setting
def _point(claim: Claim, c: Comparison, flags) -> SettingResult:
    """A setting with one value per class: the contrasts' values, no interval."""
    est = c.contrasts @ np.asarray(protocol_mean(c.values, c.strata))
    sign = 1.0 if claim.direction == "above" else -1.0
    gap = sign * (est - claim.threshold)
    j = int(np.argmin(gap))
    verdict = HOLDS if gap.min() > 1e-9 else FAILS if gap.min() < -1e-9 else INCONCLUSIVE
    e = float(est[j])
    iv = Interval(e, e, e, c.n_images, len(c.classes), n_boot=0)
    return SettingResult(c, iv, c.contrast_names[j], verdict,
                         0.0 if verdict == HOLDS else 1.0, 0.0 if verdict == FAILS else 1.0,
                         flags=flags)


def _tested(claim: Claim, c: Comparison, side: str, n_boot: int):
    t = contrast_test(c.values, c.strata, c.contrasts, c.contrast_names,
                      threshold=claim.threshold, direction=claim.direction, n_boot=n_boot,
                      seed=seed_for(claim.id, side, c.preset, c.label))
    return t


def _near(value: float, err: float, threshold: float) -> bool:
    return bool(np.isfinite(err) and err > 0 and abs(value - threshold) <= err)


def _judge(claim: Claim, comps: Sequence[Comparison], side: str, n_boot: int,
           flags: Mapping[str, Sequence[str]]) -> list[SettingResult]:
    """Per-setting verdicts, with Holm's adjustment of the refutations over the settings."""
    out: list[SettingResult | None] = [None] * len(comps)
    tests = {}
    for i, c in enumerate(comps):
        bad = tuple(sorted({f"{s}: {why}" for s in c.sources for why in flags.get(s, ())}))
        vacuous = claim.mechanism and c.activity is not None and c.activity < ACTIVE_SHARE
        if c.is_point or side == "paper":
            r = _point(claim, c, bad)
            out[i] = SettingResult(r.comparison, r.interval, r.contrast,
                                   VACUOUS if vacuous else r.verdict, r.p_holds, r.p_refutes,
                                   flags=bad)
            continue
        t = _tested(claim, c, side, n_boot)
        tests[i] = t
        j = t.holds_at
        iv = t.interval(j, c.n_images, len(c.classes), seed_for(claim.id, side, c.label))
        effect = (effect_label(iv.low, iv.high, claim.threshold, claim.direction)
                  if claim.scale == "score" else "")
        out[i] = SettingResult(c, iv, t.names[j], VACUOUS if vacuous else INCONCLUSIVE,
                               t.p_holds, t.p_refutes, effect=effect, flags=bad)
    counted = [i for i, r in enumerate(out) if r.counted]
    if counted:
        p = np.array([out[i].p_refutes for i in counted])
        rejected, adjusted = holm(p, ALPHA)
        levels = holm_levels(p, ALPHA)
        for i, rej, adj, level in zip(counted, rejected, adjusted, levels):
            r = out[i]
            verdict = FAILS if rej else HOLDS if r.p_holds <= ALPHA else INCONCLUSIVE
            alternatives = ()
            if i in tests:
                t = tests[i]
                near_hold = _near(*t.end(t.holds_at, "claimed"), claim.threshold)
                near_ref = _near(*t.end(t.refutes_at, "other", float(level)), claim.threshold)
                if verdict == INCONCLUSIVE:
                    alternatives = (*((HOLDS,) if near_hold else ()),
                                    *((FAILS,) if near_ref else ()))
                elif near_hold if verdict == HOLDS else near_ref:
                    alternatives = (INCONCLUSIVE,)
            kept = bool(verdict == INCONCLUSIVE and r.p_refutes <= ALPHA)
            out[i] = SettingResult(r.comparison, r.interval, r.contrast, verdict, r.p_holds,
                                   float(adj), alternatives, r.effect, r.flags, kept)
    return [r for r in out if r is not None]


# ----------------------------------------------------------------------------- one claim
def _combine(results: Sequence[SettingResult]) -> tuple[str, str]:
    """``(verdict, leaning)`` of a claim made in every setting (``leaning``: the verdict a
    borderline claim would have without its Monte-Carlo error)."""
    counted = [r for r in results if r.counted]
    if not counted:
        return (VACUOUS if any(r.verdict == VACUOUS for r in results) else UNTESTABLE), ""
    vs = [r.verdict for r in counted]
    nominal = FAILS if FAILS in vs else HOLDS if all(v == HOLDS for v in vs) else INCONCLUSIVE
    options = [{r.verdict, *r.alternatives} for r in counted]
    possible = set()
    if any(FAILS in o for o in options):
        possible.add(FAILS)
    if all(HOLDS in o for o in options):
        possible.add(HOLDS)
    if all(o != {FAILS} for o in options) and any(INCONCLUSIVE in o for o in options):
        possible.add(INCONCLUSIVE)
    return (BORDERLINE, nominal) if len(possible | {nominal}) > 1 else (nominal, "")


def _decisive(results: Sequence[SettingResult], verdict: str) -> SettingResult | None:
    counted = [r for r in results if r.counted]
    if not counted:
        return results[0] if results else None
    if verdict == FAILS:
        return min((r for r in counted if r.verdict == FAILS), key=lambda r: r.p_refutes)
    if verdict == HOLDS:
        return max(counted, key=lambda r: r.p_holds)
    pending = [r for r in counted if r.verdict != HOLDS] or counted
    return max(pending, key=lambda r: r.p_holds)


def _reason(claim: Claim, results, verdict: str, side: str) -> str:
    what = "interval" if side == "ours" else "value"
    vac = [r.label for r in results if r.verdict == VACUOUS]
    counted = [r for r in results if r.counted]
    parts = []
    if verdict == VACUOUS:
        parts.append(f"the mechanism changes fewer than {ACTIVE_SHARE:.0%} of the masks in every "
                     f"setting ({', '.join(vac)})")
    elif verdict == HOLDS:
        parts.append(f"{claim.rule.split(' (')[0]} in every setting ({len(counted)}): every "
                     f"{what} on the claimed side")
    else:
        groups = (("on the wrong side (after Holm over the settings)",
                   [r for r in counted if r.verdict == FAILS]),
                  ("on the wrong side, but not after Holm over the settings",
                   [r for r in counted if r.holm_kept]),
                  ("straddles the threshold",
                   [r for r in counted if r.verdict == INCONCLUSIVE and not r.holm_kept]))
        for words, rs in groups:
            if rs:
                names = [r.label for r in rs]
                head = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
                parts.append(f"{what} {words} in {len(names)} of {len(counted)}: {head}")
    if vac and verdict != VACUOUS:
        parts.append(f"vacuous (mechanism inactive) in {', '.join(vac)}")
    near = [r.label for r in counted if r.borderline]
    if near:
        parts.append("within the Monte-Carlo error of the threshold: " + ", ".join(near))
    return "; ".join(parts)


def assess(claim: Claim, tables: Mapping[str, pd.DataFrame], side: str = "ours", *,
           n_boot: int = N_BOOT, flags: Mapping[str, Sequence[str]] | None = None
           ) -> list[ClaimResult]:
    """The claim on ``side`` ("ours" or "paper"): one :class:`ClaimResult` per preset.

    Parameters
    ----------
    claim : Claim
    tables : mapping of str -> DataFrame
        Our tables (per-image ones under ``<name>_per_image``) or the paper's.
    side : {"ours", "paper"}
    n_boot : int
        Resamples per setting.
    flags : mapping, optional
        Paper rows that cannot be trusted -> reasons; settings resting on them are not counted.

    Returns
    -------
    list of ClaimResult
        Ours: one per preset (the declared ones and any found). Paper: one, preset ``paper``.
    """
    flags = flags or {}
    try:
        view = _view(claim, tables, side)
        comps = (claim.paper_measure if side == "paper" and claim.paper_measure
                 else claim.measure)(view, claim.statistic)
        if not comps:
            raise NotTestable("no setting could be measured")
    except NotTestable as exc:
        presets = claim.presets if side == "ours" else ("paper",)
        return [ClaimResult(claim.id, p, side, UNTESTABLE, str(exc)) for p in presets]
    if side == "paper":
        groups = {"paper": comps}
    else:
        groups = {p: [] for p in claim.presets}
        for c in comps:
            groups.setdefault(c.preset, []).append(c)
    out = []
    for preset, cs in groups.items():
        if not cs:
            out.append(ClaimResult(claim.id, preset, side, UNTESTABLE,
                                   f"no {preset}-preset rows in {', '.join(claim.tables)}"))
            continue
        results = _judge(claim, cs, side, n_boot, flags)
        verdict, leaning = _combine(results)
        if verdict == UNTESTABLE:
            reason = "every setting rests on a flagged row"
        else:
            reason = _reason(claim, results, leaning or verdict, side)
        if side == "ours" and claim.any_table:
            absent = [t for t in claim.tables if t + PER_IMAGE not in tables]
            if absent:
                reason += "; measured without " + ", ".join(
                    f"{t} (notebook {TABLE_NOTEBOOK.get(t, '?')} did not run)" for t in absent)
        out.append(ClaimResult(claim.id, preset, side, verdict, reason, tuple(results), leaning,
                               _decisive(results, leaning or verdict)))
    return out


def assess_paper(claim: Claim, paper: Mapping[str, pd.DataFrame],
                 flags: Mapping[str, Sequence[str]]) -> list[tuple[str, ClaimResult]]:
    """The paper side under each reading of Table VI it depends on: ``[(reading, result)]``."""
    names = claim.paper_tables or claim.tables
    if "table6_components" not in names or "table6_components_no_eai" not in paper:
        return [("", assess(claim, paper, "paper", flags=flags)[0])]
    out = []
    for key, text in READINGS.items():
        view = dict(paper)
        view["table6_components"] = paper[key]
        out.append((text, assess(claim, view, "paper", flags=flags)[0]))
    return out


def all_claims(ours, paper, claims=CLAIMS, *, n_boot: int = N_BOOT, flags=None):
    """``[(claim, [ours per preset], [(reading, paper result)])]`` for every claim."""
    flags = flags or {}
    ours = {k: normalise(v) for k, v in ours.items()}  # once, not once per claim
    paper = {k: normalise(v) for k, v in paper.items()} if paper else paper
    return [(c, assess(c, ours, "ours", n_boot=n_boot),
             assess_paper(c, paper, flags) if paper else [])
            for c in claims]

