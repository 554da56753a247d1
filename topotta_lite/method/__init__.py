"""The method of the paper: from persistence features to a refined defect mask.

=========================  ======================================================================
:mod:`.pseudolabels`       Top-K (or persistence >= tau) feature selection, and each selected
                           feature turned into a region mask (the paper's pseudo-labels)
:mod:`.fusion`             intersection, union, IoU-style fusion and Euler-aware fusion (EAI) of
                           the sublevel and superlevel masks
:mod:`.pces`               the pixel-level contrastive encoder trained on one image at test time
=========================  ======================================================================

:class:`topotta_lite.operators.TopoTTA` chains them; the mathematics they stand on lives in
:mod:`topotta_lite.topology`.

Examples
--------
>>> import numpy as np
>>> from topotta_lite.method import fuse, pseudo_label_masks
>>> psi = np.zeros((16, 16)); psi[4:9, 4:9] = 1.0
>>> (m_sub, _, _), (m_sup, _, _) = pseudo_label_masks(psi, {"sublevel": None, "superlevel": None})
>>> int(fuse(m_sub, m_sup, method="eai").sum())
25
"""

from topotta_lite.method.fusion import (
    ACTIVITY_KEYS,
    FALLBACKS,
    EAITrace,
    eai_candidates,
    eai_trace,
    fill_spurious_holes,
    fuse,
    fusion_activity,
    iou_fusion,
    reachable_union,
)
from topotta_lite.method.pces import (
    PCES,
    ContrastiveMLP,
    PCESResult,
    adapt_batch,
    contrastive_loss,
    init_weights,
    pseudo_label_grids,
    sample_points,
)
from topotta_lite.method.pseudolabels import (
    RELEASE_DELTA_SUB,
    RELEASE_DELTA_SUP,
    default_dims,
    feature_region,
    pseudo_label_mask,
    pseudo_label_masks,
    select_features,
)

__all__ = [
    "RELEASE_DELTA_SUB",
    "RELEASE_DELTA_SUP",
    "ACTIVITY_KEYS",
    "FALLBACKS",
    "PCES",
    "ContrastiveMLP",
    "EAITrace",
    "PCESResult",
    "adapt_batch",
    "contrastive_loss",
    "default_dims",
    "eai_candidates",
    "eai_trace",
    "feature_region",
    "fill_spurious_holes",
    "fuse",
    "fusion_activity",
    "init_weights",
    "iou_fusion",
    "pseudo_label_grids",
    "pseudo_label_mask",
    "pseudo_label_masks",
    "reachable_union",
    "sample_points",
    "select_features",
]
