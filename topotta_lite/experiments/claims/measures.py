"""Measurements: which rows of which table are a claim's comparands, setting by setting.

Each constructor returns ``measure(tables, procedure) -> list[Comparison]``: it finds the
settings of the tables it reads (:func:`~.frames.setting_groups`), picks the comparands in the
order the claim's procedure expects (:mod:`.procedures`), and aligns them on the same images
(:func:`~.frames.align`). A measurement that cannot answer raises
:class:`~.frames.NotTestable` with the reason. The mechanism measurements are in
:mod:`.mechanisms`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from topotta_lite.experiments.claims.frames import (
    NotTestable,
    align,
    concat,
    need,
    normalise,
    setting_groups,
)
from topotta_lite.experiments.claims.procedures import contrasts
from topotta_lite.experiments.paper_checks import word

__all__ = [
    "best_at",
    "components",
    "compare",
    "fewshot_low_vs_high",
    "lowest",
    "method_gap",
    "metrics_differ",
    "monotone_step",
    "off_diagonal",
    "robustness",
    "runtime_ratio",
    "without_zero_shots",
]

_METRICS = ("precision", "recall", "f1", "iou")


def compare(label, preset, g, parts, procedure, images=None, activity=None, n_low=None):
    """Align ``parts`` in one setting and attach ``procedure``'s contrasts (``None``: no image)."""
    cons, names = contrasts(procedure, [p[0] for p in parts], n_low=n_low)
    c = align(label, preset, g, parts, cons, names, images=images)
    if c is not None and activity is not None:
        from dataclasses import replace

        c = replace(c, activity=activity[0], n_total=activity[1])
    return c


def metrics_differ(g: pd.DataFrame, masks) -> pd.Series:
    """Per ``(category, image)``: do the comparands' metrics differ at all (a changed mask)?

    A mask that changes leaves its precision, recall, F1 and IoU all unchanged only by accident;
    this is the proxy for "the mechanism acts" when a table has no flag for it.
    """
    keys = ["category", "image"]
    cols = [m for m in _METRICS if m in g.columns]
    frames = [g[np.asarray(m, bool)].set_index(keys)[cols].apply(pd.to_numeric, errors="coerce")
              for m in masks]
    stacked = pd.concat(frames, keys=range(len(frames)), names=["_part", *keys])
    spread = stacked.groupby(level=keys).agg(lambda s: s.max() - s.min())
    return (spread.fillna(0) > 1e-9).any(axis=1)


def _activity(flags: pd.Series) -> tuple[float, int]:
    return (float(flags.mean()) if len(flags) else 0.0), int(len(flags))


def _only_topotta(df: pd.DataFrame) -> pd.DataFrame:
    if "method" in df.columns and (df["method"] == "TopoTTA").any():
        return df[df["method"] == "TopoTTA"]
    return df


def _param_values(g: pd.DataFrame, param: str) -> list[float]:
    return sorted(set(pd.to_numeric(g[param], errors="coerce").dropna().astype(float)))


# ----------------------------------------------------------------------------- methods
def method_gap(table_names, better: str, worse: str | tuple[str, ...], metric: str = "f1",
               extra: tuple[str, ...] = (), where: Callable[[pd.DataFrame], pd.DataFrame]
               | None = None):
    """Per setting: ``metric(better)`` against each of ``worse`` on the same images."""
    worse = (worse,) if isinstance(worse, str) else worse

    def measure(tables, procedure) -> list:
        df = concat(tables, table_names)
        need(df, ["method", metric, *extra], "/".join(table_names))
        if where is not None:
            df = where(df)
        out = []
        for label, preset, g in setting_groups(df, extra):
            present = [w for w in worse if (g["method"] == w).any()]
            if not (g["method"] == better).any() or not present:
                continue
            parts = [(m, g["method"] == m, metric) for m in (better, *present)]
            c = compare(label, preset, g, parts, procedure)
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable(f"no setting has both {better} and {'/'.join(worse)}")
        return out

    return measure


def lowest(table_names, method: str, metric: str = "f1"):
    """Per setting: every other method against ``method`` ("``method`` is the lowest")."""

    def measure(tables, procedure) -> list:
        df = concat(tables, table_names)
        need(df, ["method", metric], "/".join(table_names))
        out = []
        for label, preset, g in setting_groups(df):
            others = sorted(m for m in set(g["method"]) if m != method)
            if not (g["method"] == method).any() or not others:
                continue
            parts = [(m, g["method"] == m, metric) for m in (method, *others)]
            c = compare(label, preset, g, parts, procedure)
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable(f"needs {method} and at least one other method in a setting")
        return out

    return measure


def off_diagonal(df: pd.DataFrame) -> pd.DataFrame:
    """Table IV without its diagonal: rows whose features come from the maps' own backbone."""
    from topotta_lite.experiments.bundles import DEFAULT_BACKBONE, modality_of

    if "feature_source" not in df.columns:
        raise NotTestable("table4_crossmodel lacks column feature_source")
    if "backbone" in df.columns:
        own = df["backbone"].astype(str)
    else:
        own = df["dataset"].map(lambda d: DEFAULT_BACKBONE.get(modality_of(str(d)), ""))
    out = df[df["feature_source"].astype(str) != own]
    if not len(out):
        raise NotTestable("table4_crossmodel has only same-backbone pairs (the diagonal): no "
                          "cross-model setting")
    return out


def without_zero_shots(df: pd.DataFrame) -> pd.DataFrame:
    """Table II rows with at least one support image (0 shots is Table I's claim)."""
    return df[pd.to_numeric(df["shots"], errors="coerce") > 0]


# ----------------------------------------------------------------------------- sweeps
def best_at(table: str, param: str, claimed: float, metric: str = "f1",
            activity: bool = False):
    """Per setting: ``metric`` at ``param == claimed`` against every other value, pairwise.

    ``activity=True`` records the share of images on which the parameter changes the mask at all
    (:func:`metrics_differ`): a parameter that changes almost nothing makes the claim vacuous.
    """

    def measure(tables, procedure) -> list:
        df = _only_topotta(normalise(tables[table]))
        need(df, [param, metric], table)
        df = df.assign(**{param: pd.to_numeric(df[param], errors="coerce")})
        out = []
        for label, preset, g in setting_groups(df):
            vals = _param_values(g, param)
            at = [v for v in vals if np.isclose(v, claimed)]
            others = [v for v in vals if not np.isclose(v, claimed)]
            if not at or not others:
                continue
            masks = [np.isclose(g[param], v) for v in (at[0], *others)]
            parts = [(f"{param}={word(v)}", m, metric) for v, m in zip((at[0], *others), masks)]
            act = None
            if activity and "image" in g.columns:
                act = _activity(metrics_differ(g, masks))
            c = compare(label, preset, g, parts, procedure, activity=act)
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable(f"{table}: no setting has {param} = {claimed:g} and another value")
        return out

    return measure


def monotone_step(table: str, param: str, metric: str = "f1"):
    """Per setting: ``metric`` at consecutive values of ``param`` (every step is one contrast)."""

    def measure(tables, procedure) -> list:
        df = _only_topotta(normalise(tables[table]))
        need(df, [param, metric], table)
        df = df.assign(**{param: pd.to_numeric(df[param], errors="coerce")})
        out = []
        for label, preset, g in setting_groups(df):
            vals = _param_values(g, param)
            if len(vals) < 3:
                continue
            parts = [(f"{param}={word(v)}", np.isclose(g[param], v), metric) for v in vals]
            c = compare(label, preset, g, parts, procedure)
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable(f"{table}: fewer than 3 values of {param}")
        return out

    return measure


# ----------------------------------------------------------------------------- Table VI
def config_flags(df: pd.DataFrame) -> pd.DataFrame:
    """Columns ``sub``, ``sup`` (bool), ``fusion`` (str), ``pces`` (bool) of Table VI rows.

    Read from ``sublevel/superlevel/fusion/pces`` columns when present, else parsed from the
    ``configuration`` text (e.g. ``"sub+super+EAI+PCES"``, ``"superlevel only, no PCES"``).

    Examples
    --------
    >>> config_flags(pd.DataFrame({"configuration": ["sub+super+EAI (no PCES)"]}))[
    ...     ["sub", "sup", "fusion", "pces"]].values.tolist()
    [[True, True, 'eai', False]]
    """
    out = df.copy()
    conf = out["configuration"].astype(str).str.lower() if "configuration" in out else None

    def flag(col, pattern):
        if col in out.columns:
            return pd.to_numeric(out[col], errors="coerce").fillna(0).astype(bool)
        if conf is None:
            raise NotTestable(f"table6_components lacks {col!r} and 'configuration'")
        return conf.str.contains(pattern, regex=True)

    out["sub"] = flag("sublevel", r"(?:^|[^a-z])sub")
    out["sup"] = flag("superlevel", r"(?:^|[^a-z])super")
    if "pces" in df.columns:
        out["pces"] = pd.to_numeric(df["pces"], errors="coerce").fillna(0).astype(bool)
    else:
        if conf is None:
            raise NotTestable("table6_components lacks 'pces' and 'configuration'")
        out["pces"] = conf.str.contains("pces") & ~conf.str.contains(
            r"(?:no|without|w/o)[\s_-]*pces|-pces", regex=True)
    if "fusion" in df.columns:
        fus = df["fusion"].astype(str).str.lower().str.rstrip("?")
    elif conf is not None:
        fus = conf.str.extract(r"(eai|intersection|union|iou)", expand=False)
    else:
        fus = pd.Series("none", index=out.index)
    out["fusion"] = fus.fillna("none").replace({"nan": "none", "": "none"})
    return out


def _config_name(row) -> str:
    if "configuration" in row and isinstance(row["configuration"], str):
        return row["configuration"]
    return "+".join([*(["sub"] if row["sub"] else []), *(["super"] if row["sup"] else []),
                     *([row["fusion"]] if row["fusion"] != "none" else []),
                     *(["PCES"] if row["pces"] else [])])


def components(kind: str):
    """Table VI: ``"full_best"`` (the full configuration against every other one),
    ``"superlevel_recall"`` (superlevel alone against sublevel alone: recall up *and* precision
    down), ``"pces"`` (full against full without PCES), ``"eai"`` (both filtrations fused by EAI
    against another fusion, PCES alike), ``"superlevel_branch"`` (both filtrations with EAI against
    the sublevel one alone, PCES alike)."""

    def measure(tables, procedure) -> list:
        df = _only_topotta(config_flags(normalise(tables["table6_components"])))
        need(df, ["f1"] + (["precision", "recall"] if kind == "superlevel_recall" else []),
             "table6_components")
        df = df.assign(_config=[_config_name(r) for _, r in df.iterrows()])
        out = []
        for label, preset, g in setting_groups(df):
            parts = _component_parts(kind, g)
            c = compare(label, preset, g, parts, procedure) if parts else None
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable(f"table6_components has no rows for the {kind!r} comparison")
        return out

    return measure


def _component_parts(kind: str, g: pd.DataFrame):
    both = g["sub"] & g["sup"]
    eai = both & (g["fusion"] == "eai")
    full = eai & g["pces"]
    if kind == "full_best":
        others = list(dict.fromkeys(g.loc[~full, "_config"]))
        if full.any() and others:
            return [("full", full, "f1")] + [(n, (g["_config"] == n) & ~full, "f1")
                                              for n in others]
    elif kind == "superlevel_recall":
        sub, sup = g["sub"] & ~g["sup"], g["sup"] & ~g["sub"]
        for p in (True, False):
            if (sub & (g["pces"] == p)).any() and (sup & (g["pces"] == p)).any():
                sub, sup = sub & (g["pces"] == p), sup & (g["pces"] == p)
                return [("R_sup", sup, "recall"), ("R_sub", sub, "recall"),
                        ("P_sub", sub, "precision"), ("P_sup", sup, "precision")]
    elif kind == "pces":
        if full.any() and (eai & ~g["pces"]).any():
            return [("sub+super+EAI+PCES", full, "f1"), ("sub+super+EAI", eai & ~g["pces"], "f1")]
    elif kind in ("eai", "superlevel_branch"):
        for p in (True, False):
            tail = "+PCES" if p else ""
            mine = eai & (g["pces"] == p)
            if kind == "eai":
                other = both & ~g["fusion"].isin(["eai", "none"]) & (g["pces"] == p)
                name = f"sub+super+{'/'.join(sorted(set(g.loc[other, 'fusion'])))}{tail}"
            else:
                other = g["sub"] & ~g["sup"] & (g["pces"] == p)
                name = f"sublevel{tail}"
            if mine.any() and other.any():
                return [(f"sub+super+EAI{tail}", mine, "f1"), (name, other, "f1")]
    return None


# ----------------------------------------------------------------------------- Tables II, Fig. 7
def _pair_at(g, col: str, value) -> bool:
    at = g[np.isclose(pd.to_numeric(g[col], errors="coerce"), value)]
    return {"TopoTTA", "TTT4AS"} <= set(at["method"])


def fewshot_low_vs_high(low=(1, 3), high=(5, 7, 10)):
    """Per setting: mean TopoTTA - TTT4AS F1 gain at ``low`` shots against the mean at ``high``."""

    def measure(tables, procedure) -> list:
        df = normalise(tables["table2_fewshot"])
        need(df, ["shots", "method", "f1"], "table2_fewshot")
        df = df.assign(shots=pd.to_numeric(df["shots"], errors="coerce"))
        out = []
        for label, preset, g in setting_groups(df):
            lo = [s for s in low if _pair_at(g, "shots", s)]
            hi = [s for s in high if _pair_at(g, "shots", s)]
            if not lo or not hi:
                continue
            parts = []
            for s in (*lo, *hi):
                at = g["shots"] == s
                parts += [(f"TopoTTA@{s}", at & (g["method"] == "TopoTTA"), "f1"),
                          (f"TTT4AS@{s}", at & (g["method"] == "TTT4AS"), "f1")]
            c = compare(label, preset, g, parts, procedure, n_low=len(lo))
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable(f"table2_fewshot needs shots in {low} and in {high}")
        return out

    return measure


def robustness(kind: str):
    """Fig. 7: ``"never_worse"`` (TopoTTA against TTT4AS per perturbed (kind, strength)) or
    ``"gain_shrinks"`` (per kind: the gain at the strongest strength against the weakest)."""

    def measure(tables, procedure) -> list:
        df = normalise(tables["fig7_robustness"])
        need(df, ["kind", "strength", "method", "f1"], "fig7_robustness")
        df = df.assign(strength=pd.to_numeric(df["strength"], errors="coerce"))
        out = []
        extra = ("kind", "strength") if kind == "never_worse" else ("kind",)
        for label, preset, g in setting_groups(df, extra):
            if kind == "never_worse":
                if not (g["strength"] > 0).all():
                    continue
                parts = [(m, g["method"] == m, "f1") for m in ("TopoTTA", "TTT4AS")]
            else:
                levels = [s for s in _param_values(g, "strength") if _pair_at(g, "strength", s)]
                if len(levels) < 2:
                    continue
                parts = [(f"{m}@{word(s)}", (g["method"] == m) & np.isclose(g["strength"], s),
                          "f1") for s in (levels[0], levels[-1]) for m in ("TopoTTA", "TTT4AS")]
            c = compare(label, preset, g, parts, procedure)
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable("fig7_robustness has no perturbed strengths to compare")
        return out

    return measure


# ----------------------------------------------------------------------------- Table X
def runtime_ratio(column: str = "total_s"):
    """Per (modality, device): log time of TopoTTA against TTT4AS (a difference of logs is the
    log of their ratio).

    Our side needs ``table10_runtime_per_image``: per-image times of both operators measured
    interleaved on the same images (:func:`topotta_lite.experiments.runtime.time_operators`),
    resampled like any per-image score. A table of medians alone cannot carry an interval on a
    shared CPU, whose load moves each run. The paper's Table X gives one number per operator (a
    point value).
    """

    def measure(tables, procedure) -> list:
        df = normalise(tables["table10_runtime"])
        need(df, ["method", column], "table10_runtime")
        df = df.assign(**{column: pd.to_numeric(df[column], errors="coerce")})
        df = df[df[column].notna() & (df[column] > 0)]
        if "device" not in df.columns:
            df = df.assign(device="cpu")
        if "image" in df.columns:
            df = df.assign(category=df.get("category", "all"))
            keys = [c for c in ("modality", "device", "method", "category", "image")
                    if c in df.columns]
            df = df.groupby(keys, as_index=False)[column].mean()  # repeats of one image
        df = df.assign(_log=np.log(df[column]))
        out = []
        for label, g in _runtime_groups(df):
            if not {"TopoTTA", "TTT4AS"} <= set(g["method"]):
                continue
            parts = [(m, g["method"] == m, "_log") for m in ("TopoTTA", "TTT4AS")]
            c = compare(label, "paper", g, parts, procedure)
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable("table10_runtime needs TopoTTA and TTT4AS timings on one device")
        return out

    return measure


def _runtime_groups(df: pd.DataFrame):
    cols = [c for c in ("modality", "device") if c in df.columns]
    for key, g in df.groupby(cols, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        values = dict(zip(cols, key))
        label = str(values.get("modality", "all"))
        yield (f"{label} ({values['device']})" if "device" in values else label), g

