"""The paper's quantitative claims as code, with confidence intervals and three-way verdicts.

Each :class:`Claim` turns a sentence of the paper ("TopoTTA beats TTT4AS on every dataset",
"n = 256 levels is best") into a **paired comparison per setting** (a dataset/scorer pair, a
class, a perturbation, a preset): the comparands (two methods, or one method at several
parameter values) scored on the *same* test images, and a statistic of their protocol means
(mean over the images of a class, then over classes), e.g. ``F1(TopoTTA) - F1(TTT4AS)`` or
``F1(n=256) - max F1(other n)``. The claim names a tolerance and a side ("above 0", "below
1.25x"). Then:

* **ours**: the statistic on our per-image tables (``figures/tables/<table>_per_image.csv``,
  written by notebooks 06-11), with a 95% bootstrap interval over images resampled within their
  class (:func:`topotta_lite.experiments.stats.stratified_bootstrap`, seeded per claim and
  setting), the number of images and of classes, and a three-way verdict per setting:
  *holds* (interval strictly on the claimed side), *does not hold* (strictly on the other side),
  *inconclusive* (it straddles or touches the tolerance: ties never decide). A claim made "in
  every setting" holds when every setting holds, does not hold when one setting does not, and is
  inconclusive otherwise.
* **paper**: the same statistic on the paper's own tables (:func:`paper_tables`, one number per
  row: no per-image data, so a point value and no interval), which says whether the paper's
  numbers support its own sentence. Rows the paper's tables cannot contain (IoU above F1, ...:
  :func:`paper_sanity`) are flagged and left out of that check, never used silently; rows we had
  to reconstruct (Table VI's lost check marks, Table X rearranged) carry their caveat
  (:func:`paper_caveats`), printed in the report.

A claim is *not testable here* when a table it needs is missing (its notebook did not run),
lacks a column, or has too few settings (e.g. a sweep with a single value); the reason is said.
Verdicts are never typed by hand: :func:`assess_claims` computes them.

Long-format conventions read here (what the notebooks write): one row per (setting, method,
swept value[, class, image]) with ``precision``, ``recall``, ``f1``, ``iou``; setting columns
among :data:`SETTING_COLS`; ``category`` (or ``class``) and ``image`` identify an image;
``method`` is THR / TTT4AS / TopoTTA in any letter case. A ``preset`` column (``paper`` /
``release``) puts both TopoTTA presets side by side: rows without a preset are the paper
preset, and a baseline row without one is shared by every preset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from topotta_lite.experiments.paper_checks import (
    SOURCE,
    paper_caveats,
    paper_sanity,
    paper_tables,
    word,
)
from topotta_lite.experiments.stats import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    Interval,
    combine_verdicts,
    seed_for,
    stratified_bootstrap,
)
from topotta_lite.vocabulary import METHOD_NAMES

__all__ = [
    "CLAIMS",
    "FAILS",
    "HOLDS",
    "INCONCLUSIVE",
    "PER_IMAGE",
    "SETTING_COLS",
    "TABLE_NOTEBOOK",
    "UNTESTABLE",
    "Claim",
    "ClaimsReport",
    "Comparison",
    "NotTestable",
    "assess_claims",
    "evaluate_claims",
    "load_tables",
    "paper_caveats",
    "paper_sanity",
    "paper_tables",
]

Tables = Mapping[str, pd.DataFrame]

UNTESTABLE = "not testable here"
PER_IMAGE = "_per_image"
"""Suffix of the per-image table written next to each table a claim reads."""

#: which notebook writes which table (for "not testable" reasons)
TABLE_NOTEBOOK = {
    "table1_2d": "06", "table3_per_class": "06", "table1_3d": "07",
    "table5_topk": "08", "table6_components": "08", "ablation_mask_rule": "08",
    "ablation_eai_target": "08", "table7_lambda": "09", "table8_levels": "09",
    "table9_margin": "09", "sensitivity_alpha": "09", "table2_fewshot": "10",
    "table4_crossmodel": "10", "fig7_robustness": "11", "table10_runtime": "12",
}

SETTING_COLS = ("modality", "dataset", "backbone", "scorer", "preset", "rule", "map_source",
                "feature_source")
"""Columns that name a setting (a claim is checked per combination of those present)."""
_IMAGE_KEYS = ("category", "image")
_ALIASES = {"class": "category", "lam": "lambda", "n_levels": "levels", "n": "levels",
            "k": "kth_component", "shot": "shots", "operator": "method",
            "params.preset": "preset"}
_SOURCE = SOURCE  # paper rows: which table row a number comes from
N_BOOT = 4000


class NotTestable(Exception):
    """Raised by a measurement when the tables cannot answer the claim (the message says why)."""


# ----------------------------------------------------------------------------- data classes
@dataclass(frozen=True)
class Comparison:
    """One setting of a claim: comparand rows on the same images and the statistic on them.

    Attributes
    ----------
    label : str
        The setting (``"embedded-2d/filterbank/PatchCore"``).
    values : ndarray, (k, n)
        Row ``j``: comparand ``names[j]`` on the ``n`` images (same order in every row).
    strata : ndarray, (n,)
        The class of each image.
    names : tuple of str
        The comparands (``"TopoTTA"``, ``"kth_component=2"``, ...).
    statistic : callable
        Protocol means ``(..., k)`` -> the claim's number.
    sources : frozenset of str
        Paper rows the numbers come from (empty for our tables).
    point : Interval, optional
        A fixed value instead of a bootstrap (timings: no per-image table).
    """

    label: str
    values: np.ndarray
    strata: np.ndarray
    names: tuple[str, ...]
    statistic: Callable[[np.ndarray], np.ndarray]
    sources: frozenset = frozenset()
    point: Interval | None = None

    def interval(self, seed: int, n_boot: int = N_BOOT) -> Interval:
        """The statistic with its bootstrap interval (a point when nothing can be resampled:
        one value per class, as in the paper's tables)."""
        if self.point is not None:
            return self.point
        n, n_classes = self.values.shape[1], len(set(map(str, self.strata)))
        if n <= n_classes:
            from topotta_lite.experiments.stats import protocol_mean

            est = float(np.asarray(self.statistic(protocol_mean(self.values, self.strata)
                                                  [None, :])).reshape(-1)[0])
            return Interval(est, est, est, n, n_classes, n_boot=0, seed=seed)
        return stratified_bootstrap(self.values, self.strata, self.statistic, n_boot=n_boot,
                                    seed=seed)

    @property
    def classes(self) -> list[str]:
        return sorted(set(map(str, self.strata)))


@dataclass(frozen=True)
class SettingResult:
    """A claim's outcome in one setting."""

    label: str
    interval: Interval
    verdict: str
    names: tuple[str, ...]
    classes: tuple[str, ...]
    sources: frozenset = frozenset()
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClaimResult:
    """A claim on one side (ours or the paper's): per-setting results and the combined verdict."""

    verdict: str
    reason: str
    settings: tuple[SettingResult, ...] = ()


@dataclass(frozen=True)
class Claim:
    """One quantitative claim of the paper.

    Attributes
    ----------
    id : str
        Short name (a row of the claims table).
    statement : str
        The claim in our words, including the statistic computed per setting.
    tables : tuple of str
        Tables it reads (our names; ours are read from ``<name>_per_image``, the paper's from
        :func:`paper_tables` under the same names). With ``any_table=True`` any one of them
        suffices (e.g. Table I's 2D and 3D rows).
    measure : callable
        ``measure(tables) -> list[Comparison]``; raises :class:`NotTestable` with a reason.
    tolerance : float
        The threshold the claim names (0 for "better").
    direction : {"above", "below"}
        Which side of the tolerance the claim puts the statistic on.
    rule_text : str
        The rule in words (shown in the report).
    fmt : str
        How the numbers are printed.
    any_table : bool
        See ``tables``.
    paper_note : str
        Caveat about the paper side (e.g. numbers lost in the text).
    per_image : bool
        Our side reads ``<table>_per_image`` (False: the mean table, for timings).
    """

    id: str
    statement: str
    tables: tuple[str, ...]
    measure: Callable[[Tables], list[Comparison]]
    tolerance: float = 0.0
    direction: str = "above"
    rule_text: str = "above 0"
    fmt: str = "{:+.3f}"
    any_table: bool = False
    paper_note: str = ""
    per_image: bool = True

    def _view(self, tables: Tables, side: str) -> dict[str, pd.DataFrame]:
        suffix = PER_IMAGE if side == "ours" and self.per_image else ""
        view = {t: tables[t + suffix] for t in self.tables
                if t + suffix in tables and len(tables[t + suffix])}
        missing = [t for t in self.tables if t not in view]
        if (self.any_table and not view) or (not self.any_table and missing):
            if side == "paper":
                raise NotTestable("not in the paper's tables" + (
                    f" ({self.paper_note})" if self.paper_note else ""))
            why = []
            for t in missing:
                nb = TABLE_NOTEBOOK.get(t, "?")
                if t in tables and len(tables[t]):
                    why.append(f"{t}{PER_IMAGE} (notebook {nb} ran before it wrote per-image "
                               "tables: rerun it)")
                else:
                    why.append(f"{t} (notebook {nb})")
            raise NotTestable("table missing: " + ", ".join(why) + " did not run or wrote "
                              "nothing")
        if side == "ours" and self.per_image:
            for t, df in view.items():
                if "image" not in normalise(df).columns:
                    raise NotTestable(f"{t}{PER_IMAGE} has no 'image' column: not a per-image "
                                      "table")
        return view

    def comparisons(self, tables: Tables, side: str = "ours") -> list[Comparison]:
        """The per-setting comparisons on ``side`` ("ours" or "paper")."""
        comps = self.measure(self._view(tables, side))
        if not comps:
            raise NotTestable("no setting could be measured")
        return comps

    def assess(self, tables: Tables, side: str = "ours", *, n_boot: int = N_BOOT,
               flags: Mapping[str, Sequence[str]] | None = None) -> ClaimResult:
        """Per-setting intervals and verdicts on ``side``, and the claim's verdict.

        ``flags`` maps paper rows to reasons they cannot be trusted (:func:`paper_sanity`);
        settings resting on such rows are reported but left out of the combined verdict.
        """
        try:
            comps = self.comparisons(tables, side)
        except NotTestable as exc:
            reason = str(exc)
            if side == "paper" and self.paper_note and self.paper_note not in reason:
                reason = f"{reason} ({self.paper_note})"
            return ClaimResult(UNTESTABLE, reason)
        flags = flags or {}
        results = []
        for c in comps:
            iv = c.interval(seed_for(self.id, side, c.label), n_boot)
            bad = tuple(sorted({f"{s}: {why}" for s in c.sources for why in flags.get(s, ())}))
            results.append(SettingResult(c.label, iv, iv.verdict(self.tolerance, self.direction),
                                         c.names, tuple(c.classes), c.sources, bad))
        counted = [r for r in results if not r.flags]
        if not counted:
            return ClaimResult(UNTESTABLE, "every setting rests on a flagged row",
                               tuple(results))
        verdict = combine_verdicts([r.verdict for r in counted])
        return ClaimResult(verdict, self._reason(counted, verdict, tables, side),
                           tuple(results))

    def _reason(self, results, verdict, tables, side) -> str:
        n = len(results)
        by = {v: [r.label for r in results if r.verdict == v] for v in (HOLDS, FAILS,
                                                                         INCONCLUSIVE)}
        what = "interval" if side == "ours" else "value"
        if verdict == HOLDS:
            text = f"{what} {self.rule_text} in every setting ({n})"
        else:
            parts = []
            for v, word in ((FAILS, "on the wrong side of"), (INCONCLUSIVE, "straddles")):
                if by[v]:
                    names = ", ".join(by[v][:3]) + (" ..." if len(by[v]) > 3 else "")
                    parts.append(f"{what} {word} the tolerance in {len(by[v])} of {n}: {names}")
            text = "; ".join(parts)
        if side == "ours" and self.any_table:
            absent = [t for t in self.tables if t + PER_IMAGE not in tables]
            if absent:
                text += "; measured without " + ", ".join(
                    f"{t} (notebook {TABLE_NOTEBOOK.get(t, '?')} did not run)" for t in absent)
        return text

    # backwards-compatible reading: (verdict, reason, result) on our tables
    def verdict(self, tables: Tables, n_boot: int = N_BOOT) -> tuple[str, str, ClaimResult]:
        """``(verdict, reason, ClaimResult)`` on our (per-image) tables."""
        res = self.assess(tables, "ours", n_boot=n_boot)
        return res.verdict, res.reason, res


# ----------------------------------------------------------------------------- table helpers
def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Lower-case column names, apply aliases (``class`` -> ``category``, ``lam`` -> ``lambda``,
    ...), and canonical method names (THR, TTT4AS, TopoTTA).

    Examples
    --------
    >>> normalise(pd.DataFrame({"Method": ["topotta"], "lam": [0.1]})).columns.tolist()
    ['method', 'lambda']
    """
    out = df.copy()
    out.columns = [str(c).strip() if str(c) == _SOURCE else str(c).strip().lower()
                   for c in out.columns]
    out = out.rename(columns={a: b for a, b in _ALIASES.items()
                              if a in out.columns and b not in out.columns})
    if "method" in out.columns:
        out["method"] = [METHOD_NAMES.get(str(m).strip().lower(), str(m)) for m in out["method"]]
    if "image" in out.columns:
        out["image"] = out["image"].astype(str)
    if "category" in out.columns:
        out["category"] = out["category"].astype(str)
    return _expand_presets(out)


def _missing(series: pd.Series) -> pd.Series:
    return series.isna() | series.astype(str).str.strip().isin(["", "nan", "None", "-"])


def _expand_presets(df: pd.DataFrame) -> pd.DataFrame:
    """Give every row a preset: rows without one are the paper preset, and a method's rows
    without one are shared by a preset in which that method has no rows of its own (the
    baselines THR / TTT4AS stand beside both TopoTTA presets).

    Examples
    --------
    >>> df = pd.DataFrame({"method": ["TTT4AS", "TopoTTA", "TopoTTA"],
    ...                    "preset": [None, None, "release"], "f1": [0.3, 0.4, 0.5]})
    >>> _expand_presets(df)[["preset", "method", "f1"]].values.tolist()
    [['paper', 'TTT4AS', 0.3], ['paper', 'TopoTTA', 0.4], ['release', 'TopoTTA', 0.5], \
['release', 'TTT4AS', 0.3]]
    """
    if "preset" not in df.columns:
        return df
    setting = [c for c in ("modality", "dataset", "scorer", "backbone") if c in df.columns]
    if setting and df.groupby(setting, dropna=False).ngroups > 1:  # share within a setting only
        return pd.concat([_expand_presets(g) for _, g in df.groupby(setting, dropna=False,
                                                                      sort=False)],
                         ignore_index=True)
    miss = _missing(df["preset"])
    shared, specific = df[miss], df[~miss].assign(preset=lambda d: d["preset"].astype(str))
    presets = sorted(set(specific["preset"]) | ({"paper"} if len(shared) else set()))
    parts = []
    for p in presets:
        own = specific[specific["preset"] == p]
        if "method" in df.columns:
            extra = shared[~shared["method"].isin(set(own["method"]))]
        else:
            extra = shared if not len(own) else shared.iloc[:0]
        parts += [own, extra.assign(preset=p)]
    return pd.concat(parts, ignore_index=True)


def _need(df: pd.DataFrame, cols, table: str) -> None:
    miss = [c for c in cols if c not in df.columns]
    if miss:
        raise NotTestable(f"{table} lacks column(s) {', '.join(miss)}")


def _settings(df: pd.DataFrame, extra: Sequence[str] = ()) -> list[str]:
    return [c for c in (*SETTING_COLS, *extra) if c in df.columns]


_NAMED = ("shots", "strength")  # setting columns whose value alone would not say what it is


def _groups(df: pd.DataFrame, cols: Sequence[str]):
    if not cols:
        yield "all", df
        return
    for key, g in df.groupby(list(cols), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        yield "/".join(f"{c}={word(k)}" if c in _NAMED else word(k)
                       for c, k in zip(cols, key)), g


def _concat(tables: Tables, names) -> pd.DataFrame:
    frames = [normalise(tables[n]) for n in names if n in tables]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _only_topotta(df: pd.DataFrame) -> pd.DataFrame:
    if "method" in df.columns and (df["method"] == "TopoTTA").any():
        return df[df["method"] == "TopoTTA"]
    return df


def _compare(label: str, g: pd.DataFrame, parts, statistic) -> Comparison | None:
    """Align the comparands' rows on the same images; ``None`` when one has no image.

    ``parts``: ``[(name, boolean mask over g, metric), ...]``. Per-image tables are aligned on
    ``(category, image)``; a paper table without images gives one number per comparand (the
    mean of its rows, normally exactly one).
    """
    keys = [c for c in _IMAGE_KEYS if c in g.columns]
    series, sources = [], []
    for name, mask, metric in parts:
        sub = g[np.asarray(mask, dtype=bool)]
        sub = sub[pd.to_numeric(sub[metric], errors="coerce").notna()]
        if not len(sub):
            return None
        if keys:
            if sub.duplicated(keys).any():
                dup = sub[sub.duplicated(keys, keep=False)][keys].head(2).to_dict("records")
                raise NotTestable(f"setting {label}: several rows per image for {name} "
                                  f"(e.g. {dup}): a varying column the claim does not know")
            s = pd.to_numeric(sub.set_index(keys)[metric])
        else:
            s = pd.Series([pd.to_numeric(sub[metric]).mean()], index=pd.Index(["all"]))
        series.append(s)
        sources.append(sub)
    common = series[0].index
    for s in series[1:]:
        common = common.intersection(s.index)
    if not len(common):
        return None
    common = common.sort_values()
    values = np.stack([s.loc[common].to_numpy(dtype=np.float64) for s in series])
    if "category" in keys:
        strata = np.asarray(common.get_level_values("category") if len(keys) > 1 else common,
                            dtype=str)
    else:
        strata = np.full(len(common), "all")
    used = frozenset()
    for sub in sources:
        if _SOURCE in sub.columns:
            used |= frozenset(sub[_SOURCE].dropna().astype(str))
    return Comparison(label, values, strata, tuple(p[0] for p in parts), statistic, used)


def _gap(m):
    """Row 0 minus the best other row."""
    return m[..., 0] - m[..., 1:].max(axis=-1)


def _lowest(m):
    """The lowest other row minus row 0 (> 0: row 0 is the lowest)."""
    return m[..., 1:].min(axis=-1) - m[..., 0]


def _max_step(m):
    return np.diff(m, axis=-1).max(axis=-1)


# ----------------------------------------------------------------------------- measurements
def method_gap(table_names, better: str, worse: str | tuple[str, ...], metric: str = "f1",
               extra: tuple[str, ...] = (), where: Callable[[pd.DataFrame], pd.DataFrame]
               | None = None):
    """Per setting: ``metric(better) - max(metric(worse...))`` over the same images."""
    worse = (worse,) if isinstance(worse, str) else worse

    def measure(tables: Tables) -> list[Comparison]:
        df = _concat(tables, table_names)
        _need(df, ["method", metric, *extra], "/".join(table_names))
        if where is not None:
            df = where(df)
        out = []
        for label, g in _groups(df, _settings(df, extra)):
            present = [w for w in worse if (g["method"] == w).any()]
            if not (g["method"] == better).any() or not present:
                continue
            parts = [(m, g["method"] == m, metric) for m in (better, *present)]
            c = _compare(label, g, parts, _gap)
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable(f"no setting has both {better} and {'/'.join(worse)}")
        return out

    return measure


def lowest(table_names, method: str, metric: str = "f1"):
    """Per setting: (lowest other method) - ``method`` (> 0: ``method`` is the lowest)."""

    def measure(tables: Tables) -> list[Comparison]:
        df = _concat(tables, table_names)
        _need(df, ["method", metric], "/".join(table_names))
        out = []
        for label, g in _groups(df, _settings(df)):
            others = [m for m in dict.fromkeys(g["method"]) if m != method]
            if not (g["method"] == method).any() or not others:
                continue
            parts = [(m, g["method"] == m, metric) for m in (method, *sorted(others))]
            c = _compare(label, g, parts, _lowest)
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable(f"needs {method} and at least one other method in a setting")
        return out

    return measure


def _param_values(g: pd.DataFrame, param: str) -> list[float]:
    return sorted(set(pd.to_numeric(g[param], errors="coerce").dropna().astype(float)))


def best_at(table: str, param: str, claimed: float, metric: str = "f1"):
    """Per setting: ``metric`` at ``param == claimed`` minus the best other value (a strict
    "best": a tie is not a win)."""

    def measure(tables: Tables) -> list[Comparison]:
        df = _only_topotta(normalise(tables[table]))
        _need(df, [param, metric], table)
        df = df.assign(**{param: pd.to_numeric(df[param], errors="coerce")})
        out = []
        for label, g in _groups(df, _settings(df)):
            vals = _param_values(g, param)
            at = [v for v in vals if np.isclose(v, claimed)]
            others = [v for v in vals if not np.isclose(v, claimed)]
            if not at or not others:
                continue
            parts = [(f"{param}={word(v)}", np.isclose(g[param], v), metric)
                     for v in (at[0], *others)]
            c = _compare(label, g, parts, _gap)
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable(f"{table}: no setting has {param} = {claimed:g} and another value")
        return out

    return measure


def monotone_step(table: str, param: str, metric: str = "f1"):
    """Per setting: the largest increase of ``metric`` between consecutive ``param`` values."""

    def measure(tables: Tables) -> list[Comparison]:
        df = _only_topotta(normalise(tables[table]))
        _need(df, [param, metric], table)
        df = df.assign(**{param: pd.to_numeric(df[param], errors="coerce")})
        out = []
        for label, g in _groups(df, _settings(df)):
            vals = _param_values(g, param)
            if len(vals) < 3:
                continue
            parts = [(f"{param}={word(v)}", np.isclose(g[param], v), metric) for v in vals]
            c = _compare(label, g, parts, _max_step)
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable(f"{table}: fewer than 3 values of {param}")
        return out

    return measure


def _config_flags(df: pd.DataFrame) -> pd.DataFrame:
    """Columns ``sub``, ``sup`` (bool), ``fusion`` (str), ``pces`` (bool) of Table VI rows.

    Read from ``sublevel/superlevel/fusion/pces`` columns when present, else parsed from the
    ``configuration`` text (e.g. ``"sub+super+EAI+PCES"``, ``"superlevel only, no PCES"``).
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
    """Table VI measurements: ``"full_best"``, ``"superlevel_recall"``, ``"eai_vs_intersection"``,
    ``"pces_helps"`` (see :data:`CLAIMS`)."""

    def measure(tables: Tables) -> list[Comparison]:
        df = _only_topotta(_config_flags(normalise(tables["table6_components"])))
        _need(df, ["f1"] + (["precision", "recall"] if kind == "superlevel_recall" else []),
              "table6_components")
        df = df.assign(_config=[_config_name(r) for _, r in df.iterrows()])
        out = []
        for label, g in _groups(df, _settings(df)):
            both = g["sub"] & g["sup"]
            full = both & (g["fusion"] == "eai") & g["pces"]
            c = None
            if kind == "full_best":
                others = [n for n in dict.fromkeys(g.loc[~full, "_config"])]
                if full.any() and others:
                    parts = [("full", full, "f1")] + [(n, (g["_config"] == n) & ~full, "f1")
                                                      for n in others]
                    c = _compare(label, g, parts, _gap)
            elif kind == "superlevel_recall":
                sub = g["sub"] & ~g["sup"]
                sup = g["sup"] & ~g["sub"]
                if (sub & g["pces"]).any() and (sup & g["pces"]).any():
                    sub, sup = sub & g["pces"], sup & g["pces"]
                elif (sub & ~g["pces"]).any() and (sup & ~g["pces"]).any():
                    sub, sup = sub & ~g["pces"], sup & ~g["pces"]
                if sub.any() and sup.any():
                    parts = [("R_sup", sup, "recall"), ("R_sub", sub, "recall"),
                             ("P_sub", sub, "precision"), ("P_sup", sup, "precision")]
                    c = _compare(label, g, parts, _recall_trade)
            elif kind == "eai_vs_intersection":
                for pces in (True, False):
                    e = both & (g["fusion"] == "eai") & (g["pces"] == pces)
                    i = both & (g["fusion"] == "intersection") & (g["pces"] == pces)
                    if e.any() and i.any():
                        tail = "+PCES" if pces else ""
                        c = _compare(label, g, [(f"EAI{tail}", e, "f1"),
                                                (f"intersection{tail}", i, "f1")], _gap)
                        break
            elif kind == "pces_helps":
                no = both & (g["fusion"] == "eai") & ~g["pces"]
                if full.any() and no.any():
                    c = _compare(label, g, [("sub+super+EAI+PCES", full, "f1"),
                                            ("sub+super+EAI", no, "f1")], _gap)
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable(f"table6_components has no rows for the {kind!r} comparison")
        return out

    return measure


def _recall_trade(m):
    return np.minimum(m[..., 0] - m[..., 1], m[..., 2] - m[..., 3])


def fewshot_low_vs_high(low=(1, 3), high=(5, 7, 10)):
    """Per setting: mean TopoTTA - TTT4AS F1 gain at ``low`` shots minus the mean at ``high``."""

    def measure(tables: Tables) -> list[Comparison]:
        df = normalise(tables["table2_fewshot"])
        _need(df, ["shots", "method", "f1"], "table2_fewshot")
        df = df.assign(shots=pd.to_numeric(df["shots"], errors="coerce"))
        out = []
        for label, g in _groups(df, _settings(df)):
            lo = [s for s in low if _pair_at(g, s)]
            hi = [s for s in high if _pair_at(g, s)]
            if not lo or not hi:
                continue
            parts = []
            for s in (*lo, *hi):
                at = g["shots"] == s
                parts += [(f"TopoTTA@{s}", at & (g["method"] == "TopoTTA"), "f1"),
                          (f"TTT4AS@{s}", at & (g["method"] == "TTT4AS"), "f1")]
            nlo = len(lo)

            def stat(m, nlo=nlo):
                gains = m[..., 0::2] - m[..., 1::2]
                return gains[..., :nlo].mean(axis=-1) - gains[..., nlo:].mean(axis=-1)

            c = _compare(label, g, parts, stat)
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable(f"table2_fewshot needs shots in {low} and in {high}")
        return out

    return measure


def _pair_at(g, shots) -> bool:
    at = g[g["shots"] == shots]
    return {"TopoTTA", "TTT4AS"} <= set(at["method"])


def _no_zero_shots(df: pd.DataFrame) -> pd.DataFrame:
    return df[pd.to_numeric(df["shots"], errors="coerce") > 0]


def _off_diagonal(df: pd.DataFrame) -> pd.DataFrame:
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


def robustness(kind: str):
    """Fig. 7: ``"never_worse"`` (TopoTTA - TTT4AS F1 per perturbed (kind, strength)) or
    ``"gain_shrinks"`` (per kind: the gain at the strongest strength minus at the weakest)."""

    def measure(tables: Tables) -> list[Comparison]:
        df = normalise(tables["fig7_robustness"])
        _need(df, ["kind", "strength", "method", "f1"], "fig7_robustness")
        df = df.assign(strength=pd.to_numeric(df["strength"], errors="coerce"))
        out = []
        extra = ("kind", "strength") if kind == "never_worse" else ("kind",)
        for label, g in _groups(df, _settings(df, extra)):
            if kind == "never_worse":
                if not (g["strength"] > 0).all():
                    continue
                parts = [(m, g["method"] == m, "f1") for m in ("TopoTTA", "TTT4AS")]
                c = _compare(label, g, parts, _gap)
            else:
                levels = [s for s in _param_values(g, "strength") if _pair_at(
                    g.rename(columns={"strength": "shots"}), s)]
                if len(levels) < 2:
                    continue
                lo, hi = levels[0], levels[-1]
                parts = [(f"{m}@{word(s)}", (g["method"] == m) & np.isclose(g["strength"], s),
                          "f1") for s in (lo, hi) for m in ("TopoTTA", "TTT4AS")]
                c = _compare(label, g, parts, _gain_change)
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable("fig7_robustness has no perturbed strengths to compare")
        return out

    return measure


def _gain_change(m):
    return (m[..., 2] - m[..., 3]) - (m[..., 0] - m[..., 1])


def runtime_ratio(column: str = "total_s"):
    """Per modality: TopoTTA's ``column`` divided by TTT4AS's (a point value: no per-image
    timings are tabled, and timings move between runs).

    Each method counts on its fastest measured device (the paper timed both on a GPU; our
    TTT4AS is CPU-only, our TopoTTA has a GPU row when one was present); the label names
    TopoTTA's device. Rows without a number (e.g. "not measured: no GPU") are ignored.
    """

    def measure(tables: Tables) -> list[Comparison]:
        df = normalise(tables["table10_runtime"])
        _need(df, ["method", column], "table10_runtime")
        df = df.assign(**{column: pd.to_numeric(df[column], errors="coerce")})
        df = df[df[column].notna()]
        if "device" not in df.columns:
            df = df.assign(device="cpu")
        cols = [c for c in ("modality",) if c in df.columns]
        out = []
        for label, g in _groups(df, cols):
            by = g.groupby(["method", "device"])[column].median()
            methods = set(by.index.get_level_values(0))
            if {"TopoTTA", "TTT4AS"} <= methods and by["TTT4AS"].min() > 0:
                topo = by["TopoTTA"]
                ratio = float(topo.min() / by["TTT4AS"].min())
                n = pd.to_numeric(g.get("n_images", pd.Series(dtype=float)), errors="coerce")
                n_img = int(n.max()) if n.notna().any() else 0
                used = frozenset(g[_SOURCE].astype(str)) if _SOURCE in g else frozenset()
                point = Interval(ratio, ratio, ratio, n_img, 1, n_boot=0)
                out.append(Comparison(f"{label} ({topo.idxmin()})", np.array([[ratio]]),
                                      np.array(["all"]), ("TopoTTA", "TTT4AS"), _first_row,
                                      used, point))
        if not out:
            raise NotTestable("table10_runtime needs TopoTTA and TTT4AS timings")
        return out

    return measure


def _first_row(m):
    return m[..., 0]


# ----------------------------------------------------------------------------- the claims
_T1 = ("table1_2d", "table1_3d")

CLAIMS: tuple[Claim, ...] = (
    Claim("beats_ttt4as_f1",
          "TopoTTA has a higher F1 than TTT4AS on every dataset/backbone (Table I); "
          "per setting: F1(TopoTTA) - F1(TTT4AS)",
          _T1, method_gap(_T1, "TopoTTA", "TTT4AS"), any_table=True),
    Claim("beats_thr_f1",
          "TopoTTA has a higher F1 than the global threshold THR on every dataset/backbone "
          "(Table I); per setting: F1(TopoTTA) - F1(THR)",
          _T1, method_gap(_T1, "TopoTTA", "THR"), any_table=True),
    Claim("best_iou",
          "TopoTTA has the best IoU of the three operators on every dataset/backbone (Table I); "
          "per setting: IoU(TopoTTA) - max(IoU(THR), IoU(TTT4AS)), a strict margin",
          _T1, method_gap(_T1, "TopoTTA", ("THR", "TTT4AS"), "iou"), any_table=True),
    Claim("thr_worst",
          "THR gives the lowest F1 of the three operators in every Table I setting; per "
          "setting: min(F1(TTT4AS), F1(TopoTTA)) - F1(THR)",
          _T1, lowest(_T1, "THR"), any_table=True),
    Claim("per_class_best",
          "TopoTTA has the best F1 in every class of Table III; per class: F1(TopoTTA) - best "
          "baseline F1 (one class per setting)",
          ("table3_per_class",),
          method_gap(("table3_per_class",), "TopoTTA", ("THR", "TTT4AS"), extra=("category",))),
    Claim("fewshot_every_shot",
          "With k >= 1 nominal support images, TopoTTA beats TTT4AS at every k (Table II; "
          "0 shots is Table I's claim); per (setting, k): F1(TopoTTA) - F1(TTT4AS)",
          ("table2_fewshot",),
          method_gap(("table2_fewshot",), "TopoTTA", "TTT4AS", extra=("shots",),
                     where=_no_zero_shots)),
    Claim("fewshot_low_shot_gain",
          "The gain over TTT4AS is largest with 1-3 support images (Table II); per setting: "
          "mean gain at 1-3 shots - mean gain at 5-10 shots",
          ("table2_fewshot",), fewshot_low_vs_high()),
    Claim("crossmodel_beats_ttt4as",
          "With features from another backbone than the one behind the score maps, TopoTTA "
          "still beats TTT4AS (Table IV, the same-backbone diagonal excluded); per (map source, "
          "feature source): F1(TopoTTA) - F1(TTT4AS)",
          ("table4_crossmodel",),
          method_gap(("table4_crossmodel",), "TopoTTA", "TTT4AS", where=_off_diagonal),
          paper_note="Table IV's numbers were lost in the paper's text"),
    Claim("top1_best",
          "Keeping only the most persistent component (K = 1) gives the best F1 of K = 1..5 "
          "(Table V); per setting: F1(K=1) - best F1(K>1), a strict margin",
          ("table5_topk",), best_at("table5_topk", "kth_component", 1)),
    Claim("top1_best_precision",
          "K = 1 also gives the highest precision (Table V); per setting: P(K=1) - best P(K>1), "
          "a strict margin",
          ("table5_topk",), best_at("table5_topk", "kth_component", 1, "precision")),
    Claim("topk_monotone",
          "F1 decreases monotonically as K grows from 1 to 5 (Table V); per setting: the "
          "largest F1 increase between consecutive K",
          ("table5_topk",), monotone_step("table5_topk", "kth_component"), direction="below",
          rule_text="below 0"),
    Claim("full_config_best",
          "Both filtrations + EAI + PCES give the best F1 of the Table VI configurations; per "
          "setting: F1(full) - best other F1, a strict margin",
          ("table6_components",), components("full_best")),
    Claim("superlevel_favours_recall",
          "The superlevel filtration alone favours recall and costs precision, compared with "
          "the sublevel one alone (Table VI); per setting: min(R_sup - R_sub, P_sub - P_sup)",
          ("table6_components",), components("superlevel_recall")),
    Claim("pces_helps",
          "PCES adds F1 on top of the fused pseudo-labels (Table VI); per setting: "
          "F1(sub+super+EAI+PCES) - F1(sub+super+EAI)",
          ("table6_components",), components("pces_helps")),
    Claim("eai_beats_intersection",
          "Euler-aware fusion beats the plain intersection of the two masks; per setting: "
          "F1(EAI) - F1(intersection)",
          ("table6_components",), components("eai_vs_intersection"),
          paper_note="the paper has no intersection row"),
    Claim("lambda_peak_0.01",
          "The Euler weight lambda = 0.01 gives the best F1 (Table VII); per setting: "
          "F1(0.01) - best other F1, a strict margin",
          ("table7_lambda",), best_at("table7_lambda", "lambda", 0.01)),
    Claim("levels_256_best",
          "n = 256 filtration levels give the best F1 (Table VIII); per setting: F1(256) - best "
          "other F1, a strict margin",
          ("table8_levels",), best_at("table8_levels", "levels", 256)),
    Claim("margin_1_best",
          "The contrastive margin m = 1.0 gives the best F1 (Table IX); per setting: F1(1.0) - "
          "best other F1, a strict margin",
          ("table9_margin",), best_at("table9_margin", "margin", 1.0)),
    Claim("robust_never_worse",
          "On degraded maps (brightness, Gaussian, speckle), TopoTTA is never worse than TTT4AS "
          "(Fig. 7); per (kind, strength > 0): F1(TopoTTA) - F1(TTT4AS), non-inferiority with "
          "a margin of 0.005 F1",
          ("fig7_robustness",), robustness("never_worse"), tolerance=-0.005,
          rule_text="above -0.005", paper_note="Fig. 7 is qualitative: no numbers"),
    Claim("robust_gain_shrinks",
          "The gain over TTT4AS shrinks as the map gets more corrupted (Fig. 7); per kind: "
          "gain at the strongest strength - gain at the weakest",
          ("fig7_robustness",), robustness("gain_shrinks"), direction="below",
          rule_text="below 0", paper_note="Fig. 7 is qualitative: no numbers"),
    Claim("overhead_vs_ttt4as",
          "TopoTTA's extra time over TTT4AS is small, about 12% (Table X); per modality: "
          "total time TopoTTA / TTT4AS, accepted up to 1.25x (a point value: no interval)",
          ("table10_runtime",), runtime_ratio("total_s"), tolerance=1.25, direction="below",
          rule_text="below 1.25x", fmt="{:.2f}x", per_image=False),
)


def _flags(sanity: pd.DataFrame) -> dict[str, list[str]]:
    """Paper rows that cannot be trusted (severity "impossible") -> the reasons."""
    out: dict[str, list[str]] = {}
    for r in sanity[sanity["severity"] == "impossible"].itertuples():
        out.setdefault(r.row, []).append(f"{r.check} ({r.values})")
    return out


# ----------------------------------------------------------------------------- loading
def load_tables(folder: str | Path | None = None, names=None) -> dict[str, pd.DataFrame]:
    """Our tables that exist in ``folder`` (default ``figures/tables``), by name.

    Both the mean tables and their ``<name>_per_image`` companions are read. Missing or
    unreadable tables are simply absent (the claims using them become "not testable here").
    """
    from topotta_lite.config import tables_dir

    folder = Path(folder) if folder is not None else tables_dir()
    names = names or sorted(TABLE_NOTEBOOK)
    out = {}
    for name in [*names, *(n + PER_IMAGE for n in names)]:
        path = folder / f"{name}.csv"
        if path.exists():
            try:
                out[name] = pd.read_csv(path)
            except (pd.errors.EmptyDataError, pd.errors.ParserError):
                continue
    return out


# ----------------------------------------------------------------------------- the report
@dataclass
class ClaimsReport:
    """What :func:`assess_claims` computed.

    Attributes
    ----------
    summary : pandas.DataFrame
        One row per claim (the ``claims`` table).
    settings : pandas.DataFrame
        One row per (claim, side, setting) (the ``claims_settings`` table).
    sanity : pandas.DataFrame
        :func:`paper_sanity`'s findings.
    """

    summary: pd.DataFrame
    settings: pd.DataFrame
    sanity: pd.DataFrame = field(default_factory=pd.DataFrame)


def _caveat_notes(caveats: Mapping[str, str], used) -> list[str]:
    """The caveats of the reconstructed paper rows a claim used, one note per caveat."""
    by_text: dict[str, list[str]] = {}
    for key, text in caveats.items():
        row = key.split(" (")[0]
        if row in used:
            by_text.setdefault(text, []).append(key)
    return [f"{', '.join(rows)}: {text}" for text, rows in by_text.items()]


def _sanity_notes(sanity: pd.DataFrame, used, limit: int = 3) -> list[str]:
    """The sanity findings about the paper rows a claim used, grouped by check (impossible
    rows: "flagged, not counted")."""
    if not len(sanity) or not used:
        return []
    hit = sanity[sanity["row"].apply(lambda row: any(u in str(row).split(" = ") for u in used))]
    notes = []
    for (severity, check), g in hit.groupby(["severity", "check"], sort=False):
        items = [f"{r.row} ({r.values})" for r in g.itertuples()]
        more = f" ... ({len(items) - limit} more, see paper_sanity)" if len(items) > limit else ""
        head = (f"flagged, not counted ({check})" if severity == "impossible"
                else f"{severity}, {check}")
        notes.append(f"{head}: " + "; ".join(items[:limit]) + more)
    return notes


def _span(values) -> str:
    vals = sorted({int(v) for v in values})
    if not vals:
        return "-"
    return str(vals[0]) if len(vals) == 1 else f"{vals[0]}-{vals[-1]}"


def _setting_text(r: SettingResult, fmt: str, side: str) -> str:
    iv = r.interval
    if side == "paper":
        text = f"{r.label}: {fmt.format(iv.estimate)}"
        return text + (" [flagged, not counted]" if r.flags else "")
    if iv.n_boot == 0:
        why = ("one image per class: no interval" if iv.is_point
               else "point value, no interval")
        return f"{r.label}: {fmt.format(iv.estimate)} ({why}) {r.verdict}"
    cls = (f"1 class: {r.classes[0]}" if len(r.classes) == 1 else f"{len(r.classes)} classes")
    return f"{r.label}: {iv.text(fmt)} ({iv.n_images} images, {cls}) {r.verdict}"


def assess_claims(ours: Tables, paper: Tables | None = None, claims=CLAIMS, *,
                  n_boot: int = N_BOOT) -> ClaimsReport:
    """Every claim on our tables (intervals, three-way verdicts) and on the paper's (points).

    Parameters
    ----------
    ours : mapping of str -> DataFrame
        :func:`load_tables` output (per-image tables under ``<name>_per_image``).
    paper : mapping, optional
        :func:`paper_tables` output (default); ``{}`` skips the paper side.
    claims : sequence of Claim
    n_boot : int
        Bootstrap replicates per setting.

    Returns
    -------
    ClaimsReport

    Examples
    --------
    >>> rows = [{"dataset": "d", "category": c, "image": str(i), "method": m,
    ...          "f1": 0.3 + 0.1 * (m == "TopoTTA") + 0.01 * i}
    ...         for c in "ab" for i in range(5) for m in ("TTT4AS", "TopoTTA")]
    >>> rep = assess_claims({"table1_2d_per_image": pd.DataFrame(rows)}, paper={},
    ...                     claims=[CLAIMS[0]], n_boot=200)
    >>> rep.summary.loc[0, ["verdict", "n_images", "n_classes"]].tolist()
    ['holds', '10', '2']
    """
    paper = paper_tables() if paper is None else paper
    sanity = paper_sanity() if paper else pd.DataFrame(
        columns=["severity", "check", "row", "values", "finding"])
    flags = _flags(sanity)
    caveats = paper_caveats() if paper else {}
    summary, detail = [], []
    for c in claims:
        res = c.assess(ours, "ours", n_boot=n_boot)
        pres = c.assess(paper, "paper", flags=flags) if paper else ClaimResult(
            UNTESTABLE, "paper side not computed")
        for side, r in (("ours", res), ("paper", pres)):
            for s in r.settings:
                iv = s.interval
                detail.append({
                    "claim": c.id, "side": side, "setting": s.label,
                    "comparands": " vs ".join(s.names), "estimate": iv.estimate,
                    "low": iv.low if side == "ours" and iv.n_boot else np.nan,
                    "high": iv.high if side == "ours" and iv.n_boot else np.nan,
                    "n_images": iv.n_images if side == "ours" else np.nan,
                    "n_classes": len(s.classes) if side == "ours" else np.nan,
                    "classes": ", ".join(s.classes) if side == "ours" else "",
                    "verdict": s.verdict, "flags": "; ".join(s.flags)})
        used = sorted({src for s in pres.settings for src in s.sources})
        notes = _caveat_notes(caveats, used) + _sanity_notes(sanity, used)
        pnote = c.paper_note if pres.verdict == UNTESTABLE else ""
        summary.append({
            "claim": c.id, "verdict": res.verdict,
            "settings": len(res.settings),
            "n_images": _span(s.interval.n_images for s in res.settings
                              if s.interval.n_boot),
            "n_classes": _span(len(s.classes) for s in res.settings if s.interval.n_boot),
            "ours": "; ".join(_setting_text(s, c.fmt, "ours") for s in res.settings) or "-",
            "reason": res.reason,
            "paper": "; ".join(_setting_text(s, c.fmt, "paper") for s in pres.settings)
                     or pres.reason,
            "paper_check": pres.verdict if pres.settings else "n/a",
            "paper_notes": " | ".join([*([pnote] if pnote else []), *notes]),
            "rule": c.rule_text + (" (95% interval, every setting)" if c.per_image
                                   else " (point value, every setting)"),
            "statement": c.statement})
    return ClaimsReport(pd.DataFrame(summary), pd.DataFrame(detail), sanity)


def evaluate_claims(ours: Tables, paper: Tables | None = None, claims=CLAIMS, *,
                    n_boot: int = N_BOOT) -> pd.DataFrame:
    """The claims table: :func:`assess_claims` ``(...).summary``.

    Columns: ``claim, verdict, settings, n_images, n_classes, ours, reason, paper,
    paper_check, paper_notes, rule, statement``. ``paper_check`` is the verdict of the paper's
    own numbers (``n/a`` when they are not in its tables).

    Examples
    --------
    >>> rows = [{"dataset": "d", "category": "a", "image": str(i), "method": m, "f1": 0.4}
    ...         for i in range(4) for m in ("TTT4AS", "TopoTTA")]
    >>> t = {"table1_2d_per_image": pd.DataFrame(rows)}
    >>> evaluate_claims(t, paper={}, claims=[CLAIMS[0]], n_boot=200).loc[0, "verdict"]
    'inconclusive'
    """
    return assess_claims(ours, paper, claims, n_boot=n_boot).summary
