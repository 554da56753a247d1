"""Helpers of the teaching notebooks (01-05): toy maps, stability trials, drawings.

Nothing in the method depends on this subpackage; it exists so that the notebooks stay thin.

Examples
--------
>>> from topotta_lite.teaching import toy_score_map
>>> psi, parts = toy_score_map((48, 48))
>>> psi.shape
(48, 48)
"""

from topotta_lite.teaching.stability import (
    MAP_PERTURBATIONS,
    bottleneck,
    diagram_points,
    perturb,
    stability_trials,
)
from topotta_lite.teaching.toys import fusion_cases, smooth_random_map, toy_score_map, toy_volume
from topotta_lite.teaching.viz import (
    DIM_COLORS,
    complex_geometry,
    draw_complex,
    draw_elementary_cube,
    filtration_slider_figure,
    filtration_strip,
    overlay_mask,
    plot_barcode,
    plot_diagram,
    show_interactive,
    show_map,
    write_html,
)

__all__ = [
    "DIM_COLORS",
    "MAP_PERTURBATIONS",
    "bottleneck",
    "complex_geometry",
    "diagram_points",
    "draw_complex",
    "draw_elementary_cube",
    "filtration_slider_figure",
    "filtration_strip",
    "fusion_cases",
    "overlay_mask",
    "perturb",
    "plot_barcode",
    "plot_diagram",
    "show_interactive",
    "show_map",
    "smooth_random_map",
    "stability_trials",
    "toy_score_map",
    "toy_volume",
    "write_html",
]
