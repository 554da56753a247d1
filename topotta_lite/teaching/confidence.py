"""Signal or noise? A bootstrap confidence band for the persistence diagram of a score map.

The 2-epsilon rule of notebook 03 ("a feature whose persistence exceeds twice the noise is real")
needs the size of the noise, ``epsilon = ||g - f||_inf``, which nobody observes: ``f``, the map
without noise, is unknown. Fasy et al. (2014) estimate it instead, with a bootstrap, and turn the
stability theorem into a confidence set: if ``P(||g - f||_inf <= c) >= 1 - alpha``, then with the
same probability the bottleneck distance between the diagram of ``g`` and that of ``f`` is at most
``c``, so every point of ``g``'s diagram whose persistence exceeds ``2 c`` has a partner in ``f``'s
diagram (it is signal), simultaneously for all points.

Which bootstrap is valid for an image
-------------------------------------
Resampling the *pixels* of one map is not: neighbouring scores are strongly correlated (a
backbone's receptive field spans many pixels), the pixels are not identically distributed (the
defect is somewhere), and a resampled set of pixels has no geometry left for a diagram to measure.
What can be resampled are **independent copies of the whole map**: ``n`` score maps of the same
image whose noise is independent from copy to copy (test-time augmentations, independently
trained scorers, repeated acquisitions), each ``g_i = f + noise_i``, with any spatial correlation
inside a copy. Their mean ``g_bar`` estimates ``f``, and the bootstrap resamples the copies
(whole maps, so the spatial correlation is kept) and takes the ``1 - alpha`` quantile of
``||g_bar* - g_bar||_inf``: the sup-norm version of Fasy et al.'s bootstrap for density estimates.
It is a bootstrap of the maximum of a mean of independent vectors, consistent as ``n`` grows for a
fixed grid (Chernozhukov, Chetverikov and Kato (2013) give the theory for grids much larger than
``n``, for the closely related multiplier bootstrap); with few copies it is approximate, so
:func:`band_coverage` measures its coverage by simulation. With a single map nothing can be
estimated this way: the data cannot tell signal from noise without replicates or a model of the
noise.

Examples
--------
>>> f = np.zeros((16, 16)); f[4:8, 4:8] = 1.0
>>> copies = noisy_copies(f, 12, noise=0.05, seed=0)
>>> band = sup_norm_band(copies, n_boot=200, seed=1)
>>> band.mean.shape, bool(0 < band.c < 0.2)
((16, 16), True)
>>> significant(np.array([[1.0, 0.0], [0.52, 0.5], [0.3, np.inf]]), band.c).tolist()
[True, False, True]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

__all__ = ["SupNormBand", "band_coverage", "coverage_interval", "noisy_copies", "significant",
           "sup_norm_band"]


def noisy_copies(score_map, n: int, *, noise: float = 0.05, correlation: float = 1.5,
                 seed: int = 0) -> np.ndarray:
    """``n`` independent noisy copies ``f + noise_i`` of a map, with spatially correlated noise.

    Each copy's noise is white Gaussian noise blurred by a Gaussian of width ``correlation`` pixels
    (0: no blur) and rescaled so that every pixel has standard deviation ``noise``: neighbouring
    pixels are correlated, as in a real score map, while the copies are independent.

    Parameters
    ----------
    score_map : (H, W) or (D, H, W) float array
    n : int
        Number of copies, at least 2.
    noise : float
        Standard deviation of the noise at every pixel, > 0.
    correlation : float
        Width (pixels) of the blur that correlates neighbouring pixels, >= 0.
    seed : int

    Returns
    -------
    (n, *shape) float array

    Examples
    --------
    >>> c = noisy_copies(np.zeros((32, 32)), 400, noise=0.1, seed=0)
    >>> c.shape, round(float(c.std()), 1)
    ((400, 32, 32), 0.1)
    """
    f = np.asarray(score_map, dtype=float)
    if f.ndim not in (2, 3) or not np.isfinite(f).all():
        raise ValueError(f"score_map must be a finite 2D or 3D array, got shape {f.shape}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    if not noise > 0:
        raise ValueError(f"noise must be > 0, got {noise}")
    if not correlation >= 0:
        raise ValueError(f"correlation must be >= 0, got {correlation}")
    rng = np.random.default_rng(seed)
    white = rng.standard_normal((int(n),) + f.shape)
    if correlation > 0:
        sigma = (0.0,) + (float(correlation),) * f.ndim
        white = ndi.gaussian_filter(white, sigma, mode="reflect")
        # unit variance at every pixel: divide by the blur kernel's L2 norm, border included
        unit = np.zeros(f.shape)
        unit[tuple(s // 2 for s in f.shape)] = 1.0
        norm = float(np.sqrt((ndi.gaussian_filter(unit, float(correlation)) ** 2).sum()))
        white /= norm
    return f[None] + noise * white


@dataclass(frozen=True)
class SupNormBand:
    """The result of :func:`sup_norm_band`.

    Attributes
    ----------
    mean : ndarray
        ``g_bar``, the mean of the copies (the map whose diagram the band is drawn on).
    c : float
        Half-width of the band: the ``1 - alpha`` bootstrap quantile of ``||g_bar* - g_bar||_inf``.
        Points of ``Dgm(g_bar)`` with persistence above ``2 c`` are declared signal.
    boot : ndarray
        The bootstrap sample of ``||g_bar* - g_bar||_inf`` (one value per resample).
    alpha : float
    n_copies : int
    """

    mean: np.ndarray
    c: float
    boot: np.ndarray
    alpha: float
    n_copies: int


def sup_norm_band(copies, *, alpha: float = 0.05, n_boot: int = 1000, seed: int = 0,
                  chunk: int = 256) -> SupNormBand:
    """Bootstrap confidence band for the mean of independent copies of a map (Fasy et al., 2014).

    Draws ``n_boot`` resamples of the ``n`` copies (with replacement, whole maps), computes each
    resample's mean ``g_bar*``, and returns the ``1 - alpha`` quantile ``c`` of
    ``||g_bar* - g_bar||_inf``. Then ``P(||g_bar - f||_inf <= c)`` is approximately ``1 - alpha``
    (``f`` the expected map), and by the stability theorem so is
    ``P(d_B(Dgm g_bar, Dgm f) <= c)``, in every homology dimension at once.

    Parameters
    ----------
    copies : (n, *shape) array_like
        Independent noisy copies of one map, ``n >= 2``.
    alpha : float
        Error level in (0, 1).
    n_boot : int
        Number of bootstrap resamples, >= 10.
    seed : int
    chunk : int
        Resamples computed at once (memory: ``chunk`` maps).

    Returns
    -------
    SupNormBand

    Examples
    --------
    >>> copies = np.stack([np.full((4, 4), v) for v in (0.0, 0.1, 0.2, 0.3)])
    >>> band = sup_norm_band(copies, n_boot=500, seed=0)
    >>> round(float(band.mean[0, 0]), 6), bool(0 < band.c <= 0.15)   # the mean moves by at most 0.15
    (0.15, True)
    """
    x = np.asarray(copies, dtype=float)
    if x.ndim < 2 or x.shape[0] < 2:
        raise ValueError(f"copies must have shape (n, ...) with n >= 2, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("copies must be finite")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 10:
        raise ValueError(f"n_boot must be an integer >= 10, got {n_boot!r}")
    n = x.shape[0]
    flat = x.reshape(n, -1)
    mean = flat.mean(axis=0)
    rng = np.random.default_rng(seed)
    boot = np.empty(int(n_boot))
    for start in range(0, int(n_boot), max(int(chunk), 1)):
        stop = min(start + max(int(chunk), 1), int(n_boot))
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=stop - start)
        boot[start:stop] = np.abs(counts @ flat / n - mean).max(axis=1)
    c = float(np.quantile(boot, 1.0 - alpha))
    return SupNormBand(mean=mean.reshape(x.shape[1:]), c=c, boot=boot, alpha=float(alpha),
                       n_copies=int(n))


def significant(points, c: float) -> np.ndarray:
    """Which diagram points lie outside the band: persistence ``|death - birth|`` above ``2 c``.

    A point of persistence at most ``2 c`` is at L-infinity distance at most ``c`` from the
    diagonal, so it may be matched to the diagonal: noise. Essential points (infinite death)
    are always significant.

    Examples
    --------
    >>> significant([[0.0, 0.5], [0.1, 0.15], [0.9, 0.2]], 0.05).tolist()
    [True, False, True]
    """
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    if not c >= 0:
        raise ValueError(f"c must be >= 0, got {c}")
    with np.errstate(invalid="ignore"):
        return np.abs(pts[:, 1] - pts[:, 0]) > 2 * float(c)


def band_coverage(score_map, *, n_copies: int, n_rep: int, noise: float = 0.05,
                  correlation: float = 1.5, alpha: float = 0.05, n_boot: int = 500,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """How often the band covers the truth, by simulation: ``||g_bar - f||_inf <= c``.

    Each repetition draws ``n_copies`` copies of ``score_map`` (:func:`noisy_copies`), computes
    the band (:func:`sup_norm_band`) and compares its half-width ``c`` with the true error of the
    mean, ``||g_bar - f||_inf``, which a simulation knows. By the stability theorem, a covered
    repetition also has ``d_B(Dgm g_bar, Dgm f) <= c``.

    Returns
    -------
    dict
        ``c`` (half-widths), ``error`` (true sup-norm errors of the mean), ``covered`` (bool),
        one entry per repetition.

    Examples
    --------
    >>> out = band_coverage(np.zeros((12, 12)), n_copies=10, n_rep=20, n_boot=200, seed=0)
    >>> sorted(out), out["covered"].shape
    (['c', 'covered', 'error'], (20,))
    """
    f = np.asarray(score_map, dtype=float)
    if isinstance(n_rep, bool) or not isinstance(n_rep, int | np.integer) or n_rep < 1:
        raise ValueError(f"n_rep must be an integer >= 1, got {n_rep!r}")
    cs, errors = np.empty(int(n_rep)), np.empty(int(n_rep))
    for r in range(int(n_rep)):
        copies = noisy_copies(f, n_copies, noise=noise, correlation=correlation,
                              seed=int(np.random.default_rng([seed, r, 0]).integers(2**31)))
        band = sup_norm_band(copies, alpha=alpha, n_boot=n_boot,
                             seed=int(np.random.default_rng([seed, r, 1]).integers(2**31)))
        cs[r], errors[r] = band.c, float(np.abs(band.mean - f).max())
    return {"c": cs, "error": errors, "covered": errors <= cs}


def coverage_interval(covered, level: float = 0.95) -> tuple[float, float, float]:
    """The share of covered repetitions and its Wilson score interval.

    Parameters
    ----------
    covered : array_like of bool
        One entry per simulated data set (:func:`band_coverage`'s ``covered``).
    level : float
        Level of the interval, in (0, 1).

    Returns
    -------
    (rate, low, high)

    Examples
    --------
    >>> rate, low, high = coverage_interval([True] * 190 + [False] * 10)
    >>> round(rate, 3), round(low, 3), round(high, 3)
    (0.95, 0.91, 0.973)
    """
    from scipy.stats import norm

    c = np.asarray(covered, dtype=bool).ravel()
    if c.size == 0:
        raise ValueError("covered must hold at least one repetition")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    n, rate = c.size, float(c.mean())
    z = float(norm.ppf(0.5 + level / 2))
    centre = (rate + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(rate * (1 - rate) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return rate, float(centre - half), float(centre + half)
