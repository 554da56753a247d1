"""The experiment harness: everything that turns operators and data into the paper's tables.

=========================  ======================================================================
:mod:`.bundles`            score bundles (maps + features of one class, computed once) and the
                           experiment cell (:func:`evaluate_cell`): one operator on one bundle
:mod:`.grid`               the grid runner with its result cache (resume, Dask executor)
:mod:`.sweeps`             parameter sweeps and ablation configurations (Tables V-IX)
:mod:`.tables`             records -> tables, side by side with the paper's numbers
:mod:`.robustness`         perturbed maps and failure diagnosis (Fig. 7, Fig. 8)
:mod:`.runtime`            interleaved timing and memory of the operators (Table X)
:mod:`.stats`              paired resampling within classes, simultaneous (max-t) intervals,
                           Holm, the verdict rules, Monte-Carlo errors, the smallest effect of
                           interest
:mod:`.claims`             every quantitative claim (a package: the claims as data, their
                           measurements, their evaluation per preset, their text)
:mod:`.paper_checks`       the paper's tables, their sanity and the text's monotone statements
:mod:`.readme`             the README's generated results block
:mod:`.tuning`             every default chosen on the development part (``topotta-lite tune``),
                           the same budget per operator; the optimism on the evaluation part
``paper/``                 the paper's own tables (CSV), shipped with the package
=========================  ======================================================================

Examples
--------
>>> from topotta_lite.experiments import paper_table
>>> paper_table("table7_lambda").columns.tolist()[:2]
['lambda', 'dataset']
"""

from topotta_lite.experiments.bundles import (
    DEFAULT_BACKBONE,
    MAPS_SCORER,
    ROBUSTNESS_PERTURBATIONS,
    SCORERS,
    bundle_path,
    evaluate_cell,
    load_split,
    make_operator,
    maps_bundle,
    maps_fingerprint,
    modality_of,
    perturb_map,
    ranking_cell,
    score_bundle,
    segment_bundle,
)
from topotta_lite.experiments.claims import (
    ACTIVE_SHARE,
    CLAIMS,
    INCONCLUSIVE,
    PER_IMAGE,
    TABLE_NOTEBOOK,
    UNTESTABLE,
    VERDICT_ORDER,
    Claim,
    ClaimsReport,
    NotTestable,
    assess_claims,
    claims_markdown,
    component_lines,
    evaluate_claims,
    interval_text,
    load_tables,
    paper_caveats,
    paper_sanity,
    paper_tables,
    write_claims,
)
from topotta_lite.experiments.grid import (
    RESULTS_VERSION,
    GridReport,
    ResultCache,
    cell_key,
    default_cache,
    paper_table,
    run_grid,
)
from topotta_lite.experiments.readme import (
    README_MARKERS,
    readme_block,
    results_block,
    update_readme,
)
from topotta_lite.experiments.robustness import (
    diagnose,
    per_image_table,
    robustness_cells,
    robustness_image_table,
    robustness_table,
    signal_to_noise,
)
from topotta_lite.experiments.runtime import (
    bundle_is_cached,
    gpu_available,
    peak_memory_mb,
    runtime_cell,
    time_operators,
)
from topotta_lite.experiments.stats import (
    ALPHA,
    FAILS,
    HOLDS,
    SESOI,
    Interval,
    paired_difference,
    protocol_mean,
    stratified_bootstrap,
    three_way,
)
from topotta_lite.experiments.sweeps import (
    build_cells,
    component_configurations,
    drop_defaults,
    kth_component_variants,
    mean_over_classes,
    one_at_a_time,
    paired_against,
    paper_analogue,
    pces_ablation_variants,
    results_frame,
    run_labelled,
    setting_variants,
    topotta_defaults,
    with_preset,
)
from topotta_lite.experiments.tables import (
    PAPER_COUNTERPARTS,
    compare_main,
    format_table,
    gain_table,
    image_table,
    main_table,
    method_order,
    ordering_agreement,
    paper_counterparts,
    per_class_table,
    ranking_table,
    records_frame,
    representative_index,
    side_by_side,
)

__all__ = [
    "ACTIVE_SHARE",
    "ALPHA",
    "CLAIMS",
    "Claim",
    "ClaimsReport",
    "DEFAULT_BACKBONE",
    "FAILS",
    "GridReport",
    "HOLDS",
    "INCONCLUSIVE",
    "Interval",
    "MAPS_SCORER",
    "NotTestable",
    "PAPER_COUNTERPARTS",
    "PER_IMAGE",
    "README_MARKERS",
    "RESULTS_VERSION",
    "ROBUSTNESS_PERTURBATIONS",
    "ResultCache",
    "SCORERS",
    "SESOI",
    "TABLE_NOTEBOOK",
    "UNTESTABLE",
    "VERDICT_ORDER",
    "assess_claims",
    "build_cells",
    "bundle_is_cached",
    "bundle_path",
    "cell_key",
    "claims_markdown",
    "compare_main",
    "component_configurations",
    "component_lines",
    "default_cache",
    "diagnose",
    "drop_defaults",
    "evaluate_cell",
    "evaluate_claims",
    "format_table",
    "gain_table",
    "gpu_available",
    "image_table",
    "interval_text",
    "kth_component_variants",
    "load_split",
    "load_tables",
    "main_table",
    "make_operator",
    "maps_bundle",
    "maps_fingerprint",
    "mean_over_classes",
    "method_order",
    "modality_of",
    "one_at_a_time",
    "ordering_agreement",
    "paired_against",
    "paired_difference",
    "paper_analogue",
    "paper_caveats",
    "paper_counterparts",
    "paper_sanity",
    "paper_table",
    "paper_tables",
    "pces_ablation_variants",
    "peak_memory_mb",
    "per_class_table",
    "per_image_table",
    "perturb_map",
    "protocol_mean",
    "ranking_cell",
    "ranking_table",
    "readme_block",
    "records_frame",
    "representative_index",
    "results_block",
    "results_frame",
    "robustness_cells",
    "robustness_image_table",
    "robustness_table",
    "run_grid",
    "run_labelled",
    "runtime_cell",
    "score_bundle",
    "segment_bundle",
    "setting_variants",
    "side_by_side",
    "signal_to_noise",
    "stratified_bootstrap",
    "three_way",
    "time_operators",
    "topotta_defaults",
    "update_readme",
    "with_preset",
    "write_claims",
]
