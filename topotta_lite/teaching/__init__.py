"""Helpers of the notebooks: toy maps, persistence by hand, stability trials, drawings, results prose.

Nothing in the method depends on this subpackage; it exists so that the notebooks stay thin.

Examples
--------
>>> from topotta_lite.teaching import toy_score_map
>>> psi, parts = toy_score_map((48, 48))
>>> psi.shape
(48, 48)
"""

from topotta_lite.teaching import exercises_01, exercises_02, exercises_03, exercises_04, exercises_05
from topotta_lite.teaching.by_hand import ElderRun, elder_rule, interior_components
from topotta_lite.teaching.confidence import (
    SupNormBand,
    band_coverage,
    coverage_interval,
    noisy_copies,
    significant,
    sup_norm_band,
)
from topotta_lite.teaching.exercises import Exercise, check, exercises
from topotta_lite.teaching.filtrations import signed_distance
from topotta_lite.teaching.laminarity import (
    RELATIONS,
    fusion_outcome,
    library_connectivities,
    mask_relation,
    pieces_laminar,
)
from topotta_lite.teaching.prose import (
    bullets,
    change_word,
    f1_sentences,
    fmt,
    is_monotone,
    note,
    plural,
    subset_note,
    takeaways,
)
from topotta_lite.teaching.reduction import (
    describe_cell,
    filtered_complex,
    gudhi_pairs,
    pairs_in_quadrant,
    persistent_betti_by_ranks,
    pieces_alive,
    reduce_boundary,
    reduction_pairs,
)
from topotta_lite.teaching.references import cite, references
from topotta_lite.teaching.stability import (
    MAP_PERTURBATIONS,
    bottleneck,
    bottleneck_by_matching,
    bottleneck_gudhi,
    diagram_points,
    gudhi_bottleneck_case,
    perturb,
    stability_trials,
    wasserstein,
)
from topotta_lite.teaching.stability_theory import (
    box_lemma_counts,
    cell_norm,
    cell_values,
    interpolation_steps,
)
from topotta_lite.teaching.toys import (
    TOY_ROLES,
    far_from_diagonal,
    feature_sites,
    fusion_cases,
    smooth_random_map,
    toy_score_map,
    toy_volume,
)
from topotta_lite.teaching.viz import (
    DIM_COLORS,
    complex_geometry,
    draw_boundary_matrix,
    draw_complex,
    draw_elementary_cube,
    filtration_slider_figure,
    filtration_strip,
    overlay_mask,
    plot_barcode,
    plot_diagram,
    plot_signal,
    show_interactive,
    show_map,
    show_values,
    write_html,
)

__all__ = [
    "DIM_COLORS",
    "ElderRun",
    "Exercise",
    "MAP_PERTURBATIONS",
    "RELATIONS",
    "SupNormBand",
    "TOY_ROLES",
    "band_coverage",
    "bottleneck",
    "bottleneck_by_matching",
    "bottleneck_gudhi",
    "box_lemma_counts",
    "bullets",
    "cell_norm",
    "cell_values",
    "change_word",
    "check",
    "cite",
    "complex_geometry",
    "coverage_interval",
    "describe_cell",
    "diagram_points",
    "draw_boundary_matrix",
    "draw_complex",
    "draw_elementary_cube",
    "elder_rule",
    "exercises",
    "exercises_01",
    "exercises_02",
    "exercises_03",
    "exercises_04",
    "exercises_05",
    "f1_sentences",
    "far_from_diagonal",
    "feature_sites",
    "filtered_complex",
    "filtration_slider_figure",
    "filtration_strip",
    "fmt",
    "fusion_cases",
    "fusion_outcome",
    "gudhi_bottleneck_case",
    "gudhi_pairs",
    "interior_components",
    "interpolation_steps",
    "is_monotone",
    "library_connectivities",
    "mask_relation",
    "noisy_copies",
    "note",
    "overlay_mask",
    "pairs_in_quadrant",
    "persistent_betti_by_ranks",
    "perturb",
    "pieces_alive",
    "pieces_laminar",
    "plot_barcode",
    "plot_diagram",
    "plot_signal",
    "plural",
    "reduce_boundary",
    "reduction_pairs",
    "references",
    "show_interactive",
    "show_map",
    "show_values",
    "signed_distance",
    "significant",
    "smooth_random_map",
    "stability_trials",
    "subset_note",
    "sup_norm_band",
    "takeaways",
    "toy_score_map",
    "toy_volume",
    "wasserstein",
    "write_html",
]
