"""Table builders shared by the experiment notebooks (06-14): grid records -> long DataFrames.

The experiment grid (:func:`topotta_lite.experiments.grid.run_grid`) returns one *record* per cell: the
cell's parameters merged with its result (``GridReport.records()``), e.g.::

    {"dataset": "embedded-2d", "category": "brick", "scorer": "patchcore", "operator": "topotta",
     "params": {...}, "size": "quick", "seed": 0, "precision": .., "recall": .., "f1": .., "iou": ..,
     "n_images": 12, "f1_per_image": [...], "seconds": {...}}

The builders here follow the paper's protocol: a record already holds the mean over the anomalous
test images of one class; a dataset row is the **unweighted mean over classes** (each class counts
once, whatever its number of images). Tables are *long*: one row per (dataset, scorer, method,
setting), metrics as columns, so the claims report can read any of them the same way.

Names: the paper calls the anomaly model (PatchCore, PaDiM, ...) the "backbone"; we call it the
``scorer`` and keep ``backbone`` for the frozen feature extractor behind it. Operator short names
(``"thr"``) become display names (``"THR"``) through :data:`topotta_lite.vocabulary.METHOD_NAMES`.

Comparison with the paper: :func:`side_by_side` renames our keys to the paper's (e.g. our
``embedded-2d`` / ``patchcore`` rows stand beside MVTec AD / PatchCore) and puts the numbers in
``<metric>_paper`` / ``<metric>_ours`` columns; :func:`method_order` and :func:`ordering_agreement`
compare what is comparable across data sets (which method wins, in which order), and
:func:`gain_table` gives the paired difference of two methods per group.

Per-image tables (:func:`image_table`): one row per (setting, class, method, test image) with the
image's own precision, recall, F1 and IoU. The mean tables above say *how much*; the per-image
tables let the claims report say *how sure*: paired differences over the same images with a
bootstrap interval (:mod:`topotta_lite.experiments.stats`). Notebooks write one
``<table>_per_image`` next to each table a claim reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from topotta_lite.vocabulary import METHOD_NAMES, METHOD_ORDER, RANKING_METRICS, SCORER_NAMES, SEG_METRICS

__all__ = [
    "MECHANISM_FLAGS",
    "MECHANISM_VARIANTS",
    "PAPER_COUNTERPARTS",
    "compare_main",
    "format_table",
    "eai_activity",
    "expand_shared",
    "gain_table",
    "image_table",
    "mechanism_flags",
    "mechanism_table",
    "mechanism_variants",
    "main_table",
    "method_order",
    "ordering_agreement",
    "paper_counterparts",
    "per_class_table",
    "preset_of",
    "ranking_table",
    "records_frame",
    "representative_index",
    "side_by_side",
]


#: Which of the paper's rows an embedded data set / scorer stands beside (Table I). The embedded
#: benchmark is not these data sets: only orderings and trends are comparable, not absolute values.
PAPER_COUNTERPARTS = {
    ("embedded-2d", "patchcore"): ("MVTec AD", "PatchCore"),
    ("embedded-2d", "padim"): ("MVTec AD", "PaDiM"),
    ("embedded-2.5d", "patchcore"): ("MVTec 3D-AD", "M3DM"),
    ("embedded-2.5d", "padim"): ("MVTec 3D-AD", "CMM"),
    ("embedded-3d", "patchcore"): ("AnomalyShapeNet", "PO3AD"),
    ("embedded-3d", "padim"): ("AnomalyShapeNet", "PO3AD"),
}


def _default_backbone(dataset) -> str | None:
    from topotta_lite.experiments.bundles import DEFAULT_BACKBONE, modality_of

    return DEFAULT_BACKBONE.get(modality_of(dataset)) if isinstance(dataset, str) else None


def _display(value, names: Mapping[str, str]):
    return names.get(value, value) if isinstance(value, str) else value


def records_frame(records: Iterable[Mapping], *, method_col: str = "operator",
                  metrics: Sequence[str] = SEG_METRICS,
                  keep: Sequence[str] = ()) -> pd.DataFrame:
    """Grid records -> a flat DataFrame with display names and only scalar columns.

    Parameters
    ----------
    records : iterable of dict
        ``GridReport.records()`` (cell parameters merged with the result).
    method_col : str
        The record key naming the operator; becomes column ``method`` with display names
        (``"thr"`` -> ``"THR"``).
    metrics : sequence of str
        Metric keys to keep (missing ones become NaN).
    keep : sequence of str
        Extra record keys to keep as columns (e.g. ``"shots"``, a sweep parameter). A dotted key
        ``"params.lam"`` reads inside a nested dict (missing -> None).

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, category, scorer, backbone, method, *keep, *metrics, n_images``
        (``backbone``: the cell's, else the modality's default of
        :data:`topotta_lite.experiments.bundles.DEFAULT_BACKBONE`).

    Examples
    --------
    >>> recs = [{"dataset": "d", "category": "a", "scorer": "padim", "operator": "thr",
    ...          "precision": 1.0, "recall": 0.5, "f1": 0.6, "iou": 0.4, "n_images": 3}]
    >>> records_frame(recs)[["scorer", "method", "f1"]].values.tolist()
    [['PaDiM', 'THR', 0.6]]
    """
    rows = []
    for r in records:
        row = {
            "dataset": r.get("dataset"),
            "category": r.get("category"),
            "scorer": _display(r.get("scorer"), SCORER_NAMES),
            "backbone": r.get("backbone") or _default_backbone(r.get("dataset")),
            "method": _display(r.get(method_col), METHOD_NAMES),
        }
        for k in keep:
            value = r
            for part in k.split("."):
                value = value.get(part) if isinstance(value, Mapping) else None
            row[k] = value
        for m in metrics:
            v = r.get(m)
            row[m] = float(v) if v is not None else np.nan
        row["n_images"] = r.get("n_images", np.nan)
        rows.append(row)
    cols = ["dataset", "category", "scorer", "backbone", "method", *keep, *metrics, "n_images"]
    return pd.DataFrame(rows, columns=cols)


IMAGE_FIXED = ("dataset", "scorer", "backbone", "category", "method")
"""The leading columns of every per-image table (then the setting columns, ``image``, metrics)."""


def image_table(records: Iterable[Mapping], *, keep: Sequence[str] = (),
                method_col: str = "operator", metrics: Sequence[str] = SEG_METRICS,
                decimals: int | None = 4) -> pd.DataFrame:
    """Grid records -> one row per test image: the long per-image table a claim reads.

    Parameters
    ----------
    records : iterable of dict
        Cell parameters (or row labels) merged with
        :func:`~topotta_lite.experiments.bundles.evaluate_cell` results, which hold
        ``image_ids`` and ``<metric>_per_image`` lists in the same order. A record with a
        ``method`` key (a label such as ``"TopoTTA pseudo-labels (no PCES)"``) keeps it;
        otherwise ``method`` is the display name of ``record[method_col]``.
    keep : sequence of str
        Setting columns to carry (e.g. ``"shots"``, ``"lambda"``); a dotted key reads inside
        a nested dict (``"perturb.kind"``), as in :func:`records_frame`.
    method_col : str
        The record key naming the operator.
    metrics : sequence of str
        Per-image metrics to carry (each needs ``<metric>_per_image`` in the record).
    decimals : int or None
        Round the metrics (tables on disk keep 4 decimals anyway).

    Returns
    -------
    pandas.DataFrame
        ``dataset, scorer, backbone, category, method, *keep, image, *metrics``.

    Raises
    ------
    ValueError
        If a record lacks the per-image lists (a result cached before they existed: bump
        ``RESULTS_VERSION``) or its lists differ in length.

    Examples
    --------
    >>> rec = {"dataset": "d", "category": "a", "scorer": "padim", "operator": "thr",
    ...        "image_ids": ["x", "y"], "precision_per_image": [1.0, 0.5],
    ...        "recall_per_image": [0.5, 0.5], "f1_per_image": [0.667, 0.5],
    ...        "iou_per_image": [0.5, 0.333]}
    >>> image_table([rec])[["method", "image", "f1"]].values.tolist()
    [['THR', 'x', 0.667], ['THR', 'y', 0.5]]
    """
    rows = []
    for r in records:
        ids = r.get("image_ids")
        lists = {m: r.get(f"{m}_per_image") for m in metrics}
        missing = [f"{m}_per_image" for m, v in lists.items() if v is None]
        if ids is None or missing:
            raise ValueError(
                f"record of {r.get('category')!r}/{r.get(method_col)!r} has no per-image "
                f"scores ({', '.join((['image_ids'] if ids is None else []) + missing)}): "
                "it was cached before evaluate_cell returned them; bump RESULTS_VERSION")
        if any(len(v) != len(ids) for v in lists.values()):
            raise ValueError(f"per-image lists of {r.get('category')!r} differ in length")
        method = r.get("method") or _display(r.get(method_col), METHOD_NAMES)
        base = {"dataset": r.get("dataset"), "scorer": _display(r.get("scorer"), SCORER_NAMES),
                "backbone": r.get("backbone") or _default_backbone(r.get("dataset")),
                "category": r.get("category"), "method": method}
        for k in keep:
            value = r
            for part in k.split("."):
                value = value.get(part) if isinstance(value, Mapping) else None
            base[k] = value
        for j, image in enumerate(ids):
            rows.append({**base, "image": str(image),
                         **{m: float(lists[m][j]) for m in metrics}})
    cols = [*IMAGE_FIXED, *keep, "image", *metrics]
    out = pd.DataFrame(rows, columns=cols)
    return out.round({m: decimals for m in metrics}) if decimals is not None else out


def _sort(df: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    if "method" in keys and "method" in df:
        order = {m: i for i, m in enumerate(METHOD_ORDER)}
        rank = df["method"].map(lambda m: order.get(m, len(order)))
        df = df.assign(_rank=rank)
        keys = ["_rank" if k == "method" else k for k in keys]
        return df.sort_values(list(keys), kind="stable").drop(columns="_rank").reset_index(
            drop=True)
    return df.sort_values(list(keys), kind="stable").reset_index(drop=True)


def per_class_table(records: Iterable[Mapping], *, metrics: Sequence[str] = SEG_METRICS,
                    keep: Sequence[str] = (), decimals: int | None = 4) -> pd.DataFrame:
    """One row per (dataset, scorer, category, method[, keep...]): the class means (Table III).

    Parameters
    ----------
    records : iterable of dict
        Grid records (see the module docstring).
    metrics : sequence of str
        Metric columns.
    keep : sequence of str
        Extra grouping keys (see :func:`records_frame`).
    decimals : int or None
        Round metrics (None: no rounding). Rounding keeps written tables byte-stable.

    Examples
    --------
    >>> recs = [{"dataset": "d", "category": c, "scorer": "padim", "operator": "topotta",
    ...          "precision": p, "recall": p, "f1": p, "iou": p, "n_images": 2}
    ...         for c, p in [("b", 0.2), ("a", 0.4)]]
    >>> per_class_table(recs)["category"].tolist()
    ['a', 'b']
    """
    df = records_frame(records, metrics=metrics, keep=keep)
    keys = ["dataset", "scorer", "category", "method", *keep]
    if df.duplicated(keys).any():
        dup = df[df.duplicated(keys, keep=False)][keys].drop_duplicates().to_dict("records")
        raise ValueError(f"several records share the keys {keys}: {dup[:3]}; add the varying "
                         "parameter to keep=")
    out = _sort(df.drop(columns=["backbone"]), keys)
    out = out[[*keys, *metrics, "n_images"]]
    return out.round({m: decimals for m in metrics}) if decimals is not None else out


def main_table(records: Iterable[Mapping], *, ranking: Iterable[Mapping] | None = None,
               metrics: Sequence[str] = SEG_METRICS, keep: Sequence[str] = (),
               decimals: int | None = 4) -> pd.DataFrame:
    """Dataset rows (Table I): the unweighted mean over classes per (dataset, scorer, method).

    Parameters
    ----------
    records : iterable of dict
        Grid records of :func:`~topotta_lite.experiments.bundles.evaluate_cell` cells.
    ranking : iterable of dict, optional
        Records of :func:`~topotta_lite.experiments.bundles.ranking_cell` cells (one per dataset, class,
        scorer). Their class means join as columns ``i_auroc, p_auroc, aupro`` (the same value on
        every method's row: they rate the score maps, not the operators).
    metrics : sequence of str
        Segmentation metric columns.
    keep : sequence of str
        Extra grouping keys (a setting such as ``"shots"``; see :func:`records_frame`).
    decimals : int or None
        Round metrics.

    Returns
    -------
    pandas.DataFrame
        ``dataset, scorer, backbone, method, *keep, *metrics, [i_auroc, p_auroc, aupro],
        n_classes, n_images`` (``n_images``: anomalous test images summed over classes).

    Examples
    --------
    >>> recs = [{"dataset": "d", "category": c, "scorer": "padim", "operator": "thr",
    ...          "precision": p, "recall": p, "f1": p, "iou": p, "n_images": n}
    ...         for c, p, n in [("a", 0.2, 1), ("b", 0.6, 9)]]
    >>> row = main_table(recs).iloc[0]
    >>> float(row["f1"]), int(row["n_classes"])  # each class counts once
    (0.4, 2)
    """
    df = records_frame(records, metrics=metrics, keep=keep)
    df["backbone"] = df["backbone"].fillna("none")
    keys = ["dataset", "scorer", "backbone", "method", *keep]
    per_class_keys = keys + ["category"]
    if df.duplicated(per_class_keys).any():
        raise ValueError(f"several records share the keys {per_class_keys}; add the varying "
                         "parameter to keep=")
    grouped = df.groupby(keys, dropna=False, sort=False)
    out = grouped[list(metrics)].mean()
    out["n_classes"] = grouped["category"].nunique()
    out["n_images"] = grouped["n_images"].sum()
    out = out.reset_index()
    cols = [*keys, *metrics]
    if ranking is not None:
        rk = ranking_table(ranking, decimals=None)
        rk["backbone"] = rk["backbone"].fillna("none")
        out = out.merge(rk.drop(columns=["n_classes"]), on=["dataset", "scorer", "backbone"],
                        how="left")
        cols += list(RANKING_METRICS)
    out = _sort(out[[*cols, "n_classes", "n_images"]], keys)
    if decimals is not None:
        out = out.round({m: decimals for m in cols if m not in keys})
    return out


def ranking_table(records: Iterable[Mapping], *, by_class: bool = False,
                  decimals: int | None = 4) -> pd.DataFrame:
    """I-AUROC / P-AUROC / AUPRO of the score maps, per class or as the mean over classes.

    Examples
    --------
    >>> recs = [{"dataset": "d", "category": c, "scorer": "padim", "i_auroc": v,
    ...          "p_auroc": v, "aupro": v} for c, v in [("a", 0.8), ("b", 1.0)]]
    >>> float(ranking_table(recs)["i_auroc"].iloc[0])
    0.9
    """
    df = records_frame(records, metrics=RANKING_METRICS).drop(columns=["method", "n_images"])
    if by_class:
        out = _sort(df, ["dataset", "scorer", "category"])
    else:
        keys = ["dataset", "scorer", "backbone"]
        df["backbone"] = df["backbone"].fillna("none")
        g = df.groupby(keys, dropna=False, sort=False)
        out = g[list(RANKING_METRICS)].mean()
        out["n_classes"] = g["category"].nunique()
        out = _sort(out.reset_index(), keys)
    return out.round({m: decimals for m in RANKING_METRICS}) if decimals is not None else out


def side_by_side(ours: pd.DataFrame, paper: pd.DataFrame, *, on: Sequence[str],
                 metrics: Sequence[str], rename: Mapping[str, Mapping] | None = None,
                 paper_columns: Mapping[str, str] | None = None,
                 keep_unmatched: bool = True) -> pd.DataFrame:
    """The paper's numbers beside ours after mapping our keys onto the paper's.

    Parameters
    ----------
    ours : pandas.DataFrame
        Our long table.
    paper : pandas.DataFrame
        :func:`~topotta_lite.experiments.grid.paper_table` output.
    on : sequence of str
        Key columns (in the paper's naming, after ``paper_columns``).
    metrics : sequence of str
        Metric columns present on both sides.
    rename : dict of {column: {our value: paper value}}, optional
        Maps our key values to the paper's (e.g. ``{"dataset": {"embedded-2d": "MVTec AD"}}``).
        Our original value is kept in a column ``<column>_ours`` when it changed.
        ``rename={"scorer": ...}`` may also map a column name: use ``paper_columns`` for that.
    paper_columns : dict of {paper column: our column}, optional
        Renames the paper's columns first (e.g. ``{"backbone": "scorer", "p_aupro": "aupro",
        "class": "category"}``).
    keep_unmatched : bool
        Keep rows present on one side only (blank on the other) so missing experiments stay
        visible; False keeps matched rows only.

    Returns
    -------
    pandas.DataFrame
        ``*on, [<col>_ours...], <m>_paper, <m>_ours`` for each metric.

    Examples
    --------
    >>> ours = pd.DataFrame({"dataset": ["embedded-2d"], "method": ["TopoTTA"], "f1": [0.5]})
    >>> paper = pd.DataFrame({"dataset": ["MVTec AD"], "method": ["TopoTTA"], "f1": [0.553]})
    >>> side_by_side(ours, paper, on=["dataset", "method"], metrics=["f1"],
    ...              rename={"dataset": {"embedded-2d": "MVTec AD"}}).values.tolist()
    [['MVTec AD', 'TopoTTA', 'embedded-2d', 0.553, 0.5]]
    """
    paper = paper.rename(columns=dict(paper_columns or {}))
    ours = ours.copy()
    origin = []
    for col, mapping in (rename or {}).items():
        new = ours[col].map(lambda v, m=mapping: m.get(v, v))
        if (new != ours[col]).any():
            ours[f"{col}_ours"] = ours[col]
            origin.append(f"{col}_ours")
        ours[col] = new
    missing = [c for c in [*on, *metrics] if c not in paper.columns]
    if missing:
        raise ValueError(f"paper table has no column(s) {missing}; map them with paper_columns=")
    left = paper[list(on) + list(metrics)].rename(columns={m: f"{m}_paper" for m in metrics})
    right = ours[list(on) + origin + list(metrics)].rename(
        columns={m: f"{m}_ours" for m in metrics})
    out = left.merge(right, on=list(on), how="outer" if keep_unmatched else "inner")
    cols = [*on, *origin] + [f"{m}_{side}" for m in metrics for side in ("paper", "ours")]
    return out[cols].reset_index(drop=True)


def paper_counterparts(ours: pd.DataFrame, *, dataset_col: str = "dataset",
                       scorer_col: str = "scorer",
                       counterparts: Mapping | None = None) -> pd.DataFrame:
    """Add ``paper_dataset`` / ``paper_scorer`` columns naming the paper row each of ours stands
    beside (:data:`PAPER_COUNTERPARTS`; None where there is none).

    Examples
    --------
    >>> df = pd.DataFrame({"dataset": ["embedded-2d"], "scorer": ["PatchCore"]})
    >>> paper_counterparts(df)[["paper_dataset", "paper_scorer"]].values.tolist()
    [['MVTec AD', 'PatchCore']]
    """
    table = {(d, _display(s, SCORER_NAMES)): v
             for (d, s), v in (counterparts or PAPER_COUNTERPARTS).items()}
    pairs = [table.get((d, s), (None, None)) for d, s in zip(ours[dataset_col], ours[scorer_col])]
    out = ours.copy()
    out["paper_dataset"] = [p[0] for p in pairs]
    out["paper_scorer"] = [p[1] for p in pairs]
    return out


def compare_main(ours: pd.DataFrame, paper: pd.DataFrame | None = None, *,
                 metrics: Sequence[str] = (*SEG_METRICS, *RANKING_METRICS),
                 counterparts: Mapping | None = None) -> pd.DataFrame:
    """Table I side by side: each of our (dataset, scorer, method) rows beside its paper row.

    ``paper`` defaults to ``paper_table("table1_main")``; rows of the paper without a counterpart
    here are dropped (they belong to other notebooks), rows of ours without one are kept.

    Returns
    -------
    pandas.DataFrame
        ``dataset, scorer, method, paper_dataset, paper_scorer, <m>_paper, <m>_ours``.
    """
    if paper is None:
        from topotta_lite.experiments.grid import paper_table

        paper = paper_table("table1_main")
    paper = paper.rename(columns={"p_aupro": "aupro", "dataset": "paper_dataset",
                                  "backbone": "paper_scorer"})
    metrics = [m for m in metrics if m in ours.columns and m in paper.columns]
    mine = paper_counterparts(ours, counterparts=counterparts)
    keys = ["paper_dataset", "paper_scorer", "method"]
    left = mine[["dataset", "scorer", *keys, *metrics]].rename(
        columns={m: f"{m}_ours" for m in metrics})
    right = paper[[*keys, *metrics]].rename(columns={m: f"{m}_paper" for m in metrics})
    out = left.merge(right, on=keys, how="left")
    cols = ["dataset", "scorer", "method", "paper_dataset", "paper_scorer"]
    cols += [f"{m}_{side}" for m in metrics for side in ("paper", "ours")]
    return out[cols].reset_index(drop=True)


def method_order(df: pd.DataFrame, *, group: Sequence[str], metric: str = "f1",
                 method_col: str = "method") -> pd.DataFrame:
    """Per group, the methods ordered by ``metric`` (best first) and the best one.

    Returns
    -------
    pandas.DataFrame
        ``*group, order`` (e.g. ``"TopoTTA > TTT4AS > THR"``), ``best``, ``margin`` (best minus
        runner-up; NaN with a single method). Ties keep :data:`METHOD_ORDER`.

    Examples
    --------
    >>> df = pd.DataFrame({"g": ["x"] * 3, "method": ["THR", "TTT4AS", "TopoTTA"],
    ...                    "f1": [0.3, 0.2, 0.5]})
    >>> method_order(df, group=["g"])["order"].tolist()
    ['TopoTTA > THR > TTT4AS']
    """
    rows = []
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    for key, sub in df.dropna(subset=[metric]).groupby(list(group), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        items = sorted(zip(sub[method_col], sub[metric]),
                       key=lambda t: (-t[1], rank.get(t[0], len(rank)), str(t[0])))
        margin = items[0][1] - items[1][1] if len(items) > 1 else np.nan
        rows.append({**dict(zip(group, key)), "order": " > ".join(str(m) for m, _ in items),
                     "best": items[0][0], "margin": float(margin)})
    return pd.DataFrame(rows, columns=[*group, "order", "best", "margin"])


def ordering_agreement(cmp: pd.DataFrame, *, group: Sequence[str], metric: str = "f1",
                       method_col: str = "method") -> pd.DataFrame:
    """Do we order the methods like the paper? From a side-by-side table (``<metric>_paper`` /
    ``<metric>_ours`` columns), per group: both orderings, whether the best method agrees, and
    Kendall's tau between the two orderings (1: identical, -1: reversed).

    Examples
    --------
    >>> cmp = pd.DataFrame({"g": ["x"] * 3, "method": ["THR", "TTT4AS", "TopoTTA"],
    ...                     "f1_paper": [0.1, 0.3, 0.5], "f1_ours": [0.2, 0.1, 0.4]})
    >>> r = ordering_agreement(cmp, group=["g"]).iloc[0]
    >>> bool(r["same_best"]), round(float(r["kendall_tau"]), 3)
    (True, 0.333)
    """
    from scipy.stats import kendalltau

    rows = []
    for key, sub in cmp.groupby(list(group), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        sub = sub.dropna(subset=[f"{metric}_paper", f"{metric}_ours"])
        row = dict(zip(group, key))
        if len(sub) < 2:
            rows.append({**row, "paper_order": None, "our_order": None, "same_best": None,
                         "kendall_tau": np.nan, "n_methods": len(sub)})
            continue
        orders = {}
        for side in ("paper", "ours"):
            o = method_order(sub.assign(_g=0), group=["_g"], metric=f"{metric}_{side}",
                             method_col=method_col).iloc[0]
            orders[side] = o
        tau = kendalltau(sub[f"{metric}_paper"], sub[f"{metric}_ours"]).statistic
        rows.append({**row, "paper_order": orders["paper"]["order"],
                     "our_order": orders["ours"]["order"],
                     "same_best": bool(orders["paper"]["best"] == orders["ours"]["best"]),
                     "kendall_tau": float(tau), "n_methods": len(sub)})
    return pd.DataFrame(rows)


def gain_table(df: pd.DataFrame, *, group: Sequence[str], baseline: str = "TTT4AS",
               target: str = "TopoTTA", metrics: Sequence[str] = ("f1", "iou"),
               method_col: str = "method") -> pd.DataFrame:
    """``target - baseline`` per group for each metric (positive: the target is better).

    Groups where either method is missing are dropped.

    Examples
    --------
    >>> df = pd.DataFrame({"g": ["x", "x"], "method": ["TTT4AS", "TopoTTA"], "f1": [0.3, 0.5]})
    >>> round(float(gain_table(df, group=["g"], metrics=["f1"])["f1_gain"].iloc[0]), 3)
    0.2
    """
    base = df[df[method_col] == baseline].set_index(list(group))[list(metrics)]
    tgt = df[df[method_col] == target].set_index(list(group))[list(metrics)]
    gain = (tgt - base).dropna(how="all")
    gain.columns = [f"{m}_gain" for m in metrics]
    out = gain.reset_index()
    out.insert(len(group), "comparison", f"{target} - {baseline}")
    return out


def format_table(df: pd.DataFrame, decimals: int = 3) -> pd.DataFrame:
    """A copy with float columns rounded for printing (tables on disk keep more decimals)."""
    return df.round({c: decimals for c in df.columns if df[c].dtype.kind == "f"})


def representative_index(values: Sequence[float]) -> int:
    """Index of the value nearest the median (lowest index on ties): a non-cherry-picked example.

    Used to choose which image a qualitative figure shows (e.g. the image whose TopoTTA F1 is
    its class's median).

    Examples
    --------
    >>> representative_index([0.9, 0.1, 0.5, 0.4])
    2
    """
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("values is empty: no example to pick")
    return int(np.argmin(np.abs(v - np.median(v))))


# ------------------------------------------------------------------------------------------------
# Presets: which reading of TopoTTA a row belongs to
# ------------------------------------------------------------------------------------------------
def preset_of(record: Mapping) -> str:
    """``"paper"``, ``"release"`` or ``"shared"``: the preset a grid record belongs to.

    THR has no preset: its masks are the same whichever reading of TopoTTA it is compared with,
    so its rows are ``"shared"`` by both presets (one THR row per setting). TopoTTA's preset is
    its ``params.preset`` (the paper's by default); TTT4AS rows given the release preset's
    nominal support images (``shots`` in a Table I grid) stand beside the release preset.

    Examples
    --------
    >>> preset_of({"operator": "thr"}), preset_of({"operator": "topotta"})
    ('shared', 'paper')
    >>> preset_of({"operator": "topotta", "params": {"preset": "release"}, "shots": 10})
    'release'
    >>> preset_of({"operator": "ttt4as", "shots": 10}), preset_of({"operator": "ttt4as"})
    ('release', 'paper')
    """
    op = record.get("operator")
    if op == "thr":
        return "shared"
    params = record.get("params") or {}
    if op == "topotta":
        return str(params.get("preset", "paper"))
    return "release" if record.get("shots") else "paper"


def expand_shared(df: pd.DataFrame, column: str = "preset") -> pd.DataFrame:
    """The rows of preset ``"shared"`` repeated under every other preset of ``df`` (for per-preset
    views: THR stands beside both readings of TopoTTA). Without another preset, ``df`` as it is.

    Examples
    --------
    >>> df = pd.DataFrame({"preset": ["shared", "paper", "release"], "method": ["THR", "A", "A"]})
    >>> expand_shared(df).values.tolist()
    [['paper', 'A'], ['paper', 'THR'], ['release', 'A'], ['release', 'THR']]
    """
    if column not in df.columns:
        return df
    shared = df[df[column] == "shared"]
    others = [p for p in dict.fromkeys(df[column]) if p != "shared"]
    if not others or shared.empty:
        return df
    parts = [pd.concat([df[df[column] == p], shared.assign(**{column: p})]) for p in others]
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------------------------------------------
# Mechanism tables: where EAI, its fallback, the superlevel branch and PCES act
# ------------------------------------------------------------------------------------------------
MECHANISM_VARIANTS = ("sublevel", "superlevel", "intersection", "union", "eai", "topotta")
"""The masks of one TopoTTA call that the mechanism tables score: each filtration's pseudo-label,
their intersection and union, the fused pseudo-label (``eai``: EAI, its fallback included) and
the final mask (``topotta``: after PCES)."""

MECHANISM_FLAGS = ("eai_acts", "fallback_fired", "eai_differs_sub", "eai_differs_intersection",
                   "eai_differs_union", "pces_differs")
"""Per-image flags of :func:`mechanism_flags` (columns of ``mechanisms_per_image``)."""


def mechanism_flags(m_sub, m_sup, fused, final) -> dict[str, bool]:
    """Which mechanism changed the masks of one image.

    ``eai_acts``: the two pseudo-labels overlap and EAI returned something other than their
    intersection; ``fallback_fired``: they do not overlap although one is not empty (EAI then
    returns its fallback); ``eai_differs_sub`` / ``_intersection`` / ``_union``: the fused mask
    is not the sublevel mask / the intersection / the union; ``pces_differs``: the final mask
    (after PCES) is not the fused pseudo-label.

    Parameters
    ----------
    m_sub, m_sup, fused, final : array_like of bool, one shape

    Examples
    --------
    >>> sub = np.array([[1, 1, 0, 0]], bool); sup = np.array([[0, 1, 1, 0]], bool)
    >>> flags = mechanism_flags(sub, sup, sub | sup, sub | sup)
    >>> flags["eai_acts"], flags["fallback_fired"], flags["eai_differs_sub"], flags["pces_differs"]
    (True, False, True, False)
    >>> mechanism_flags(sub, ~sub, sub, sub)["fallback_fired"]
    True
    """
    a, b = np.asarray(m_sub, bool), np.asarray(m_sup, bool)
    f, out = np.asarray(fused, bool), np.asarray(final, bool)
    if not a.shape == b.shape == f.shape == out.shape:
        raise ValueError(f"m_sub, m_sup, fused and final must share one shape, got {a.shape}, "
                         f"{b.shape}, {f.shape}, {out.shape}")
    inter, union = a & b, a | b
    return {
        "eai_acts": bool(inter.any() and (f != inter).any()),
        "fallback_fired": bool(not inter.any() and union.any()),
        "eai_differs_sub": bool((f != a).any()),
        "eai_differs_intersection": bool((f != inter).any()),
        "eai_differs_union": bool((f != union).any()),
        "pces_differs": bool((out != f).any()),
    }


def mechanism_variants(m_sub, m_sup, fused, final) -> dict[str, np.ndarray]:
    """The masks of :data:`MECHANISM_VARIANTS` for one image, in that order.

    Examples
    --------
    >>> a = np.array([[1, 0]], bool); b = np.array([[1, 1]], bool)
    >>> {k: v.astype(int).tolist() for k, v in mechanism_variants(a, b, a, b).items()}
    ... # doctest: +NORMALIZE_WHITESPACE
    {'sublevel': [[1, 0]], 'superlevel': [[1, 1]], 'intersection': [[1, 0]], 'union': [[1, 1]],
     'eai': [[1, 0]], 'topotta': [[1, 1]]}
    """
    a, b = np.asarray(m_sub, bool), np.asarray(m_sup, bool)
    return {"sublevel": a, "superlevel": b, "intersection": a & b, "union": a | b,
            "eai": np.asarray(fused, bool), "topotta": np.asarray(final, bool)}


def mechanism_table(records: Iterable[Mapping], *, metrics: Sequence[str] = SEG_METRICS,
                    decimals: int | None = 4) -> pd.DataFrame:
    """``mechanisms_per_image``: one row per (setting, class, image, variant), flags repeated.

    Parameters
    ----------
    records : iterable of dict
        TopoTTA grid records whose result holds ``mechanisms`` (what
        :func:`~topotta_lite.experiments.bundles.evaluate_cell` returns for an operator with
        both filtrations): per variant the per-image metric lists, and the per-image flags, in
        the order of the record's ``image_ids``. ``topk`` is the record's ``params.k`` (1 by
        default).
    metrics : sequence of str
    decimals : int or None

    Returns
    -------
    pandas.DataFrame
        ``dataset, scorer, backbone, preset, topk, category, image, variant, *metrics,
        *MECHANISM_FLAGS``.

    Raises
    ------
    ValueError
        If a record has no ``mechanisms`` (a result cached before they existed, or an operator
        with a single filtration).

    Examples
    --------
    >>> mech = {"variants": {v: {m: [0.5] for m in SEG_METRICS} for v in MECHANISM_VARIANTS},
    ...         "flags": {f: [False] for f in MECHANISM_FLAGS}}
    >>> rec = {"dataset": "embedded-2d", "category": "a", "scorer": "padim", "image_ids": ["x"],
    ...        "operator": "topotta", "params": {"k": 2}, "mechanisms": mech}
    >>> t = mechanism_table([rec])
    >>> len(t), t["topk"].unique().tolist(), t["preset"].iloc[0], t["variant"].iloc[-1]
    (6, [2], 'paper', 'topotta')
    """
    rows = []
    for r in records:
        mech = r.get("mechanisms")
        if not mech:
            raise ValueError(
                f"record of {r.get('category')!r}/{r.get('scorer')!r} holds no mechanisms: "
                "it is not a two-filtration TopoTTA cell, or it was cached before "
                "evaluate_cell returned them (bump RESULTS_VERSION)")
        base = {"dataset": r.get("dataset"), "scorer": _display(r.get("scorer"), SCORER_NAMES),
                "backbone": r.get("backbone") or _default_backbone(r.get("dataset")),
                "preset": preset_of(r), "topk": int((r.get("params") or {}).get("k", 1)),
                "category": r.get("category")}
        flags = mech["flags"]
        for j, image in enumerate(r["image_ids"]):
            flag = {f: bool(flags[f][j]) for f in MECHANISM_FLAGS}
            for variant in MECHANISM_VARIANTS:
                scores = mech["variants"][variant]
                rows.append({**base, "image": str(image), "variant": variant,
                             **{m: float(scores[m][j]) for m in metrics}, **flag})
    cols = ["dataset", "scorer", "backbone", "preset", "topk", "category", "image", "variant",
            *metrics, *MECHANISM_FLAGS]
    out = pd.DataFrame(rows, columns=cols)
    return out.round({m: decimals for m in metrics}) if decimals is not None else out


def eai_activity(per_image: pd.DataFrame, *, decimals: int | None = 4) -> pd.DataFrame:
    """``eai_activity``: per (dataset, scorer, backbone, preset, topk) the share of images where
    each mechanism changed the mask, from a :func:`mechanism_table`.

    Returns
    -------
    pandas.DataFrame
        ``dataset, scorer, backbone, preset, topk, n_images, n_classes`` and the share of images
        of each of :data:`MECHANISM_FLAGS` (``eai_differs_intersection`` ... ``pces_differs``).

    Examples
    --------
    >>> rows = [{"dataset": "d", "scorer": "s", "backbone": "b", "preset": "paper", "topk": 1,
    ...          "category": "a", "image": str(i), "variant": "eai",
    ...          **{f: i == 0 for f in MECHANISM_FLAGS}} for i in range(4)]
    >>> act = eai_activity(pd.DataFrame(rows)).iloc[0]
    >>> int(act["n_images"]), float(act["eai_acts"])
    (4, 0.25)
    """
    keys = ["dataset", "scorer", "backbone", "preset", "topk"]
    one = per_image.drop_duplicates([*keys, "category", "image"])
    g = one.groupby(keys, sort=True, dropna=False)
    out = g[list(MECHANISM_FLAGS)].mean()
    out.insert(0, "n_images", g["image"].size())
    out.insert(1, "n_classes", g["category"].nunique())
    out = out.reset_index()
    return out.round({f: decimals for f in MECHANISM_FLAGS}) if decimals is not None else out
