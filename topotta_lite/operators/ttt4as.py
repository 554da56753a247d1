"""TTT4AS re-implemented (Costanzino et al., CVPR-W 2024; no official code is public).

What we chose, and why (no official TTT4AS code is public). The five numbers of the
pseudo-labels and the SVM (percentiles, ``n_negatives``, ``C``) were chosen by ``topotta-lite
tune`` on the development part of the embedded benchmark, with the same budget as TopoTTA's and
THR's (``figures/tables/tuning_record.md`` holds each choice and its runner-up):

- **Pseudo-positives**: the local maxima of the score map (``peak_size`` = 3: 3x3 / 3x3x3 maximum
  filter) that lie strictly above the map's ``peak_percentile`` (99.5th) percentile, enriched with
  their neighbourhood (a dilation of ``pos_dilation`` cells, keeping only neighbours above the
  map's ``neighbour_percentile`` (98th) percentile). The paper describes peak selection followed
  by local refinement; the percentile keeps the peaks on the anomaly, the dilation gives the
  classifier more than a handful of positives, and the neighbour floor stops a coarse feature
  grid from turning one peak into a 3x3 block of mostly nominal cells.
- **Pseudo-negatives**: a uniform sample (``n_negatives``, 1024) of the locations below the map's
  ``neg_percentile`` (90th) percentile that are not positive: confidently nominal, and far more
  numerous than the positives, as in the original's "the rest of the map" reading.
- **Classifier**: a linear SVM with the squared hinge loss (the objective of scikit-learn's
  ``LinearSVC``: ``C`` = 10, balanced class weights, the intercept regularised like the weights)
  on the same frozen features that PCES gets, standardised per channel with the image's own
  statistics; its decision function is computed at every location. The objective has one
  minimum, and :func:`topotta_lite.operators._svm.squared_hinge_svm` reaches it exactly (a
  finite Newton method: a few dozen steps, each one small linear solve). Solved by liblinear
  instead, stopped at a tolerance, the answer depended on the order in which the processor's
  BLAS sums (another processor's kernels moved per-image recalls beyond the stated tolerance
  until that tolerance was made 100 times finer) and took most of TTT4AS's time, many times
  what the Newton method takes (``benchmarks/determinism.py --other-kernels`` measures the
  first, ``benchmarks/bench_operators.py`` the second).
- **Resolution**: ``"grid"`` (default) finds peaks on the score map area-averaged to the feature
  grid, classifies grid cells and upsamples the decision function bilinearly to the map, exactly as
  our PCES does, so the two test-time learners are compared on equal terms. ``"full"`` upsamples
  the features to the map first, as the original's upsampled-feature description suggests
  (slower, kept to measure the difference).
- **Degenerate inputs**: no peak above the percentile (e.g. a constant map) gives an empty mask;
  without features, without negatives, or with zero-variance features the pseudo-positive region
  itself is returned (``result.fallback`` says which).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from topotta_lite._validation import (
    bounded_int,
    checked_map,
    choice,
    finite_float,
    seed_value,
)
from topotta_lite.features.grid import (
    as_features,
    grid_fraction,
    resize_features,
    standardise,
    upsample_scores,
)
from topotta_lite.operators._svm import squared_hinge_svm

__all__ = ["C_MIN", "LIMITS", "TTT4AS", "TTT4ASResult"]

LIMITS = {"C": 1e6, "max_iter": 10_000, "peak_size": 255, "pos_dilation": 64,
          "n_negatives": 1_000_000}
"""Upper bounds of TTT4AS's parameters: each keeps the solver and the filters finite in time
(a ``C`` of 1e100 made liblinear, the solver we used before, run for minutes; filter sizes and
dilations beyond these cover any feature grid)."""

C_MIN = 1e-6
"""The smallest ``C`` accepted. As ``C`` goes to 0 the SVM's weights shrink in proportion to
``C`` along a fixed direction (the difference of the two classes' weighted means), so the mask
stops depending on ``C``; far below, the arithmetic underflows (at ``C = 1e-300`` every weight
is zero and the mask empty; liblinear, the solver we used before, never returned there)."""


@dataclass
class TTT4ASResult:
    """Intermediate results of one TTT4AS call (working-grid resolution unless said otherwise)."""

    mask: np.ndarray                  # final mask, map shape
    positives: np.ndarray             # pseudo-positive cells
    negatives: np.ndarray             # sampled pseudo-negative cells
    decision: np.ndarray | None       # SVM decision function on the working grid
    fallback: str | None = None
    timings: dict = field(default_factory=dict)


class TTT4AS:
    """Test-time training baseline: peak pseudo-labels + per-image linear SVM (module docstring).

    Parameters
    ----------
    peak_percentile : float
        Peaks must lie strictly above this percentile of the map (99.5).
    peak_size : int
        Size of the maximum filter that defines a local maximum (3).
    pos_dilation : int
        Dilation of the peaks, in working-grid cells (1).
    neighbour_percentile : float
        Neighbours added by the dilation must be above this percentile of the map (98).
    neg_percentile : float
        Negatives are drawn among locations below this percentile (90).
    n_negatives : int
        Number of negatives drawn (1024, fewer if fewer exist).
    C : float
        SVM regularisation (10), in ``[1e-6, 1e6]`` (:data:`C_MIN`, :data:`LIMITS`): beyond
        the top the SVM is a hard-margin one in all but name (liblinear, the solver we used
        before, ran for minutes at ``C = 1e100``, immune to signals); below the bottom nothing
        changes but the risk of underflow (:data:`C_MIN`).
    max_iter : int
        The solver's limit of Newton steps (100, at most 10000); it stops earlier at the
        minimum (the benchmark's images need a few dozen).
    tol : float
        The solver's stopping tolerance on the gradient's norm, relative to its start (1e-10;
        in ``[1e-12, 0.1]``); the solver usually stops first because it reached the minimum
        exactly (module docstring).
    resolution : {"grid", "full"}
        Working resolution (see module docstring).
    seed : int
        Seeds the negative sampling (the solver is deterministic).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> psi = np.zeros((32, 32)); psi[8:16, 8:16] = 1.0; psi += 0.01 * rng.random((32, 32))
    >>> feats = rng.normal(size=(4, 16, 16)).astype(np.float32); feats[0, 4:8, 4:8] += 5
    >>> TTT4AS().segment(psi, feats)[10, 10]
    True
    """

    def __init__(self, *, peak_percentile: float = 99.5, peak_size: int = 3, pos_dilation: int = 1,
                 neighbour_percentile: float = 98.0, neg_percentile: float = 90.0,
                 n_negatives: int = 1024, C: float = 10.0, max_iter: int = 100,
                 tol: float = 1e-10, resolution: str = "grid", seed: int = 0):
        lim = LIMITS
        resolution = choice("resolution", resolution, ("grid", "full"))
        peak_percentile = finite_float("peak_percentile", peak_percentile, low=0, high=100)
        neg_percentile = finite_float("neg_percentile", neg_percentile, low=0, high=100)
        neighbour_percentile = finite_float("neighbour_percentile", neighbour_percentile, low=0,
                                            high=100)
        peak_size = bounded_int("peak_size", peak_size, 1, lim["peak_size"])
        pos_dilation = bounded_int("pos_dilation", pos_dilation, 0, lim["pos_dilation"])
        n_negatives = bounded_int("n_negatives", n_negatives, 1, lim["n_negatives"])
        C = finite_float("C", C, low=C_MIN, high=lim["C"])
        max_iter = bounded_int("max_iter", max_iter, 1, lim["max_iter"])
        tol = finite_float("tol", tol, low=1e-12, high=0.1)
        seed = seed_value("seed", seed)
        self.peak_percentile, self.peak_size, self.pos_dilation = peak_percentile, peak_size, \
            pos_dilation
        self.neighbour_percentile = neighbour_percentile
        self.neg_percentile, self.n_negatives, self.C = neg_percentile, n_negatives, C
        self.max_iter, self.tol, self.resolution, self.seed = max_iter, tol, resolution, seed
        self.timings_: dict[str, float] = {}

    def pseudo_labels(self, psi: np.ndarray, rng: np.random.Generator):
        """Pseudo-positive and sampled pseudo-negative boolean arrays of ``psi``'s shape."""
        structure = np.ones((3,) * psi.ndim, dtype=bool)
        peaks = (ndimage.maximum_filter(psi, size=self.peak_size, mode="nearest") == psi)
        peaks &= psi > np.percentile(psi, self.peak_percentile)
        pos = peaks
        if self.pos_dilation > 0 and peaks.any():
            pos = ndimage.binary_dilation(peaks, structure=structure,
                                          iterations=int(self.pos_dilation))
            pos &= psi >= np.percentile(psi, self.neighbour_percentile)
            pos |= peaks
        pool = np.flatnonzero(((psi < np.percentile(psi, self.neg_percentile)) & ~pos).ravel())
        neg = np.zeros(psi.size, dtype=bool)
        if len(pool):
            neg[rng.choice(pool, size=min(self.n_negatives, len(pool)), replace=False)] = True
        return pos, neg.reshape(psi.shape)

    def segment_detailed(self, score_map, features=None, *, support=None) -> TTT4ASResult:
        """Like :meth:`segment` but return the intermediate results and stage timings.

        ``support`` (nominal support features, few-shot) joins the negatives: a seeded sample of
        ``n_negatives`` of its locations (all of them would swamp the image's own negatives and
        make the SVM much slower at 10 shots).
        """
        t0 = time.perf_counter()
        psi = checked_map(score_map)  # scaled exactly when huge: the cell means cannot overflow
        feats = None if features is None else as_features(features, psi.shape)
        if feats is not None and self.resolution == "full":
            feats = resize_features(feats, psi.shape)
        grid = psi.shape if feats is None else tuple(feats.shape[1:])
        work = grid_fraction(psi, grid) if grid != psi.shape else psi
        pos, neg = self.pseudo_labels(np.asarray(work, dtype=np.float64),
                                      np.random.default_rng(self.seed))
        t1 = time.perf_counter()

        def done(mask, decision=None, fallback=None):
            t2 = time.perf_counter()
            timings = {"pseudo_labels": t1 - t0, "adaptation": t2 - t1, "total": t2 - t0}
            self.timings_ = timings
            return TTT4ASResult(mask, pos, neg, decision, fallback, timings)

        pos_mask = (upsample_scores(pos.astype(np.float32), psi.shape) >= 0.5
                    if pos.shape != psi.shape else pos.copy())
        if not pos.any():
            return done(np.zeros(psi.shape, bool), fallback="no positives")
        if feats is None:
            return done(pos_mask, fallback="no features")
        sup = []
        if support:
            for j, s in enumerate(support):
                s = as_features(s, psi.shape, name=f"support[{j}]")
                if s.shape[0] != feats.shape[0]:
                    raise ValueError(f"support[{j}] has {s.shape[0]} channels, features have "
                                     f"{feats.shape[0]}")
                sup.append(resize_features(s, grid))
        x_all, x_sup, has_var = standardise(feats, *sup)
        if not has_var:
            return done(pos_mask, fallback="zero-variance features")
        x_neg = x_all[neg.ravel()]
        if x_sup:  # support locations: a seeded sample of n_negatives, like the image's own
            pool = np.concatenate(x_sup)
            rng = np.random.default_rng([self.seed, 2])
            take = rng.choice(len(pool), size=min(self.n_negatives, len(pool)), replace=False)
            x_neg = np.concatenate([x_neg, pool[np.sort(take)]])
        if len(x_neg) == 0:
            return done(pos_mask, fallback="no negatives")
        x = np.concatenate([x_all[pos.ravel()], x_neg])
        y = np.r_[np.ones(int(pos.sum()), bool), np.zeros(len(x_neg), bool)]
        svm = squared_hinge_svm(x, y, self.C, tol=self.tol, max_iter=self.max_iter)
        decision = (x_all @ svm.coef + svm.intercept).reshape(grid).astype(np.float32)
        return done(upsample_scores(decision, psi.shape) > 0, decision)

    def segment(self, score_map, features=None, *, support=None) -> np.ndarray:
        """Boolean anomaly mask of the map's shape (see the class docstring)."""
        return self.segment_detailed(score_map, features, support=support).mask

    def __repr__(self) -> str:
        return (f"TTT4AS(peak_percentile={self.peak_percentile}, pos_dilation={self.pos_dilation},"
                f" neg_percentile={self.neg_percentile}, n_negatives={self.n_negatives}, "
                f"C={self.C}, resolution={self.resolution!r}, seed={self.seed})")
