"""The experiment harness: everything that turns operators and data into the paper's tables.

=========================  ======================================================================
:mod:`.bundles`            score bundles (maps + features of one class, computed once) and the
                           experiment cell (:func:`evaluate_cell`): one operator on one bundle
:mod:`.grid`               the grid runner with its result cache (resume, Dask executor)
:mod:`.parallel`           the grids of a notebook on local worker processes, one thread each
:mod:`.sweeps`             parameter sweeps and ablation configurations (Tables V-IX)
:mod:`.tables`             records -> tables, side by side with the paper's numbers
:mod:`.robustness`         perturbed maps and failure diagnosis (Fig. 7, Fig. 8)
:mod:`.runtime`            interleaved timing and memory of the operators (Table X)
:mod:`.stats`              paired differences with a stratified bootstrap interval, three-way
                           verdicts (holds / does not hold / inconclusive)
:mod:`.claims`             every quantitative claim of the paper: intervals, verdicts, and a
                           sanity check of the paper's own tables
:mod:`.readme`             the README's generated results block
:mod:`.prose`              the set-up of a run (data, backbone, defaults) in words, from its
                           parameters
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
    bundle_memory,
    bundle_path,
    evaluate_cell,
    experiment_cell,
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
    CLAIMS,
    INCONCLUSIVE,
    PER_IMAGE,
    TABLE_NOTEBOOK,
    UNTESTABLE,
    Claim,
    ClaimsReport,
    NotTestable,
    assess_claims,
    evaluate_claims,
    load_tables,
    paper_caveats,
    paper_sanity,
    paper_tables,
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
from topotta_lite.experiments.prose import (
    backbone_words,
    data_words,
    defaults_table,
    scorer_words,
    setup_sentence,
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
    FAILS,
    HOLDS,
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
    MECHANISM_FLAGS,
    MECHANISM_VARIANTS,
    PAPER_COUNTERPARTS,
    compare_main,
    eai_activity,
    expand_shared,
    format_table,
    gain_table,
    image_table,
    main_table,
    mechanism_flags,
    mechanism_table,
    mechanism_variants,
    method_order,
    ordering_agreement,
    paper_counterparts,
    per_class_table,
    preset_of,
    ranking_table,
    records_frame,
    representative_index,
    side_by_side,
)

__all__ = [
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
    "MECHANISM_FLAGS",
    "MECHANISM_VARIANTS",
    "NotTestable",
    "PAPER_COUNTERPARTS",
    "PER_IMAGE",
    "README_MARKERS",
    "RESULTS_VERSION",
    "ROBUSTNESS_PERTURBATIONS",
    "ResultCache",
    "SCORERS",
    "TABLE_NOTEBOOK",
    "UNTESTABLE",
    "assess_claims",
    "backbone_words",
    "build_cells",
    "bundle_is_cached",
    "bundle_memory",
    "bundle_path",
    "cell_key",
    "compare_main",
    "component_configurations",
    "data_words",
    "default_cache",
    "defaults_table",
    "diagnose",
    "drop_defaults",
    "eai_activity",
    "evaluate_cell",
    "evaluate_claims",
    "expand_shared",
    "experiment_cell",
    "format_table",
    "gain_table",
    "gpu_available",
    "image_table",
    "kth_component_variants",
    "load_split",
    "load_tables",
    "main_table",
    "make_operator",
    "maps_bundle",
    "maps_fingerprint",
    "mean_over_classes",
    "mechanism_flags",
    "mechanism_table",
    "mechanism_variants",
    "method_order",
    "modality_of",
    "one_at_a_time",
    "paired_against",
    "ordering_agreement",
    "paired_difference",
    "paper_analogue",
    "pces_ablation_variants",
    "paper_caveats",
    "paper_counterparts",
    "paper_sanity",
    "paper_table",
    "paper_tables",
    "peak_memory_mb",
    "per_class_table",
    "per_image_table",
    "perturb_map",
    "preset_of",
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
    "scorer_words",
    "segment_bundle",
    "setting_variants",
    "setup_sentence",
    "side_by_side",
    "signal_to_noise",
    "stratified_bootstrap",
    "three_way",
    "time_operators",
    "topotta_defaults",
    "with_preset",
    "update_readme",
]
