"""Input checks shared by every public function (one place, one wording)."""

from __future__ import annotations

import numpy as np


def as_score_map(values, *, name: str = "score_map", ndims: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """Return ``values`` as a C-ordered float64 array after checking it is a usable map.

    Parameters
    ----------
    values : array_like
        A 2D (H, W) or 3D (D, H, W) array of real numbers (numpy or torch on CPU).
    name : str
        How the input is called in error messages.
    ndims : tuple of int
        The accepted numbers of dimensions.

    Raises
    ------
    ValueError
        If the array is empty, has the wrong number of dimensions, a non-numeric or
        complex dtype, or holds NaN / inf.

    Examples
    --------
    >>> as_score_map([[0, 1], [2, 3]]).dtype
    dtype('float64')
    """
    if hasattr(values, "detach"):  # torch tensor
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.ndim not in ndims:
        want = " or ".join(f"{d}D" for d in ndims)
        raise ValueError(f"{name} must be {want}, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"{name} holds {bad} NaN or infinite value(s); clean the map first")
    return arr


def as_mask(values, *, name: str = "mask", ndims: tuple[int, ...] = (2, 3)) -> np.ndarray:
    """Return ``values`` as a C-ordered boolean array of 2 or 3 dimensions.

    Non-boolean input is accepted when it holds only 0 and 1.

    Raises
    ------
    ValueError
        On wrong dimensionality, emptiness, or values other than 0/1.

    Examples
    --------
    >>> as_mask([[0, 1], [1, 0]]).sum()
    2
    """
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim not in ndims:
        want = " or ".join(f"{d}D" for d in ndims)
        raise ValueError(f"{name} must be {want}, got an array of shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    if arr.dtype != bool:
        if arr.dtype.kind not in "iuf":
            raise ValueError(f"{name} must be boolean or 0/1 numbers, got dtype {arr.dtype}")
        if not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} must hold only 0 and 1 (or booleans)")
        arr = arr.astype(bool)
    return np.ascontiguousarray(arr)


def same_shape(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    """Raise a ValueError naming both inputs when ``a`` and ``b`` differ in shape."""
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} has shape {a.shape} but {names[1]} has shape {b.shape}")
