"""Helpers of the notebooks: toy maps, persistence by hand, stability trials, drawings, results prose.

Nothing in the method depends on this subpackage; it exists so that the notebooks stay thin.

Examples
--------
>>> from topotta_lite.teaching import toy_score_map
>>> psi, parts = toy_score_map((48, 48))
>>> psi.shape
(48, 48)
"""

from topotta_lite.teaching.by_hand import ElderRun, elder_rule, interior_components
from topotta_lite.teaching.exercises import Exercise, check, exercises
from topotta_lite.teaching.filtrations import signed_distance
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
    "MAP_PERTURBATIONS",
    "TOY_ROLES",
    "ElderRun",
    "Exercise",
    "bottleneck",
    "bottleneck_by_matching",
    "bottleneck_gudhi",
    "bullets",
    "change_word",
    "check",
    "cite",
    "complex_geometry",
    "describe_cell",
    "diagram_points",
    "draw_boundary_matrix",
    "draw_complex",
    "draw_elementary_cube",
    "elder_rule",
    "exercises",
    "f1_sentences",
    "far_from_diagonal",
    "feature_sites",
    "filtered_complex",
    "filtration_slider_figure",
    "filtration_strip",
    "fmt",
    "fusion_cases",
    "gudhi_bottleneck_case",
    "gudhi_pairs",
    "interior_components",
    "is_monotone",
    "note",
    "overlay_mask",
    "pairs_in_quadrant",
    "persistent_betti_by_ranks",
    "perturb",
    "pieces_alive",
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
    "smooth_random_map",
    "stability_trials",
    "subset_note",
    "takeaways",
    "toy_score_map",
    "toy_volume",
    "wasserstein",
    "write_html",
]
