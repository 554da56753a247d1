"""The embedded benchmark: seeded generator, on-disk cache and manifest.

Three modalities, each a few classes with nominal train / nominal validation / test splits:

- ``"2d"``: 224x224 RGB, textures (brick, grass, gravel; scikit-image photographs) and
  procedural objects (bottle, nut, pcb);
- ``"2.5d"``: depth maps + shaded RGB of a torus "bagel" and a "cookie";
- ``"3d"``: voxel volumes of a "casting" and a layered "composite".

Every sample is a pure function of ``(seed, part, modality, category, split, index)``: a larger
size contains the smaller one's samples, and regenerating gives byte-identical cache files.
Each sample draws three independent random streams (nominal appearance, defect, noise), so
:func:`make_sample` with the same seed and ``defect="good"`` gives the exact nominal twin of a
defective sample: the two differ only inside the GT mask (before sensor noise, which is shared).

Two disjoint parts
------------------
The benchmark has an **evaluation** part (``part="eval"``, the dataset names ``embedded-2d``,
``embedded-2.5d``, ``embedded-3d``: every table and claim) and a **development** part
(``part="dev"``, ``embedded-2d-dev`` ...: only tuning reads it, see
:mod:`topotta_lite.experiments.tuning`). Disjoint means, per family:

- **textures** (brick, grass, gravel): the crops of the evaluation part come from the right half
  of each source photograph and those of the development part from the left half; a crop's
  footprint, rotation, zoom and interpolation included, never leaves its half, each half is
  normalised with its own statistics, and a "foreign" blob comes from the same half of the other
  photograph (:mod:`topotta_lite.data.textures`). No source pixel is shared.
- **procedural objects, 2.5D and 3D** (bottle, nut, pcb, bagel, cookie, casting, composite):
  the part enters every sample's :class:`numpy.random.SeedSequence` (``[seed, part code, class,
  split, index]``), so the two parts draw from disjoint seed streams.
- **no image is shared**: no nominal image of one part equals or nearly equals one of the other
  (``tests/test_data_embedded.py`` checks it, together with the crops' footprints).

Defaults of the operators were chosen on the development part only; the images used before
this split existed (generator version 2) belong to neither part.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from topotta_lite.config import data_cache_dir

from . import _shapes as sh
from . import depth as _depth
from . import objects as _objects
from . import textures as _textures
from . import voxels as _voxels
from .types import ClassSplit, Sample

__all__ = [
    "SIZES",
    "SizeSpec",
    "PARTS",
    "build_embedded",
    "data_root",
    "dataset_name",
    "defect_types",
    "list_categories",
    "load_embedded",
    "make_sample",
    "parse_dataset_name",
    "sample_seed",
]

GENERATOR_VERSION = 3
MODALITIES = ("2d", "2.5d", "3d")


@dataclass(frozen=True)
class SizeSpec:
    """Samples per class: nominal train, nominal validation, test good, test anomalous."""

    train: int
    validation: int
    test_good: int
    test_anomalous: int
    voxels: int  # side of the 3D volumes


SIZES: dict[str, SizeSpec] = {
    "smoke": SizeSpec(4, 2, 2, 4, 32),
    "quick": SizeSpec(16, 4, 4, 24, 64),
    "full": SizeSpec(60, 10, 10, 40, 64),
}

_CATEGORIES: dict[str, dict[str, tuple[str, ...]]] = {
    "2d": {**_textures.DEFECTS, **_objects.DEFECTS},
    "2.5d": dict(_depth.DEFECTS),
    "3d": dict(_voxels.DEFECTS),
}
_SPLIT_CODE = {"train": 0, "validation": 1, "test_good": 2, "test_anomalous": 3}
_PART_CODE = {"eval": 1, "dev": 2}
PARTS = _textures.PARTS
"""``("eval", "dev")``: the evaluation and development parts (module docstring)."""
_DEV_SUFFIX = "-dev"


def _check_modality(modality: str) -> str:
    m = str(modality).lower()
    if m not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")
    return m


def dataset_name(modality: str, part: str = "eval") -> str:
    """The dataset name of one part: ``embedded-<modality>`` (eval) or ``embedded-<modality>-dev``.

    Examples
    --------
    >>> dataset_name("2d"), dataset_name("2.5d", "dev")
    ('embedded-2d', 'embedded-2.5d-dev')
    """
    modality = _check_modality(modality)
    return f"embedded-{modality}" + (_DEV_SUFFIX if _textures.check_part(part) == "dev" else "")


def parse_dataset_name(dataset: str) -> tuple[str, str]:
    """``(modality, part)`` of an embedded dataset name (the inverse of :func:`dataset_name`).

    Raises
    ------
    ValueError
        When ``dataset`` is not ``embedded-<modality>`` or ``embedded-<modality>-dev``.

    Examples
    --------
    >>> parse_dataset_name("embedded-3d"), parse_dataset_name("embedded-2d-dev")
    (('3d', 'eval'), ('2d', 'dev'))
    """
    text = str(dataset)
    if not text.startswith("embedded-"):
        raise ValueError(f"{dataset!r} is not an embedded dataset name (embedded-<modality>"
                         f"[{_DEV_SUFFIX}])")
    rest = text[len("embedded-"):]
    part = "dev" if rest.endswith(_DEV_SUFFIX) else "eval"
    modality = rest[: -len(_DEV_SUFFIX)] if part == "dev" else rest
    if modality not in MODALITIES:
        raise ValueError(f"unknown embedded dataset {dataset!r}; choose from "
                         f"{[dataset_name(m, p) for p in PARTS for m in MODALITIES]}")
    return modality, part


def list_categories(modality: str = "2d") -> list[str]:
    """Names of the embedded classes of a modality.

    Examples
    --------
    >>> list_categories("2.5d")
    ['bagel', 'cookie']
    """
    return list(_CATEGORIES[_check_modality(modality)])


def defect_types(modality: str, category: str) -> tuple[str, ...]:
    """Defect types of one embedded class (test anomalies cycle through them in this order).

    Examples
    --------
    >>> defect_types("3d", "casting")
    ('pores', 'cavity', 'crack', 'inclusion')
    """
    cats = _CATEGORIES[_check_modality(modality)]
    if category not in cats:
        raise ValueError(f"unknown {modality} category {category!r}; choose from {list(cats)}")
    return cats[category]


def data_root(root: str | os.PathLike | None = None) -> Path:
    """Cache directory: ``root``, else ``$TOPOTTA_DATA``, else ``<repo>/data/cache``.

    Examples
    --------
    >>> data_root("/tmp/x").name
    'x'
    """
    return data_cache_dir(root)


# ----------------------------------------------------------------------------- sample making


def _streams(seed) -> tuple[np.random.Generator, ...]:
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return tuple(np.random.default_rng(c) for c in ss.spawn(3))


def _u8(img: np.ndarray) -> np.ndarray:
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def _u16(vol: np.ndarray) -> np.ndarray:
    return np.round(np.clip(vol, 0, 1) * 65535).astype(np.uint16)


def _raw_sample(modality, category, defect, seed, voxels, part="eval"):
    """Arrays as stored in the cache (uint8 images, uint16 volumes, float32 depth)."""
    rb, rd, rn = _streams(seed)
    if modality == "2d":
        if category in _textures.DEFECTS:
            img, mask = _textures.render(category, defect, rb, rd, part=part)
        else:
            img, mask = _objects.render(category, defect, rb, rd)
        sigma = rn.uniform(0.006, 0.014)
        img = img * sh.lighting(rn, mask.shape, 0.12)[..., None]
        img = img + rn.normal(0, sigma, img.shape)
        return {"image": _u8(img), "mask": mask}
    if modality == "2.5d":
        h, alb, mask = _depth.render(category, defect, rb, rd)
        d, rgb = _depth.to_depth_and_rgb(h, alb, rn)
        return {"image": _u8(rgb), "depth": d, "mask": mask}
    vol, mask = _voxels.render(category, defect, rb, rd, voxels)
    vol = vol + rn.normal(0, 0.02, vol.shape)
    return {"volume": _u16(vol), "mask": mask}


def _to_sample(raw: dict, label: int, name: str, defect: str) -> Sample:
    image = raw.get("image")
    vol = raw.get("volume")
    return Sample(
        image=None if image is None else image.astype(np.float32) / np.float32(255),
        mask=np.ascontiguousarray(raw["mask"], dtype=bool),
        label=int(label),
        name=str(name),
        defect=str(defect),
        depth=raw.get("depth"),
        volume=None if vol is None else vol.astype(np.float32) / np.float32(65535),
    )


def make_sample(
    modality: str,
    category: str,
    defect: str = "good",
    seed: int | np.random.SeedSequence = 0,
    *,
    voxels: int = 64,
    name: str | None = None,
    part: str = "eval",
) -> Sample:
    """Generate one embedded sample (exactly what the cache stores for the same seed).

    The nominal appearance, the defect and the noise use three independent streams of
    ``seed``, so ``make_sample(m, c, "good", s)`` is the nominal twin of
    ``make_sample(m, c, "crack", s)``: they differ only inside the latter's GT mask.

    Parameters
    ----------
    modality : {"2d", "2.5d", "3d"}
    category : str
        One of :func:`list_categories`.
    defect : str
        ``"good"`` or one of :func:`defect_types`.
    seed : int or numpy.random.SeedSequence
    voxels : int
        Side of the volume (3D only).
    name : str, optional
        The sample's name (default ``"<defect>_000"``).
    part : {"eval", "dev"}
        Which half of the source photographs a texture is cut from (the other classes are
        generated from ``seed`` alone; in the cached benchmark the part is in their seed).

    Examples
    --------
    >>> s = make_sample("2d", "brick", "crack", seed=3)
    >>> s.image.shape, s.image.dtype, s.label, bool(s.mask.any())
    ((224, 224, 3), dtype('float32'), 1, True)
    """
    modality = _check_modality(modality)
    part = _textures.check_part(part)
    defs = defect_types(modality, category)
    if defect != "good" and defect not in defs:
        raise ValueError(f"unknown defect {defect!r} for {category!r}; choose from {defs}")
    raw = _raw_sample(modality, category, defect, seed, voxels, part)
    label = int(defect != "good")
    return _to_sample(raw, label, name or f"{defect}_000", defect)


def sample_seed(seed: int, part: str, modality: str, category: str, split: str,
                index: int) -> np.random.SeedSequence:
    """The seed of one cached sample: the part is in it, so the two parts never share a stream.

    ``split`` is ``"train"``, ``"validation"``, ``"test_good"`` or ``"test_anomalous"``.

    Examples
    --------
    >>> a = sample_seed(0, "eval", "3d", "casting", "train", 0)
    >>> b = sample_seed(0, "dev", "3d", "casting", "train", 0)
    >>> a.entropy != b.entropy
    True
    """
    cid = zlib.crc32(f"{modality}/{category}".encode())
    return np.random.SeedSequence([int(seed), _PART_CODE[_textures.check_part(part)], cid,
                                   _SPLIT_CODE[split], int(index)])


def _plan(modality: str, category: str, spec: SizeSpec, seed: int, part: str = "eval"):
    """(split, name, defect, label, SeedSequence) for every sample of a class."""
    defs = defect_types(modality, category)
    rows = []
    for split, n in (("train", spec.train), ("validation", spec.validation)):
        prefix = "train" if split == "train" else "val"
        for i in range(n):
            ss = sample_seed(seed, part, modality, category, split, i)
            rows.append((split, f"{prefix}_{i:03d}", "good", 0, ss))
    for i in range(spec.test_good):
        ss = sample_seed(seed, part, modality, category, "test_good", i)
        rows.append(("test", f"good_{i:03d}", "good", 0, ss))
    for j in range(spec.test_anomalous):
        d = defs[j % len(defs)]
        ss = sample_seed(seed, part, modality, category, "test_anomalous", j)
        rows.append(("test", f"{d}_{j:03d}", d, 1, ss))
    return rows


# ----------------------------------------------------------------------------- cache


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``.npz`` with fixed timestamps and order, so equal arrays give equal bytes."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue(), compresslevel=1)
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _build_class(modality, category, spec, seed, part="eval") -> dict[str, np.ndarray]:
    rows = _plan(modality, category, spec, seed, part)
    per = {}
    for split, name, defect, label, ss in rows:
        raw = _raw_sample(modality, category, defect, ss, spec.voxels, part)
        d = per.setdefault(split, {"name": [], "defect": [], "label": []})
        d["name"].append(name)
        d["defect"].append(defect)
        d["label"].append(label)
        for k, v in raw.items():
            d.setdefault(k, []).append(v)
    out = {}
    for split, d in per.items():
        for k, v in d.items():
            if k in ("name", "defect"):
                out[f"{split}/{k}"] = np.array(v, dtype="U32")
            elif k == "label":
                out[f"{split}/{k}"] = np.array(v, dtype=np.int8)
            else:
                out[f"{split}/{k}"] = np.stack(v)
    return out


def _params(modality: str, size: str, seed: int, part: str = "eval") -> dict:
    spec = SIZES[size]
    p = {
        "generator_version": GENERATOR_VERSION,
        "part": part,
        "modality": modality,
        "size": size,
        "seed": int(seed),
        "counts": {
            "train": spec.train,
            "validation": spec.validation,
            "test_good": spec.test_good,
            "test_anomalous": spec.test_anomalous,
        },
        "defects": {c: list(d) for c, d in _CATEGORIES[modality].items()},
        "storage": {
            "image": "uint8, /255 on load",
            "depth": "float32, camera distance in mm",
            "volume": "uint16, /65535 on load",
        },
    }
    if modality == "3d":
        p["voxels"] = spec.voxels
    else:
        p["image_size"] = [_textures.SIZE, _textures.SIZE]
    return p


def _dataset_dir(root: Path, modality: str, size: str, seed: int, part: str = "eval") -> Path:
    suffix = _DEV_SUFFIX if part == "dev" else ""
    return root / modality.replace(".", "_") / f"{size}-seed{int(seed)}{suffix}"


def _read_manifest(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _write_manifest(path: Path, manifest: dict) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def build_embedded(
    modality: str = "2d",
    categories: list[str] | str | None = None,
    size: str = "smoke",
    seed: int = 0,
    root: str | os.PathLike | None = None,
    *,
    force: bool = False,
    verify: bool = True,
    part: str = "eval",
) -> Path:
    """Generate (or reuse) the cached files of the embedded benchmark; return the manifest path.

    A class file is reused when the manifest's parameters match and (``verify=True``) its
    sha256 matches; otherwise it is regenerated (with a warning if it was corrupt). The two
    parts (``part``, see the module docstring) live in separate folders
    (``<size>-seed<seed>`` and ``<size>-seed<seed>-dev``).

    Examples
    --------
    >>> import tempfile
    >>> p = build_embedded("3d", ["casting"], "smoke", root=tempfile.mkdtemp())
    >>> p.name
    'manifest.json'
    """
    modality = _check_modality(modality)
    part = _textures.check_part(part)
    if size not in SIZES:
        raise ValueError(f"size must be one of {list(SIZES)}, got {size!r}")
    cats = _resolve_categories(modality, categories)
    folder = _dataset_dir(data_root(root), modality, size, seed, part)
    folder.mkdir(parents=True, exist_ok=True)
    mpath = folder / "manifest.json"
    params = _params(modality, size, seed, part)
    manifest = _read_manifest(mpath)
    if manifest is None or manifest.get("params") != params:
        manifest = {"params": params, "files": {}}
    changed = False
    for cat in cats:
        entry = manifest["files"].get(cat)
        fpath = folder / f"{cat}.npz"
        ok = (not force) and entry is not None and fpath.exists()
        if ok and verify and _sha256(fpath) != entry["sha256"]:
            warnings.warn(f"checksum mismatch for {fpath}; regenerating it", stacklevel=2)
            ok = False
        if ok:
            continue
        _write_npz(fpath, _build_class(modality, cat, SIZES[size], seed, part))
        manifest["files"][cat] = {
            "file": fpath.name,
            "sha256": _sha256(fpath),
            "bytes": fpath.stat().st_size,
        }
        changed = True
    if changed or not mpath.exists():
        manifest["files"] = dict(sorted(manifest["files"].items()))
        _write_manifest(mpath, manifest)
    return mpath


def _resolve_categories(modality: str, categories) -> list[str]:
    allc = list_categories(modality)
    if categories is None:
        return allc
    if isinstance(categories, str):
        categories = [categories]
    bad = [c for c in categories if c not in allc]
    if bad:
        raise ValueError(f"unknown {modality} categories {bad}; choose from {allc}")
    return list(categories)


def _load_class(path: Path, modality: str, category: str, part: str = "eval") -> ClassSplit:
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    splits = {}
    for split in ("train", "validation", "test"):
        names = arrays.get(f"{split}/name", np.array([], dtype="U1"))
        samples = []
        for i, name in enumerate(names):
            raw = {
                k.split("/", 1)[1]: v[i]
                for k, v in arrays.items()
                if k.startswith(split + "/")
                and k.split("/", 1)[1] in ("image", "mask", "depth", "volume")
            }
            samples.append(
                _to_sample(raw, arrays[f"{split}/label"][i], name, arrays[f"{split}/defect"][i])
            )
        splits[split] = samples
    return ClassSplit(
        dataset=dataset_name(modality, part),
        category=category,
        modality=modality,
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
    )


def load_embedded(
    modality: str = "2d",
    categories: list[str] | str | None = None,
    size: str = "smoke",
    seed: int = 0,
    root: str | os.PathLike | None = None,
    *,
    verify: bool = True,
    part: str = "eval",
) -> dict[str, ClassSplit]:
    """Load the embedded benchmark (generated once, then read from the cache).

    Parameters
    ----------
    modality : {"2d", "2.5d", "3d"}
    categories : list of str, str or None
        Subset of :func:`list_categories` (default: all).
    size : {"smoke", "quick", "full"}
        Samples per class, see :data:`SIZES` (smoke: 4 train, 2 val, 2 good + 4 anomalous test).
    seed : int
    root : path, optional
        Cache directory (default ``$TOPOTTA_DATA`` or ``<repo>/data/cache``).
    verify : bool
        Check the sha256 of cached files against the manifest.
    part : {"eval", "dev"}
        The evaluation part (every table and claim) or the development part (tuning only);
        the two share no image (module docstring). The classes' ``dataset`` is
        :func:`dataset_name` of the part.

    Returns
    -------
    dict[str, ClassSplit]
        Keyed by category, in :func:`list_categories` order.

    Examples
    --------
    >>> import tempfile
    >>> data = load_embedded("2d", ["brick"], "smoke", root=tempfile.mkdtemp())
    >>> data["brick"].counts()
    {'train': 4, 'validation': 2, 'test_good': 2, 'test_anomalous': 4}
    """
    modality = _check_modality(modality)
    part = _textures.check_part(part)
    cats = _resolve_categories(modality, categories)
    mpath = build_embedded(modality, cats, size, seed, root, verify=verify, part=part)
    return {c: _load_class(mpath.parent / f"{c}.npz", modality, c, part) for c in cats}
