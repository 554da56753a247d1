"""Dense feature grids beside score maps: checking, standardising, resizing, pooling masks.

A backbone's features live on a grid coarser than the score map (``stride`` pixels per cell).
The operators that adapt at test time (TTT4AS's SVM, TopoTTA's PCES) share these helpers to move
between the two resolutions, so both see exactly the same inputs.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "as_features",
    "channel_stats",
    "grid_fraction",
    "resize_features",
    "standardise",
    "standardised_rows",
    "upsample_scores",
]

_ZERO_VARIANCE = 1e-12
_FLOAT32_RESOLUTION = 1e-7  # relative spacing of float32 values is 6e-8 to 1.2e-7


# --------------------------------------------------------------------------------------------
# Feature handling
# --------------------------------------------------------------------------------------------
def as_features(features, map_shape: tuple[int, ...], *, name: str = "features") -> np.ndarray:
    """Check a feature array against the map it belongs to and return it as float32 numpy.

    Parameters
    ----------
    features : array_like or torch.Tensor
        ``(C, h, w)`` for a 2D map or ``(C, d, h, w)`` for a 3D map, each spatial size no larger
        than the map's.
    map_shape : tuple of int
        The score map's shape ``(H, W)`` or ``(D, H, W)``.
    name : str
        How the input is called in error messages.

    Raises
    ------
    ValueError
        On a wrong number of dimensions, a grid finer than the map, emptiness, or NaN / inf.

    Examples
    --------
    >>> as_features(np.zeros((8, 4, 4)), (16, 16)).shape
    (8, 4, 4)
    """
    if hasattr(features, "detach"):
        features = features.detach().cpu().numpy()
    arr = np.asarray(features)
    want = len(map_shape) + 1
    if arr.ndim != want:
        layout = "(C, h, w)" if len(map_shape) == 2 else "(C, d, h, w)"
        raise ValueError(
            f"{name} must be {layout} for a map of shape {tuple(map_shape)}, "
            f"got an array of shape {arr.shape}"
        )
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    grid = arr.shape[1:]
    if any(g > s for g, s in zip(grid, map_shape)):
        raise ValueError(
            f"{name} grid {grid} is finer than the score map {tuple(map_shape)}; "
            "features must be on a grid no finer than the map"
        )
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return arr


def channel_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Per-channel mean and inverse standard deviation of a ``(C, ...)`` feature map.

    Returns ``(mean, scale, has_variance)``: ``(x - mean) * scale`` standardises a channel; a
    channel without variance gets ``scale = 1`` (only centred, so it becomes 0), and
    ``has_variance`` says whether any channel varies at all. The statistics are accumulated in
    float64, and a channel counts as constant when its standard deviation is below the float32
    resolution of its values (``1e-7 |mean|``, or ``1e-12``): a float32 rounding residual must not
    be blown up into a feature (depth backbones do emit constant channels).

    Examples
    --------
    >>> mean, scale, ok = channel_stats(np.array([[[0.0, 2.0]], [[5.0, 5.0]]]))
    >>> mean.tolist(), scale.tolist(), ok
    ([1.0, 5.0], [1.0, 1.0], True)
    """
    c = features.shape[0]
    mean, std = _channel_stats(np.ascontiguousarray(features, np.float32).reshape(c, -1))
    varies = std > np.maximum(_ZERO_VARIANCE, _FLOAT32_RESOLUTION * np.abs(mean))
    return mean, 1.0 / np.where(varies, std, 1.0), bool(varies.any())


def standardise(
    features: np.ndarray, *others: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray], bool]:
    """Standardise channels with the statistics of ``features``'s own locations.

    Returns the standardised ``(L, C)`` location matrix, the ``others`` (support maps) flattened and
    standardised with the same statistics, and whether ``features`` has any variance at all
    (see :func:`channel_stats`).

    Examples
    --------
    >>> x, _, ok = standardise(np.arange(8.0).reshape(2, 2, 2))
    >>> x.shape, bool(ok)
    ((4, 2), True)
    """
    mean, scale, has_variance = channel_stats(features)
    c = features.shape[0]

    def apply(arr: np.ndarray) -> np.ndarray:
        arr = np.ascontiguousarray(arr, np.float32).reshape(c, -1)
        return standardised_rows(arr, mean.astype(np.float32), scale.astype(np.float32))

    return apply(features), [apply(o) for o in others], has_variance


# fastmath off: sums in a fixed order, the same bytes on every CPU and from a cached compile
@numba.njit(cache=True, fastmath=False, error_model="numpy")
def _lane_sum(row, mu):  # pragma: no cover - numba
    """``sum(row - mu)`` (``mu`` None) or ``sum((row - mu)**2)`` in float64, in a fixed order.

    Eight running sums, one per position modulo 8, added pairwise at the end: independent sums
    that the compiler can keep in vector registers (a single running sum waits on every add).
    """
    n = row.size
    n8 = n - n % 8
    acc = np.zeros(8)
    tail = 0.0
    if mu is None:
        for j in range(0, n8, 8):
            for k in range(8):
                acc[k] += row[j + k]
        for j in range(n8, n):
            tail += row[j]
    else:
        for j in range(0, n8, 8):
            for k in range(8):
                d = row[j + k] - mu
                acc[k] += d * d
        for j in range(n8, n):
            d = row[j] - mu
            tail += d * d
    return (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
            + tail)


@numba.njit(cache=True, fastmath=False, error_model="numpy")
def _channel_stats(flat):  # pragma: no cover - numba
    """Mean and (population) standard deviation of each row, accumulated in float64."""
    c, n = flat.shape
    mean = np.empty(c)
    std = np.empty(c)
    for i in range(c):
        row = flat[i]
        mu = _lane_sum(row, None) / n
        mean[i] = mu
        std[i] = math.sqrt(_lane_sum(row, mu) / n)
    return mean, std


@numba.njit(cache=True, fastmath=False, error_model="numpy")
def standardised_rows(flat, mean, scale):  # pragma: no cover - numba
    """``((flat - mean) * scale).T`` of a ``(C, L)`` array, C-ordered ``(L, C)`` (tiled)."""
    c, n = flat.shape
    out = np.empty((n, c), np.float32)
    for j0 in range(0, n, 64):
        j1 = min(n, j0 + 64)
        for i in range(c):
            for j in range(j0, j1):
                out[j, i] = (flat[i, j] - mean[i]) * scale[i]
    return out


def grid_fraction(mask: np.ndarray, grid_shape: tuple[int, ...]) -> np.ndarray:
    """Fraction of each grid cell covered by ``mask`` (area / volume downsampling).

    A real-valued array gives the mean of each cell (TTT4AS pools its score map this way).

    Non-integer ratios are handled like ``torch.nn.functional.adaptive_avg_pool``.

    Examples
    --------
    >>> grid_fraction(np.eye(4, dtype=bool), (2, 2))
    array([[0.5, 0. ],
           [0. , 0.5]], dtype=float32)
    """
    mask = np.asarray(mask)
    whole = all(s % g == 0 for s, g in zip(mask.shape, grid_shape))
    if whole and mask.dtype == bool and mask.ndim in (2, 3):  # count per block, one pass
        m3 = mask.reshape((1,) * (3 - mask.ndim) + mask.shape)
        g3 = (1,) * (3 - mask.ndim) + tuple(int(g) for g in grid_shape)
        counts = _block_counts(np.ascontiguousarray(m3).view(np.uint8), *g3)
        cell = math.prod(s // g for s, g in zip(mask.shape, grid_shape))
        return (counts / cell).astype(np.float32).reshape(tuple(grid_shape))
    if whole:  # whole blocks: sum per block
        is_bool = mask.dtype == bool
        sums = mask.view(np.uint8) if is_bool else mask.astype(np.float64)
        for axis, g in enumerate(grid_shape):  # one axis at a time is several times faster
            shape = sums.shape
            sums = sums.reshape(shape[:axis] + (g, shape[axis] // g) + shape[axis + 1:])
            sums = sums.sum(axis=axis + 1, dtype=np.uint32 if is_bool else np.float64)
        cell = math.prod(s // g for s, g in zip(mask.shape, grid_shape))
        return (sums / cell).astype(np.float32)
    t = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None, None]
    pool = F.adaptive_avg_pool2d if mask.ndim == 2 else F.adaptive_avg_pool3d
    return pool(t, tuple(grid_shape))[0, 0].numpy()


@numba.njit(cache=True)
def _block_counts(m, gd, gh, gw):  # pragma: no cover - numba
    """Number of set voxels of ``m`` (D, H, W uint8) in each block of the (gd, gh, gw) grid."""
    d, h, w = m.shape
    bd, bh, bw = d // gd, h // gh, w // gw
    out = np.zeros((gd, gh, gw), np.int64)
    row = np.zeros(w, np.int64)
    for k in range(d):
        ck = k // bd
        for i in range(h):
            ci = i // bh
            src = m[k, i]
            for j in range(w):
                row[j] = src[j]
            o = out[ck, ci]
            for cj in range(gw):
                acc = 0
                for j in range(cj * bw, cj * bw + bw):
                    acc += row[j]
                o[cj] += acc
    return out


def upsample_scores(scores: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Bilinear (2D) / trilinear (3D) resize of a score grid to ``shape`` (align_corners=False).

    Examples
    --------
    >>> upsample_scores(np.array([[1.0, -1.0]]), (2, 4)).shape
    (2, 4)
    """
    if tuple(scores.shape) == tuple(shape):
        return np.asarray(scores, dtype=np.float32)
    t = torch.from_numpy(np.ascontiguousarray(scores, dtype=np.float32))[None, None]
    mode = "bilinear" if scores.ndim == 2 else "trilinear"
    return F.interpolate(t, size=tuple(shape), mode=mode, align_corners=False)[0, 0].numpy()


def resize_features(features: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Bilinear / trilinear resize of ``(C, ...)`` features to the spatial ``shape``."""
    if tuple(features.shape[1:]) == tuple(shape):
        return features
    # np.require copies a read-only array (a cached bundle's): torch only wraps writable memory
    t = torch.from_numpy(np.require(features, np.float32, ["C", "W"]))[None]
    mode = "bilinear" if features.ndim == 3 else "trilinear"
    return F.interpolate(t, size=tuple(shape), mode=mode, align_corners=False)[0].numpy()
