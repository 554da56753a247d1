"""Tables in, aligned comparisons out: the long-format conventions the claims read.

What the notebooks write, and how it is read here:

* one row per (setting, comparand[, class, image]) with ``precision``, ``recall``, ``f1``,
  ``iou``; ``category`` (or ``class``) and ``image`` identify an image; ``method`` is THR /
  TTT4AS / TopoTTA in any letter case (:func:`normalise`);
* a **setting** is a combination of the columns of :data:`SETTING_COLS` present (plus the
  claim's own, e.g. ``shots``); its label joins their values (``embedded-2.5d/rgbd/PatchCore``)
  and skips missing ones, so a table without some column never prints ``nan``
  (:func:`setting_groups`);
* a **preset** (``paper`` or ``release``) is read from the ``preset`` column
  (:func:`assign_presets`): TopoTTA rows without one are the paper preset (the default); rows of
  the baselines THR and TTT4AS tagged ``shared``, or not tagged, serve every preset of their
  setting; a baseline tagged with one preset only also serves the presets in which it has no rows
  of its own (THR has no preset-dependent part). Tables without a preset column but with a mask
  ``rule`` (``region`` / ``release``) take the preset from the rule;
* :func:`align` puts the comparands of one setting on the same images (a
  :class:`Comparison`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from topotta_lite.experiments.paper_checks import SOURCE, word
from topotta_lite.vocabulary import METHOD_NAMES

__all__ = [
    "BASELINES",
    "PRESETS",
    "SETTING_COLS",
    "Comparison",
    "NotTestable",
    "align",
    "assign_presets",
    "concat",
    "need",
    "normalise",
    "setting_groups",
    "setting_label",
]

SETTING_COLS = ("dataset", "backbone", "scorer", "rule", "map_source",
                "feature_source")
"""Columns that name a setting (a claim is checked per combination of those present)."""
PRESETS = ("paper", "release")
SHARED = "shared"
BASELINES = ("THR", "TTT4AS")
"""Methods without a preset of their own (their rows serve every TopoTTA preset)."""
IMAGE_KEYS = ("category", "image")
_ALIASES = {"class": "category", "lam": "lambda", "n_levels": "levels", "n": "levels",
            "k": "kth_component", "shot": "shots", "operator": "method",
            "params.preset": "preset"}
_NAMED = {"shots": "shots={}", "strength": "strength={}", "topk": "K={}"}
_RULE_PRESET = {"region": "paper", "release": "release"}
_DONE = "topotta_claims_normalised"  # a frame normalise() made (kept by copies and filters)


class NotTestable(Exception):
    """Raised by a measurement when the tables cannot answer the claim (the message says why)."""


@dataclass(frozen=True)
class Comparison:
    """One setting of a claim: the comparands on the same images, and the claim's contrasts.

    Attributes
    ----------
    label : str
        The setting (``"embedded-2d/efficientnet_lite0/PatchCore"``), never ``nan``.
    preset : str
        ``paper``, ``release`` or ``shared``.
    values : ndarray, (k, n)
        Row ``j``: comparand ``names[j]`` on the ``n`` images (same order in every row).
    strata : ndarray, (n,)
        The class of each image.
    names : tuple of str
        The comparands (``"TopoTTA"``, ``"kth_component=2"``, ...).
    contrasts : ndarray, (J, k)
        The claim in this setting: every contrast beyond the claim's threshold.
    contrast_names : tuple of str
    sources : frozenset of str
        Paper rows the numbers come from (empty for our tables).
    activity : float, optional
        Share of the setting's images on which the mechanism the claim is about changes the mask.
    n_total : int, optional
        Images of the setting before keeping those where the mechanism acts.
    """

    label: str
    preset: str
    values: np.ndarray
    strata: np.ndarray
    names: tuple[str, ...]
    contrasts: np.ndarray
    contrast_names: tuple[str, ...]
    sources: frozenset = frozenset()
    activity: float | None = None
    n_total: int | None = None

    @property
    def classes(self) -> list[str]:
        return sorted(set(map(str, self.strata)))

    @property
    def n_images(self) -> int:
        return int(self.values.shape[1])

    @property
    def is_point(self) -> bool:
        """One value per class (the paper's tables): nothing to resample."""
        return self.n_images <= len(self.classes)


# ----------------------------------------------------------------------------- normalising
def _missing(series: pd.Series) -> pd.Series:
    return series.isna() | series.astype(str).str.strip().isin(["", "nan", "None", "-"])


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    """Lower-case column names, apply aliases (``class`` -> ``category``, ``lam`` -> ``lambda``,
    ...), canonical method names (THR, TTT4AS, TopoTTA), and a preset on every row.

    Examples
    --------
    >>> normalise(pd.DataFrame({"Method": ["topotta"], "lam": [0.1]})).columns.tolist()
    ['method', 'lambda', 'preset']
    """
    if df.attrs.get(_DONE):
        return df
    out = df.copy()
    out.columns = [str(c).strip() if str(c) == SOURCE else str(c).strip().lower()
                   for c in out.columns]
    out = out.rename(columns={a: b for a, b in _ALIASES.items()
                              if a in out.columns and b not in out.columns})
    if "method" in out.columns:
        out["method"] = [METHOD_NAMES.get(str(m).strip().lower(), str(m)) for m in out["method"]]
    for col in IMAGE_KEYS:
        if col in out.columns:
            out[col] = out[col].astype(str)
    out = assign_presets(out)
    out.attrs[_DONE] = True
    return out


def assign_presets(df: pd.DataFrame) -> pd.DataFrame:
    """Give every row a preset; baseline rows are repeated for each preset they serve.

    Examples
    --------
    >>> df = pd.DataFrame({"method": ["THR", "TTT4AS", "TopoTTA", "TopoTTA"],
    ...                    "preset": ["shared", None, None, "release"], "f1": [.2, .3, .4, .5]})
    >>> assign_presets(df)[["preset", "method", "f1"]].values.tolist()
    [['paper', 'TopoTTA', 0.4], ['paper', 'THR', 0.2], ['paper', 'TTT4AS', 0.3], \
['release', 'TopoTTA', 0.5], ['release', 'THR', 0.2], ['release', 'TTT4AS', 0.3]]
    """
    out = df.copy()
    if "preset" not in out.columns:
        if "rule" in out.columns and out["rule"].astype(str).isin(list(_RULE_PRESET)).all():
            out["preset"] = out["rule"].astype(str).map(_RULE_PRESET)
            return out.drop(columns="rule")
        out["preset"] = PRESETS[0]
        return out
    is_base = out["method"].isin(BASELINES) if "method" in out.columns else \
        pd.Series(False, index=out.index)
    miss = _missing(out["preset"]) | (out["preset"].astype(str) == SHARED)
    out["preset"] = np.where(miss & ~is_base, PRESETS[0],
                             np.where(miss, SHARED, out["preset"].astype(str)))
    if not is_base.any():
        return out
    keys = [c for c in ("modality", "dataset", "scorer", "backbone") if c in out.columns]
    parts = []
    for _, g in (out.groupby(keys, sort=False, dropna=False) if keys else [((), out)]):
        presets = list(dict.fromkeys(g.loc[~g["method"].isin(BASELINES), "preset"]))
        own = g[~g["method"].isin(BASELINES)]
        base = g[g["method"].isin(BASELINES)]
        if not presets:  # baselines only: nothing to pair them with
            parts.append(g)
            continue
        for p in presets:
            parts.append(own[own["preset"] == p])
            for _, b in base.groupby("method", sort=False):
                mine = b[b["preset"] == p]
                if len(mine):
                    parts.append(mine)
                else:  # shared rows, or rows tagged with another preset only
                    src = b[b["preset"] == SHARED]
                    if not len(src):
                        tags = list(dict.fromkeys(b["preset"]))
                        src = b[b["preset"] == tags[0]] if len(tags) == 1 else src
                    parts.append(src.assign(preset=p))
    return pd.concat(parts, ignore_index=True)


def concat(tables, names) -> pd.DataFrame:
    """The named tables, normalised and stacked (columns missing in one are NaN there)."""
    frames = [normalise(tables[n]) for n in names if n in tables]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def need(df: pd.DataFrame, cols, table: str) -> None:
    """Raise :class:`NotTestable` naming the columns ``df`` lacks."""
    miss = [c for c in cols if c not in df.columns]
    if miss:
        raise NotTestable(f"{table} lacks column(s) {', '.join(miss)}")


# ----------------------------------------------------------------------------- settings
def _part(col: str, value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = word(value)
    if text.strip() in ("", "nan", "None"):
        return None
    return _NAMED[col].format(text) if col in _NAMED else text


def setting_label(values, cols: Sequence[str]) -> str:
    """The label of one setting from its values in ``cols`` (missing values skipped).

    Examples
    --------
    >>> setting_label({"dataset": "embedded-3d", "backbone": "voxel", "scorer": float("nan")},
    ...               ["dataset", "backbone", "scorer"])
    'embedded-3d/voxel'
    """
    parts = [p for c in cols if (p := _part(c, values.get(c))) is not None]
    return "/".join(parts) or "all"


def setting_groups(df: pd.DataFrame, extra: Sequence[str] = ()):
    """Yield ``(label, preset, rows)`` per setting and preset, labels without ``nan``.

    Examples
    --------
    >>> df = pd.DataFrame({"dataset": ["d2", "d3"], "backbone": ["b", None], "preset": "paper"})
    >>> [(label, p) for label, p, _ in setting_groups(df)]
    [('d2/b', 'paper'), ('d3', 'paper')]
    """
    cols = [c for c in (*SETTING_COLS, *extra) if c in df.columns]
    if "preset" not in df.columns:
        df = df.assign(preset=PRESETS[0])
    groups = df.groupby([*cols, "preset"], sort=True, dropna=False)
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        yield setting_label(dict(zip(cols, key[:-1])), cols), str(key[-1]), g


# ----------------------------------------------------------------------------- alignment
def align(label: str, preset: str, g: pd.DataFrame, parts, contrasts, contrast_names,
          images=None) -> Comparison | None:
    """The comparands of one setting on the same images; ``None`` when one has no image.

    Parameters
    ----------
    label, preset : str
    g : DataFrame
        The setting's rows.
    parts : list of (name, boolean mask over g, metric)
        The comparands.
    contrasts, contrast_names
        See :class:`Comparison`.
    images : pandas.Index, optional
        Keep only these ``(category, image)`` pairs (e.g. where a mechanism acts).

    Per-image tables are aligned on ``(category, image)``; a paper table without images gives
    one number per comparand (the mean of its rows, normally exactly one).
    """
    keys = [c for c in IMAGE_KEYS if c in g.columns]
    series, used = [], frozenset()
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
        if SOURCE in sub.columns:
            used |= frozenset(sub[SOURCE].dropna().astype(str))
    common = series[0].index
    for s in series[1:]:
        common = common.intersection(s.index)
    if images is not None:
        common = common.intersection(images)
    if not len(common):
        return None
    common = common.sort_values()
    values = np.stack([s.loc[common].to_numpy(dtype=np.float64) for s in series])
    if "category" in keys:
        strata = np.asarray(common.get_level_values("category") if len(keys) > 1 else common,
                            dtype=str)
    else:
        strata = np.full(len(common), "all")
    return Comparison(label, preset, values, strata, tuple(p[0] for p in parts),
                      np.atleast_2d(np.asarray(contrasts, dtype=np.float64)),
                      tuple(contrast_names), used)
