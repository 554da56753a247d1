"""Import (and export) precomputed anomaly score maps: one ``.npy`` per test image or volume.

Two ways to match files to samples:

- by name: ``<maps_dir>/<category>/<name>.npy`` or ``<maps_dir>/<name>.npy`` (``name`` is the
  sample name, e.g. ``crack_003``), or the MVTec-style ``<maps_dir>/<category>/<defect>/<stem>.npy``
  and ``<maps_dir>/<category>/test/<defect>/<stem>.npy``;
- by index, the TopoTTA authors' layout: ``<maps_dir>/<category>/<category><index>.npy`` where
  ``index`` is the position in the test list (0- or 1-based, detected).

Files are read with ``allow_pickle=False`` and checked (2D/3D, finite, shape = GT shape).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._validation import as_score_map
from .types import ClassSplit, Sample

__all__ = ["load_score_maps", "save_score_maps"]


def _stem(sample: Sample) -> str:
    stem = sample.meta.get("stem") if sample.meta else None
    if stem:
        return str(stem)
    pre = f"{sample.defect}_"
    return sample.name.removeprefix(pre)


def _name_candidates(d: Path, category: str | None, s: Sample) -> list[Path]:
    roots = [d / category, d] if category else [d]
    out = []
    for r in roots:
        out += [
            r / f"{s.name}.npy",
            r / s.defect / f"{_stem(s)}.npy",
            r / "test" / s.defect / f"{_stem(s)}.npy",
        ]
    return out


def _index_path(d: Path, category: str, i: int, pattern: str) -> Path:
    return d / category / pattern.format(category=category, index=i)


def load_score_maps(
    maps_dir: str | os.PathLike,
    samples: Sequence[Sample] | ClassSplit,
    *,
    category: str | None = None,
    match: str = "auto",
    index_base: int | str = "auto",
    pattern: str = "{category}{index}.npy",
    resize: bool = False,
) -> list[np.ndarray]:
    """Load one score map per sample, in the samples' order.

    Parameters
    ----------
    maps_dir : path
    samples : list of Sample or ClassSplit
        A ClassSplit means its test split (and gives the default ``category``).
    category : str, optional
        The class sub-folder name.
    match : {"auto", "name", "index"}
        "auto" tries names first and falls back to indices if no name matches at all.
    index_base : 0, 1 or "auto"
        First index of the authors' layout; "auto" = 0 if ``<category>0.npy`` exists, else 1.
    pattern : str
        File name of the index layout.
    resize : bool
        Resize maps whose shape differs from the GT (linear interpolation) instead of failing.

    Returns
    -------
    list of float64 arrays, each of its sample's ``mask.shape``.

    Raises
    ------
    FileNotFoundError
        Listing the samples without a map and the paths tried.
    ValueError
        On a map with the wrong shape, NaN/inf, or a pickled/object file.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> s = Sample(None, np.zeros((3, 3), bool), 0, "good_000", "good")
    >>> np.save(d / "good_000.npy", np.ones((3, 3)))
    >>> load_score_maps(d, [s])[0].shape
    (3, 3)
    """
    if isinstance(samples, ClassSplit):
        category = category or samples.category
        samples = samples.test
    samples = list(samples)
    d = Path(maps_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"score-map folder not found: {d}")
    if match not in ("auto", "name", "index"):
        raise ValueError(f"match must be 'auto', 'name' or 'index', got {match!r}")

    paths: list[Path | None] = [None] * len(samples)
    tried: list[list[Path]] = [[] for _ in samples]
    if match in ("auto", "name"):
        for i, s in enumerate(samples):
            cands = _name_candidates(d, category, s)
            tried[i] = cands
            paths[i] = next((c for c in cands if c.is_file()), None)
    if match == "index" or (match == "auto" and not any(paths)):
        if not category:
            raise ValueError("matching score maps by index needs a category")
        base = index_base
        if base == "auto":
            base = 0 if _index_path(d, category, 0, pattern).is_file() else 1
        for i in range(len(samples)):
            p = _index_path(d, category, i + int(base), pattern)
            tried[i] = tried[i] + [p] if match == "auto" else [p]
            paths[i] = p if p.is_file() else None
    missing = [i for i, p in enumerate(paths) if p is None]
    if missing:
        lines = [
            f"  {samples[i].name}: tried {', '.join(str(t) for t in tried[i])}"
            for i in missing[:10]
        ]
        more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise FileNotFoundError(
            f"{len(missing)} of {len(samples)} score maps missing in {d}:\n"
            + "\n".join(lines)
            + more
        )
    out = []
    for s, p in zip(samples, paths):
        try:
            arr = np.load(p, allow_pickle=False)
        except ValueError as e:
            raise ValueError(f"cannot load score map {p} without pickle: {e}") from e
        arr = as_score_map(arr, name=f"score map {p}")
        want = s.mask.shape
        if arr.shape != want:
            if arr.ndim == len(want) and resize:
                from skimage.transform import resize as _resize

                arr = _resize(
                    arr, want, order=1, mode="edge", anti_aliasing=False, preserve_range=True
                )
            else:
                raise ValueError(
                    f"score map {p} has shape {arr.shape} but sample {s.name!r} has GT shape {want}"
                    + ("" if resize else " (pass resize=True to interpolate)")
                )
        out.append(arr)
    return out


def save_score_maps(
    maps: Sequence[np.ndarray],
    samples: Sequence[Sample] | ClassSplit,
    maps_dir: str | os.PathLike,
    *,
    category: str | None = None,
    layout: str = "name",
) -> list[Path]:
    """Write maps as ``.npy`` files in the "name" or the authors' "index" layout (0-based).

    Examples
    --------
    >>> import tempfile
    >>> s = Sample(None, np.zeros((2, 2), bool), 0, "good_000", "good")
    >>> [p.name for p in save_score_maps([np.zeros((2, 2))], [s], tempfile.mkdtemp(), category="a")]
    ['good_000.npy']
    """
    if isinstance(samples, ClassSplit):
        category = category or samples.category
        samples = samples.test
    samples = list(samples)
    if len(maps) != len(samples):
        raise ValueError(f"got {len(maps)} maps for {len(samples)} samples")
    if layout not in ("name", "index"):
        raise ValueError(f"layout must be 'name' or 'index', got {layout!r}")
    if layout == "index" and not category:
        raise ValueError("the index layout needs a category")
    folder = Path(maps_dir) / category if category else Path(maps_dir)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, (m, s) in enumerate(zip(maps, samples)):
        p = folder / (f"{s.name}.npy" if layout == "name" else f"{category}{i}.npy")
        np.save(p, np.asarray(m), allow_pickle=False)
        out.append(p)
    return out
