"""Paired comparisons with simultaneous intervals and verdicts whose error rates are known.

Every comparison of the claims report is **paired**: the comparands (two methods, or one method
at several parameter values) segment the *same* test images, so what matters is how they differ
image by image. The statistic is the one the paper's protocol reports: the mean over the images
of each class, then the unweighted **mean over classes** (:func:`protocol_mean`).

**Resampling.** :func:`bootstrap_means` resamples images *within their class* (each replicate
keeps the protocol's class weights) with a seeded generator, and returns the replicated protocol
means of every comparand at once (leading batch axes allowed, which is how the tests simulate
hundreds of data sets in one call). Before resampling, the deviations of each class from its
class mean are scaled by ``sqrt(n_c / (n_c - 1))``: the plain bootstrap of a mean of ``n`` values
has ``(n - 1) / n`` times the usual variance, which makes intervals over a dozen images too short.

**Contrasts and simultaneous intervals.** A claim is a set of linear contrasts of the protocol
means that must all lie on one side of a threshold: "A beats B" is one contrast (A - B > 0);
"K = 1 is best" is one contrast per other K (F1(1) - F1(K) > 0 for every K); "F1 falls as K
grows" one per step. :func:`contrast_test` gives each contrast an interval that holds
*simultaneously* for all of them (max-t: the bootstrap distribution of the largest standardised
deviation), and two p-values: that every contrast is on the claimed side (``p_holds``) and that
at least one is on the other side (``p_refutes``, adjusted over the contrasts by the same max-t
distribution). A "best at" claim is thus judged pairwise, never by "the claimed value minus the
best other one", whose bootstrap is biased against the claim when values tie.

**Verdicts.** At level ``alpha`` (0.05, 95% intervals): *holds* when every contrast's interval is
strictly on the claimed side of the threshold; *does not hold* when one is strictly on the other
side; *inconclusive* otherwise (a tie never decides). Over several settings a claim made "in every
setting" holds when each setting holds (an intersection-union test: no adjustment is needed), and
is refuted by the settings whose refutation survives :func:`holm` over the settings. Under a
null of equal means, each way of saying "holds" or "does not hold" errs in about ``alpha / 2`` of
the data sets, and in at most ``alpha`` (``tests/test_stats_null.py`` simulates it).

**Monte-Carlo error.** The intervals come from a finite number of resamples (:data:`N_BOOT`), so
their ends move a little with the seed. :meth:`ContrastTest.end` estimates that error by batch
means (the resamples split into :data:`MC_BATCHES` batches); a verdict whose deciding interval
end lies within two such standard errors of its threshold is reported *borderline*.

**One smallest effect of interest.** :data:`SESOI` is used by every F1 / IoU claim: it is the
margin of non-inferiority claims ("never worse") and it labels each difference as of interest,
negligible, or undetermined (:func:`effect_label`).

What an interval does not say: it covers the sampling noise of *these* classes' images, not the
choice of classes, scorers or data sets (a setting with one class speaks for that class only).

Examples
--------
>>> import numpy as np
>>> a = np.array([0.6, 0.7, 0.5, 0.8, 0.4, 0.6])
>>> b = a - 0.1                          # method b is 0.1 worse on every image
>>> classes = ["x", "x", "x", "y", "y", "y"]
>>> ci = paired_difference(a, b, classes, seed=0)
>>> ci.text()
'+0.100 [+0.100, +0.100]'
>>> ci.verdict()
'holds'
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ALPHA",
    "BORDERLINE",
    "DIRECTIONS",
    "FAILS",
    "HOLDS",
    "INCONCLUSIVE",
    "MC_BATCHES",
    "N_BOOT",
    "SESOI",
    "VERDICTS",
    "ContrastTest",
    "Interval",
    "bootstrap_means",
    "combine_verdicts",
    "contrast_pvalues",
    "contrast_test",
    "effect_label",
    "holm",
    "holm_levels",
    "number_text",
    "paired_difference",
    "protocol_mean",
    "seed_for",
    "stratified_bootstrap",
    "three_way",
]

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE)
"""The three verdicts of an interval, in the order reports list them."""
BORDERLINE = "borderline"
"""A verdict whose deciding interval end is within its Monte-Carlo error of the threshold."""

DIRECTIONS = ("above", "below")
"""``"above"``: the claim says the statistic exceeds the threshold; ``"below"``: it stays under."""

ALPHA = 0.05
"""Error level of every interval (95% intervals); each one-sided error is at most half of it."""
N_BOOT = 20_000
"""Resamples per claim and setting."""
MC_BATCHES = 20
"""Batches the resamples are split into to estimate the Monte-Carlo error of an interval end."""
SESOI = 0.01
"""The smallest effect of interest for every F1 / IoU claim: one point of F1 or IoU.

The paper reports three decimals and calls settings whose F1 differ by about one point
"relatively stable" (Sec. V-H, Tables VII-IX), so a smaller difference is one the paper itself
treats as no difference. It is the margin of the non-inferiority claims and the size below which
a difference is called negligible (:func:`effect_label`).
"""

_EPS = 1e-9  # differences below this are ties (sums of 4-decimal numbers are not exact)


# ----------------------------------------------------------------------------- resampling
def _as_strata(strata, n: int) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(strata if strata is not None else np.zeros(n, int)).reshape(-1)
    if s.shape[0] != n:
        raise ValueError(f"strata has {s.shape[0]} entries for {n} images")
    classes, inverse = np.unique(s.astype(str), return_inverse=True)
    return classes, inverse


def _as_values(values) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim < 2 or x.shape[-1] == 0:
        raise ValueError(f"values must be (..., k, n_images) with n_images >= 1, got shape "
                         f"{np.shape(values)}")
    if not np.isfinite(x).all():
        raise ValueError("values holds NaN or infinite scores: drop or fix those images first")
    return x


def protocol_mean(values, strata=None) -> np.ndarray:
    """The paper's protocol: mean over the images of each class, then over classes.

    Parameters
    ----------
    values : array_like, (n_images,) or (..., k, n_images)
        Per-image scores (one row per method or setting, images in the same order).
    strata : array_like of length n_images, optional
        The class of each image (default: one class).

    Returns
    -------
    ndarray
        Shape ``(..., k)`` (a 0-d array for 1-d ``values``).

    Examples
    --------
    >>> float(protocol_mean([1.0, 0.0, 0.0, 0.0], ["a", "b", "b", "b"]))  # each class counts once
    0.5
    """
    x = _as_values(values)
    _, inv = _as_strata(strata, x.shape[-1])
    means = np.stack([x[..., inv == c].mean(axis=-1) for c in range(inv.max() + 1)], axis=-1)
    out = means.mean(axis=-1)
    return out[0] if np.ndim(values) == 1 else out


def bootstrap_means(values, strata=None, *, n_boot: int = N_BOOT, seed: int = 0,
                    correct: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Protocol means of each comparand and their replicates, images resampled within classes.

    Parameters
    ----------
    values : array_like, (..., k, n_images)
        Row ``j``: comparand ``j`` on the same images; leading axes are independent data sets
        (they share the resampling indices, which keeps the call vectorised).
    strata : array_like of length n_images, optional
        The class of each image (default: one class).
    n_boot : int
        Replicates (>= 100).
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    correct : bool
        Scale within-class deviations by ``sqrt(n_c / (n_c - 1))`` first (module docstring).

    Returns
    -------
    point : ndarray, (..., k)
        The protocol means.
    reps : ndarray, (..., n_boot, k)
        Their bootstrap replicates.

    Examples
    --------
    >>> point, reps = bootstrap_means([[0.2, 0.4, 0.6], [0.1, 0.3, 0.5]], n_boot=200, seed=0)
    >>> point.round(3).tolist(), reps.shape
    ([0.4, 0.3], (200, 2))
    """
    x = _as_values(values)
    n_boot = int(n_boot)
    if n_boot < 100:
        raise ValueError(f"n_boot must be >= 100, got {n_boot}")
    classes, inv = _as_strata(strata, x.shape[-1])
    rng = np.random.default_rng(int(seed))
    reps = np.zeros((*x.shape[:-2], n_boot, x.shape[-2]))
    point = np.zeros(x.shape[:-1])
    for c in range(len(classes)):
        xc = x[..., inv == c]
        m = xc.shape[-1]
        centre = xc.mean(axis=-1, keepdims=True)
        point += centre[..., 0]
        if correct and m > 1:
            xc = centre + (xc - centre) * np.sqrt(m / (m - 1))
        draws = rng.integers(0, m, size=(n_boot, m)) + m * np.arange(n_boot)[:, None]
        counts = np.bincount(draws.ravel(), minlength=n_boot * m).reshape(n_boot, m)
        reps += np.matmul(counts.astype(np.float64), np.swapaxes(xc, -1, -2)) / m
    return point / len(classes), reps / len(classes)


# ----------------------------------------------------------------------------- one interval
@dataclass(frozen=True)
class Interval:
    """A statistic, its confidence interval and what it rests on.

    Attributes
    ----------
    estimate : float
        The statistic on the data themselves.
    low, high : float
        The ends of the interval.
    n_images, n_classes : int
        Images (paired: the same images for every row) and classes they come from.
    level : float
        Confidence level (0.95: a 95% interval).
    n_boot : int
        Bootstrap replicates (0: a point value, no interval).
    seed : int
        Seed of the generator that drew them.
    mc_low, mc_high : float
        Monte-Carlo error of each end (two batch-means standard errors; NaN when unknown).
    """

    estimate: float
    low: float
    high: float
    n_images: int
    n_classes: int
    level: float = 1 - ALPHA
    n_boot: int = 0
    seed: int = 0
    mc_low: float = float("nan")
    mc_high: float = float("nan")

    def verdict(self, tolerance: float = 0.0, direction: str = "above") -> str:
        """:func:`three_way` on this interval."""
        return three_way(self.low, self.high, tolerance, direction)

    def text(self, fmt: str = "{:+.3f}", mc: bool = False) -> str:
        """The estimate and the interval, e.g. ``"+0.012 [-0.004, +0.027]"``.

        A value that is not zero but would print as zero gets more digits, so that an interval
        printed with a zero end is a true tie at that end. ``mc=True`` adds each end's
        Monte-Carlo error when it is known.

        Examples
        --------
        >>> Interval(0.02, 0.0003, 0.04, 30, 3).text()
        '+0.020 [+0.0003, +0.040]'
        >>> Interval(0.02, 0.01, 0.03, 30, 3, mc_low=0.0004, mc_high=0.0004).text(mc=True)
        '+0.020 [+0.010 ±0.0004, +0.030 ±0.0004]'
        """
        def end(v, err):
            tail = f" ±{err:.1g}" if mc and np.isfinite(err) else ""
            return number_text(v, fmt) + tail

        return (f"{number_text(self.estimate, fmt)} [{end(self.low, self.mc_low)}, "
                f"{end(self.high, self.mc_high)}]")

    @property
    def is_point(self) -> bool:
        """True when there was nothing to resample (one value per class: no interval)."""
        return self.n_images <= self.n_classes


def stratified_bootstrap(values, strata=None, statistic: Callable[[np.ndarray], np.ndarray]
                         | None = None, *, n_boot: int = 4000, level: float = 0.95,
                         seed: int = 0, correct: bool = True) -> Interval:
    """Percentile bootstrap of a statistic of protocol means, resampling images within classes.

    Kept for single comparisons outside the claims report (e.g. the paired ablation tables);
    the claims use :func:`contrast_test`.

    Parameters
    ----------
    values : array_like, (n_images,) or (k, n_images)
        Per-image scores; row ``j`` holds comparand ``j`` on the same images.
    strata : array_like of length n_images, optional
        The class of each image. Default: one class.
    statistic : callable, optional
        Maps protocol means of shape ``(..., k)`` to a value per leading index. Default: the
        protocol mean of the single row (``k`` must be 1).
    n_boot : int
        Replicates (>= 100).
    level : float
        Confidence level in (0, 1).
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    correct : bool
        See :func:`bootstrap_means`.

    Returns
    -------
    Interval

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> diff = 0.05 + 0.02 * rng.standard_normal(30)       # a real gain of 0.05
    >>> ci = stratified_bootstrap(diff, np.repeat(["a", "b", "c"], 10), seed=0)
    >>> ci.low > 0, ci.n_images, ci.n_classes
    (True, 30, 3)
    >>> ci == stratified_bootstrap(diff, np.repeat(["a", "b", "c"], 10), seed=0)  # seeded
    True
    """
    x = _as_values(values)
    if x.ndim != 2:
        raise ValueError(f"values must be (n_images,) or (k, n_images), got {x.shape}")
    k, n = x.shape
    if statistic is None:
        if k != 1:
            raise ValueError(f"values has {k} rows: give a statistic that combines them")
        statistic = _first
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    n_classes = len(_as_strata(strata, n)[0])
    point, reps = bootstrap_means(x, strata, n_boot=n_boot, seed=seed, correct=correct)
    estimate = float(np.asarray(statistic(point[None, :])).reshape(-1)[0])
    stat = np.asarray(statistic(reps), dtype=np.float64).reshape(-1)
    if stat.shape[0] != int(n_boot):
        raise ValueError("statistic must return one value per replicate (reduce the last axis)")
    alpha = (1.0 - float(level)) / 2.0
    low, high = np.quantile(stat, [alpha, 1.0 - alpha])
    return Interval(_clean(estimate), _clean(low), _clean(high), int(n), int(n_classes),
                    float(level), int(n_boot), int(seed))


def paired_difference(a, b, strata=None, **kwargs) -> Interval:
    """The protocol mean of ``a - b`` over the same images, with its stratified interval.

    Parameters
    ----------
    a, b : array_like of length n_images
        Per-image scores of the two methods on the same images, in the same order.
    strata : array_like, optional
        The class of each image (see :func:`stratified_bootstrap`).
    **kwargs
        ``n_boot``, ``level``, ``seed``, ``correct`` of :func:`stratified_bootstrap`.

    Examples
    --------
    >>> paired_difference([0.5, 0.6], [0.5, 0.6], seed=0).verdict()  # an exact tie
    'inconclusive'
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    if a.shape != b.shape:
        raise ValueError(f"a and b must score the same images: {a.shape[0]} vs {b.shape[0]}")
    return stratified_bootstrap(np.stack([a, b]), strata, _difference, **kwargs)


def _difference(m: np.ndarray) -> np.ndarray:
    return m[..., 0] - m[..., 1]


def _first(m: np.ndarray) -> np.ndarray:
    return m[..., 0]


def number_text(v: float, fmt: str = "{:+.3f}") -> str:
    """``v`` formatted, with more digits when it is not zero but would print as zero.

    Examples
    --------
    >>> number_text(-0.00001), number_text(0.0004), number_text(0.0)
    ('-1e-05', '+0.0004', '+0.000')
    """
    text = fmt.format(v)
    if v != 0 and not any(ch in "123456789" for ch in text.split("e")[0]):
        text = f"{v:+.1g}" if abs(v) < 5e-5 else f"{v:+.4f}"
    return text


def _clean(v: float) -> float:
    """Round away float noise (a tie must stay a tie)."""
    v = float(v)
    return 0.0 if abs(v) < _EPS else round(v, 12)


# ----------------------------------------------------------------------------- contrasts
def _standardise(point, reps, contrasts, threshold, direction):
    """Contrasts turned to the "above" side: estimates, replicates, standard errors, t."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    c = np.atleast_2d(np.asarray(contrasts, dtype=np.float64))
    if c.shape[-1] != point.shape[-1]:
        raise ValueError(f"contrasts have {c.shape[-1]} columns for {point.shape[-1]} comparands")
    sign = 1.0 if direction == "above" else -1.0
    est = sign * (point @ c.T)                       # (..., J)
    rep = sign * (reps @ c.T)                        # (..., B, J)
    thr = sign * float(threshold)
    se = rep.std(axis=-2, ddof=1)
    fixed = se < 1e-12                               # the contrast is the same in every replicate
    safe = np.where(fixed, 1.0, se)
    gap = est - thr
    t = np.where(fixed, np.where(gap > _EPS, np.inf, np.where(gap < -_EPS, -np.inf, 0.0)),
                 gap / safe)
    dev = np.where(fixed[..., None, :], 0.0, np.abs(rep - est[..., None, :]) / safe[..., None, :])
    return est, rep, thr, se, t, dev.max(axis=-1)    # max-t: (..., B)


def _pvalue(maxdev: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``(1 + #{max-t >= x}) / (B + 1)``; 1 where ``x <= 0`` (the other side)."""
    b = maxdev.shape[-1]
    count = (maxdev >= np.asarray(x)[..., None]).sum(axis=-1)
    return np.where(np.asarray(x) > 0, (1.0 + count) / (b + 1.0), 1.0)


def _critical(maxdev: np.ndarray, alpha: float) -> np.ndarray:
    """The max-t critical value: ``|t| > c`` exactly when the p-value is at most ``alpha``."""
    b = maxdev.shape[-1]
    k = int(np.floor(alpha * (b + 1) - 1 + 1e-9))
    if k < 0:
        return np.full(maxdev.shape[:-1], np.inf)
    return -np.partition(-maxdev, k, axis=-1)[..., k]


def contrast_pvalues(point, reps, contrasts, threshold: float = 0.0,
                     direction: str = "above") -> tuple[np.ndarray, np.ndarray]:
    """``(p_holds, p_refutes)`` of "every contrast is on the claimed side", vectorised.

    Parameters
    ----------
    point : ndarray, (..., k)
        Protocol means (:func:`bootstrap_means`).
    reps : ndarray, (..., B, k)
        Their replicates.
    contrasts : array_like, (J, k)
        One row per contrast (e.g. ``[1, -1, 0]``: comparand 0 minus comparand 1).
    threshold : float
        The value the claim puts every contrast above (or below).
    direction : {"above", "below"}

    Returns
    -------
    p_holds, p_refutes : ndarray, (...)
        Max-t p-values of "every contrast is beyond the threshold" and of "some contrast is on
        the other side" (adjusted over the contrasts). A setting holds at level ``alpha`` when
        ``p_holds <= alpha``; it is refuted when ``p_refutes <= alpha`` (before adjusting over
        settings, :func:`holm`).

    Examples
    --------
    >>> point, reps = bootstrap_means(np.stack([np.linspace(0.3, 0.6, 20) + 0.1,
    ...                                         np.linspace(0.3, 0.6, 20)]), n_boot=500)
    >>> [round(float(p), 3) for p in contrast_pvalues(point, reps, [[1, -1]])]
    [0.002, 1.0]
    """
    _, _, _, _, t, maxdev = _standardise(np.asarray(point, float), np.asarray(reps, float),
                                         contrasts, threshold, direction)
    return _pvalue(maxdev, t.min(axis=-1)), _pvalue(maxdev, (-t).max(axis=-1))


@dataclass(frozen=True)
class ContrastTest:
    """A setting's contrasts with simultaneous intervals and max-t p-values.

    Attributes
    ----------
    names : tuple of str
        One name per contrast (``"TopoTTA - TTT4AS"``).
    estimate, se, low, high : ndarray, (J,)
        Per contrast: the estimate, its bootstrap standard error and its simultaneous interval
        at level ``1 - alpha``, on the claim's own scale.
    p_holds, p_refutes : float
        See :func:`contrast_pvalues`.
    holds_at, refutes_at : int
        The contrast deciding "holds" (the least favourable) and "does not hold" (the most
        unfavourable).
    threshold : float
    direction : str
    alpha : float
    n_boot : int
    """

    names: tuple[str, ...]
    estimate: np.ndarray
    se: np.ndarray
    low: np.ndarray
    high: np.ndarray
    p_holds: float
    p_refutes: float
    holds_at: int
    refutes_at: int
    threshold: float
    direction: str
    alpha: float
    n_boot: int
    _reps: np.ndarray  # replicates of the contrasts on the "above" side, (B, J)

    def end(self, j: int, side: str, alpha: float | None = None,
            batches: int = MC_BATCHES) -> tuple[float, float]:
        """An interval end of contrast ``j`` at level ``1 - alpha``, with its Monte-Carlo error.

        ``side`` is ``"claimed"`` (the end compared with the threshold to say "holds") or
        ``"other"`` (the end that says "does not hold"). The error is two batch-means standard
        errors: the replicates are split into ``batches`` batches, the end is computed in each,
        and their spread over ``sqrt(batches)`` estimates the error of the end from all of them.
        """
        alpha = self.alpha if alpha is None else float(alpha)
        reps = self._reps
        est_up = (self.estimate if self.direction == "above" else -self.estimate)
        sign = -1.0 if side == "claimed" else 1.0

        def end_from(r):
            se = r.std(axis=0, ddof=1)
            safe = np.where(se < 1e-12, 1.0, se)
            dev = np.where(se < 1e-12, 0.0, np.abs(r - est_up) / safe).max(axis=-1)
            return est_up[j] + sign * float(_critical(dev, alpha)) * se[j]

        value = end_from(reps)
        b = reps.shape[0] // batches
        parts = [end_from(reps[i * b:(i + 1) * b]) for i in range(batches)] if b >= 50 else []
        finite = [p for p in parts if np.isfinite(p)]
        err = 2.0 * float(np.std(finite, ddof=1)) / np.sqrt(len(finite)) if len(finite) > 2 \
            else float("nan")
        if self.direction == "below":
            value = -value
        return _clean(value), err

    def interval(self, j: int, n_images: int, n_classes: int, seed: int = 0) -> Interval:
        """Contrast ``j`` as an :class:`Interval`, with the Monte-Carlo error of its ends."""
        lo_side, hi_side = ("claimed", "other") if self.direction == "above" else \
            ("other", "claimed")
        (lo, mc_lo), (hi, mc_hi) = self.end(j, lo_side), self.end(j, hi_side)
        return Interval(_clean(self.estimate[j]), lo, hi, int(n_images), int(n_classes),
                        1 - self.alpha, self.n_boot, int(seed), mc_lo, mc_hi)


def contrast_test(values, strata, contrasts, names: Sequence[str] | None = None, *,
                  threshold: float = 0.0, direction: str = "above", alpha: float = ALPHA,
                  n_boot: int = N_BOOT, seed: int = 0) -> ContrastTest:
    """Simultaneous max-t intervals and p-values for the contrasts of one setting.

    Parameters
    ----------
    values : array_like, (k, n_images)
        Comparand ``j`` on the same images in row ``j``.
    strata : array_like of length n_images
        The class of each image.
    contrasts : array_like, (J, k)
        The claim: every row's contrast lies above (below) ``threshold``.
    names : sequence of str, optional
        One per contrast.
    threshold, direction, alpha, n_boot, seed
        See :func:`contrast_pvalues`, :func:`bootstrap_means`.

    Returns
    -------
    ContrastTest

    Examples
    --------
    "Value 0 is best" on three comparands: two pairwise contrasts, intervals that hold together.

    >>> rng = np.random.default_rng(0)
    >>> base = rng.uniform(0.2, 0.6, 36)
    >>> x = np.stack([base + 0.05, base + rng.normal(0, 0.02, 36), base])
    >>> t = contrast_test(x, np.repeat(["a", "b", "c"], 12), [[1, -1, 0], [1, 0, -1]],
    ...                   ["0 - 1", "0 - 2"], n_boot=2000)
    >>> bool(t.p_holds <= 0.05), t.names[t.holds_at], bool((t.low > 0).all())
    (True, '0 - 1', True)
    """
    x = _as_values(values)
    if x.ndim != 2:
        raise ValueError(f"values must be (k, n_images), got shape {x.shape}")
    c = np.atleast_2d(np.asarray(contrasts, dtype=np.float64))
    names = tuple(names) if names is not None else tuple(f"contrast {j}" for j in range(len(c)))
    if len(names) != len(c):
        raise ValueError(f"{len(names)} names for {len(c)} contrasts")
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    point, reps = bootstrap_means(x, strata, n_boot=n_boot, seed=seed)
    est, rep, thr, se, t, maxdev = _standardise(point, reps, c, threshold, direction)
    crit = float(_critical(maxdev, alpha))
    low, high = est - crit * se, est + crit * se
    sign = 1.0 if direction == "above" else -1.0
    if sign < 0:
        low, high = -high, -low
    p_holds = float(_pvalue(maxdev, t.min()))
    p_refutes = float(_pvalue(maxdev, (-t).max()))
    return ContrastTest(names, np.array([_clean(v) for v in sign * est]), se,
                        np.array([_clean(v) for v in low]), np.array([_clean(v) for v in high]),
                        p_holds, p_refutes, int(np.argmin(t)), int(np.argmax(-t)),
                        float(threshold), direction, float(alpha), int(n_boot), rep)


# ----------------------------------------------------------------------------- verdict rules
def holm(pvalues: Sequence[float], alpha: float = ALPHA) -> tuple[np.ndarray, np.ndarray]:
    """Holm's step-down adjustment: which hypotheses are rejected, and the adjusted p-values.

    Works on the last axis, so many families can be adjusted at once.

    Examples
    --------
    >>> rejected, adjusted = holm([0.01, 0.04, 0.03])
    >>> rejected.tolist()
    [True, False, False]
    >>> adjusted.round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.shape[-1]
    if m == 0:
        return np.zeros(p.shape, bool), p
    order = np.argsort(p, axis=-1, kind="stable")
    ranked = np.take_along_axis(p, order, axis=-1) * (m - np.arange(m))
    adj_sorted = np.minimum(np.maximum.accumulate(ranked, axis=-1), 1.0)
    adjusted = np.empty_like(adj_sorted)
    np.put_along_axis(adjusted, order, adj_sorted, axis=-1)
    return adjusted <= alpha, adjusted


def holm_levels(pvalues: Sequence[float], alpha: float = ALPHA) -> np.ndarray:
    """The level each hypothesis is compared with in Holm's step-down: ``alpha / (m - rank)``.

    Examples
    --------
    >>> holm_levels([0.01, 0.04, 0.03]).round(4).tolist()
    [0.0167, 0.05, 0.025]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.shape[-1]
    order = np.argsort(p, axis=-1, kind="stable")
    levels = np.empty_like(p)
    np.put_along_axis(levels, order, alpha / (m - np.arange(m)), axis=-1)
    return levels


def three_way(low: float, high: float, tolerance: float = 0.0, direction: str = "above") -> str:
    """Holds, does not hold or inconclusive, from an interval and the claim's threshold.

    Parameters
    ----------
    low, high : float
        The interval.
    tolerance : float
        The threshold the claim names (0: "better"; ``-SESOI``: "not worse by more than the
        smallest effect of interest").
    direction : {"above", "below"}
        ``"above"``: the claim is statistic > threshold; ``"below"``: statistic < threshold.

    Returns
    -------
    str
        :data:`HOLDS` when the whole interval is strictly on the claimed side, :data:`FAILS`
        when it is strictly on the other side, else :data:`INCONCLUSIVE` (touching the
        threshold counts as straddling it: a tie never decides).

    Examples
    --------
    >>> three_way(0.01, 0.03), three_way(-0.03, -0.01), three_way(-0.01, 0.02)
    ('holds', 'does not hold', 'inconclusive')
    >>> three_way(0.0, 0.0), three_way(0.9, 1.1, 1.25, "below")
    ('inconclusive', 'holds')
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if not (np.isfinite(low) and np.isfinite(high)) or low > high:
        raise ValueError(f"not an interval: [{low}, {high}]")
    lo, hi = float(low) - tolerance, float(high) - tolerance
    if direction == "below":
        lo, hi = -hi, -lo
    if lo > _EPS:
        return HOLDS
    if hi < -_EPS:
        return FAILS
    return INCONCLUSIVE


def combine_verdicts(verdicts: Sequence[str]) -> str:
    """A claim made "in every setting": holds when every setting holds, does not hold when one
    does not (after :func:`holm`), inconclusive otherwise.

    Examples
    --------
    >>> combine_verdicts(["holds", "holds"]), combine_verdicts(["holds", "inconclusive"])
    ('holds', 'inconclusive')
    >>> combine_verdicts(["inconclusive", "does not hold"])
    'does not hold'
    """
    verdicts = list(verdicts)
    bad = [v for v in verdicts if v not in VERDICTS]
    if not verdicts or bad:
        raise ValueError(f"need verdicts among {VERDICTS}, got {verdicts}")
    if FAILS in verdicts:
        return FAILS
    return HOLDS if all(v == HOLDS for v in verdicts) else INCONCLUSIVE


def effect_label(low: float, high: float, threshold: float = 0.0, direction: str = "above",
                 sesoi: float = SESOI) -> str:
    """How large a difference is, against the smallest effect of interest.

    ``"of interest"``: the interval excludes every effect smaller than ``sesoi`` on the claimed
    side; ``"of interest, against"``: the same on the other side; ``"negligible"``: the whole
    interval is within ``sesoi`` of the threshold; ``"undetermined"`` otherwise.

    Examples
    --------
    >>> effect_label(0.02, 0.05), effect_label(-0.004, 0.006), effect_label(0.002, 0.03)
    ('of interest', 'negligible', 'undetermined')
    """
    lo, hi = float(low) - threshold, float(high) - threshold
    if direction == "below":
        lo, hi = -hi, -lo
    if lo >= sesoi - _EPS:
        return "of interest"
    if hi <= -sesoi + _EPS:
        return "of interest, against"
    if lo > -sesoi and hi < sesoi:
        return "negligible"
    return "undetermined"


def seed_for(*parts) -> int:
    """A stable seed from text (the same on every machine and Python run, unlike ``hash``).

    Examples
    --------
    >>> seed_for("beats_ttt4as_f1", "embedded-2d/PatchCore") == seed_for(
    ...     "beats_ttt4as_f1", "embedded-2d/PatchCore")
    True
    """
    return int(zlib.crc32("\x1f".join(map(str, parts)).encode("utf-8")))
