"""The mechanism measurements: does PCES, EAI, its fallback, the superlevel branch change a mask?

They read ``mechanisms_per_image`` (written by the experiment notebooks on the evaluation
split): one row per image and variant, ``variant`` in ``sublevel``, ``superlevel``,
``intersection``, ``union``, ``eai`` (the fused pseudo-label, fallback included) and
``topotta`` (EAI + PCES), with the per-image flags ``eai_acts`` (the intersection is not empty and
EAI's mask differs from it), ``fallback_fired`` (the intersection is empty, the union is not),
``eai_differs_sub``, ``eai_differs_intersection``, ``eai_differs_union`` and ``pces_differs``
(the final mask differs from its pseudo-label). Settings are (dataset, scorer, backbone, preset,
``topk`` = K).

Each comparison records the share of its images on which the mechanism changes the mask
(``activity``); the evaluation calls a setting in which that share is below
:data:`ACTIVE_SHARE` *vacuous*: a claim that a mechanism helps says nothing where the
mechanism does not act. EAI is judged on the images where it acts, and its fallback (the
sublevel mask kept when the two masks do not overlap) on the images where it fires: it is not
EAI's merit that a mask beats an empty one.

Why EAI can be inactive at all: at K = 1 the sublevel H1 region is a bounded component of a
superlevel set of the map, and so is the superlevel H0 region. Components of superlevel sets of
one map are nested or disjoint, so the intersection is the smaller mask or empty, and EAI can only
return the sublevel mask or its fallback (notebook 04 proves it, ``tests`` hold it as a property).
"""

from __future__ import annotations

import pandas as pd

from topotta_lite.experiments.claims.frames import NotTestable, need, normalise, setting_groups
from topotta_lite.experiments.claims.measures import compare, metrics_differ

__all__ = ["ACTIVE_SHARE", "MECHANISMS", "mechanism"]

ACTIVE_SHARE = 0.05
"""A mechanism that changes fewer than this share of the masks of a setting is inactive there."""

MECHANISMS = {
    # name: (variant judged, variant it is compared with, activity flag, judge only where active)
    "pces": ("topotta", "eai", "pces_differs", False),
    "eai": ("eai", "intersection", "eai_acts", True),
    "fallback": ("eai", "intersection", "fallback_fired", True),
    "superlevel": ("eai", "sublevel", "eai_differs_sub", False),
}
"""What each mechanism claim compares, and on which images."""

_TABLE = "mechanisms"


def _flag(series: pd.Series) -> pd.Series:
    text = series.astype(str).str.strip().str.lower()
    num = pd.to_numeric(series, errors="coerce")
    return text.isin(["true", "yes"]) | (num.fillna(0) != 0)


def mechanism(name: str, metric: str = "f1"):
    """The measurement of mechanism ``name`` (a key of :data:`MECHANISMS`).

    Examples
    --------
    >>> rows = [{"dataset": "d", "scorer": "s", "backbone": "b", "preset": "paper", "topk": 1,
    ...          "category": "c", "image": str(i), "variant": v, "f1": 0.5,
    ...          "pces_differs": False} for i in range(4) for v in ("eai", "topotta")]
    >>> (c,) = mechanism("pces")({"mechanisms": pd.DataFrame(rows)}, "difference")
    >>> c.label, c.activity, c.names
    ('d/b/s/K=1', 0.0, ('topotta', 'eai'))
    """
    judged, base, flag, only_active = MECHANISMS[name]

    def measure(tables, procedure) -> list:
        df = normalise(tables[_TABLE])
        need(df, ["variant", metric, "category", "image"], f"{_TABLE}_per_image")
        out = []
        for label, preset, g in setting_groups(df, ("topk",)):
            masks = [g["variant"].astype(str) == v for v in (judged, base)]
            if not all(m.any() for m in masks):
                continue
            if flag in g.columns:
                per_image = g.groupby(["category", "image"])[flag].agg(
                    lambda s: bool(_flag(s).any()))
            else:  # no flag: a changed metric is the proxy for a changed mask
                per_image = metrics_differ(g, masks)
            act = (float(per_image.mean()) if len(per_image) else 0.0, int(len(per_image)))
            images = per_image.index[per_image.to_numpy(bool)] if only_active else None
            if images is not None and not len(images):
                images = None  # it never acts: compared on all images, reported as vacuous
            parts = [(v, m, metric) for v, m in zip((judged, base), masks)]
            c = compare(label, preset, g, parts, procedure, images=images, activity=act)
            if c is not None:
                out.append(c)
        if not out:
            raise NotTestable(f"{_TABLE}_per_image has no setting with both {judged!r} and "
                              f"{base!r} rows")
        return out

    return measure

