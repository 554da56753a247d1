"""The claims, declared as data: what each one says, where it comes from, and how it is judged.

One :class:`Claim` per quantitative sentence: its id, the statement in our words, its origin
(``paper``: a sentence of the paper; ``ours``: a comparison we add, e.g. ``thr_worst``), the
tables it reads, its comparands, the procedure that turns them into contrasts
(:mod:`.procedures`), the side of the threshold the claim puts them on, and the threshold
itself:

* 0 for "better" (and "best", "lowest", "falls"): such a sentence is about the sign of a
  difference, so it is tested against equal means, where its error rates are controlled; the
  smallest effect of interest (:data:`topotta_lite.experiments.stats.SESOI`) then says whether
  the difference found is one of interest or negligible (the ``effect`` column);
* minus the smallest effect of interest for "never worse" (non-inferiority: a loss smaller than
  anything of interest is no loss);
* the log of :data:`OVERHEAD_LIMIT` for the timing claim (differences of log times).

Nothing here computes anything; :mod:`.evaluate` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from topotta_lite.experiments.claims.measures import (
    best_at,
    components,
    fewshot_low_vs_high,
    lowest,
    method_gap,
    monotone_step,
    off_diagonal,
    robustness,
    runtime_ratio,
    without_zero_shots,
)
from topotta_lite.experiments.claims.mechanisms import mechanism
from topotta_lite.experiments.claims.procedures import PROCEDURES
from topotta_lite.experiments.stats import DIRECTIONS, SESOI

__all__ = ["CLAIMS", "GROUPS", "OVERHEAD_LIMIT", "TABLE_NOTEBOOK", "Claim"]

#: which notebook writes which table (for "not testable" reasons)
TABLE_NOTEBOOK = {
    "table1_2d": "06", "table3_per_class": "06", "table1_3d": "07",
    "table5_topk": "08", "table6_components": "08", "ablation_mask_rule": "08",
    "ablation_eai_target": "08", "mechanisms": "06 or 08", "table7_lambda": "09",
    "table8_levels": "09", "table9_margin": "09", "sensitivity_alpha": "09",
    "table2_fewshot": "10", "table4_crossmodel": "10", "fig7_robustness": "11",
    "table10_runtime": "12",
}

GROUPS = ("main", "mechanism", "ablation", "sensitivity", "robustness", "runtime")
"""The report's sections, in order."""

OVERHEAD_LIMIT = 1.25
"""The timing claim's limit on TopoTTA / TTT4AS: the paper reports an overhead of about 12%
(Sec. V-I); we accept up to twice that overhead as "limited"."""


@dataclass(frozen=True)
class Claim:
    """One quantitative claim.

    Attributes
    ----------
    id : str
        Short name (a row of the claims table).
    statement : str
        The claim in our words.
    origin : {"paper", "ours"}
        A sentence of the paper, or a comparison we add.
    group : str
        Section of the report (:data:`GROUPS`).
    source : str
        Where the paper says it (``"Table I"``, ``"Sec. V-G2"``), or ``""``.
    tables : tuple of str
        Tables it reads (ours from ``<name>_per_image``). With ``any_table=True`` any one of
        them suffices (e.g. Table I's 2D and 3D rows).
    comparands : str
        What is compared, in words.
    statistic : str
        The procedure (:data:`~.procedures.PROCEDURES`).
    measure : callable
        ``measure(tables, statistic) -> list[Comparison]``.
    direction : {"above", "below"}
    threshold : float
        The value every contrast must be beyond.
    scale : {"score", "log time"}
        ``score``: F1, IoU, precision or recall, judged against :data:`SESOI`; ``log time``:
        differences of log seconds (printed as ratios).
    any_table : bool
    paper_tables : tuple of str, optional
        The paper's tables the paper side reads, when not ``tables``.
    paper_measure : callable, optional
        The paper side's measurement, when not ``measure``.
    paper_note : str
        Caveat about the paper side.
    presets : tuple of str
        Presets the claim is judged for even when a table lacks their rows (said so).
    mechanism : bool
        The claim is about a mechanism: a setting in which it changes fewer than
        :data:`~.mechanisms.ACTIVE_SHARE` of the masks is vacuous.
    """

    id: str
    statement: str
    origin: str
    group: str
    source: str
    tables: tuple[str, ...]
    comparands: str
    statistic: str
    measure: Callable
    direction: str = "above"
    threshold: float = 0.0
    scale: str = "score"
    any_table: bool = False
    paper_tables: tuple[str, ...] | None = None
    paper_measure: Callable | None = None
    paper_note: str = ""
    presets: tuple[str, ...] = ("paper",)
    mechanism: bool = False

    def __post_init__(self):
        if self.statistic not in PROCEDURES:
            raise ValueError(f"{self.id}: unknown statistic {self.statistic!r}")
        if self.direction not in DIRECTIONS or self.origin not in ("paper", "ours") or \
                self.group not in GROUPS or self.scale not in ("score", "log time"):
            raise ValueError(f"{self.id}: bad direction, origin, group or scale")

    @property
    def rule(self) -> str:
        """The rule in words (shown in the report)."""
        side = ">" if self.direction == "above" else "<"
        if self.scale == "log time":
            limit = f"{math.exp(self.threshold):.2f}x"
            return f"every ratio {side} {limit} (95% interval)"
        what = "every contrast" if self.statistic != "difference" else "the difference"
        return f"{what} {side} {self.threshold:g} (95% simultaneous interval)"

    def fmt(self, value: float) -> str:
        """A value of the claim's statistic as text (ratios for timings)."""
        if self.scale == "log time":
            return f"{math.exp(value):.2f}x"
        return f"{value:+.3f}"


_T1 = ("table1_2d", "table1_3d")
_BOTH = ("paper", "release")
_NONINF = -SESOI  # "never worse": not worse by the smallest effect of interest

CLAIMS: tuple[Claim, ...] = (
    # ------------------------------------------------------------------ Table I-IV
    Claim("beats_ttt4as_f1", "TopoTTA has a higher F1 than TTT4AS on every dataset/backbone",
          "paper", "main", "Table I", _T1, "TopoTTA vs TTT4AS (F1)", "difference",
          method_gap(_T1, "TopoTTA", "TTT4AS"), any_table=True, presets=_BOTH),
    Claim("beats_thr_f1", "TopoTTA has a higher F1 than the global threshold THR on every "
          "dataset/backbone", "paper", "main", "Table I", _T1, "TopoTTA vs THR (F1)",
          "difference", method_gap(_T1, "TopoTTA", "THR"), any_table=True, presets=_BOTH),
    Claim("best_iou", "TopoTTA has the best IoU of the three operators on every "
          "dataset/backbone", "paper", "main", "Table I", _T1,
          "TopoTTA vs THR and vs TTT4AS (IoU)", "beats_all",
          method_gap(_T1, "TopoTTA", ("THR", "TTT4AS"), "iou"), any_table=True, presets=_BOTH),
    Claim("thr_worst", "THR gives the lowest F1 of the three operators in every setting (our "
          "reading of Table I: the paper does not say it)", "ours", "main", "Table I", _T1,
          "TTT4AS and TopoTTA vs THR (F1)", "below_all", lowest(_T1, "THR"), any_table=True,
          presets=_BOTH),
    Claim("per_class_best", "TopoTTA has the best F1 in every class", "paper", "main",
          "Table III", ("table3_per_class",), "TopoTTA vs THR and vs TTT4AS, per class (F1)",
          "beats_all", method_gap(("table3_per_class",), "TopoTTA", ("THR", "TTT4AS"),
                                  extra=("category",))),
    Claim("fewshot_every_shot", "With k >= 1 nominal support images, TopoTTA beats TTT4AS at "
          "every k (0 shots is Table I's claim)", "paper", "main", "Table II",
          ("table2_fewshot",), "TopoTTA vs TTT4AS per number of shots (F1)", "difference",
          method_gap(("table2_fewshot",), "TopoTTA", "TTT4AS", extra=("shots",),
                     where=without_zero_shots)),
    Claim("fewshot_low_shot_gain", "The gain over TTT4AS is largest with 1-3 support images",
          "paper", "main", "Sec. V-E", ("table2_fewshot",),
          "mean gain over TTT4AS at 1-3 shots vs at 5-10 shots (F1)", "mean_gap_change",
          fewshot_low_vs_high()),
    Claim("crossmodel_beats_ttt4as", "With features from another backbone than the one behind "
          "the score maps, TopoTTA still beats TTT4AS (the same-backbone diagonal excluded)",
          "paper", "main", "Table IV", ("table4_crossmodel",),
          "TopoTTA vs TTT4AS per (map source, feature source) (F1)", "difference",
          method_gap(("table4_crossmodel",), "TopoTTA", "TTT4AS", where=off_diagonal),
          paper_note="Table IV's numbers were lost in the paper's text"),
    # ------------------------------------------------------------------ mechanisms
    Claim("pces_helps", "PCES adds F1 to the fused pseudo-label it is trained on", "paper",
          "mechanism", "Table VI", ("mechanisms",), "TopoTTA (EAI + PCES) vs EAI (F1)",
          "difference", mechanism("pces"), paper_tables=("table6_components",),
          paper_measure=components("pces"), mechanism=True),
    Claim("eai_beats_intersection", "Euler-aware fusion beats the plain intersection of the "
          "two masks, on the images where it changes the intersection", "paper", "mechanism",
          "Sec. IV-A", ("mechanisms",), "EAI vs intersection where EAI acts (F1)",
          "difference", mechanism("eai"), paper_tables=("table6_components",),
          paper_measure=components("eai"), mechanism=True,
          paper_note="the paper has no row without EAI under one reading of Table VI"),
    Claim("eai_fallback", "Where the two masks do not overlap, keeping the sublevel mask (the "
          "fallback) beats the empty intersection", "ours", "mechanism", "",
          ("mechanisms",), "fallback vs empty intersection where it fires (F1)", "difference",
          mechanism("fallback"), mechanism=True, paper_note="the paper describes no fallback"),
    Claim("superlevel_branch_helps", "Adding the superlevel filtration (fused by EAI) adds F1 "
          "to the sublevel one alone", "paper", "mechanism", "Table VI", ("mechanisms",),
          "EAI (sub + super) vs sublevel alone (F1)", "difference", mechanism("superlevel"),
          paper_tables=("table6_components",), paper_measure=components("superlevel_branch"),
          mechanism=True),
    # ------------------------------------------------------------------ Tables V-VI
    Claim("top1_best", "Keeping only the most persistent component (K = 1) gives the best F1 "
          "of K = 1..5", "paper", "ablation", "Table V", ("table5_topk",),
          "K = 1 vs each other K (F1)", "beats_all",
          best_at("table5_topk", "kth_component", 1), presets=_BOTH),
    Claim("top1_best_precision", "K = 1 also gives the highest precision", "paper", "ablation",
          "Table V", ("table5_topk",), "K = 1 vs each other K (precision)", "beats_all",
          best_at("table5_topk", "kth_component", 1, "precision"), presets=_BOTH),
    Claim("topk_monotone", "F1 decreases monotonically as K grows from 1 to 5", "paper",
          "ablation", "Sec. V-G1", ("table5_topk",), "each K vs the one before (F1)", "steps",
          monotone_step("table5_topk", "kth_component"), direction="below", presets=_BOTH),
    Claim("full_config_best", "Both filtrations + EAI + PCES give the best F1 of the Table VI "
          "configurations", "paper", "ablation", "Sec. V-G2", ("table6_components",),
          "the full configuration vs each other one (F1)", "beats_all",
          components("full_best")),
    Claim("superlevel_favours_recall", "The superlevel filtration alone favours recall and "
          "costs precision, compared with the sublevel one alone", "paper", "ablation",
          "Sec. V-G2", ("table6_components",),
          "superlevel vs sublevel alone (recall up, precision down)", "paired_gaps",
          components("superlevel_recall"), presets=_BOTH),
    # ------------------------------------------------------------------ Tables VII-IX
    Claim("lambda_peak_0.01", "The Euler weight lambda = 0.01 gives the best F1", "paper",
          "sensitivity", "Table VII", ("table7_lambda",), "lambda = 0.01 vs each other (F1)",
          "beats_all", best_at("table7_lambda", "lambda", 0.01, activity=True),
          mechanism=True),
    Claim("levels_256_best", "n = 256 filtration levels give the best F1", "paper",
          "sensitivity", "Table VIII", ("table8_levels",), "n = 256 vs each other n (F1)",
          "beats_all", best_at("table8_levels", "levels", 256)),
    Claim("margin_1_best", "The contrastive margin m = 1.0 gives the best F1", "paper",
          "sensitivity", "Table IX", ("table9_margin",), "m = 1 vs each other m (F1)",
          "beats_all", best_at("table9_margin", "margin", 1.0)),
    # ------------------------------------------------------------------ Fig. 7, Table X
    Claim("robust_never_worse", "On degraded maps (brightness, Gaussian, speckle), TopoTTA is "
          "never worse than TTT4AS by the smallest effect of interest or more", "paper",
          "robustness", "Fig. 7", ("fig7_robustness",),
          "TopoTTA vs TTT4AS per (kind, strength > 0) (F1)", "difference",
          robustness("never_worse"), threshold=_NONINF,
          paper_note="Fig. 7 is qualitative: no numbers"),
    Claim("robust_gain_shrinks", "The gain over TTT4AS shrinks as the map gets more corrupted",
          "paper", "robustness", "Fig. 7", ("fig7_robustness",),
          "gain over TTT4AS at the strongest vs the weakest strength (F1)", "gap_change",
          robustness("gain_shrinks"), direction="below",
          paper_note="Fig. 7 is qualitative: no numbers"),
    Claim("overhead_vs_ttt4as", "TopoTTA's extra time over TTT4AS is limited (the paper: "
          "about 12%); accepted up to twice that overhead", "paper", "runtime", "Sec. V-I",
          ("table10_runtime",), "TopoTTA vs TTT4AS, time per image (geometric mean ratio)",
          "difference", runtime_ratio("total_s"), direction="below",
          threshold=math.log(OVERHEAD_LIMIT), scale="log time"),
)
"""Every claim, in report order."""
