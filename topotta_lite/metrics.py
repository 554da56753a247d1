"""Evaluation metrics: mask overlap, ranking quality of score maps, and mask structure.

* Per anomalous test image: precision, recall, F1 and IoU of the binary mask against the ground
  truth, 0 where a ratio is undefined (:func:`segmentation_scores`); means per class and over
  classes (:func:`mean_scores`, :func:`dataset_means`).
* Ranking: I-AUROC (image score = max of the map), P-AUROC (all pixels of all test images), and
  AUPRO (per-region overlap of 8-connected GT regions, 26-connected in 3D, against the false
  positive rate, integrated up to ``fpr_limit`` = 0.3 and divided by it) computed the way the
  MVTec AD evaluation code does. AUROCs handle ties by average ranks (equal to scikit-learn's
  ``roc_auc_score``) and are NaN when only one class is present.
* Structure (beyond the paper): component-level precision / recall and the Betti-number error
  of the predicted mask.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from scipy import ndimage
from scipy.stats import rankdata

from topotta_lite._validation import as_mask, as_score_map, same_shape
from topotta_lite.topology.connectivity import connectivity_structure
from topotta_lite.topology.euler import betti_numbers
from topotta_lite.vocabulary import SEG_METRICS

__all__ = [
    "aupro",
    "auroc",
    "betti_error",
    "component_scores",
    "dataset_means",
    "i_auroc",
    "mean_scores",
    "p_auroc",
    "per_image_scores",
    "pro_curve",
    "segmentation_scores",
    "structure_scores",
    "trapezoid",
]



def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else 0.0


# --------------------------------------------------------------------------------------------
# mask overlap
# --------------------------------------------------------------------------------------------
def segmentation_scores(pred, gt) -> dict[str, float]:
    """Precision, recall, F1 and IoU of a binary prediction against a binary ground truth.

    Each ratio is 0 where its denominator is 0 (empty prediction -> precision 0; empty GT ->
    recall 0; both empty -> all 0), as in the paper's protocol.

    Parameters
    ----------
    pred, gt : array_like of bool, (H, W) or (D, H, W)

    Returns
    -------
    dict
        ``{"precision", "recall", "f1", "iou"}`` as floats.

    Examples
    --------
    >>> segmentation_scores([[1, 1], [0, 0]], [[1, 0], [1, 0]])
    {'precision': 0.5, 'recall': 0.5, 'f1': 0.5, 'iou': 0.3333333333333333}
    """
    p = as_mask(pred, name="pred")
    g = as_mask(gt, name="gt")
    same_shape(p, g, ("pred", "gt"))
    tp = int(np.count_nonzero(p & g))
    fp = int(np.count_nonzero(p & ~g))
    fn = int(np.count_nonzero(~p & g))
    return {
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
        "iou": _ratio(tp, tp + fp + fn),
    }


def per_image_scores(preds: Sequence, gts: Sequence, *, anomalous_only: bool = True
                     ) -> list[dict[str, float]]:
    """:func:`segmentation_scores` for each (pred, gt) pair; by default only images whose GT is
    non-empty (the paper scores anomalous test images).

    Examples
    --------
    >>> gts = [np.zeros((2, 2), bool), np.eye(2, dtype=bool)]
    >>> [round(s["iou"], 2) for s in per_image_scores(gts, gts)]
    [1.0]
    """
    if len(preds) != len(gts):
        raise ValueError(f"preds has {len(preds)} masks but gts has {len(gts)}")
    out = []
    for p, g in zip(preds, gts):
        g = as_mask(g, name="gt")
        if anomalous_only and not g.any():
            continue
        out.append(segmentation_scores(p, g))
    return out


def mean_scores(records: Iterable[Mapping[str, float]], keys: Sequence[str] = SEG_METRICS
                ) -> dict[str, float]:
    """Mean of each key over per-image records (NaN for no records).

    Examples
    --------
    >>> mean_scores([{"precision": 1, "recall": 0, "f1": 0, "iou": 0},
    ...              {"precision": 0, "recall": 1, "f1": 0, "iou": 1}])["iou"]
    0.5
    """
    recs = list(records)
    if not recs:
        return {k: float("nan") for k in keys}
    return {k: float(np.mean([r[k] for r in recs])) for k in keys}


def dataset_means(per_class: Mapping[str, Iterable[Mapping[str, float]]],
                  keys: Sequence[str] = SEG_METRICS) -> dict[str, dict[str, float]]:
    """Class means of per-image records plus their unweighted mean over classes under ``"mean"``.

    Examples
    --------
    >>> r = dataset_means({"a": [{"iou": 1.0}], "b": [{"iou": 0.0}, {"iou": 0.0}]}, keys=["iou"])
    >>> r["a"]["iou"], r["mean"]["iou"]
    (1.0, 0.5)
    """
    out = {cls: mean_scores(recs, keys) for cls, recs in per_class.items()}
    classes = list(out)
    out["mean"] = {k: float(np.nanmean([out[c][k] for c in classes])) if classes else float("nan")
                   for k in keys}
    return out


# --------------------------------------------------------------------------------------------
# ranking metrics
# --------------------------------------------------------------------------------------------
def auroc(scores, labels) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties).

    Returns NaN when ``labels`` holds only one class.

    Examples
    --------
    >>> auroc([0.1, 0.4, 0.4, 0.8], [0, 0, 1, 1])
    0.875
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel().astype(bool)
    if s.shape != y.shape:
        raise ValueError(f"scores has {s.size} values but labels has {y.size}")
    if not np.isfinite(s).all():
        raise ValueError("scores hold NaN or infinite values")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def i_auroc(image_scores, labels) -> float:
    """Image-level AUROC. ``image_scores`` are one number per image, or maps (their max is used).

    Examples
    --------
    >>> i_auroc([0.2, 0.9, 0.5], [0, 1, 1])
    1.0
    """
    if isinstance(image_scores, np.ndarray) and image_scores.ndim == 1:
        s = image_scores
    else:
        s = np.array([float(np.max(np.asarray(m))) for m in image_scores])
    return auroc(s, labels)


def _stack_pairs(maps, gts) -> tuple[list[np.ndarray], list[np.ndarray]]:
    maps = list(maps)
    gts = list(gts)
    if len(maps) != len(gts):
        raise ValueError(f"maps has {len(maps)} entries but gts has {len(gts)}")
    if not maps:
        raise ValueError("maps is empty")
    ms, gs = [], []
    for i, (m, g) in enumerate(zip(maps, gts)):
        m = as_score_map(m, name=f"maps[{i}]")
        g = as_mask(g, name=f"gts[{i}]")
        same_shape(m, g, (f"maps[{i}]", f"gts[{i}]"))
        ms.append(m)
        gs.append(g)
    return ms, gs


def p_auroc(maps, gts) -> float:
    """Pixel-level AUROC over all pixels of all maps (NaN if no or only anomalous pixels).

    Examples
    --------
    >>> p_auroc([np.array([[0.0, 1.0]])], [np.array([[0, 1]])])
    1.0
    """
    ms, gs = _stack_pairs(maps, gts)
    return auroc(np.concatenate([m.ravel() for m in ms]), np.concatenate([g.ravel() for g in gs]))


def pro_curve(maps, gts) -> tuple[np.ndarray, np.ndarray]:
    """FPR and PRO (mean per-region overlap) at every distinct threshold, MVTec-style.

    GT regions are the 8-connected (26 in 3D) components of each GT mask; every region of every
    image weighs the same. The curve starts at (0, 0) and ends at (1, 1).

    Returns
    -------
    fprs, pros : ndarray
        Non-decreasing arrays of equal length.

    Examples
    --------
    >>> f, p = pro_curve([np.array([[0.0, 1.0]])], [np.array([[0, 1]])])
    >>> f.tolist(), p.tolist()
    ([0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 1.0])
    """
    ms, gs = _stack_pairs(maps, gts)
    scores, fp_change, pro_change = [], [], []
    n_ok, n_regions = 0, 0
    for m, g in zip(ms, gs):
        lab, n = ndimage.label(g, structure=np.ones((3,) * g.ndim, dtype=int))
        n_regions += n
        ok = lab == 0
        n_ok += int(ok.sum())
        sizes = np.bincount(lab.ravel(), minlength=n + 1).astype(np.float64)
        inv = np.zeros(n + 1)
        inv[1:] = 1.0 / sizes[1:]
        scores.append(m.ravel())
        fp_change.append(ok.ravel().astype(np.float64))
        pro_change.append(inv[lab.ravel()])
    if n_regions == 0:
        raise ValueError("gts hold no anomalous region: PRO is undefined")
    if n_ok == 0:
        raise ValueError("gts hold no nominal pixel: the false positive rate is undefined")
    s = np.concatenate(scores)
    order = np.argsort(-s, kind="stable")
    s = s[order]
    fprs = np.cumsum(np.concatenate(fp_change)[order]) / n_ok
    pros = np.cumsum(np.concatenate(pro_change)[order]) / n_regions
    keep = np.append(np.diff(s) != 0, True)
    fprs = np.clip(fprs[keep], None, 1.0)
    pros = np.clip(pros[keep], None, 1.0)
    return np.concatenate([[0.0], fprs, [1.0]]), np.concatenate([[0.0], pros, [1.0]])


def trapezoid(x, y, x_max: float | None = None) -> float:
    """Trapezoidal area under ``y(x)`` (``x`` non-decreasing) up to ``x_max``, interpolating the
    last segment (the MVTec evaluation code's rule).

    Examples
    --------
    >>> trapezoid([0.0, 1.0], [0.0, 1.0], x_max=0.5)
    0.125
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    correction = 0.0
    if x_max is not None:
        if x_max not in x:
            ins = bisect_right(x.tolist(), x_max)
            if not 0 < ins < len(x):
                raise ValueError(f"x_max={x_max} lies outside the curve's range")
            y_at = y[ins - 1] + (y[ins] - y[ins - 1]) * (x_max - x[ins - 1]) / (x[ins] - x[ins - 1])
            correction = 0.5 * (y_at + y[ins - 1]) * (x_max - x[ins - 1])
        keep = x <= x_max
        x, y = x[keep], y[keep]
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(x)) + correction)


def aupro(maps, gts, fpr_limit: float = 0.3) -> float:
    """Normalised area under the PRO curve up to ``fpr_limit`` (MVTec AD protocol).

    NaN when the GTs hold no anomalous region.

    Examples
    --------
    >>> aupro([np.array([[0.0, 1.0], [0.2, 0.3]])], [np.array([[0, 1], [0, 0]])])
    1.0
    """
    if not 0 < fpr_limit <= 1:
        raise ValueError(f"fpr_limit must be in (0, 1], got {fpr_limit}")
    ms, gs = _stack_pairs(maps, gts)
    if not any(g.any() for g in gs):
        return float("nan")
    fprs, pros = pro_curve(ms, gs)
    return trapezoid(fprs, pros, x_max=fpr_limit) / fpr_limit


# --------------------------------------------------------------------------------------------
# structure metrics
# --------------------------------------------------------------------------------------------
def betti_error(pred, gt, construction: str = "T") -> int:
    """Sum over dimensions of ``|b_k(pred) - b_k(gt)|``.

    Examples
    --------
    >>> betti_error(np.zeros((3, 3), bool), np.eye(3, dtype=bool))
    1
    """
    p = as_mask(pred, name="pred")
    g = as_mask(gt, name="gt")
    same_shape(p, g, ("pred", "gt"))
    bp, bg = betti_numbers(p, construction), betti_numbers(g, construction)
    return int(sum(abs(a - b) for a, b in zip(bp, bg)))


def component_scores(pred, gt, construction: str = "T") -> dict[str, float]:
    """Component-level precision and recall.

    A predicted component (8-connected, 26 in 3D, for ``"T"``) is a true detection if it
    overlaps the GT; a GT component is found if any predicted pixel overlaps it. Precision =
    share of predicted components that are true; recall = share of GT components found; 0 where
    undefined.

    Returns
    -------
    dict
        ``component_precision``, ``component_recall``, ``n_pred_components``,
        ``n_gt_components``.

    Examples
    --------
    >>> gt = np.zeros((5, 5), bool); gt[0, 0] = gt[4, 4] = True
    >>> pred = np.zeros((5, 5), bool); pred[0, 0] = pred[2, 2] = True
    >>> r = component_scores(pred, gt)
    >>> r["component_precision"], r["component_recall"]
    (0.5, 0.5)
    """
    p = as_mask(pred, name="pred")
    g = as_mask(gt, name="gt")
    same_shape(p, g, ("pred", "gt"))
    fg = connectivity_structure(p.ndim, construction)
    lp, n_p = ndimage.label(p, structure=fg)
    lg, n_g = ndimage.label(g, structure=fg)
    hit_p = np.unique(lp[g & p])
    hit_g = np.unique(lg[g & p])
    tp_p = int(np.count_nonzero(hit_p))
    tp_g = int(np.count_nonzero(hit_g))
    return {
        "component_precision": _ratio(tp_p, n_p),
        "component_recall": _ratio(tp_g, n_g),
        "n_pred_components": int(n_p),
        "n_gt_components": int(n_g),
    }


def structure_scores(pred, gt, construction: str = "T") -> dict[str, float]:
    """Component precision / recall and Betti-number error in one dict.

    Examples
    --------
    >>> sorted(structure_scores(np.eye(3, dtype=bool), np.eye(3, dtype=bool)))[:2]
    ['betti_error', 'component_precision']
    """
    out = component_scores(pred, gt, construction)
    out["betti_error"] = betti_error(pred, gt, construction)
    return out
