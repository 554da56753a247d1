"""Read files we did not write: the header first, a pixel limit, then the pixels.

A file from disk may be empty, truncated, lie about its size in its header, or be a decompression
bomb (a few kilobytes of zlib that inflate to gigabytes). Every reader of user files in
:mod:`topotta_lite.data` (score maps, images, masks, features) therefore:

1. reads only the header (``.npy``: magic string and header dict; TIFF: the tags of its pages;
   PNG / JPEG / BMP: Pillow's lazy ``Image.open``),
2. refuses a file whose header promises more than :data:`MAX_PIXELS` pixels (voxels for a volume),
   or more bytes than the file holds (``.npy`` and uncompressed TIFF data; a truncated compressed
   file fails while decoding),
3. and only then decodes, turning every decoder error into a ``ValueError`` that names the file.

The limit, ``2**26`` pixels (67,108,864: an 8192 x 8192 image, a 406^3 volume), is far above the
benchmarks' images (MVTec AD: at most 1024 x 1024; Real-IAD raw: about 4K x 3K) and far below
what a bomb asks for; every reader takes ``max_pixels`` (``None`` turns the check off) and
``topotta-lite segment`` has ``--max-pixels``. Pillow's own bomb check still applies above
about 179 million pixels.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = [
    "MAX_PIXELS",
    "check_pixels",
    "npy_header",
    "open_image",
    "read_npy",
    "tiff_header",
]

#: Default upper bound on the pixels (voxels) of one image, map, mask or feature grid.
MAX_PIXELS = 2**26


def check_pixels(shape: Sequence[int], path, max_pixels: int | None = MAX_PIXELS, *,
                 what: str = "file") -> None:
    """Raise a ``ValueError`` when ``shape`` holds more than ``max_pixels`` pixels.

    Examples
    --------
    >>> check_pixels((100, 100), "a.png")
    >>> check_pixels((30000, 30000), "a.png")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: file a.png: 30000x30000 = 900,000,000 pixels, over the limit of 67,108,864 ...
    """
    if max_pixels is None:
        return
    n = math.prod(int(s) for s in shape)
    if n > max_pixels:
        dims = "x".join(str(int(s)) for s in shape)
        raise ValueError(f"{what} {path}: {dims} = {n:,} pixels, over the limit of "
                         f"{int(max_pixels):,} (refused before decoding: a decompression bomb or "
                         "a lying header; if the file is genuine, raise max_pixels / --max-pixels)")


def npy_header(path: str | os.PathLike, *, what: str = ".npy file"
               ) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a ``.npy`` file, read from its header, checked against the file size.

    ``what`` is how the file is called in error messages.

    Raises
    ------
    ValueError
        Naming the file: empty, not an ``.npy`` file, a header numpy cannot parse, an object
        (pickled) dtype, or fewer bytes than the header promises (truncated, or a lying header).

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "m.npy"
    >>> np.save(p, np.zeros((3, 4), np.float32))
    >>> npy_header(p)
    ((3, 4), dtype('float32'))
    >>> _ = p.write_bytes(p.read_bytes()[:-8])
    >>> npy_header(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: .npy file ...m.npy is truncated or its header lies: ...
    """
    p = Path(path)
    size = p.stat().st_size
    if size == 0:
        raise ValueError(f"{what} {p} is empty (0 bytes)")
    fmt = np.lib.format
    with open(p, "rb") as fh:
        try:
            version = fmt.read_magic(fh)
        except (ValueError, EOFError) as e:
            raise ValueError(f"{what} {p} is not an .npy file ({e})") from None
        try:
            if version == (1, 0):
                shape, _, dtype = fmt.read_array_header_1_0(fh)
            else:
                shape, _, dtype = fmt.read_array_header_2_0(fh)
        except (ValueError, EOFError, SyntaxError, TypeError) as e:
            raise ValueError(f"{what} {p} has a header numpy cannot read ({e})") from None
        offset = fh.tell()
    if dtype.hasobject:
        raise ValueError(f"{what} {p} holds Python objects (it was saved with pickle, which "
                         "is never loaded: save a numeric array)")
    need = offset + math.prod(shape) * dtype.itemsize
    if size < need:
        raise ValueError(f"{what} {p} is truncated or its header lies: the header promises "
                         f"shape {tuple(shape)} of {dtype} ({need:,} bytes) but the file has "
                         f"{size:,} bytes")
    return tuple(int(s) for s in shape), dtype


def read_npy(path: str | os.PathLike, *, max_pixels: int | None = MAX_PIXELS, leading: int = 0,
             what: str = "array") -> np.ndarray:
    """Load a ``.npy`` file after checking its header (:func:`npy_header`) and its size.

    Parameters
    ----------
    max_pixels : int or None
        Limit on the product of the axes after the first ``leading`` ones.
    leading : int
        Leading axes not counted as pixels (1 for ``(C, h, w)`` features).
    what : str
        How the file is called in error messages.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "f.npy"
    >>> np.save(p, np.ones((8, 5, 5)))
    >>> read_npy(p, max_pixels=25, leading=1).shape
    (8, 5, 5)
    """
    shape, _ = npy_header(path, what=what)
    check_pixels(shape[leading:], path, max_pixels, what=what)
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"cannot read {what} {path} as .npy ({e})") from None


def tiff_header(path: str | os.PathLike, max_pixels: int | None = MAX_PIXELS, *,
                what: str = "TIFF") -> tuple[tuple[int, ...], str, np.dtype]:
    """Shape, axes (tifffile's letters: ``Y``, ``X``, ``S`` for samples, ...) and dtype of a TIFF's
    first series, without decoding it.

    The pixel limit counts every axis but the samples (``S``); more than 4 samples per pixel is
    refused. Strips or tiles that end beyond the end of the file are reported as truncation.

    Examples
    --------
    >>> import tempfile, tifffile
    >>> p = Path(tempfile.mkdtemp()) / "t.tiff"
    >>> tifffile.imwrite(p, np.zeros((4, 6, 3), np.float32), photometric="rgb")
    >>> tiff_header(p)
    ((4, 6, 3), 'YXS', dtype('float32'))
    """
    import tifffile

    p = Path(path)
    size = p.stat().st_size
    if size == 0:
        raise ValueError(f"{what} {p} is empty (0 bytes)")
    try:
        with tifffile.TiffFile(p) as tif:
            series = tif.series[0] if tif.series else None
            if series is not None:
                shape, axes, dtype = (tuple(int(s) for s in series.shape), str(series.axes),
                                      np.dtype(series.dtype))
                pages = [pg for pg in series.pages if pg is not None]
                end = max((int(o) + int(c) for pg in pages
                           for o, c in zip(pg.dataoffsets, pg.databytecounts)), default=0)
    except Exception as e:  # tifffile raises several types on a broken header
        raise ValueError(f"cannot read {what} {p}: {type(e).__name__}: {e}") from None
    if series is None:
        raise ValueError(f"{what} {p} holds no image")
    samples = shape[axes.index("S")] if "S" in axes else 1
    if samples > 4:
        raise ValueError(f"{what} {p} has {samples} samples per pixel; at most 4 (colour and "
                         "alpha) are read")
    check_pixels([s for s, a in zip(shape, axes) if a != "S"], p, max_pixels, what=what)
    if end > size:
        raise ValueError(f"{what} {p} is truncated: its pixel data end at byte {end:,} but the "
                         f"file has {size:,} bytes")
    return shape, axes, np.dtype(dtype)


@contextmanager
def open_image(path: str | os.PathLike, max_pixels: int | None = MAX_PIXELS, *,
               what: str = "image"):
    """Open an image with Pillow, refusing it before decoding when it is over the pixel limit.

    Yields the (lazy) ``PIL.Image``; decoder errors inside the block (a truncated file, a broken
    chunk) become a ``ValueError`` naming the file.

    Examples
    --------
    >>> import tempfile, PIL.Image
    >>> p = Path(tempfile.mkdtemp()) / "a.png"
    >>> PIL.Image.new("L", (5, 4)).save(p)
    >>> with open_image(p) as im:
    ...     np.asarray(im).shape
    (4, 5)
    """
    import struct

    from PIL import Image

    p = Path(path)
    try:
        if p.stat().st_size == 0:
            raise ValueError(f"{what} {p} is empty (0 bytes)")
        with warnings.catch_warnings():
            if max_pixels is not None:  # our own, explicit limit replaces Pillow's warning
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(p)
        with im:
            check_pixels((im.height, im.width), p, max_pixels, what=what)
            yield im
    except Image.DecompressionBombError as e:
        raise ValueError(f"{what} {p}: {e} (refused before decoding)") from None
    except (OSError, SyntaxError, struct.error, EOFError, IndexError, TypeError) as e:
        # PIL.UnidentifiedImageError and "image file is truncated" are OSErrors
        raise ValueError(f"cannot read {what} {p}: {e}") from None
