"""Small files that lie: what a careless or hostile user may hand to a reader (issue 19).

Each writes a few hundred bytes whose header claims a huge array, so a reader that trusts the
header (or decodes before checking) asks for gigabytes, while a correct one refuses at once.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image


def lying_npy(path: Path, shape=(200000, 200000)) -> None:
    """A 1 KB .npy whose header claims ``shape`` float64 (298 GiB for the default)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": tuple(shape)})
    Path(path).write_bytes(buf.getvalue() + b"\0" * 1000)


def tiff_bomb(path: Path, side: int = 30000) -> None:
    """A zlib TIFF of a few hundred bytes whose tags claim side x side pixels."""
    tifffile.imwrite(path, np.zeros((16, 16), np.uint8), compression="zlib", metadata=None)
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tags = tif.pages[0].tags
        for name in ("ImageWidth", "ImageLength", "RowsPerStrip"):
            tags[name].overwrite(side)


def png_bomb(path: Path, width: int = 30000, height: int = 30000) -> None:
    """An 8 x 8 PNG whose IHDR chunk claims width x height pixels (CRC fixed)."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buf, format="PNG")
    b = bytearray(buf.getvalue())
    struct.pack_into(">II", b, 16, width, height)
    struct.pack_into(">I", b, 29, zlib.crc32(bytes(b[12:29])) & 0xFFFFFFFF)
    Path(path).write_bytes(bytes(b))


def truncate(path: Path, keep: float = 0.5) -> None:
    """Cut a file to the first ``keep`` fraction of its bytes."""
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: int(len(data) * keep)])
