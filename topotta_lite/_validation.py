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


# --------------------------------------------------------------------------------------------
# Parameters: checked once, at construction, with a ValueError that names the parameter
# --------------------------------------------------------------------------------------------
def positive_int(name: str, value, *, minimum: int = 1) -> int:
    """``value`` as an int, or a ``ValueError`` naming ``name`` unless it is an integer >= ``minimum``.

    Booleans and floats are refused (``epochs=2.5`` is a mistake, not a request to round).

    Examples
    --------
    >>> positive_int("epochs", 30)
    30
    >>> positive_int("hidden", 0)
    Traceback (most recent call last):
    ...
    ValueError: hidden must be an integer >= 1, got 0
    """
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def nonnegative_int(name: str, value) -> int:
    """``value`` as an int >= 0, or a ``ValueError`` naming ``name``.

    Examples
    --------
    >>> nonnegative_int("pos_dilation", 0)
    0
    """
    return positive_int(name, value, minimum=0)


def finite_float(name: str, value, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float, or a ``ValueError`` naming ``name`` unless it is a finite real number in
    the given range (``low_open`` / ``high_open`` exclude the bound).

    Examples
    --------
    >>> finite_float("lr", 1e-2, low=0, low_open=True)
    0.01
    >>> finite_float("margin", float("nan"), low=0, low_open=True)
    Traceback (most recent call last):
    ...
    ValueError: margin must be a finite number > 0, got nan
    """
    lo = "" if low is None else f"{'>' if low_open else '>='} {low:g}"
    hi = "" if high is None else f"{'<' if high_open else '<='} {high:g}"
    want = "a finite number" + (" " if lo or hi else "") + " and ".join(x for x in (lo, hi) if x)
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be {want}, got {value!r}")
    v = float(value)
    if (not np.isfinite(v) or (low is not None and (v < low or (low_open and v == low)))
            or (high is not None and (v > high or (high_open and v == high)))):
        raise ValueError(f"{name} must be {want}, got {value!r}")
    return v


def choice(name: str, value, options):
    """``value`` itself, or a ``ValueError`` naming ``name`` unless it is one of ``options``.

    Examples
    --------
    >>> choice("resolution", "grid", ("grid", "full"))
    'grid'
    >>> choice("resolution", "half", ("grid", "full"))
    Traceback (most recent call last):
    ...
    ValueError: resolution must be one of ('grid', 'full'), got 'half'
    """
    try:
        ok = value in options
    except TypeError:  # unhashable value against a set
        ok = False
    if not ok or isinstance(value, bool | np.bool_) and not any(isinstance(o, bool) for o in options):
        raise ValueError(f"{name} must be one of {tuple(options)}, got {value!r}")
    return value


def boolean(name: str, value) -> bool:
    """``value`` as a bool, or a ``ValueError`` naming ``name`` unless it is ``True`` / ``False``.

    Examples
    --------
    >>> boolean("pces", False)
    False
    """
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def seed_value(name: str, value) -> int:
    """A random seed: an integer >= 0 (numpy refuses negative seeds).

    Examples
    --------
    >>> seed_value("seed", 7)
    7
    """
    return positive_int(name, value, minimum=0)


def device_name(name: str, value):
    """``None``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or a ``torch.device``; else a ``ValueError``.

    Checked without touching the device (a missing GPU is handled, with a warning, when used).

    Examples
    --------
    >>> device_name("device", "cuda:0")
    'cuda:0'
    """
    if value is None or type(value).__name__ == "device":
        return value
    if isinstance(value, str) and (value in ("cpu", "cuda") or
                                   (value.startswith("cuda:") and value[5:].isdigit())):
        return value
    raise ValueError(f"{name} must be None, 'cpu', 'cuda' or 'cuda:N', got {value!r}")
