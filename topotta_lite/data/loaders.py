"""Loaders for the real benchmarks' on-disk layouts, returning :class:`ClassSplit` objects.

Supported layouts (``root`` is the dataset folder that holds the class folders):

- MVTec AD: ``<root>/<cls>/train/good/*.png``, ``test/<defect>/*.png``,
  ``ground_truth/<defect>/<stem>_mask.png``.
- MVTec LOCO: as MVTec AD plus ``validation/good/*.png``; GT are folders
  ``ground_truth/<defect>/<stem>/000.png, 001.png, ...`` (one per annotated region, OR-ed).
- VisA: ``<root>/split_csv/1cls.csv`` with columns ``object,split,label,image,mask``
  (``label`` is ``normal``/``anomaly``, paths relative to ``root``, e.g.
  ``candle/Data/Images/Anomaly/000.JPG`` and ``candle/Data/Masks/Anomaly/000.png``).
- MVTec 3D-AD: ``<root>/<cls>/{train,validation,test}/<defect>/{rgb,xyz,gt}/NNN.png|.tiff``,
  ``xyz`` a 3-channel float32 TIFF (zeros where there is no point).
- Real-IAD: JSON split files ``<root>/realiad_jsons/realiad_jsons/<cls>.json`` (or
  ``<root>/realiad_jsons/<cls>.json``) holding ``meta`` (``prefix``, ``normal_class``) and
  ``train`` / ``test`` lists of ``{category, anomaly_class, image_path, mask_path}``; images under
  ``<root>/realiad_<resolution>/<prefix>/<image_path>``.
- AnomalyShapeNet: ``<root>/<cls>/train/*template*.pcd``, ``test/<cls>_<defect><k>.pcd``
  (``positive`` = nominal) and ``GT/<cls>_<defect><k>.txt`` rows ``x,y,z,label``; point clouds
  are voxelised to ``(D, H, W)`` occupancy grids for the 3D cubical path.

When a dataset has no validation split, a seeded fraction of the nominal train images is
carved out (so a class needs at least two nominal training images). Every loader takes
``lazy=True`` to return :class:`LazySamples` (files read on access).

What the loaders refuse rather than guess:

- Images are read with the scale of their bit depth: 8-bit / 255, 16-bit (PNG ``I;16``, TIFF
  ``uint16``) / 65535, float TIFFs as they are, which must lie in [0, 1]. Other layouts (32-bit
  integers, floats outside [0, 1]) raise a ``ValueError`` naming the file. 16-bit RGB PNGs are
  read by Pillow with 8 bits per channel (right scale, less precision).
- A ground-truth mask whose size differs from its image's is an error naming both files, unless
  the loader is given ``resize_masks=True`` (the mask is then resized to the image, nearest).
- Each split records the files it reads (``ClassSplit.files``); :func:`dataset_fingerprint`
  hashes their paths, sizes and modification times, so caches notice an edited dataset.
- Two files that would become samples of one name (``000.png`` and ``000.jpg`` in one folder)
  are an error naming both.
- Files are read header first (:mod:`topotta_lite.data.safe_read`): an image or mask of more than
  ``max_pixels`` pixels (default :data:`~topotta_lite.data.safe_read.MAX_PIXELS`) is refused
  before it is decoded, and a truncated file is a ``ValueError`` naming it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .safe_read import MAX_PIXELS, open_image, tiff_header
from .types import ClassSplit, LazySamples, Sample

__all__ = [
    "DATASETS",
    "dataset_fingerprint",
    "files_fingerprint",
    "find_categories",
    "image_size",
    "load_anomaly_shapenet",
    "load_dataset",
    "load_mvtec_3d",
    "load_mvtec_ad",
    "load_mvtec_loco",
    "load_real_iad",
    "load_visa",
    "read_mask",
    "read_pcd",
    "read_rgb",
    "voxelise",
]

_IMG_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


# ----------------------------------------------------------------------------- small readers


def _size(resize) -> tuple[int, int] | None:
    if resize is None:
        return None
    if isinstance(resize, int | np.integer):
        if resize < 1:
            raise ValueError(f"resize must be positive, got {resize}")
        return int(resize), int(resize)
    h, w = resize
    return int(h), int(w)


def _need_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def _need_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in _IMG_EXT)


def read_rgb(path: str | os.PathLike, resize=None, *, max_pixels: int | None = MAX_PIXELS
             ) -> np.ndarray:
    """Read an image as (H, W, 3) float32 in [0, 1], optionally resized (bilinear).

    8-bit images are divided by 255, 16-bit ones (PNG ``I;16``, TIFF ``uint16``) by 65535; a float
    TIFF is taken as it is and must lie in [0, 1]. Grey images are repeated on three channels, an
    alpha channel is dropped. An image of more than ``max_pixels`` pixels is refused before it is
    decoded.

    Raises
    ------
    ValueError
        Naming the file, when it cannot be read (empty, truncated, over the pixel limit) or its
        pixel type has no known scale (32-bit integers, floats outside [0, 1], NaN).

    Examples
    --------
    >>> import tempfile, PIL.Image
    >>> p = Path(tempfile.mkdtemp()) / "a.png"
    >>> PIL.Image.new("RGB", (5, 4)).save(p)
    >>> read_rgb(p, 8).shape
    (8, 8, 3)
    >>> q = p.with_name("b.png")
    >>> PIL.Image.fromarray(np.full((4, 5), 32768, np.uint16)).save(q)  # 16-bit grey
    >>> round(float(read_rgb(q).mean()), 3)
    0.5
    """
    from PIL import Image

    size = _size(resize)
    if Path(path).suffix.lower() in (".tif", ".tiff"):
        return _read_tiff_rgb(path, size, max_pixels)
    with open_image(path, max_pixels) as im:
        if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
            arr = np.asarray(im)
            if im.mode == "I" and im.format != "PNG":
                raise ValueError(f"image {path} holds 32-bit integers; convert it to 8 or "
                                 "16 bits per channel")
            return _scaled_rgb(arr, path, size, sixteen_bit=True)
        im = im.convert("RGB")
        if size is not None and im.size != (size[1], size[0]):
            im = im.resize((size[1], size[0]), Image.BILINEAR)
        return np.asarray(im, dtype=np.float32) / np.float32(255)


def _read_tiff_rgb(path, size, max_pixels: int | None = MAX_PIXELS) -> np.ndarray:
    import tifffile

    tiff_header(path, max_pixels, what="image")
    try:
        arr = np.asarray(tifffile.imread(path))
    except Exception as e:  # tifffile raises several types
        raise ValueError(f"cannot read image {path}: {type(e).__name__}: {e}") from e
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[-1] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar (C, H, W)
    return _scaled_rgb(arr, path, size)


def _scaled_rgb(arr: np.ndarray, path, size, sixteen_bit: bool = False) -> np.ndarray:
    """(H, W[, C]) pixels of any supported type -> (H, W, 3) float32 in [0, 1], resized."""
    from PIL import Image

    if arr.ndim == 3 and arr.shape[-1] in (2, 4):
        arr = arr[..., :-1]  # drop alpha
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] != 3):
        raise ValueError(f"image {path} has shape {arr.shape}; expected (H, W), (H, W, 3) or "
                         "(H, W, 4)")
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype == np.uint8:
        rgb = arr if arr.ndim == 3 else np.repeat(arr[..., None], 3, axis=-1)
        im = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
        if size is not None and im.size != (size[1], size[0]):
            im = im.resize((size[1], size[0]), Image.BILINEAR)
        return np.asarray(im, dtype=np.float32) / np.float32(255)
    if arr.dtype == np.uint16 or (sixteen_bit and arr.dtype.kind in "iu"):
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise ValueError(f"image {path} has values outside 16 bits")
        out = arr.astype(np.float32) / np.float32(65535)
    elif arr.dtype.kind == "f":
        out = arr.astype(np.float32)
        if not np.isfinite(out).all():
            raise ValueError(f"image {path} holds NaN or infinite values")
        lo, hi = (float(out.min()), float(out.max())) if out.size else (0.0, 0.0)
        if lo < 0 or hi > 1:
            raise ValueError(f"float image {path} has values in [{lo:.4g}, {hi:.4g}]; float images "
                             "must lie in [0, 1] (scale it, or save it with 8 or 16 bits)")
    else:
        raise ValueError(f"image {path} has pixel type {arr.dtype}, which has no known scale; "
                         "convert it to 8 or 16 bits per channel")
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=-1)
    if size is not None and out.shape[:2] != size:
        out = np.stack([np.asarray(Image.fromarray(np.ascontiguousarray(out[..., c]), "F")
                                   .resize((size[1], size[0]), Image.BILINEAR))
                        for c in range(3)], axis=-1)
    return np.ascontiguousarray(np.clip(out, 0.0, 1.0), dtype=np.float32)


def image_size(path: str | os.PathLike, max_pixels: int | None = MAX_PIXELS) -> tuple[int, int]:
    """(H, W) of an image file, read from its header (Pillow, or tifffile for a TIFF).

    Raises
    ------
    ValueError
        Naming the file, when its header cannot be read or it is over the pixel limit.

    Examples
    --------
    >>> import tempfile, PIL.Image
    >>> p = Path(tempfile.mkdtemp()) / "a.png"
    >>> PIL.Image.new("RGB", (5, 4)).save(p)
    >>> image_size(p)
    (4, 5)
    """
    if Path(path).suffix.lower() in (".tif", ".tiff"):
        shape, axes, _ = tiff_header(path, max_pixels, what="image")
        if "Y" in axes and "X" in axes:
            return shape[axes.index("Y")], shape[axes.index("X")]
        if len(shape) == 3 and shape[0] in (3, 4) and shape[-1] not in (3, 4):
            shape = shape[1:]
        return int(shape[0]), int(shape[1])
    with open_image(path, max_pixels) as im:
        return im.size[1], im.size[0]


def _checked_mask(gt, image_path, image_hw, out_hw, resize_masks: bool) -> np.ndarray:
    """Read ``gt`` at its own size; it must match its image's unless ``resize_masks``."""
    mask = read_mask(gt)
    if mask.shape != tuple(image_hw) and not resize_masks:
        raise ValueError(
            f"GT mask {gt} is {mask.shape[1]}x{mask.shape[0]} (W x H) but its image {image_path} is "
            f"{image_hw[1]}x{image_hw[0]}; fix the mask, or pass resize_masks=True to resize masks "
            "to their images")
    return np.ascontiguousarray(_resize_nearest(mask, out_hw))


def _resize_nearest(arr: np.ndarray, size) -> np.ndarray:
    size = _size(size)
    if size is None or arr.shape[:2] == size:
        return arr
    ri = np.minimum(
        ((np.arange(size[0]) + 0.5) * arr.shape[0] / size[0]).astype(int), arr.shape[0] - 1
    )
    ci = np.minimum(
        ((np.arange(size[1]) + 0.5) * arr.shape[1] / size[1]).astype(int), arr.shape[1] - 1
    )
    return arr[ri][:, ci]


def read_mask(path: str | os.PathLike, resize=None, *, max_pixels: int | None = MAX_PIXELS
              ) -> np.ndarray:
    """Read a GT mask (any nonzero pixel = anomalous) as (H, W) bool, resized nearest.

    The whole file is decoded (a truncated mask is an error naming it); a mask of more than
    ``max_pixels`` pixels is refused before decoding.

    Examples
    --------
    >>> import tempfile, PIL.Image
    >>> p = Path(tempfile.mkdtemp()) / "m.png"
    >>> PIL.Image.new("L", (4, 4), 255).save(p)
    >>> int(read_mask(p, 2).sum())
    4
    """
    with open_image(path, max_pixels, what="mask") as im:
        arr = np.asarray(im)
    if arr.ndim == 3:
        arr = arr[..., :3].any(axis=-1) if arr.shape[-1] >= 3 else arr.any(axis=-1)
    return np.ascontiguousarray(_resize_nearest(arr > 0, resize))


def _carve(items: list, fraction: float, seed: int, where: str = "") -> tuple[list, list]:
    """Split ``items`` into (train, validation) with a seeded random validation subset.

    With ``fraction > 0`` at least two items are needed (one to fit, one held out).
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {fraction}")
    n = len(items)
    if fraction > 0 and n < 2:
        raise ValueError(
            f"{where or 'this class'} has {n} nominal training image(s); at least 2 are needed: "
            "one to fit the scorer and one held out for validation (THR's threshold)")
    n_val = round(fraction * n)
    if fraction > 0 and n >= 2:
        n_val = min(max(1, n_val), n - 1)
    else:
        n_val = 0
    val_idx = set(np.random.default_rng(seed).permutation(n)[:n_val].tolist())
    train = [it for i, it in enumerate(items) if i not in val_idx]
    val = [it for i, it in enumerate(items) if i in val_idx]
    return train, val


def _materialise(records: list, build: Callable, lazy: bool):
    return LazySamples(records, build) if lazy else [build(r) for r in records]


def _record_files(records: Iterable, extra: Iterable = ()) -> tuple[Path, ...]:
    """Every file a list of loader records points to (GT folders expanded), plus ``extra``."""
    out = set()
    for rec in records:
        for item in rec:
            if isinstance(item, Path):
                if item.is_dir():
                    out.update(_images_in(item))
                else:
                    out.add(item)
    out.update(Path(e) for e in extra)
    return tuple(sorted(out))


def _unique_names(groups: dict[str, list]) -> None:
    """Refuse two records that would become samples of one name (``000.png`` and ``000.jpg``).

    Names must be unique within each split (``groups``: split label -> records), and two files of
    one folder may not share a stem (which would also catch a pair split between train and the
    validation carved from it).
    """
    def clash(key, a, b, what):
        first, second = sorted([str(a), str(b)])
        raise ValueError(f"two {what} files would both be sample {key!r}: {first} and {second}; "
                         "keep one of them")

    by_folder: dict[tuple, Path] = {}
    for what, records in groups.items():
        seen: dict[str, Path] = {}
        for rec in records:
            name, path = f"{rec[0]}_{rec[1]}", Path(rec[2])
            if name in seen:
                clash(name, seen[name], path, what)
            seen[name] = path
            key = (path.parent, rec[1])
            if key in by_folder and by_folder[key] != path:
                clash(name, by_folder[key], path, what)
            by_folder[key] = path


def _split(dataset, category, modality, train, val, test, build, lazy, index=()) -> ClassSplit:
    _unique_names({f"{dataset}/{category} {part}": recs
                   for part, recs in (("train", train), ("validation", val), ("test", test))})
    return ClassSplit(
        dataset=dataset,
        category=category,
        modality=modality,
        train=_materialise(train, build, lazy),
        validation=_materialise(val, build, lazy),
        test=_materialise(test, build, lazy),
        files=_record_files([*train, *val, *test], index),
    )


def files_fingerprint(paths: Iterable[str | os.PathLike], root: str | os.PathLike | None = None) -> str:
    """sha256 of the paths (relative to ``root``), sizes and modification times of some files.

    Examples
    --------
    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); f = d / "a.png"; _ = f.write_bytes(b"1")
    >>> before = files_fingerprint([f], d)
    >>> _ = f.write_bytes(b"22"); files_fingerprint([f], d) == before
    False
    """
    rows = []
    for p in sorted(Path(x) for x in paths):
        try:
            st = p.stat()
            stamp = [st.st_size, st.st_mtime_ns]
        except FileNotFoundError:
            stamp = None
        try:
            name = p.relative_to(root).as_posix() if root is not None else p.as_posix()
        except ValueError:
            name = p.as_posix()
        rows.append([name, stamp])
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def dataset_fingerprint(name: str, root, category: str, **kwargs) -> str:
    """A fingerprint of every file one class of a dataset is read from (see :func:`files_fingerprint`).

    The class is listed lazily (no image is decoded); an added, removed or rewritten image, mask or
    split file changes the fingerprint. Score bundles and cached cells include it in their keys.

    Examples
    --------
    >>> dataset_fingerprint("mvtec_ad", "/nonexistent", "bottle")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: MVTec AD category folder not found: /nonexistent/bottle
    """
    split = load_dataset(name, root, category, lazy=True, **kwargs)
    return files_fingerprint(split.files, root)


# ----------------------------------------------------------------------------- MVTec AD / LOCO


def _mvtec_like(root, category, resize, val_fraction, seed, lazy, loco: bool,
                resize_masks: bool = False) -> ClassSplit:
    name = "MVTec LOCO" if loco else "MVTec AD"
    base = _need_dir(Path(root) / category, f"{name} category folder")
    train_dir = _need_dir(base / "train" / "good", f"{name} nominal train folder")
    test_dir = _need_dir(base / "test", f"{name} test folder")
    size = _size(resize)

    train = [("good", p.stem, p, None) for p in _images_in(train_dir)]
    if not train:
        raise FileNotFoundError(f"no images in {name} nominal train folder: {train_dir}")
    val_dir = base / "validation" / "good"
    if loco and val_dir.is_dir():
        val = [("good", p.stem, p, None) for p in _images_in(val_dir)]
    else:
        train, val = _carve(train, val_fraction, seed, f"{name} class {category!r} ({train_dir})")
    test = []
    for ddir in sorted(p for p in test_dir.iterdir() if p.is_dir()):
        defect = ddir.name
        for p in _images_in(ddir):
            gt = None
            if defect != "good":
                if loco:
                    gt = _need_dir(base / "ground_truth" / defect / p.stem, f"{name} GT folder")
                    if not _images_in(gt):
                        raise FileNotFoundError(f"{name} GT folder holds no masks: {gt}")
                else:
                    gt = _need_file(
                        base / "ground_truth" / defect / f"{p.stem}_mask.png", f"{name} GT mask"
                    )
            test.append((defect, p.stem, p, gt))
    if not test:
        raise FileNotFoundError(f"no test images under {test_dir}")

    def build(rec) -> Sample:
        defect, stem, path, gt = rec
        img = read_rgb(path, size)
        mask = np.zeros(img.shape[:2], bool)
        if gt is not None:
            native = image_size(path)
            for mp in _images_in(gt) if gt.is_dir() else [gt]:
                mask |= _checked_mask(mp, path, native, img.shape[:2], resize_masks)
        return Sample(
            img,
            mask,
            int(defect != "good"),
            f"{defect}_{stem}",
            defect,
            meta={"path": str(path), "stem": stem},
        )

    return _split(
        "mvtec_loco" if loco else "mvtec_ad", category, "2d", train, val, test, build, lazy
    )


def load_mvtec_ad(
    root, category: str, *, resize=224, val_fraction: float = 0.1, seed: int = 0, lazy: bool = False,
    resize_masks: bool = False,
) -> ClassSplit:
    """Load one MVTec AD class (``<root>/<cls>/{train,test,ground_truth}``).

    Sample names are ``"<defect>_<file stem>"``; the validation split is a seeded
    ``val_fraction`` of ``train/good``. ``resize`` resizes images and masks together;
    ``resize_masks=True`` accepts GT masks whose size differs from their image's (resized to it,
    nearest), which is otherwise an error naming both files.

    Examples
    --------
    >>> load_mvtec_ad("/nonexistent", "bottle")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: MVTec AD category folder not found: /nonexistent/bottle
    """
    return _mvtec_like(root, category, resize, val_fraction, seed, lazy, loco=False,
                       resize_masks=resize_masks)


def load_mvtec_loco(
    root, category: str, *, resize=224, val_fraction: float = 0.1, seed: int = 0, lazy: bool = False,
    resize_masks: bool = False,
) -> ClassSplit:
    """Load one MVTec LOCO class (validation from ``validation/good``; GT folders OR-ed).

    ``resize_masks`` as in :func:`load_mvtec_ad`.

    Examples
    --------
    >>> load_mvtec_loco("/nonexistent", "juice_bottle")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: MVTec LOCO category folder not found: /nonexistent/juice_bottle
    """
    return _mvtec_like(root, category, resize, val_fraction, seed, lazy, loco=True,
                       resize_masks=resize_masks)


# ----------------------------------------------------------------------------- VisA


def _rgb_sample(defect: str, stem: str, path: Path, gt: Path | None, size,
                resize_masks: bool = False) -> Sample:
    """An RGB sample with its (possibly absent, then empty) single-file GT mask."""
    image = read_rgb(path, size)
    mask = (np.zeros(image.shape[:2], bool) if gt is None else
            _checked_mask(gt, path, image_size(path), image.shape[:2], resize_masks))
    return Sample(image, mask, int(defect != "good"), f"{defect}_{stem}", defect,
                  meta={"path": str(path), "stem": stem})


def load_visa(
    root,
    category: str,
    *,
    resize=224,
    val_fraction: float = 0.1,
    seed: int = 0,
    lazy: bool = False,
    split_csv: str = "split_csv/1cls.csv",
    resize_masks: bool = False,
) -> ClassSplit:
    """Load one VisA class through its split CSV (``object,split,label,image,mask``).

    ``resize_masks`` as in :func:`load_mvtec_ad`.

    Examples
    --------
    >>> load_visa("/nonexistent", "candle")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: VisA split CSV not found: /nonexistent/split_csv/1cls.csv
    """
    root = Path(root)
    csv_path = _need_file(root / split_csv, "VisA split CSV")
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        cols = [c.strip() for c in (reader.fieldnames or [])]
        need = {"object", "split", "label", "image", "mask"}
        if not need <= set(cols):
            raise ValueError(
                f"VisA split CSV {csv_path} lacks columns {sorted(need - set(cols))} (has {cols})"
            )
        rows = [{k.strip(): (v or "").strip() for k, v in r.items() if k} for r in reader]
    objects = sorted({r["object"] for r in rows})
    mine = [r for r in rows if r["object"] == category]
    if not mine:
        raise ValueError(f"VisA category {category!r} not in {csv_path}; it lists {objects}")
    size = _size(resize)
    train, test = [], []
    for r in mine:
        label = r["label"].lower()
        if label not in ("normal", "anomaly"):
            raise ValueError(
                f"VisA label must be 'normal' or 'anomaly', got {r['label']!r} in {csv_path}"
            )
        img = _need_file(root / r["image"], "VisA image")
        gt = None
        if label == "anomaly":
            if not r["mask"]:
                raise ValueError(f"VisA anomaly {r['image']} has no mask path in {csv_path}")
            gt = _need_file(root / r["mask"], "VisA mask")
        rec = ("good" if label == "normal" else "anomaly", img.stem, img, gt)
        split = r["split"].lower()
        if split == "train":
            if label != "normal":
                raise ValueError(f"VisA train row {r['image']} is not 'normal' in {csv_path}")
            train.append(rec)
        elif split == "test":
            test.append(rec)
        else:
            raise ValueError(
                f"VisA split must be 'train' or 'test', got {r['split']!r} in {csv_path}"
            )
    train, val = _carve(train, val_fraction, seed, f"VisA class {category!r} ({csv_path})")

    def build(rec) -> Sample:
        return _rgb_sample(*rec, size, resize_masks)

    return _split("visa", category, "2d", train, val, test, build, lazy, index=[csv_path])


# ----------------------------------------------------------------------------- MVTec 3D-AD


def read_xyz(path: str | os.PathLike) -> np.ndarray:
    """Read an MVTec 3D-AD point map TIFF as (H, W, 3) float32."""
    import tifffile

    tiff_header(path, what="xyz TIFF")
    try:
        arr = np.asarray(tifffile.imread(path), dtype=np.float32)
    except Exception as e:  # tifffile raises several types
        raise ValueError(f"cannot read xyz TIFF {path}: {e}") from e
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f"xyz TIFF {path} must be (H, W, 3), got shape {arr.shape}")
    return arr


def load_mvtec_3d(
    root, category: str, *, resize=224, val_fraction: float = 0.1, seed: int = 0, lazy: bool = False,
    resize_masks: bool = False,
) -> ClassSplit:
    """Load one MVTec 3D-AD class: RGB, xyz point map (``Sample.xyz``), depth = z, GT.

    The point map is resized by nearest neighbour (no mixing with the zero "no point" pixels).
    ``resize_masks`` as in :func:`load_mvtec_ad`.

    Examples
    --------
    >>> load_mvtec_3d("/nonexistent", "bagel")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: MVTec 3D-AD category folder not found: /nonexistent/bagel
    """
    base = _need_dir(Path(root) / category, "MVTec 3D-AD category folder")
    size = _size(resize)

    def collect(split_dir: Path, defect: str) -> list:
        rgb_dir = _need_dir(split_dir / defect / "rgb", "MVTec 3D-AD rgb folder")
        xyz_dir = _need_dir(split_dir / defect / "xyz", "MVTec 3D-AD xyz folder")
        recs = []
        for p in _images_in(rgb_dir):
            xyz = _need_file(xyz_dir / f"{p.stem}.tiff", "MVTec 3D-AD xyz TIFF")
            gt = split_dir / defect / "gt" / f"{p.stem}.png"
            if defect != "good":
                _need_file(gt, "MVTec 3D-AD GT mask")
            recs.append((defect, p.stem, p, xyz, gt if gt.is_file() else None))
        return recs

    train = collect(_need_dir(base / "train", "MVTec 3D-AD train folder"), "good")
    if (base / "validation" / "good").is_dir():
        val = collect(base / "validation", "good")
    else:
        train, val = _carve(train, val_fraction, seed,
                            f"MVTec 3D-AD class {category!r} ({base / 'train' / 'good'})")
    test_dir = _need_dir(base / "test", "MVTec 3D-AD test folder")
    test = [
        r
        for d in sorted(p.name for p in test_dir.iterdir() if p.is_dir())
        for r in collect(test_dir, d)
    ]

    def build(rec) -> Sample:
        defect, stem, path, xyz_path, gt = rec
        image = read_rgb(path, size)
        xyz = _resize_nearest(read_xyz(xyz_path), image.shape[:2])
        mask = (np.zeros(image.shape[:2], bool) if gt is None else
                _checked_mask(gt, path, image_size(path), image.shape[:2], resize_masks))
        return Sample(
            image,
            mask,
            int(defect != "good"),
            f"{defect}_{stem}",
            defect,
            depth=np.ascontiguousarray(xyz[..., 2]),
            xyz=np.ascontiguousarray(xyz),
            meta={"path": str(path), "stem": stem},
        )

    return _split("mvtec_3d", category, "2.5d", train, val, test, build, lazy)


# ----------------------------------------------------------------------------- Real-IAD


def load_real_iad(
    root,
    category: str,
    *,
    resize=224,
    resolution: int | str | None = None,
    json_path: str | os.PathLike | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
    lazy: bool = False,
    resize_masks: bool = False,
) -> ClassSplit:
    """Load one Real-IAD class through its JSON split file (each camera view is one sample).

    Parameters
    ----------
    resolution : 256, 512, 1024, "raw" or None
        Which ``realiad_<resolution>`` image folder to use (None: the largest present).
    json_path : path, optional
        The split file (default: ``realiad_jsons/realiad_jsons/<cls>.json`` or
        ``realiad_jsons/<cls>.json`` under ``root``).
    resize_masks : bool
        As in :func:`load_mvtec_ad`.

    Examples
    --------
    >>> load_real_iad("/nonexistent", "audiojack")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: Real-IAD split JSON not found: tried /nonexistent/realiad_jsons/...
    """
    root = Path(root)
    if json_path is None:
        cands = [
            root / "realiad_jsons" / "realiad_jsons" / f"{category}.json",
            root / "realiad_jsons" / f"{category}.json",
        ]
    else:
        cands = [Path(str(json_path).format(category=category))]
        if not cands[0].is_absolute():
            cands.append(root / cands[0])
    jpath = next((c for c in cands if c.is_file()), None)
    if jpath is None:
        raise FileNotFoundError(
            f"Real-IAD split JSON not found: tried {', '.join(map(str, cands))}"
        )
    try:
        meta_all = json.loads(jpath.read_text())
    except ValueError as e:
        raise ValueError(f"Real-IAD split JSON {jpath} is not valid JSON: {e}") from e
    if not isinstance(meta_all, dict) or not ({"train", "test"} & set(meta_all)):
        raise ValueError(f"Real-IAD split JSON {jpath} must hold 'train' and/or 'test' lists")
    meta = meta_all.get("meta", {}) or {}
    normal = meta.get("normal_class", "OK")
    prefix = meta.get("prefix", category) or ""
    if resolution is not None:
        img_root = _need_dir(root / f"realiad_{resolution}", "Real-IAD image folder")
    else:
        found = [
            root / f"realiad_{r}"
            for r in ("1024", "512", "256", "raw")
            if (root / f"realiad_{r}").is_dir()
        ]
        img_root = found[0] if found else root
    cat_root = img_root / prefix if prefix else img_root
    _need_dir(cat_root, "Real-IAD category image folder")
    size = _size(resize)

    def recs(items, where) -> list:
        out = []
        for it in items:
            for key in ("anomaly_class", "image_path"):
                if key not in it:
                    raise ValueError(f"Real-IAD entry without {key!r} in {where} of {jpath}: {it}")
            img = _need_file(cat_root / it["image_path"], "Real-IAD image")
            defect = "good" if it["anomaly_class"] == normal else str(it["anomaly_class"])
            gt = None
            if defect != "good" and it.get("mask_path"):
                gt = _need_file(cat_root / it["mask_path"], "Real-IAD mask")
            out.append((defect, img.stem, img, gt))
        return out

    train = [r for r in recs(meta_all.get("train", []), "train") if r[0] == "good"]
    test = recs(meta_all.get("test", []), "test")
    train, val = _carve(train, val_fraction, seed, f"Real-IAD class {category!r} ({jpath})")

    def build(rec) -> Sample:
        sample = _rgb_sample(*rec, size, resize_masks)
        sample.meta["mask_missing"] = sample.defect != "good" and rec[3] is None
        return sample

    return _split("real_iad", category, "2d", train, val, test, build, lazy, index=[jpath])


# ----------------------------------------------------------------------------- AnomalyShapeNet


_PCD_TYPES = {
    ("F", 4): "<f4",
    ("F", 8): "<f8",
    ("I", 1): "i1",
    ("I", 2): "<i2",
    ("I", 4): "<i4",
    ("U", 1): "u1",
    ("U", 2): "<u2",
    ("U", 4): "<u4",
    ("I", 8): "<i8",
    ("U", 8): "<u8",
}


def read_pcd(path: str | os.PathLike) -> np.ndarray:
    """Read the x, y, z columns of a PCD file (``DATA ascii`` or ``binary``) as (N, 3) float64.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.pcd"
    >>> _ = p.write_text("FIELDS x y z\\nSIZE 4 4 4\\nTYPE F F F\\nCOUNT 1 1 1\\nPOINTS 1\\n"
    ...                  "DATA ascii\\n1 2 3\\n")
    >>> read_pcd(p).tolist()
    [[1.0, 2.0, 3.0]]
    """
    path = Path(path)
    raw = _need_file(path, "PCD file").read_bytes()
    header: dict[str, list[str]] = {}
    pos = 0
    while True:
        end = raw.find(b"\n", pos)
        if end < 0:
            raise ValueError(f"PCD file {path} has no DATA line")
        line = raw[pos:end].decode("ascii", "replace").strip()
        pos = end + 1
        if not line or line.startswith("#"):
            continue
        key, *vals = line.split()
        header[key.upper()] = vals
        if key.upper() == "DATA":
            break
    fields = header.get("FIELDS", [])
    if not {"x", "y", "z"} <= set(fields):
        raise ValueError(f"PCD file {path} lacks x/y/z FIELDS (has {fields})")
    kind = header["DATA"][0].lower() if header["DATA"] else ""
    counts = [int(c) for c in header.get("COUNT", ["1"] * len(fields))]
    if kind == "ascii":
        text = raw[pos:].decode("ascii", "replace").strip()
        table = np.array([ln.split() for ln in text.splitlines() if ln.strip()], dtype=np.float64)
        cols, c = {}, 0
        for f, n in zip(fields, counts):
            cols[f] = c
            c += n
        if table.ndim != 2 or table.shape[1] < c:
            raise ValueError(f"PCD file {path}: ascii rows do not match FIELDS {fields}")
        return table[:, [cols["x"], cols["y"], cols["z"]]]
    if kind == "binary":
        sizes = [int(s) for s in header.get("SIZE", [])]
        types = header.get("TYPE", [])
        try:
            dt = np.dtype(
                [
                    (f, _PCD_TYPES[(t.upper(), s)], (n,) if n > 1 else ())
                    for f, s, t, n in zip(fields, sizes, types, counts)
                ]
            )
        except KeyError as e:
            raise ValueError(f"PCD file {path}: unsupported SIZE/TYPE {e}") from e
        npts = int(header.get("POINTS", [0])[0])
        rec = np.frombuffer(raw, dtype=dt, count=npts, offset=pos)
        return np.stack([rec["x"], rec["y"], rec["z"]], axis=1).astype(np.float64)
    raise ValueError(f"PCD file {path}: DATA {kind!r} not supported (use ascii or binary)")


def _read_gt_txt(path: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = []
    for ln in path.read_text().splitlines():
        ln = ln.strip()
        if ln:
            rows.append([float(v) for v in re.split(r"[,\s]+", ln) if v])
    arr = np.array(rows, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] < 4:
        raise ValueError(f"AnomalyShapeNet GT {path} must have rows 'x,y,z,label'")
    return arr[:, :3], arr[:, 3] > 0.5


def voxelise(
    points: np.ndarray, labels: np.ndarray | None = None, voxels: int = 64, pad: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Occupancy grid (D, H, W) float32 of a point cloud and the grid of anomalous points.

    Points are centred on their bounding box and scaled uniformly so the longest side spans
    ``voxels - 2 * pad`` voxels (axes: D = x, H = y, W = z).

    Examples
    --------
    >>> vol, m = voxelise(np.array([[0, 0, 0], [1, 1, 1.]]), np.array([0, 1]), voxels=8, pad=1)
    >>> int(vol.sum()), int(m.sum()), bool(m[6, 6, 6])
    (2, 1, True)
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 3 or len(pts) == 0:
        raise ValueError(f"points must be a non-empty (N, 3) array, got shape {pts.shape}")
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    span = max(float((hi - lo).max()), 1e-12)
    scale = (voxels - 1 - 2 * pad) / span
    idx = np.round((pts - (lo + hi) / 2) * scale + (voxels - 1) / 2).astype(int)
    idx = np.clip(idx, 0, voxels - 1)
    vol = np.zeros((voxels,) * 3, np.float32)
    vol[idx[:, 0], idx[:, 1], idx[:, 2]] = 1.0
    mask = np.zeros((voxels,) * 3, bool)
    if labels is not None:
        lab = np.asarray(labels).astype(bool)
        if lab.shape != (len(pts),):
            raise ValueError(f"labels must have shape ({len(pts)},), got {lab.shape}")
        mask[idx[lab, 0], idx[lab, 1], idx[lab, 2]] = True
    return vol, mask


def load_anomaly_shapenet(
    root,
    category: str,
    *,
    voxels: int = 64,
    val_fraction: float = 0.25,
    seed: int = 0,
    lazy: bool = False,
) -> ClassSplit:
    """Load one AnomalyShapeNet class, voxelised for the 3D cubical path.

    ``Sample.volume`` is the occupancy grid, ``Sample.mask`` the voxels holding anomalous
    points; ``Sample.meta`` keeps ``points`` and ``point_labels``.

    Examples
    --------
    >>> load_anomaly_shapenet("/nonexistent", "ashtray0")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: AnomalyShapeNet category folder not found: /nonexistent/ashtray0
    """
    base = _need_dir(Path(root) / category, "AnomalyShapeNet category folder")
    train_dir = _need_dir(base / "train", "AnomalyShapeNet train folder")
    test_dir = _need_dir(base / "test", "AnomalyShapeNet test folder")
    train = [("good", p.stem, p, None) for p in sorted(train_dir.glob("*.pcd"))]
    if not train:
        raise FileNotFoundError(f"no .pcd files in AnomalyShapeNet train folder: {train_dir}")
    test = []
    for p in sorted(test_dir.glob("*.pcd")):
        stem = p.stem
        tail = stem[len(category) + 1 :] if stem.startswith(category + "_") else stem
        defect = re.sub(r"\d+$", "", tail) or tail
        if defect == "positive":
            test.append(("good", stem, p, None))
        else:
            gt = _need_file(base / "GT" / f"{stem}.txt", "AnomalyShapeNet GT file")
            test.append((defect, stem, p, gt))
    if not test:
        raise FileNotFoundError(f"no .pcd files in AnomalyShapeNet test folder: {test_dir}")
    train, val = _carve(train, val_fraction, seed,
                        f"AnomalyShapeNet class {category!r} ({train_dir})")

    def build(rec) -> Sample:
        defect, stem, path, gt = rec
        if gt is None:
            pts = read_pcd(path)
            lab = np.zeros(len(pts), bool)
        else:
            pts, lab = _read_gt_txt(gt)
        vol, mask = voxelise(pts, lab, voxels)
        return Sample(
            None,
            mask,
            int(defect != "good"),
            f"{defect}_{stem}",
            defect,
            volume=vol,
            meta={"path": str(path), "stem": stem, "points": pts, "point_labels": lab},
        )

    return _split("anomaly_shapenet", category, "3d", train, val, test, build, lazy)


# ----------------------------------------------------------------------------- dispatch

DATASETS: dict[str, Callable[..., ClassSplit]] = {
    "mvtec_ad": load_mvtec_ad,
    "mvtec_loco": load_mvtec_loco,
    "visa": load_visa,
    "mvtec_3d": load_mvtec_3d,
    "real_iad": load_real_iad,
    "anomaly_shapenet": load_anomaly_shapenet,
}


def load_dataset(name: str, root, category: str, **kwargs) -> ClassSplit:
    """Load one class of a real dataset by name (keys of :data:`DATASETS`).

    Examples
    --------
    >>> load_dataset("kitti", "/x", "a")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ValueError: unknown dataset 'kitti'; choose from ['mvtec_ad', ...]
    """
    key = name.lower().replace("-", "_").replace(" ", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose from {list(DATASETS)}")
    return DATASETS[key](root, category, **kwargs)


def find_categories(root, dataset: str) -> list[str]:
    """Classes present on disk for a dataset layout.

    Examples
    --------
    >>> import tempfile
    >>> r = Path(tempfile.mkdtemp()); (r / "bottle" / "train").mkdir(parents=True)
    >>> find_categories(r, "mvtec_ad")
    ['bottle']
    """
    root = _need_dir(Path(root), f"{dataset} root folder")
    key = dataset.lower().replace("-", "_")
    if key == "visa":
        csv_path = _need_file(root / "split_csv" / "1cls.csv", "VisA split CSV")
        with open(csv_path, newline="") as f:
            return sorted({r["object"] for r in csv.DictReader(f)})
    if key == "real_iad":
        jdir = root / "realiad_jsons" / "realiad_jsons"
        jdir = jdir if jdir.is_dir() else _need_dir(root / "realiad_jsons", "Real-IAD JSON folder")
        return sorted(p.stem for p in jdir.glob("*.json"))
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose from {list(DATASETS)}")
    return sorted(p.name for p in root.iterdir() if (p / "train").is_dir())
