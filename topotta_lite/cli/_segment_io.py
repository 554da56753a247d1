"""Files of ``topotta-lite segment``: the output folder's checks, reading a sample's inputs, writing.

Kept apart from :mod:`topotta_lite.cli.segment` (options and the loop) so that each rule is one
small function: an output folder never overlaps an input folder and is checked writable before
anything is computed; every input is read header first (:mod:`topotta_lite.data.safe_read`); every
output goes through :func:`topotta_lite.safe_io.atomic_write_in` (atomic, never through a link).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from topotta_lite._validation import as_mask

#: Suffixes of the images (``--images``) and ground-truth masks (``--gt``) looked up by stem.
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MASK_EXTS = (".png", ".npy", ".bmp", ".tif", ".tiff")


class UsageError(Exception):
    """A problem with the options or folders: nothing is computed or written (exit code 2)."""


def printable(text: str) -> str:
    r"""``text`` with control and unencodable characters escaped, safe to print on a terminal.

    Examples
    --------
    >>> printable("a\x1b[2Jb\nc")
    'a\\x1b[2Jb\\nc'
    """
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))


# ----------------------------------------------------------------------------- the output folder


def check_out_apart(out: Path, inputs: dict[str, Path | None]) -> None:
    """Refuse an ``--out`` that is, lies inside, or contains one of the input folders.

    Symbolic links are resolved on both sides (``--out`` may not exist yet).

    Raises
    ------
    UsageError

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> check_out_apart(d / "masks", {"score-map folder": d / "maps"})
    >>> check_out_apart(d / "maps" / "m", {"score-map folder": d / "maps"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    topotta_lite.cli._segment_io.UsageError: --out ... lies inside the score-map folder ...
    """
    out_r = Path(out).resolve()
    for what, folder in inputs.items():
        if folder is None:
            continue
        f_r = Path(folder).resolve()
        if out_r == f_r:
            relation = "is the"
        elif f_r in out_r.parents:
            relation = "lies inside the"
        elif out_r in f_r.parents:
            relation = "contains the"
        else:
            continue
        raise UsageError(f"--out {out} {relation} {what} {folder}: masks would be written among "
                         "(or over) your input files; choose an output folder apart from every "
                         "input folder")


def make_out(out: Path) -> list[Path]:
    """Create ``out`` (with its parents) and check it is writable; return the folders created.

    Raises
    ------
    UsageError
        When ``out`` is a file, cannot be created, or cannot be written (the folders this call
        created are removed again).
    """
    from topotta_lite.safe_io import probe_writable

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    created = []
    for p in (out, *out.parents):
        if p.exists() or p.is_symlink():
            break
        created.append(p)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        remove_empty(created)
        raise UsageError(f"--out {out} cannot be created: {e.strerror or e}") from None
    try:
        probe_writable(out)
    except OSError as e:
        remove_empty(created)
        raise UsageError(f"--out {out} is not writable: {e.strerror or e}") from None
    return created


def remove_empty(folders: Sequence[Path]) -> None:
    """Remove the given folders, deepest first, where they are (still) empty."""
    for d in folders:
        try:
            d.rmdir()
        except OSError:
            pass


# ----------------------------------------------------------------------------- inputs


def index_folder(folder: Path | None, exts: tuple[str, ...]) -> dict[str, list[Path]]:
    """The files of a folder with one of ``exts`` (any case), grouped by stem.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for n in ("a.png", "a.PNG", "b.npy", "c.txt"): _ = (d / n).write_bytes(b"")
    >>> {k: [p.name for p in v] for k, v in index_folder(d, (".png", ".npy")).items()}
    {'a': ['a.PNG', 'a.png'], 'b': ['b.npy']}
    """
    out: dict[str, list[Path]] = {}
    if folder is None:
        return out
    for p in sorted(Path(folder).iterdir()):
        if p.suffix.lower() in exts and p.is_file():
            out.setdefault(p.stem, []).append(p)
    return out


def lookup(index: dict[str, list[Path]], stem: str, what: str) -> Path | None:
    """The one file of ``stem`` in an :func:`index_folder` index; two or more are an error."""
    found = index.get(stem, [])
    if len(found) > 1:
        raise ValueError(f"{len(found)} {what} files for {stem!r}: "
                         f"{', '.join(p.name for p in found)}; keep one")
    return found[0] if found else None


def read_gt(path: Path, max_pixels: int | None) -> np.ndarray:
    """A ground-truth mask (``.npy``: nonzero = anomalous; an image: any nonzero pixel), as bool."""
    from topotta_lite.data.loaders import read_mask
    from topotta_lite.data.safe_read import read_npy

    if path.suffix.lower() == ".npy":
        arr = read_npy(path, max_pixels=max_pixels, what="GT mask")
        return as_mask(arr if arr.dtype == bool else arr != 0, name=f"GT {path.name}")
    return read_mask(path, max_pixels=max_pixels)


def read_image_for(path: Path, shape: tuple[int, ...], max_pixels: int | None) -> np.ndarray:
    """The image of a 2D map, (H, W, 3) float32 on the map's grid.

    Read with the scale of its bit depth (:func:`topotta_lite.data.loaders.read_rgb`: 16-bit / 65535).
    An image of another size is interpolated to the map's grid only when the aspect ratio is the
    same (:func:`topotta_lite.data.maps.same_aspect`, as for maps in ``reproduce``); otherwise refused.
    """
    from topotta_lite.data.loaders import image_size, read_rgb
    from topotta_lite.data.maps import same_aspect

    size = image_size(path, max_pixels)
    if size != tuple(shape) and not same_aspect(size, shape):
        raise ValueError(f"image {path.name} is {size[0]}x{size[1]} (H x W) but its score map is "
                         f"{shape[0]}x{shape[1]}: another aspect ratio, so it cannot be "
                         "interpolated to the map's grid")
    return read_rgb(path, None if size == tuple(shape) else tuple(shape), max_pixels=max_pixels)


def read_features(path: Path, max_pixels: int | None) -> np.ndarray:
    """Precomputed ``(C, h, w)`` / ``(C, d, h, w)`` features; the limit counts the grid only."""
    from topotta_lite.data.safe_read import read_npy

    return read_npy(path, max_pixels=max_pixels, leading=1, what="features")


# ----------------------------------------------------------------------------- outputs


def write_mask(mask: np.ndarray, out: Path, stem: str, sources: Sequence[Path | None] = ()) -> Path:
    """Write a 2D mask as ``out/<stem>.png`` (0 / 255) or a volume as ``out/<stem>.npy`` (bool).

    Atomic, never through a link (:func:`topotta_lite.safe_io.atomic_write_in`), and never over
    one of ``sources`` (an input file that is linked into ``out``).

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> write_mask(np.eye(3, dtype=bool), d, "a").name
    'a.png'
    """
    from topotta_lite.safe_io import atomic_write_in

    name = f"{stem}.png" if mask.ndim == 2 else f"{stem}.npy"
    target = Path(out) / name
    if target.exists() and not target.is_symlink():
        for src in sources:
            if src is not None and os.path.samefile(target, src):
                raise ValueError(f"{target} is the input file {src} (a link): not overwritten")
    if mask.ndim == 2:
        from PIL import Image

        with atomic_write_in(out, name) as tmp:
            Image.fromarray(mask.astype(np.uint8) * 255).save(tmp, format="PNG")
    else:
        with atomic_write_in(out, name) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.asarray(mask, dtype=bool))
    return target
