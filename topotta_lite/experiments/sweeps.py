"""Sweep and ablation cells for notebooks 08-10 (Tables II, IV-IX and our own ablations).

The experiment notebooks describe *what* to vary; this module turns that into
:func:`topotta_lite.experiments.bundles.evaluate_cell` cells and back into tables:

* :func:`one_at_a_time` - vary one parameter at a time around a base setting (Tables VII-IX).
* :func:`build_cells` - a labelled set of operator variants x classes x scorers -> cells plus the
  labels that name each row of the resulting table (labels are kept *out* of the cells, so a cell
  that another notebook already computed is a cache hit).
* :func:`results_frame` / :func:`mean_over_classes` - grid report -> long table, averaged over
  classes the way the paper averages (mean over images of a class, then over classes).
* :func:`kth_component_variants` - "only the K-th most persistent component" (Table V), i.e.
  TopoTTA with ``k=K, only_kth=True``.
* :func:`paper_analogue` - which of the paper's rows a companion row is compared with.
"""

from __future__ import annotations

import copy
import inspect
import itertools
from collections.abc import Iterable, Mapping, Sequence

from topotta_lite.method.fusion import ACTIVITY_KEYS
from topotta_lite.method.pseudolabels import (
    DEFAULT_ALPHA,
)
from topotta_lite.operators import PRESETS, TopoTTA
from topotta_lite.vocabulary import SEG_METRICS

__all__ = [
    "build_cells",
    "component_configurations",
    "drop_defaults",
    "kth_component_variants",
    "mean_over_classes",
    "one_at_a_time",
    "paired_against",
    "paper_analogue",
    "pces_ablation_variants",
    "results_frame",
    "run_labelled",
    "setting_variants",
    "topotta_defaults",
    "with_preset",
]


#: the paper's name of each companion scorer (our 2D scorers play the part of these backbones)
PAPER_BACKBONE = {"patchcore": "PatchCore", "padim": "PaDiM"}
FUSION_LABEL = {"eai": "EAI", "iou": "IoU"}


# ------------------------------------------------------------------------------------------------
# Sweeps and cells
# ------------------------------------------------------------------------------------------------
def one_at_a_time(base_params: Mapping, grid: Mapping[str, Sequence], *,
                  defaults: Mapping | None = None) -> list[dict]:
    """Vary one parameter at a time around ``base_params``.

    Parameters
    ----------
    base_params : mapping
        The operator parameters every setting starts from (the defaults of the sweep).
    grid : mapping of str -> sequence
        For each parameter name, the values it takes while the others stay at ``base_params``.
    defaults : mapping, optional
        The operator's own defaults (e.g. :func:`topotta_defaults`). A parameter whose value
        equals its default is left out of ``params``, so the default setting of every sweep is
        one and the same cell (and the same cache entry as the main experiments').

    Returns
    -------
    list of dict
        One entry per (parameter, value), in the grid's order: ``{"parameter": name,
        "value": v, "params": base_params with name = v}``. ``params`` are fresh copies.

    Examples
    --------
    >>> rows = one_at_a_time({"lam": 0.01, "levels": 256}, {"lam": [0, 0.1], "levels": [8]})
    >>> [(r["parameter"], r["value"], r["params"]) for r in rows]  # doctest: +NORMALIZE_WHITESPACE
    [('lam', 0, {'lam': 0, 'levels': 256}), ('lam', 0.1, {'lam': 0.1, 'levels': 256}),
     ('levels', 8, {'lam': 0.01, 'levels': 8})]
    >>> one_at_a_time({}, {"lam": [0.01, 0.1]}, defaults={"lam": 0.01})[0]["params"]
    {}
    """
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("grid must be a non-empty mapping of parameter name -> values")
    rows = []
    for name, values in grid.items():
        values = list(values)
        if not values:
            raise ValueError(f"grid[{name!r}] is empty: give at least one value")
        for v in values:
            params = copy.deepcopy(dict(base_params))
            params[name] = v
            params = drop_defaults(params, defaults)
            rows.append({"parameter": name, "value": v, "params": params})
    return rows


def topotta_defaults() -> dict:
    """TopoTTA's default parameters: its signature, with ``alpha`` resolved to the module default
    and the preset-dependent ones (``construction``, ``rule``, ``fusion``) to the paper preset's.

    Examples
    --------
    >>> d = topotta_defaults()
    >>> d["lam"], d["levels"], d["margin"], d["alpha"], d["fusion_target"], d["construction"]
    (0.01, 256, 1.0, 0.5, 'union', 'V')
    """
    sig = inspect.signature(TopoTTA.__init__)
    out = {name: p.default for name, p in sig.parameters.items()
           if p.default is not inspect.Parameter.empty}
    if out.get("alpha") is None:
        out["alpha"] = DEFAULT_ALPHA
    preset = PRESETS[out["preset"]]
    for name in ("construction", "rule", "fusion"):
        if out.get(name) is None:
            out[name] = preset[name]
    return out


def drop_defaults(params: Mapping, defaults: Mapping | None) -> dict:
    """``params`` without the entries that equal ``defaults`` (same cell, same cache key).

    Examples
    --------
    >>> drop_defaults({"lam": 0.01, "levels": 64}, {"lam": 0.01, "levels": 256})
    {'levels': 64}
    """
    if not defaults:
        return dict(params)
    return {k: v for k, v in params.items() if not (k in defaults and _same(v, defaults[k]))}


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return a == b


def setting_variants(parameter: str, values: Sequence, *, pces: Sequence[bool] = (True,),
                     base_params: Mapping | None = None, defaults: Mapping | None = None,
                     label: str | None = None) -> dict[str, dict]:
    """TopoTTA settings over one parameter, with and/or without PCES, for :func:`build_cells`.

    Labels read ``"<label>=<value>"`` plus ``"+PCES"`` when PCES runs; ``meta`` holds
    ``{label: value, "pces": 0/1}``. Parameters equal to ``defaults`` are dropped
    (:func:`drop_defaults`), so default settings share cells with the main experiments.

    Examples
    --------
    >>> v = setting_variants("rule", ["region", "release"], pces=[False, True],
    ...                      defaults=topotta_defaults())
    >>> {k: d["params"] for k, d in v.items()}  # doctest: +NORMALIZE_WHITESPACE
    {'rule=region': {'pces': False}, 'rule=release': {'rule': 'release', 'pces': False},
     'rule=region+PCES': {}, 'rule=release+PCES': {'rule': 'release'}}
    """
    label = label or parameter
    out = {}
    for use_pces in pces:
        for value in values:
            params = {**dict(base_params or {}), parameter: value, "pces": bool(use_pces)}
            params = drop_defaults(params, defaults or {"pces": True})
            name = f"{label}={value}" + ("+PCES" if use_pces else "")
            out[name] = {"operator": "topotta", "params": params,
                         "meta": {label: value, "pces": int(use_pces)}}
    return out


def build_cells(
    variants: Mapping[str, Mapping],
    *,
    dataset: str,
    categories: Iterable[str],
    scorers: Iterable[str],
    size: str = "quick",
    seed: int = 0,
    data_root: str | None = None,
    backbone: str | None = None,
    maps_dir: str | None = None,
) -> tuple[list[dict], list[dict]]:
    """Cells for every (variant, class, scorer), and one label row per cell.

    Parameters
    ----------
    variants : mapping of str -> mapping
        A label (what the table calls the setting) -> the cell keys that make it, at least
        ``"operator"``; optional ``"params"``, ``"shots"``, ``"feature_backbone"``, ``"scorer"``
        (overrides the scorer loop), and ``"meta"`` (extra label columns, not part of the cell).
    dataset, categories, scorers, size, seed, data_root
        The data the cells run on (see :mod:`topotta_lite.experiments.bundles`).
    backbone : str, optional
        The scorer's backbone; default: the modality's default backbone.
    maps_dir : str, optional
        Your own score maps (the scorer is then ``"maps"``), see
        :func:`topotta_lite.experiments.bundles.maps_bundle`.

    Returns
    -------
    cells : list of dict
        Plain :func:`~topotta_lite.experiments.bundles.evaluate_cell` cells. They carry no labels, so the
        same experiment named differently in two notebooks is one cache entry.
    labels : list of dict
        ``{"setting", "dataset", "category", "scorer", **meta}`` for each cell.

    Examples
    --------
    >>> cells, labels = build_cells({"THR": {"operator": "thr"}}, dataset="embedded-2d",
    ...                             categories=["brick", "nut"], scorers=["padim"])
    >>> [c["category"] for c in cells], labels[0]["setting"], "setting" in cells[0]
    (['brick', 'nut'], 'THR', False)
    """
    from topotta_lite.experiments.bundles import experiment_cell

    categories, scorers = list(categories), list(scorers)
    if not variants:
        raise ValueError("variants is empty: give at least one labelled setting")
    cells, labels = [], []
    for label, variant in variants.items():
        variant = dict(variant)
        if "operator" not in variant:
            raise ValueError(f"variant {label!r} names no operator")
        meta = dict(variant.pop("meta", {}) or {})
        own_scorer = variant.pop("scorer", None)
        for category, scorer in itertools.product(categories, [own_scorer] if own_scorer
                                                  else scorers):
            extra = {k: v for k, v in variant.items() if k not in ("operator", "params")}
            cells.append(experiment_cell(
                dataset, category, scorer, variant["operator"],
                params=copy.deepcopy(dict(variant.get("params") or {})), backbone=backbone,
                size=size, seed=seed, data_root=data_root, maps_dir=maps_dir, **extra))
            labels.append({"setting": label, "dataset": dataset, "category": category,
                           "scorer": scorer, **meta})
    return cells, labels


def results_frame(report, labels: Sequence[Mapping]):
    """A long DataFrame: one row per computed cell, its labels and its mean metrics.

    Cells that failed (``None`` results) are dropped; the grid report already printed why.
    """
    import pandas as pd

    rows = []
    for lab, res in zip(labels, report.results):
        if res is None:
            continue
        row = dict(lab)
        row.update({m: res[m] for m in (*SEG_METRICS, *ACTIVITY_KEYS) if m in res})
        row["n_images"] = res.get("n_images")
        sec = res.get("seconds", {}) or {}
        row["seconds_per_image"] = sec.get("total")
        rows.append(row)
    return pd.DataFrame(rows)


def mean_over_classes(df, by: Sequence[str], metrics: Sequence[str] = SEG_METRICS):
    """Average the per-class rows over classes (the paper's protocol), keeping ``by`` columns.

    Adds ``n_classes``. Row order follows the first appearance of each group in ``df``.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"k": [1, 1, 2], "category": ["a", "b", "a"], "f1": [0.2, 0.4, 0.1]})
    >>> mean_over_classes(df, ["k"], ["f1"]).to_dict("records")
    [{'k': 1, 'f1': 0.3, 'n_classes': 2}, {'k': 2, 'f1': 0.1, 'n_classes': 1}]
    """
    by, metrics = list(by), [m for m in metrics if m in df.columns]
    out = (df.groupby(by, sort=False, dropna=False)
             .agg(**{m: (m, "mean") for m in metrics}, n_classes=("category", "nunique"))
             .reset_index())
    out[metrics] = out[metrics].round(6)
    return out


def paper_analogue(scorer: str) -> str:
    """The paper's backbone name our 2D scorer stands in for (``"patchcore"`` -> ``"PatchCore"``).

    Examples
    --------
    >>> paper_analogue("padim")
    'PaDiM'
    """
    return PAPER_BACKBONE.get(scorer, scorer)


def component_configurations(fusions: Sequence[str] = ("intersection", "union", "iou", "eai"),
                             pces: Sequence[bool] = (False, True)) -> dict[str, dict]:
    """Table VI's operator settings: each filtration alone, and both with each fusion; +/- PCES.

    Returns a label -> ``{"operator": "topotta", "params": ..., "meta": ...}`` mapping for
    :func:`build_cells`; ``meta`` holds the columns ``sublevel``, ``superlevel``, ``fusion``,
    ``pces`` of the table.

    Examples
    --------
    >>> sorted(component_configurations(["eai"], [True]))
    ['sub+super+EAI+PCES', 'sublevel+PCES', 'superlevel+PCES']
    """
    out: dict[str, dict] = {}
    for use_pces in pces:
        tail = "+PCES" if use_pces else ""
        for filt in ("sublevel", "superlevel"):
            params = {"filtrations": [filt], "fusion": None}
            if not use_pces:
                params["pces"] = False
            out[f"{filt}{tail}"] = {
                "operator": "topotta", "params": params,
                "meta": {"sublevel": int(filt == "sublevel"),
                         "superlevel": int(filt == "superlevel"), "fusion": "none",
                         "pces": int(use_pces)}}
        for fusion in fusions:
            params = {} if fusion == "eai" else {"fusion": fusion}  # eai: the default cell
            if not use_pces:
                params["pces"] = False
            out[f"sub+super+{FUSION_LABEL.get(fusion, fusion)}{tail}"] = {
                "operator": "topotta", "params": params,
                "meta": {"sublevel": 1, "superlevel": 1, "fusion": fusion,
                         "pces": int(use_pces)}}
    return out


def kth_component_variants(ks: Iterable[int], base_params: Mapping | None = None) -> dict[str, dict]:
    """Table V's settings: for each K, TopoTTA with only the K-th feature of each filtration.

    ``K = 1`` is the default TopoTTA itself (the 1st alone is the Top-1), so it is expressed as the
    plain cell and shared with the main experiments.

    Examples
    --------
    >>> v = kth_component_variants([1, 2])
    >>> v["K=1"]["params"], v["K=2"]["params"], v["K=2"]["meta"]
    ({}, {'k': 2, 'only_kth': True}, {'kth_component': 2})
    """
    base = dict(base_params or {})
    out = {}
    for k in ks:
        k = int(k)
        if k < 1:
            raise ValueError(f"K must be >= 1, got {k}")
        if k == 1:
            out["K=1"] = {"operator": "topotta", "params": dict(base),
                          "meta": {"kth_component": 1}}
        else:
            out[f"K={k}"] = {"operator": "topotta", "params": {**base, "k": k, "only_kth": True},
                             "meta": {"kth_component": k}}
    return out


def run_labelled(cells: Sequence[dict], labels: Sequence[Mapping], fn=None, *,
                 desc: str = "cells", strict: bool = True, per_image: bool = False, **run_kw):
    """Run labelled cells through :func:`~topotta_lite.experiments.grid.run_grid` once each.

    The same cell often appears under several labels (the default setting of every
    one-at-a-time sweep); it is computed once and its result copied to each label.

    Parameters
    ----------
    strict : bool
        Raise ``RuntimeError`` naming the failed settings once the whole grid has run (the
        finished cells are cached, so a re-run only retries the failures). ``False``: leave
        failed cells out of the table.

    per_image : bool
        Also return the per-image table of the labelled cells
        (:func:`~topotta_lite.experiments.tables.image_table`; the label keys become its
        setting columns).

    Returns
    -------
    pandas.DataFrame
        :func:`results_frame` of all labels (cells that failed are left out); with
        ``per_image=True`` a pair ``(frame, per_image_frame)``.

    Examples
    --------
    >>> import tempfile
    >>> from topotta_lite.experiments.grid import ResultCache
    >>> calls = []
    >>> def fn(cell):
    ...     calls.append(cell)
    ...     return {"f1": cell["x"] / 10}
    >>> df = run_labelled([{"x": 1}, {"x": 1}], [{"setting": "a"}, {"setting": "b"}], fn,
    ...                   cache=ResultCache(tempfile.mkdtemp()), progress=False)
    >>> df["setting"].tolist(), df["f1"].tolist(), len(calls)
    (['a', 'b'], [0.1, 0.1], 1)
    """
    from topotta_lite.experiments.grid import GridReport, cell_key, run_grid

    if len(cells) != len(labels):
        raise ValueError(f"got {len(cells)} cells but {len(labels)} labels")
    keys = [cell_key(c) for c in cells]
    unique: dict[str, dict] = {}
    for k, c in zip(keys, cells):
        unique.setdefault(k, c)
    if fn is None:
        from topotta_lite.experiments.bundles import evaluate_cell as fn
    report = run_grid(list(unique.values()), fn, desc=desc, strict=False, **run_kw)
    by_key = dict(zip(unique, report.results))
    full = GridReport(list(cells), [by_key[k] for k in keys])
    if strict and report.failures:
        failed = sorted({str(lab.get("setting", i)) for i, (lab, r)
                         in enumerate(zip(labels, full.results)) if r is None})
        raise RuntimeError(f"{len(report.failures)} cell(s) failed ({desc}); settings: "
                           f"{', '.join(failed)} (tracebacks printed above)")
    frame = results_frame(full, labels)
    if not per_image:
        return frame
    from topotta_lite.experiments.tables import IMAGE_FIXED, image_table

    records = [{**cell, **lab, **res} for cell, lab, res in zip(cells, labels, full.results)
               if res is not None]
    keep = [k for k in dict.fromkeys(k for lab in labels for k in lab) if k not in IMAGE_FIXED]
    return frame, image_table(records, keep=keep)


def with_preset(variants: Mapping[str, Mapping], preset: str, *, shots: int = 0,
                prefix: str = "") -> dict[str, dict]:
    """The same TopoTTA settings under a preset: ``params.preset`` set, ``meta.preset`` recorded.

    The release preset trains on nominal support images, so its cells carry ``shots`` (they count
    as few-shot support). Labels get ``prefix`` in front (e.g. ``"release: "``). A parameter equal
    to the preset's own value (the release's ``fusion="intersection"``) is left out, so that the
    cell is the one notebook 06 runs for Table I (one cache entry).

    Examples
    --------
    >>> v = with_preset(component_configurations(["intersection"], [True]), "release", shots=10,
    ...                 prefix="release: ")
    >>> d = v["release: sub+super+intersection+PCES"]
    >>> d["params"], d["shots"], d["meta"]["preset"]
    ({'preset': 'release'}, 10, 'release')
    """
    out = {}
    for name, spec in variants.items():
        params = dict(spec.get("params") or {})
        if preset != "paper":
            params = {k: v for k, v in params.items() if PRESETS[preset].get(k, object()) != v}
            params["preset"] = preset
        item = {**spec, "params": params, "meta": {**dict(spec.get("meta") or {}), "preset": preset}}
        if shots:
            item["shots"] = int(shots)
        out[prefix + name] = item
    return out


def pces_ablation_variants(defaults: Mapping | None = None) -> dict[str, dict]:
    """PCES one choice at a time, from our defaults back to earlier choices, and the reference.

    Settings (each a TopoTTA cell): ``pseudo-labels`` (no PCES, the reference every row is paired
    with), ``defaults``; one default undone at a time: ``positives: half-covered cells``,
    ``negatives: beyond 1 cell``, ``classes capped 4:1``, ``256 points``; all four undone at once
    (``all four undone``); a larger budget (``2048 points``); two other rules on the
    default samples: ``decision: trim`` and ``decision: area``; and ``map resolution`` (features
    upsampled to the map).

    Examples
    --------
    >>> v = pces_ablation_variants(topotta_defaults())
    >>> v["pseudo-labels"]["params"], v["defaults"]["params"], v["256 points"]["params"]
    ({'pces': False}, {}, {'n_points': 256})
    """
    first = {"pos_fraction": 0.5, "neg_dilation": 1, "max_ratio": 4.0, "n_points": 256}
    settings = {
        "pseudo-labels": {"pces": False},
        "defaults": {},
        "positives: half-covered cells": {"pos_fraction": 0.5},
        "negatives: beyond 1 cell": {"neg_dilation": 1},
        "classes capped 4:1": {"max_ratio": 4.0},
        "256 points": {"n_points": 256},
        "2048 points": {"n_points": 2048},
        "all four undone": first,
        "decision: trim": {"decision": "trim"},
        "decision: area": {"decision": "area"},
        "map resolution": {"resolution": "full"},
    }
    return {name: {"operator": "topotta", "params": drop_defaults(params, defaults or {}),
                   "meta": {"pces_setting": name}}
            for name, params in settings.items()}


def paired_against(per_image, reference: str, *, by: Sequence[str] = ("scorer",),
                   setting: str = "setting", metric: str = "f1", seed: int = 0):
    """Each setting minus ``reference`` on the same images, with its stratified 95% interval.

    ``per_image`` is a long per-image table (one row per image and setting, with ``category`` and
    ``image``); the difference is the protocol's mean over classes, its interval resamples images
    within classes (:func:`topotta_lite.experiments.stats.paired_difference`).

    Returns
    -------
    pandas.DataFrame
        ``*by, setting, difference, low, high, n_images, n_classes, verdict`` (verdict against 0).

    Examples
    --------
    >>> import pandas as pd
    >>> rows = [{"scorer": "s", "category": c, "image": i, "setting": name, "f1": v + off}
    ...         for c in "ab" for i in range(4) for name, off in (("ref", 0.0), ("new", 0.1))
    ...         for v in [0.2 + 0.1 * i]]
    >>> out = paired_against(pd.DataFrame(rows), "ref")
    >>> out[["setting", "difference", "verdict"]].values.tolist()
    [['new', 0.1, 'holds']]
    """
    import pandas as pd

    from topotta_lite.experiments.stats import paired_difference, seed_for

    df = pd.DataFrame(per_image)
    keys = ["category", "image"]
    rows = []
    for group, g in df.groupby(list(by), sort=True) if by else [((), df)]:
        group = group if isinstance(group, tuple) else (group,)
        ref = g[g[setting] == reference].set_index(keys)[metric]
        for name, s in g[g[setting] != reference].groupby(setting, sort=False):
            s = s.set_index(keys)[metric]
            both = ref.index.intersection(s.index)
            if not len(both):
                continue
            ci = paired_difference(s.loc[both].to_numpy(), ref.loc[both].to_numpy(),
                                   both.get_level_values("category").to_numpy(),
                                   seed=seed_for(seed, *group, name))
            rows.append({**dict(zip(by, group)), setting: name, "difference": round(ci.estimate, 4),
                         "low": round(ci.low, 4), "high": round(ci.high, 4),
                         "n_images": ci.n_images, "n_classes": ci.n_classes,
                         "verdict": ci.verdict()})
    return pd.DataFrame(rows)
