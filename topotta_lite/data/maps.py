"""Import (and export) precomputed anomaly score maps: one file per test image or volume.

A map is a ``.npy`` array (read with ``allow_pickle=False``) or a float ``.tif`` / ``.tiff``
image, the format of MVTec AD's and MVTec AD 2's official evaluation (a multi-page TIFF is a
``(D, H, W)`` volume). Two ways to match files to samples, each trying ``.npy``, ``.tiff`` and
``.tif`` in turn:

- by name: ``<maps_dir>/<category>/<name>.npy`` or ``<maps_dir>/<name>.npy`` (``name`` is the
  sample name, e.g. ``crack_003``), or the MVTec-style ``<maps_dir>/<category>/<defect>/<stem>.npy``
  and ``<maps_dir>/<category>/test/<defect>/<stem>.tiff`` (what anomalib and the MVTec
  evaluation scripts write);
- by index, the TopoTTA authors' layout: ``<maps_dir>/<category>/<category><index>.npy`` where
  ``index`` is the position in the test list (0- or 1-based, detected).

Files are checked (2D/3D, finite, shape = GT shape) and read safely (:mod:`.safe_read`: the header
first, at most :data:`~topotta_lite.data.safe_read.MAX_PIXELS` pixels, no pickle).

Channels are never guessed to be depth. A TIFF's samples (``S`` axis: RGB, grey + alpha, ...) and,
in any format, a trailing axis of 1 to 4 entries are a channel axis: one channel is dropped, two or
more are refused unless ``channels="mean"`` (their average) or ``"first"`` (channel 0) is asked
for. A volume ``(D, H, W)`` therefore comes from an ``.npy`` or a multi-page TIFF with one sample per
pixel and more than 4 voxels along its last axis. Tifffile stores an ``(H, W, 2)`` uint8 array as H
pages of ``H x 2``, which is why the trailing-axis rule covers TIFF pages too.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._validation import as_score_map
from .safe_read import MAX_PIXELS, check_pixels, npy_header, read_npy, tiff_header
from .types import ClassSplit, Sample

__all__ = [
    "ASPECT_TOLERANCE",
    "CHANNEL_RULES",
    "MAP_SUFFIXES",
    "map_shape",
    "same_aspect",
    "find_extra_maps",
    "load_score_maps",
    "match_score_maps",
    "read_score_map",
    "save_score_maps",
]

#: File suffixes read as score maps, in the order they are tried.
MAP_SUFFIXES = (".npy", ".tiff", ".tif")

#: How a map file with several channels is read: refused, their mean, or the first channel.
CHANNEL_RULES = ("refuse", "mean", "first")

#: Relative difference of aspect ratios up to which a map of another size than its image (or GT)
#: is accepted and interpolated to the working grid.
ASPECT_TOLERANCE = 0.02


def same_aspect(a: Sequence[int], b: Sequence[int], tol: float = ASPECT_TOLERANCE) -> bool:
    """Whether two grids differ only by a scale (each axis' ratio within ``tol`` of the last's).

    Examples
    --------
    >>> same_aspect((24, 20), (48, 40)), same_aspect((30, 60), (48, 40))
    (True, False)
    """
    if len(a) != len(b) or not all(int(x) > 0 for x in (*a, *b)):
        return False
    ratios = [int(x) / int(y) for x, y in zip(a, b)]
    return all(abs(r / ratios[-1] - 1) <= tol for r in ratios)


def _channel_axis(shape: tuple[int, ...], axes: str = "") -> int | None:
    """The channel axis of a map file: a TIFF's samples, else a trailing axis of 1-4 entries."""
    if "S" in axes:
        return axes.index("S")
    if len(shape) >= 3 and shape[-1] <= 4:
        return len(shape) - 1
    return None


def _layout(p: Path, max_pixels: int | None) -> tuple[tuple[int, ...], int | None]:
    """(shape as stored, channel axis) of a map file, from its header; pixel limit checked."""
    suffix = p.suffix.lower()
    if suffix == ".npy":
        shape, _ = npy_header(p, what="score map")
        axis = _channel_axis(shape)
        check_pixels([n for i, n in enumerate(shape) if i != axis], p, max_pixels,
                     what="score map")
        return shape, axis
    if suffix in (".tif", ".tiff"):
        shape, axes, _ = tiff_header(p, max_pixels, what="score map TIFF")
        return shape, _channel_axis(shape, axes)
    raise ValueError(f"score map {p}: unknown suffix {p.suffix!r}; use one of {MAP_SUFFIXES}")


def _check_channels(p: Path, shape, axis, channels: str) -> None:
    if channels not in CHANNEL_RULES:
        raise ValueError(f"channels must be one of {CHANNEL_RULES}, got {channels!r}")
    if axis is not None and shape[axis] > 1 and channels == "refuse":
        raise ValueError(
            f"score map {p} has {shape[axis]} channels (shape {tuple(shape)}); a score map has one "
            "channel, and channels are never read as depth. Save the raw scores as one float "
            "channel (tifffile.imwrite(path, amap.astype('float32')) or np.save), or pass "
            "channels='mean' or 'first' (topotta-lite segment --channels mean|first)")


def map_shape(path: str | os.PathLike, *, channels: str = "refuse",
              max_pixels: int | None = MAX_PIXELS) -> tuple[int, ...]:
    """The shape :func:`read_score_map` will return, read from the file's header only.

    Raises
    ------
    ValueError
        As :func:`read_score_map`, for everything that can be told without decoding.

    Examples
    --------
    >>> import tempfile, tifffile
    >>> p = Path(tempfile.mkdtemp()) / "m.tiff"
    >>> tifffile.imwrite(p, np.zeros((5, 6, 3), np.float32), photometric="rgb")
    >>> map_shape(p, channels="mean")
    (5, 6)
    """
    p = Path(path)
    shape, axis = _layout(p, max_pixels)
    _check_channels(p, shape, axis, channels)
    return shape if axis is None else shape[:axis] + shape[axis + 1:]


def read_score_map(path: str | os.PathLike, *, channels: str = "refuse",
                   max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    """Read one score map file (``.npy`` or float ``.tif`` / ``.tiff``) as a float64 array.

    The header is read first: an empty, truncated or pickled file, a lying header and a file of
    more than ``max_pixels`` pixels (voxels) are refused before any pixel is decoded. A 2D map is
    ``(H, W)``, a volume ``(D, H, W)`` (an ``.npy``, or a multi-page TIFF); channels are handled
    as the module docstring says. The map is checked to be 2D or 3D, real and finite.

    Parameters
    ----------
    path : path
    channels : {"refuse", "mean", "first"}
        What to do with a map of two or more channels.
    max_pixels : int or None
        Refuse files of more pixels (:data:`topotta_lite.data.safe_read.MAX_PIXELS`).

    Raises
    ------
    ValueError
        Naming the file, with the reason: unreadable, empty, truncated, a lying header, a pickled
        / object ``.npy``, over the pixel limit, several channels (``channels="refuse"``), NaN or
        inf, or an unknown suffix.

    Examples
    --------
    >>> import tempfile, tifffile
    >>> p = Path(tempfile.mkdtemp()) / "crack_000.tiff"
    >>> tifffile.imwrite(p, np.eye(3, dtype=np.float32))
    >>> read_score_map(p).shape
    (3, 3)
    """
    p = Path(path)
    shape, axis = _layout(p, max_pixels)
    _check_channels(p, shape, axis, channels)
    if p.suffix.lower() == ".npy":
        arr = read_npy(p, max_pixels=None, what="score map")
    else:
        import tifffile

        try:
            with tifffile.TiffFile(p) as tif:
                arr = np.asarray(tif.series[0].asarray())
        except Exception as e:  # tifffile / its codecs raise several types
            raise ValueError(f"cannot read score map TIFF {p}: {type(e).__name__}: {e}") from None
    if arr.shape != shape:
        raise ValueError(f"score map {p}: the header says shape {shape} but the data has "
                         f"{arr.shape}")
    if axis is not None:
        if shape[axis] == 1 or channels == "first":
            arr = np.take(arr, 0, axis=axis)
        else:
            arr = np.asarray(arr, dtype=np.float64).mean(axis=axis)
    return as_score_map(arr, name=f"score map {p}")


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
        for base in (r / s.name, r / s.defect / _stem(s), r / "test" / s.defect / _stem(s)):
            out += [base.with_name(base.name + ext) for ext in MAP_SUFFIXES]
    return out


def _index_path(d: Path, category: str, i: int, pattern: str) -> Path:
    """The first existing file of the index layout (other map suffixes tried too)."""
    p = d / category / pattern.format(category=category, index=i)
    if p.suffix.lower() in MAP_SUFFIXES and not p.is_file():
        for ext in MAP_SUFFIXES:
            alt = p.with_suffix(ext)
            if alt.is_file():
                return alt
    return p


def match_score_maps(
    maps_dir: str | os.PathLike,
    samples: Sequence[Sample] | ClassSplit,
    *,
    category: str | None = None,
    match: str = "auto",
    index_base: int | str = "auto",
    pattern: str = "{category}{index}.npy",
) -> list[Path]:
    """The map file of each sample, in the samples' order (nothing is read).

    Parameters are those of :func:`load_score_maps`.

    Raises
    ------
    FileNotFoundError
        Listing the samples without a map and the paths tried.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> s = Sample(None, np.zeros((3, 3), bool), 0, "good_000", "good")
    >>> np.save(d / "good_000.npy", np.ones((3, 3)))
    >>> [p.name for p in match_score_maps(d, [s])]
    ['good_000.npy']
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
    return [p for p in paths if p is not None]


def find_extra_maps(maps_dir: str | os.PathLike, category: str, matched: Sequence[Path],
                    *, ignore: Sequence[str] = ("train", "validation")) -> list[Path]:
    """Map files under ``<maps_dir>/<category>/`` that belong to none of ``matched``.

    A map that matches no test image usually means a renamed or misplaced file (or maps of
    another dataset), so the experiment notebooks refuse them. Files under the sub-folders named
    in ``ignore`` (maps of nominal train / validation images) are not counted. Returns ``[]``
    when there is no class folder (a flat folder may hold several classes).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); (d / "a").mkdir()
    >>> for n in ("x.npy", "y.tiff"): _ = (d / "a" / n).write_bytes(b"")
    >>> [p.name for p in find_extra_maps(d, "a", [d / "a" / "x.npy"])]
    ['y.tiff']
    """
    folder = Path(maps_dir) / category
    if not folder.is_dir():
        return []
    seen = {Path(p).resolve() for p in matched}
    extra = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.suffix.lower() not in MAP_SUFFIXES:
            continue
        rel = p.relative_to(folder).parts
        if len(rel) > 1 and rel[0] in ignore:
            continue
        if p.resolve() not in seen:
            extra.append(p)
    return extra


def load_score_maps(
    maps_dir: str | os.PathLike,
    samples: Sequence[Sample] | ClassSplit,
    *,
    category: str | None = None,
    match: str = "auto",
    index_base: int | str = "auto",
    pattern: str = "{category}{index}.npy",
    resize: bool = False,
    extra: str = "ignore",
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
        File name of the index layout (``.tiff`` / ``.tif`` are tried when the ``.npy`` is absent).
    resize : bool
        Resize maps whose shape differs from the GT by a scale only (the same aspect ratio, within
        :data:`ASPECT_TOLERANCE`; linear interpolation) instead of failing.
    extra : {"ignore", "error"}
        "error": fail when ``<maps_dir>/<category>/`` holds map files that match no sample
        (see :func:`find_extra_maps`).

    Returns
    -------
    list of float64 arrays, each of its sample's ``mask.shape``.

    Raises
    ------
    FileNotFoundError
        Listing the samples without a map and the paths tried.
    ValueError
        On a map with the wrong shape, NaN/inf, a pickled/object file, or an extra map.

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
    if extra not in ("ignore", "error"):
        raise ValueError(f"extra must be 'ignore' or 'error', got {extra!r}")
    paths = match_score_maps(maps_dir, samples, category=category, match=match,
                             index_base=index_base, pattern=pattern)
    if extra == "error" and category:
        extras = find_extra_maps(maps_dir, category, paths)
        if extras:
            raise ValueError(_extra_message(extras, Path(maps_dir) / category))
    out = []
    for s, p in zip(samples, paths):
        arr = read_score_map(p)
        want = s.mask.shape
        if arr.shape != want:
            if arr.ndim == len(want) and resize and not same_aspect(arr.shape, want):
                raise ValueError(
                    f"score map {p} has shape {arr.shape} but sample {s.name!r} has GT shape "
                    f"{want}: another aspect ratio, so the map cannot be interpolated to it")
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


def _extra_message(extras: Sequence[Path], folder: Path) -> str:
    names = ", ".join(str(p.relative_to(folder)) for p in extras[:5])
    more = f" and {len(extras) - 5} more" if len(extras) > 5 else ""
    return (f"{len(extras)} extra score map(s) in {folder} match no test image: {names}{more} "
            "(maps are matched by <defect>/<stem>, test/<defect>/<stem> or <defect>_<stem>; "
            "remove or rename them)")


def save_score_maps(
    maps: Sequence[np.ndarray],
    samples: Sequence[Sample] | ClassSplit,
    maps_dir: str | os.PathLike,
    *,
    category: str | None = None,
    layout: str = "name",
    suffix: str = ".npy",
) -> list[Path]:
    """Write maps in the "name", the MVTec "test" or the authors' "index" layout (0-based).

    Parameters
    ----------
    layout : {"name", "test", "index"}
        ``<dir>/<category>/<name>``, ``<dir>/<category>/test/<defect>/<stem>`` (the layout of
        MVTec AD's evaluation scripts and anomalib's exports) or ``<dir>/<category>/<category><i>``.
    suffix : {".npy", ".tiff", ".tif"}
        ``.npy`` keeps the dtype; a TIFF holds float32 (one page per 2D map, D pages per volume).

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
    if layout not in ("name", "test", "index"):
        raise ValueError(f"layout must be 'name', 'test' or 'index', got {layout!r}")
    if suffix not in MAP_SUFFIXES:
        raise ValueError(f"suffix must be one of {MAP_SUFFIXES}, got {suffix!r}")
    if layout == "index" and not category:
        raise ValueError("the index layout needs a category")
    folder = Path(maps_dir) / category if category else Path(maps_dir)
    out = []
    for i, (m, s) in enumerate(zip(maps, samples)):
        if layout == "name":
            p = folder / f"{s.name}{suffix}"
        elif layout == "test":
            p = folder / "test" / s.defect / f"{_stem(s)}{suffix}"
        else:
            p = folder / f"{category}{i}{suffix}"
        p.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".npy":
            np.save(p, np.asarray(m), allow_pickle=False)
        else:
            import tifffile

            tifffile.imwrite(p, np.ascontiguousarray(m, dtype=np.float32))
        out.append(p)
    return out
