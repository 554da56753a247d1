"""Paired comparisons with a confidence interval, and a three-way verdict a reviewer can trust.

Every comparison of the claims report is a **paired** one: two methods (or two settings of one
method) segment the *same* test images, so what matters is the per-image difference, not two
separate means. The statistic is the one the paper's protocol reports: the mean over the images
of each class, then the unweighted **mean over classes** (:func:`protocol_mean`).

How sure are we of a difference measured on a few dozen images? :func:`stratified_bootstrap`
answers with a percentile bootstrap that resamples images **within their class** (so every
replicate keeps the same number of images per class, and the protocol's class weights), with a
seeded random generator (the same inputs and seed give the same interval, byte for byte).

A claim then gets one of three verdicts (:func:`three_way`), never two:

* **holds**: the whole interval lies on the claimed side of the tolerance;
* **does not hold**: the whole interval lies on the other side;
* **inconclusive**: the interval straddles the tolerance (or touches it: a tie, even an exact
  one such as ``+0.000 [+0.000, +0.000]``, is inconclusive whatever the claim).

Small-sample correction. The plain bootstrap of a mean of ``n`` values has a variance
``(n - 1) / n`` times the usual unbiased one, which makes intervals over 10-15 images per class
too short. Before resampling, the deviations of each class from its class mean are scaled by
``sqrt(n_c / (n_c - 1))`` (a class with one image is left as it is). The tests in
``tests/test_stats.py`` measure the coverage on synthetic data with a known difference.

What an interval does not say: it covers the sampling noise of *these* classes' images, not
the choice of classes, scorers or datasets (a setting with one class is a statement about
that class), and a claim checked over many settings at 95% each has more than a 5% chance that
one of them lands on the wrong side by chance.

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
    "DIRECTIONS",
    "FAILS",
    "HOLDS",
    "INCONCLUSIVE",
    "VERDICTS",
    "Interval",
    "combine_verdicts",
    "paired_difference",
    "protocol_mean",
    "seed_for",
    "stratified_bootstrap",
    "three_way",
]

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
VERDICTS = (HOLDS, FAILS, INCONCLUSIVE)
"""The three verdicts, in the order reports list them."""

DIRECTIONS = ("above", "below")
"""``"above"``: the claim says the statistic exceeds the tolerance; ``"below"``: it stays under."""

_EPS = 1e-9  # differences below this are ties (sums of 4-decimal numbers are not exact)


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
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"values must be (n_images,) or (k, n_images) with n_images >= 1, "
                         f"got shape {np.shape(values)}")
    if not np.isfinite(x).all():
        raise ValueError("values holds NaN or infinite scores: drop or fix those images first")
    return x


def protocol_mean(values, strata=None) -> np.ndarray:
    """The paper's protocol: mean over the images of each class, then over classes.

    Parameters
    ----------
    values : array_like, (n_images,) or (k, n_images)
        Per-image scores (one row per method or setting, images in the same order).
    strata : array_like of length n_images, optional
        The class of each image (default: one class).

    Returns
    -------
    ndarray
        Shape ``(k,)`` (a 0-d array for 1-d ``values``).

    Examples
    --------
    >>> float(protocol_mean([1.0, 0.0, 0.0, 0.0], ["a", "b", "b", "b"]))  # each class counts once
    0.5
    """
    x = _as_values(values)
    _, inv = _as_strata(strata, x.shape[1])
    means = np.stack([x[:, inv == c].mean(axis=1) for c in range(inv.max() + 1)], axis=1)
    out = means.mean(axis=1)
    return out[0] if np.ndim(values) == 1 else out


@dataclass(frozen=True)
class Interval:
    """A statistic, its bootstrap confidence interval and what it rests on.

    Attributes
    ----------
    estimate : float
        The statistic on the data themselves.
    low, high : float
        The ends of the percentile interval.
    n_images, n_classes : int
        Images (paired: the same images for every row) and classes they come from.
    level : float
        Confidence level (0.95: a 95% interval).
    n_boot : int
        Bootstrap replicates.
    seed : int
        Seed of the generator that drew them.
    """

    estimate: float
    low: float
    high: float
    n_images: int
    n_classes: int
    level: float = 0.95
    n_boot: int = 0
    seed: int = 0

    def verdict(self, tolerance: float = 0.0, direction: str = "above") -> str:
        """:func:`three_way` on this interval."""
        return three_way(self.low, self.high, tolerance, direction)

    def text(self, fmt: str = "{:+.3f}") -> str:
        """``"+0.012 [-0.004, +0.027]"``: the estimate and the interval.

        A value that is not zero but would print as zero gets more digits (``+0.0003``), so
        that an interval printed ``[+0.000, ...]`` is a true tie at its end.

        Examples
        --------
        >>> Interval(0.02, 0.0003, 0.04, 30, 3).text()
        '+0.020 [+0.0003, +0.040]'
        """
        return (f"{_number(self.estimate, fmt)} [{_number(self.low, fmt)}, "
                f"{_number(self.high, fmt)}]")

    @property
    def is_point(self) -> bool:
        """True when there was nothing to resample (one value per class: no interval)."""
        return self.n_images <= self.n_classes


def stratified_bootstrap(values, strata=None, statistic: Callable[[np.ndarray], np.ndarray]
                         | None = None, *, n_boot: int = 4000, level: float = 0.95,
                         seed: int = 0, correct: bool = True) -> Interval:
    """Percentile bootstrap of a statistic of protocol means, resampling images within classes.

    Parameters
    ----------
    values : array_like, (n_images,) or (k, n_images)
        Per-image scores; row ``j`` holds comparand ``j`` (a method, a setting) on the same
        images, so resampling an image resamples it for every row (a paired design).
    strata : array_like of length n_images, optional
        The class of each image; images are resampled within their class, each class keeps
        its number of images. Default: one class.
    statistic : callable, optional
        Maps protocol means of shape ``(..., k)`` to a value per leading index, e.g.
        ``lambda m: m[..., 0] - m[..., 1:].max(axis=-1)`` ("row 0 beats the best other row").
        Default: the protocol mean of the single row (``k`` must be 1).
    n_boot : int
        Replicates (>= 100).
    level : float
        Confidence level in (0, 1).
    seed : int
        Seed of :func:`numpy.random.default_rng`.
    correct : bool
        Scale within-class deviations by ``sqrt(n_c / (n_c - 1))`` first (see the module
        docstring); False gives the plain percentile bootstrap.

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
    k, n = x.shape
    if statistic is None:
        if k != 1:
            raise ValueError(f"values has {k} rows: give a statistic that combines them")
        statistic = _first
    if int(n_boot) < 100:
        raise ValueError(f"n_boot must be >= 100, got {n_boot}")
    if not 0.0 < float(level) < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    classes, inv = _as_strata(strata, n)
    rng = np.random.default_rng(int(seed))
    n_boot = int(n_boot)
    boot = np.zeros((n_boot, k))
    point = np.zeros(k)
    for c in range(len(classes)):
        cols = np.flatnonzero(inv == c)
        xc = x[:, cols]
        centre = xc.mean(axis=1, keepdims=True)
        point += centre[:, 0]
        m = len(cols)
        if correct and m > 1:
            xc = centre + (xc - centre) * np.sqrt(m / (m - 1))
        counts = rng.multinomial(m, np.full(m, 1.0 / m), size=n_boot)  # (n_boot, m)
        boot += counts @ xc.T / m
    boot /= len(classes)
    point /= len(classes)
    estimate = float(np.asarray(statistic(point[None, :])).reshape(-1)[0])
    reps = np.asarray(statistic(boot), dtype=np.float64).reshape(-1)
    if reps.shape[0] != n_boot:
        raise ValueError("statistic must return one value per replicate (reduce the last axis)")
    alpha = (1.0 - float(level)) / 2.0
    low, high = np.quantile(reps, [alpha, 1.0 - alpha])
    return Interval(_clean(estimate), _clean(low), _clean(high), int(n), int(len(classes)),
                    float(level), n_boot, int(seed))


def _number(v: float, fmt: str) -> str:
    text = fmt.format(v)
    if v != 0 and not any(ch in "123456789" for ch in text.split("e")[0]):
        text = f"{v:+.1g}" if abs(v) < 5e-5 else f"{v:+.4f}"
    return text


def _first(m: np.ndarray) -> np.ndarray:
    return m[..., 0]


def _clean(v: float) -> float:
    """Round away float noise (a tie must stay a tie)."""
    v = float(v)
    return 0.0 if abs(v) < _EPS else round(v, 12)


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


def three_way(low: float, high: float, tolerance: float = 0.0, direction: str = "above") -> str:
    """Holds, does not hold or inconclusive, from an interval and the claim's tolerance.

    Parameters
    ----------
    low, high : float
        The interval.
    tolerance : float
        The threshold the claim names (0: "better"; -0.005: "not worse by more than 0.005";
        1.25 for a ratio "at most 1.25x").
    direction : {"above", "below"}
        ``"above"``: the claim is statistic > tolerance; ``"below"``: statistic < tolerance.

    Returns
    -------
    str
        :data:`HOLDS` when the whole interval is strictly on the claimed side, :data:`FAILS`
        when it is strictly on the other side, else :data:`INCONCLUSIVE` (touching the
        tolerance counts as straddling it: a tie never decides).

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
    does not, inconclusive otherwise.

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


def seed_for(*parts) -> int:
    """A stable seed from text (the same on every machine and Python run, unlike ``hash``).

    Examples
    --------
    >>> seed_for("beats_ttt4as_f1", "embedded-2d/PatchCore") == seed_for(
    ...     "beats_ttt4as_f1", "embedded-2d/PatchCore")
    True
    """
    return int(zlib.crc32("\x1f".join(map(str, parts)).encode("utf-8")))
