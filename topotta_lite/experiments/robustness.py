"""Fig. 7 and Fig. 8: operators on degraded score maps, and the images where TopoTTA fails.

* :func:`robustness_cells` builds the experiment grid (category x scorer x method x kind x
  strength) for :func:`topotta_lite.experiments.bundles.evaluate_cell`; strength 0 is the clean map,
  computed once and shared by every kind.
* :func:`robustness_table` turns the grid's results into the long ``fig7_robustness`` table.
* :func:`per_image_table` lists per-image F1 of every method on the clean maps, with a
  signal-to-noise ratio of the map (:func:`signal_to_noise`), so Fig. 8 can pick the worst images
  and say whether the map's signal was weak there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from topotta_lite.experiments.bundles import ROBUSTNESS_PERTURBATIONS, experiment_cell
from topotta_lite.vocabulary import METHOD_NAMES, SEG_METRICS

__all__ = [
    "diagnose", "per_image_table", "robustness_cells", "robustness_image_table",
    "robustness_table", "signal_to_noise",
]



def robustness_cells(dataset: str, categories: Sequence[str], scorers: Sequence[str],
                     methods: Sequence[str], kinds: Sequence[str], strengths: Sequence[float], *,
                     size: str = "quick", seed: int = 0, data_root: str | None = None,
                     maps_dir: str | None = None) -> list[dict]:
    """Experiment cells of the perturbation sweep; strength 0 appears once (no ``perturb`` key).

    Examples
    --------
    >>> cells = robustness_cells("embedded-2d", ["brick"], ["padim"], ["thr"],
    ...                          ["noise", "speckle"], [0.0, 0.1])
    >>> len(cells), sorted(c.get("perturb", {}).get("kind", "-") for c in cells)
    (3, ['-', 'noise', 'speckle'])
    """
    bad = [k for k in kinds if k not in ROBUSTNESS_PERTURBATIONS]
    if bad:
        raise ValueError(f"unknown perturbation kind(s) {bad}; choose from {ROBUSTNESS_PERTURBATIONS}")
    if any(s < 0 for s in strengths):
        raise ValueError(f"strengths must be >= 0, got {list(strengths)}")
    cells = []
    for cat in categories:
        for scorer in scorers:
            for method in methods:
                base = experiment_cell(dataset, cat, scorer, method, size=size, seed=seed,
                                       data_root=data_root, maps_dir=maps_dir)
                if 0 in strengths or 0.0 in strengths:
                    cells.append(dict(base))
                for kind in kinds:
                    for s in strengths:
                        if s > 0:
                            cells.append({**base, "perturb": {"kind": kind,
                                                              "strength": float(s)}})
    return cells


def robustness_table(cells: Sequence[dict], results: Sequence[dict | None],
                     kinds: Sequence[str]) -> pd.DataFrame:
    """Long table: one row per (dataset, scorer, kind, strength, method), mean over categories.

    The clean cells (no ``perturb``) are repeated for every kind at strength 0, so each kind's
    curve starts from the same point. Failed cells (``None``) are left out.
    """
    rows = []
    for cell, res in zip(cells, results):
        if res is None:
            continue
        base = {"dataset": cell["dataset"], "scorer": cell["scorer"],
                "category": cell["category"], "method": METHOD_NAMES.get(cell["operator"],
                                                                         cell["operator"])}
        metrics = {k: res[k] for k in SEG_METRICS}
        pert = cell.get("perturb")
        for kind in ([pert["kind"]] if pert else kinds):
            rows.append({**base, "kind": kind, "strength": pert["strength"] if pert else 0.0,
                         **metrics})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    keys = ["dataset", "scorer", "kind", "strength", "method"]
    out = df.groupby(keys, sort=True)[list(SEG_METRICS)].mean().reset_index()
    out["n_categories"] = df.groupby(keys, sort=True)["category"].nunique().to_numpy()
    return out


def robustness_image_table(cells: Sequence[dict], results: Sequence[dict | None],
                           kinds: Sequence[str]) -> pd.DataFrame:
    """The per-image version of :func:`robustness_table` (``fig7_robustness_per_image``).

    One row per (dataset, scorer, category, method, kind, strength, image); the clean images
    (strength 0) are repeated under every kind, as in the mean table. Failed cells are left out.
    """
    from topotta_lite.experiments.tables import image_table

    records = [{**c, **r} for c, r in zip(cells, results) if r is not None]
    df = image_table(records, keep=["perturb.kind", "perturb.strength"]).rename(
        columns={"perturb.kind": "kind", "perturb.strength": "strength"})
    clean = df[df["kind"].isna()]
    parts = [df[df["kind"].notna()]] + [clean.assign(kind=k, strength=0.0) for k in kinds]
    out = pd.concat(parts, ignore_index=True)
    out["strength"] = out["strength"].astype(float)
    keys = ["dataset", "scorer", "kind", "strength", "method", "category", "image"]
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def signal_to_noise(score_map: np.ndarray, gt: np.ndarray) -> float:
    """How far the defect stands out of the map: (mean inside GT - mean outside) / std outside.

    Large (> 3) means the defect is a clear bright structure; near 0 the map barely sees it.
    NaN when the GT is empty or covers everything.

    Examples
    --------
    >>> m = np.zeros((8, 8)); m[0, 1] = 1.0; gt = np.zeros((8, 8), bool); gt[4:6, 4:6] = True
    >>> m[gt] = 5.0
    >>> round(signal_to_noise(m, gt), 2)
    38.93
    """
    m = np.asarray(score_map, dtype=np.float64)
    g = np.asarray(gt, dtype=bool)
    if g.shape != m.shape:
        raise ValueError(f"gt shape {g.shape} differs from score_map shape {m.shape}")
    if not g.any() or g.all():
        return float("nan")
    out = m[~g]
    sd = out.std()
    return float((m[g].mean() - out.mean()) / (sd if sd > 0 else 1.0))


def per_image_table(cells: Sequence[dict], results: Sequence[dict | None],
                    bundles: dict[tuple[str, str], dict]) -> pd.DataFrame:
    """Per-image F1 of each method on the clean maps, with the map's signal-to-noise ratio.

    Parameters
    ----------
    cells, results
        The grid (only cells without ``perturb`` are used).
    bundles
        ``{(category, scorer): score bundle}`` (from :func:`topotta_lite.experiments.bundles.score_bundle`)
        to recover which test image each per-image F1 belongs to (the anomalous ones, in order).

    Returns
    -------
    pandas.DataFrame
        Columns ``category, scorer, index, name, snr`` and one ``f1_<METHOD>`` per method.
    """
    rows: dict[tuple, dict] = {}
    for cell, res in zip(cells, results):
        if res is None or cell.get("perturb"):
            continue
        key = (cell["category"], cell["scorer"])
        b = bundles[key]
        idx = [i for i in range(len(b["labels"])) if b["labels"][i] == 1]
        method = METHOD_NAMES.get(cell["operator"], cell["operator"])
        for i, f1 in zip(idx, res["f1_per_image"]):
            row = rows.setdefault(key + (i,), {
                "category": key[0], "scorer": key[1], "index": i, "name": str(b["names"][i]),
                "snr": signal_to_noise(b["maps"][i], b["gts"][i])})
            row[f"f1_{method}"] = f1
    return pd.DataFrame(list(rows.values()))


def diagnose(mask: np.ndarray, gt: np.ndarray) -> str:
    """Name the failure mode of one mask against its ground truth.

    * ``"missed: wrong structure"``: under 5% of the defect is covered (the selected structure
      was elsewhere, or nothing was selected);
    * ``"too coarse"``: at least half of the defect is covered but under a third of the mask is
      on it (the map is blurrier or wider than a thin defect);
    * ``"partial"``: part of the defect is found, part missed;
    * ``"good"``: F1 >= 0.5.

    Examples
    --------
    >>> gt = np.zeros((10, 10), bool); gt[4, 2:8] = True
    >>> diagnose(np.zeros((10, 10), bool), gt)
    'missed: wrong structure'
    >>> wide = np.zeros((10, 10), bool); wide[2:7, 1:9] = True
    >>> diagnose(wide, gt)
    'too coarse'
    """
    m = np.asarray(mask, dtype=bool)
    g = np.asarray(gt, dtype=bool)
    inter = float((m & g).sum())
    recall = inter / max(g.sum(), 1)
    precision = inter / max(m.sum(), 1)
    f1 = 2 * inter / max(m.sum() + g.sum(), 1)
    if f1 >= 0.5:
        return "good"
    if recall < 0.05:
        return "missed: wrong structure"
    if recall >= 0.5 and precision < 1 / 3:
        return "too coarse"
    return "partial"
