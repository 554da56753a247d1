"""THR: the statistical baseline, one global threshold per (class, backbone)."""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
from sklearn.exceptions import NotFittedError

from topotta_lite._validation import as_score_map, choice, finite_float, seed_value

__all__ = ["THR"]


class THR:
    """Global threshold fitted on the pixel scores of nominal validation maps.

    ``method="meanstd"`` (default): threshold = mean + ``k`` * std of every pixel score of the
    nominal validation maps (``k = 3``). ``method="percentile"``: the ``q``-th percentile of those
    scores. The threshold is applied to raw maps: ``mask = score_map > threshold``. THR does not use
    features or support; it accepts them so that all operators share one call.

    Constant maps are thresholded like any other (all pixels or none): THR has no notion of
    structure, which is the point of the comparison.

    Parameters
    ----------
    k : float
        Number of standard deviations above the mean ("meanstd"); the default (4) was chosen by
        ``topotta-lite tune`` on the development part of the embedded benchmark.
    method : {"meanstd", "percentile"}
        How the threshold is derived.
    q : float
        Percentile in [0, 100] ("percentile").
    threshold : float or None
        Set the threshold directly (no fit needed).
    seed : int
        Unused (THR is deterministic); accepted so every operator takes one.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> thr = THR(k=3).fit([rng.normal(size=(32, 32)) for _ in range(4)])
    >>> test = rng.normal(size=(32, 32)); test[10:14, 10:14] = 10
    >>> int(thr.segment(test).sum()) >= 16
    True
    """

    def __init__(self, k: float = 4.0, *, method: str = "meanstd", q: float = 99.0,
                 threshold: float | None = None, seed: int = 0):
        k = finite_float("k", k)
        method = choice("method", method, ("meanstd", "percentile"))
        q = finite_float("q", q, low=0, high=100)
        threshold = None if threshold is None else finite_float("threshold", threshold)
        seed = seed_value("seed", seed)
        self.k, self.method, self.q, self.seed = k, method, q, seed
        self.threshold_ = threshold
        self.timings_: dict[str, float] = {}

    def fit(self, nominal_validation_maps: Iterable) -> THR:
        """Derive the threshold from nominal validation score maps (2D or 3D, any shapes).

        Raises
        ------
        ValueError
            If no map is given or a map is not a finite 2D/3D array.
        """
        values = [as_score_map(m, name=f"nominal_validation_maps[{i}]").ravel()
                  for i, m in enumerate(nominal_validation_maps)]
        if not values:
            raise ValueError("nominal_validation_maps is empty; THR needs nominal maps to fit")
        pooled = np.concatenate(values)
        # statistics of maps scaled by an exact power of two, so that sums and squares of huge
        # scores cannot overflow; the threshold is scaled back
        e = max(0, int(np.frexp(np.abs(pooled).max())[1]) - 500)
        pooled = np.ldexp(pooled, -e)
        with np.errstate(over="ignore"):  # an infinite threshold is refused below
            if self.method == "meanstd":
                threshold = pooled.mean() + self.k * pooled.std()
            else:
                threshold = np.percentile(pooled, self.q)
        threshold = float(np.ldexp(threshold, e))
        if not np.isfinite(threshold):
            raise ValueError(f"THR's threshold mean + k * std = {threshold} is not a finite number "
                             f"(k = {self.k}); use a smaller k or rescale the maps")
        self.threshold_ = threshold
        return self

    def segment(self, score_map, features=None, *, support=None) -> np.ndarray:
        """Return ``score_map > threshold`` (a boolean mask of the map's shape).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            If neither ``fit`` nor ``threshold=`` set a threshold.
        """
        if self.threshold_ is None:
            raise NotFittedError("THR is not fitted: call fit(nominal_validation_maps) first "
                                 "or pass threshold=")
        t0 = time.perf_counter()
        psi = as_score_map(score_map)
        mask = psi > self.threshold_
        dt = time.perf_counter() - t0
        self.timings_ = {"pseudo_labels": dt, "adaptation": 0.0, "total": dt}
        return mask

    def __repr__(self) -> str:
        return f"THR(k={self.k}, method={self.method!r}, q={self.q}, threshold={self.threshold_})"
