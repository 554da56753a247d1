"""The paper's quantitative claims, judged on our per-image tables and on the paper's own.

A package whose modules read in one sitting each, arrows pointing down:

=====================  ==========================================================================
:mod:`.catalogue`      the claims as data: id, statement, origin, tables, comparands, statistic,
                       side, threshold (:data:`CLAIMS`)
:mod:`.report`         every claim per preset as the ``claims`` / ``claims_settings`` tables
                       (:func:`assess_claims`), and :func:`load_tables`
:mod:`.render`         the text: ``claims.md``, sentences, the README's lines
:mod:`.evaluate`       tables -> comparisons -> verdicts, per preset, with Holm over settings,
                       vacuous mechanisms and borderline verdicts
:mod:`.measures`       which rows are a claim's comparands, setting by setting
:mod:`.mechanisms`     the same for PCES, EAI, its fallback and the superlevel branch, with the
                       share of masks each changes
:mod:`.procedures`     the contrasts each verdict procedure puts beyond its threshold
:mod:`.frames`         long tables: normalising, presets, setting labels, alignment on images
=====================  ==========================================================================

The statistics (resampling, simultaneous intervals, Holm, the verdict rules, the smallest effect
of interest) are in :mod:`topotta_lite.experiments.stats`; the paper's tables and their sanity
checks in :mod:`topotta_lite.experiments.paper_checks`.
"""

from topotta_lite.experiments.claims.catalogue import CLAIMS, GROUPS, TABLE_NOTEBOOK, Claim
from topotta_lite.experiments.claims.evaluate import (
    PER_IMAGE,
    UNTESTABLE,
    VACUOUS,
    VERDICT_ORDER,
    ClaimResult,
    SettingResult,
    assess,
)
from topotta_lite.experiments.claims.frames import (
    SETTING_COLS,
    Comparison,
    NotTestable,
    assign_presets,
    normalise,
)
from topotta_lite.experiments.claims.mechanisms import ACTIVE_SHARE, MECHANISMS
from topotta_lite.experiments.claims.render import (
    claims_markdown,
    component_lines,
    interval_text,
    write_claims,
)
from topotta_lite.experiments.claims.report import (
    ClaimsReport,
    assess_claims,
    evaluate_claims,
    load_tables,
)
from topotta_lite.experiments.paper_checks import paper_caveats, paper_sanity, paper_tables
from topotta_lite.experiments.stats import BORDERLINE, FAILS, HOLDS, INCONCLUSIVE, SESOI

__all__ = [
    "ACTIVE_SHARE",
    "BORDERLINE",
    "CLAIMS",
    "FAILS",
    "GROUPS",
    "HOLDS",
    "INCONCLUSIVE",
    "MECHANISMS",
    "PER_IMAGE",
    "SESOI",
    "SETTING_COLS",
    "TABLE_NOTEBOOK",
    "UNTESTABLE",
    "VACUOUS",
    "VERDICT_ORDER",
    "Claim",
    "ClaimResult",
    "ClaimsReport",
    "Comparison",
    "NotTestable",
    "SettingResult",
    "assess",
    "assess_claims",
    "assign_presets",
    "claims_markdown",
    "component_lines",
    "evaluate_claims",
    "interval_text",
    "load_tables",
    "normalise",
    "paper_caveats",
    "paper_sanity",
    "paper_tables",
    "write_claims",
]
