"""Input checks shared by every public function (one place, one wording).

A score map is checked once, where it enters an operator (:func:`checked_map`), and travels on as
a :class:`ScoreMap`, which every later check (:func:`as_score_map`) accepts without a second pass
over its values.
"""

from __future__ import annotations

import numpy as np

SEED_MAX = 2**32 - 1
"""Largest accepted seed: what numpy's legacy generator, scikit-learn and torch all accept."""

_HUGE = 2.0**64  # beyond this, map values are rescaled (their sums, differences, float32 casts)


class ScoreMap(np.ndarray):
    """A score map that passed :func:`as_score_map`: float64, C-ordered, finite and read-only.

    Made by :func:`checked_map`. Arithmetic on it gives plain arrays (a result has not been
    checked), and a copy is writable, so it is checked again wherever it goes.

    Examples
    --------
    >>> psi = checked_map([[0.0, 1.0], [2.0, 3.0]])
    >>> type(psi).__name__, psi.flags.writeable, type(psi + 1).__name__
    ('ScoreMap', False, 'ndarray')
    """

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        return obj[()] if obj.shape == () else obj.view(np.ndarray)


def _is_checked(values, ndims: tuple[int, ...]) -> bool:
    return (type(values) is ScoreMap and not values.flags.writeable
            and values.flags.c_contiguous and values.dtype == np.float64
            and values.ndim in ndims and values.size > 0)


def checked_map(values, *, name: str = "score_map", ndims: tuple[int, ...] = (2, 3)) -> ScoreMap:
    """Check a score map once (:func:`as_score_map`) and mark it as checked.

    The result owns its values (a later change to the caller's array cannot reach it), is
    read-only, and passes every later :func:`as_score_map` at no cost. A map with values beyond
    ``2**64`` in magnitude, whose differences, cell sums or float32 copies could overflow, is
    scaled by a power of two into ``[-1, 1]``: an exact operation that changes no ordering and no
    normalised value (operators' results do not depend on the map's units).

    Examples
    --------
    >>> big = checked_map([[-1.7e308, 0.0], [1.0, 1.7e308]])
    >>> bool(np.isfinite(big.max() - big.min()))
    True
    >>> as_score_map(big) is big
    True
    """
    if _is_checked(values, ndims):
        return values
    arr = as_score_map(values, name=name, ndims=ndims)
    top = max(abs(float(arr.min())), abs(float(arr.max())))
    if top > _HUGE:
        arr = np.ldexp(arr, -int(np.frexp(top)[1]))
    elif arr is values or not arr.flags.owndata:
        arr = arr.copy()
    out = arr.view(ScoreMap)
    out.flags.writeable = False
    return out


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

    Notes
    -----
    A :class:`ScoreMap` (made by :func:`checked_map`) is returned as it is, without a second
    pass over its values.

    Examples
    --------
    >>> as_score_map([[0, 1], [2, 3]]).dtype
    dtype('float64')
    """
    if _is_checked(values, ndims):
        return values
    return _check_map(values, name, ndims)


def _check_map(values, name: str, ndims: tuple[int, ...]) -> np.ndarray:
    """The checks of :func:`as_score_map` (one pass over the values)."""
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
    """A random seed: an integer in ``[0, 2**32 - 1]`` (:data:`SEED_MAX`).

    numpy refuses negative seeds, and scikit-learn's and numpy's legacy ``random_state`` refuse
    seeds of 2**32 and above: one range that every library accepts.

    Examples
    --------
    >>> seed_value("seed", 7)
    7
    >>> seed_value("seed", 2**64)
    Traceback (most recent call last):
    ...
    ValueError: seed must be an integer in [0, 4294967295], got 18446744073709551616
    """
    return bounded_int(name, value, 0, SEED_MAX)


def bounded_int(name: str, value, low: int, high: int) -> int:
    """``value`` as an int, or a ``ValueError`` naming ``name`` unless ``low <= value <= high``.

    Examples
    --------
    >>> bounded_int("epochs", 30, 1, 10_000)
    30
    >>> bounded_int("epochs", 10**9, 1, 10_000)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an integer in [1, 10000], got 1000000000
    """
    if (isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer)
            or not low <= value <= high):
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value!r}")
    return int(value)


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
