"""From a dataset class to table rows: score maps once, then any operator on them.

The paper's protocol: the backbone's anomaly maps are fixed and only the segmentation operator
varies. So the expensive part (fit a scorer on nominal images, score the test images, extract the
dense features the operators adapt on) is done once per (dataset, class, scorer, backbone, size,
seed) and kept as a *score bundle* (``.npz`` in the cache), and every operator / parameter setting
is an experiment cell (:func:`evaluate_cell`) that reads the bundle and returns mean metrics.

Cells are plain dicts, for :func:`topotta_lite.experiments.grid.run_grid`::

    {"dataset": "embedded-2d", "category": "brick", "scorer": "patchcore", "backbone": "filterbank",
     "operator": "topotta", "params": {"lam": 0.01}, "size": "quick", "seed": 0}

Optional keys: ``"feature_backbone"`` (features from another backbone, Table IV),
``"shots"`` (nominal support images for PCES, Table II), ``"perturb"`` (``{"kind": "noise",
"strength": 0.1}``, Fig. 7), ``"data_root"`` (a real dataset on disk), ``"maps_dir"`` (your own
score maps instead of a scorer's, see :func:`maps_bundle`), ``"construction"``.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from topotta_lite.experiments.grid import RESULTS_VERSION, ResultCache, cell_key, quarantine
from topotta_lite.safe_io import atomic_write, file_lock
from topotta_lite.vocabulary import SEG_METRICS

__all__ = [
    "DEFAULT_BACKBONE",
    "EncoderStore",
    "MAPS_SCORER",
    "ROBUSTNESS_PERTURBATIONS",
    "SCORERS",
    "bundle_memory",
    "bundle_path",
    "evaluate_cell",
    "experiment_cell",
    "load_split",
    "make_operator",
    "maps_bundle",
    "maps_fingerprint",
    "modality_of",
    "perturb_map",
    "ranking_cell",
    "score_bundle",
    "segment_bundle",
]

SCORERS = ("padim", "patchcore")
DEFAULT_BACKBONE = {"2d": "efficientnet_lite0", "2.5d": "rgbd", "3d": "voxel"}
"""Backbone of each modality's scorers and of the features TTT4AS and PCES adapt on: the
ImageNet-pretrained EfficientNet-Lite0 for images, Lite0 + depth features for 2.5D (see
:mod:`topotta_lite.features`); ``"filterbank"`` remains the weight-free option."""
ROBUSTNESS_PERTURBATIONS = ("brightness", "noise", "speckle")
MAPS_SCORER = "maps"
"""The scorer name of bundles built from your own score maps (``maps_dir``)."""


def modality_of(dataset: str) -> str:
    """``"2d"``, ``"2.5d"`` or ``"3d"``: the modality of an embedded or a real dataset name.

    Examples
    --------
    >>> modality_of("embedded-2.5d"), modality_of("mvtec_ad"), modality_of("mvtec_3d")
    ('2.5d', '2d', '2.5d')
    >>> modality_of("embedded-2d-dev")  # the development part (tuning only)
    '2d'
    """
    if dataset.startswith("embedded-"):
        from topotta_lite.data import parse_dataset_name

        return parse_dataset_name(dataset)[0]
    return {"mvtec_3d": "2.5d", "anomaly_shapenet": "3d"}.get(dataset, "2d")


def load_split(dataset: str, category: str, *, size: str = "quick", seed: int = 0,
               data_root: str | None = None):
    """A :class:`~topotta_lite.data.ClassSplit` of the embedded benchmark or a real dataset.

    ``dataset`` is ``"embedded-2d"``, ``"embedded-2.5d"``, ``"embedded-3d"`` (the evaluation part),
    one of them with ``-dev`` (the development part, for tuning only), or a real dataset
    name known to :func:`topotta_lite.data.load_dataset` (then ``data_root`` is required).
    """
    from topotta_lite.data import load_dataset, load_embedded, parse_dataset_name

    if dataset.startswith("embedded-"):
        modality, part = parse_dataset_name(dataset)
        return load_embedded(modality, [category], size=size, seed=seed, part=part)[category]
    if data_root is None:
        raise ValueError(f"dataset {dataset!r} is read from disk: give data_root")
    return load_dataset(dataset, data_root, category)


_BACKBONES: dict[tuple[str, int], object] = {}
_FEATURES: dict[tuple[str, int], _FeaturesOnce] = {}
FEATURE_MEMO_BYTES = 256 * 2**20
"""Features of recent input images kept per backbone (least recently used first out): the two
scorers of a class run the same backbone on the same images, which is then computed once."""


def _backbone(name: str, seed: int):
    """The backbone ``name`` built once per process (its weights loaded and checked once): a
    frozen feature extractor holds no state that a scorer could change."""
    from topotta_lite.features import get_backbone

    key = (name, int(seed))
    if key not in _BACKBONES:
        _BACKBONES[key] = get_backbone(name, seed=seed)
    return _BACKBONES[key]


class _FeaturesOnce:
    """A backbone that computes each input image's features once: a bundle asks for the test
    images twice (for the maps and for the operators' features) and for the support images,
    which are training images, again; the other scorer of the class asks for all of them again.
    Every other attribute is the wrapped backbone's. At most ``max_bytes`` of features are kept
    (least recently used first out)."""

    def __init__(self, backbone, max_bytes: int = FEATURE_MEMO_BYTES):
        self.inner = backbone
        self.max_bytes = int(max_bytes)
        self._memo: OrderedDict[bytes, np.ndarray] = OrderedDict()

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, inputs, batch_size: int | None = None) -> np.ndarray:
        x = np.ascontiguousarray(inputs)
        keys = [hashlib.sha1(f"{a.dtype.str}{a.shape}".encode() + a.tobytes()).digest()
                for a in x]
        todo = [i for i in dict(zip(keys, range(len(keys)))).values() if keys[i] not in self._memo]
        if todo:
            new = self.inner(x[todo], batch_size=batch_size)
            new.flags.writeable = False  # shared with the memo: nobody may change it in place
            self._memo.update({keys[i]: f for i, f in zip(todo, new)})  # views: no copy
            out = new if todo == list(range(len(keys))) else None  # all new, in order
        else:
            out = None
        if out is None:
            out = np.ascontiguousarray(np.stack([self._memo[k] for k in keys]), dtype=np.float32)
        for k in keys:
            self._memo.move_to_end(k)
        size = sum(f.nbytes for f in self._memo.values())
        while self._memo and size > self.max_bytes:
            size -= self._memo.popitem(last=False)[1].nbytes
        return out


def _features(name: str, seed: int) -> _FeaturesOnce:
    """The backbone ``name`` with this process's feature memo (see :class:`_FeaturesOnce`)."""
    key = (name, int(seed))
    if key not in _FEATURES:
        _FEATURES[key] = _FeaturesOnce(_backbone(name, seed))
    return _FEATURES[key]


def _scorer(name: str, backbone: str, modality: str, seed: int):
    from topotta_lite.scorers import PaDiMScorer, PatchCoreScorer, VoxelScorer

    if name not in SCORERS:
        raise ValueError(f"unknown scorer {name!r}; choose one of {SCORERS}")
    features = _features(backbone, seed)
    if modality == "3d":
        return VoxelScorer(name, backbone=features, seed=seed)
    cls = PaDiMScorer if name == "padim" else PatchCoreScorer
    return cls(features, seed=seed)


BUNDLE_FORMAT = 3
"""Part of every bundle key: 3 = verified bundles (key, checksum) keyed by the dataset's files."""


def _bundle_key(dataset, category, scorer, backbone, feature_backbone, size, seed, data_root,
                n_support, maps_dir=None) -> dict:
    spec = {"bundle": BUNDLE_FORMAT, "dataset": dataset, "category": category, "scorer": scorer,
            "backbone": backbone, "feature_backbone": feature_backbone or backbone, "size": size,
            "seed": seed, "data_root": None if data_root is None else str(data_root),
            "n_support": n_support, "data": None}
    if data_root is not None and not dataset.startswith("embedded-"):
        from topotta_lite.data.loaders import dataset_fingerprint

        spec["data"] = dataset_fingerprint(dataset, data_root, category)
    if dataset.startswith("embedded-"):  # a new generator makes new images: new bundles
        from topotta_lite.data.embedded import GENERATOR_VERSION

        spec["data"] = {"generator_version": GENERATOR_VERSION}
    if maps_dir is not None:
        spec.update(maps_dir=str(maps_dir), maps=maps_fingerprint(maps_dir, category))
    return spec


def bundle_path(dataset: str, category: str, scorer: str = "patchcore", backbone: str | None = None,
                *, feature_backbone: str | None = None, size: str = "quick", seed: int = 0,
                data_root: str | None = None, n_support: int = 10,
                cache: ResultCache | None = None, maps_dir: str | None = None) -> Path:
    """Where :func:`score_bundle` keeps (or will keep) this bundle; ``.exists()`` tells if cached.

    For a dataset read from disk (``data_root``), the key includes a fingerprint of every file the
    loader reads (paths, sizes, modification times): an edited image or mask gives a new bundle;
    likewise for your own maps (``maps_dir``, :func:`maps_fingerprint`).
    """
    backbone = backbone or DEFAULT_BACKBONE[modality_of(dataset)]
    key = cell_key(_bundle_key(dataset, category, scorer, backbone, feature_backbone, size, seed,
                               data_root, n_support, maps_dir))
    return Path((cache or ResultCache()).root) / "bundles" / f"{key}.npz"


_BASE_BYTES = 900 * 2**20  # the interpreter, torch, numba and a backbone
_DATA_FACTOR = 16  # images, features, standardised copies and maps held at once, per data byte


def bundle_memory(dataset: str, size: str) -> int | None:
    """Estimated peak memory (bytes) of one process that builds a score bundle of an embedded
    data set at ``size``: a fixed allowance for the interpreter, torch and the backbone, plus a
    multiple of the data's float32 bytes (a scorer holds the images, their features, standardised
    copies and the score maps at once). An upper bound of what the embedded voxel bundles were
    measured to need; ``None`` for a data set read from disk (its size is unknown here).

    Examples
    --------
    >>> bundle_memory("embedded-3d", "full") > bundle_memory("embedded-3d", "smoke")
    True
    >>> bundle_memory("mvtec_ad", "full") is None
    True
    """
    if not dataset.startswith("embedded-"):
        return None
    from topotta_lite.data.embedded import SIZES

    spec = SIZES[size]
    n = spec.train + spec.validation + spec.test_good + spec.test_anomalous
    per_sample = spec.voxels ** 3 if modality_of(dataset) == "3d" else 224 * 224 * 4
    return int(_BASE_BYTES + _DATA_FACTOR * n * per_sample * 4)


def _arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


_MEMO: OrderedDict[str, tuple[tuple, dict[str, np.ndarray]]] = OrderedDict()
MEMO_BYTES = 768 * 2**20
"""Verified bundles kept in memory (least recently used first out): an experiment grid runs many
cells on one bundle, which is then read from disk and verified once, not once per cell."""


def _file_stamp(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _remember(path: Path, stamp: tuple, arrays: dict[str, np.ndarray]) -> None:
    size = sum(a.nbytes for a in arrays.values())
    if size > MEMO_BYTES // 4:  # a large bundle (voxels at full size) is not held
        return
    for a in arrays.values():
        a.flags.writeable = False  # shared by every cell: nobody may change it in place
    _MEMO[str(path)] = (stamp, arrays)
    _MEMO.move_to_end(str(path))
    while sum(sum(a.nbytes for a in v[1].values()) for v in _MEMO.values()) > MEMO_BYTES:
        _MEMO.popitem(last=False)


def _read_bundle(path: Path, key: dict, *, memo: bool = True) -> dict[str, np.ndarray] | None:
    """The verified arrays of a bundle, or ``None`` (missing, or unusable and moved aside).

    A bundle read (and verified) earlier in this process is served from memory while its file
    is unchanged (same size, modification time and inode); its arrays are read-only.
    ``memo=False``: read from disk and keep nothing here (for a caller that memoises what it
    builds from the arrays).
    """
    stamp = _file_stamp(path)
    if stamp is None:
        _MEMO.pop(str(path), None)
        return None
    hit = _MEMO.get(str(path)) if memo else None
    if hit is not None and hit[0] == stamp:
        _MEMO.move_to_end(str(path))
        return dict(hit[1])
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("__meta__")))
        if meta.get("key") != path.stem:
            raise ValueError("it holds another bundle's key")
        if json.dumps(meta.get("cell"), sort_keys=True) != json.dumps(key, sort_keys=True):
            raise ValueError("its stored parameters are not those of its key")
        if meta.get("sha256") != _arrays_digest(arrays):
            raise ValueError("its arrays do not match their checksum")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        quarantine(path, f"{type(exc).__name__}: {exc}", path.parent.parent)
        return None
    if memo:
        _remember(path, stamp, arrays)
    return dict(arrays)


def _write_bundle(path: Path, arrays: dict[str, np.ndarray], key: dict) -> None:
    meta = {"key": path.stem, "cell": key, "sha256": _arrays_digest(arrays)}
    with atomic_write(path, suffix=".npz") as tmp:  # a name of this process: writers never collide
        np.savez(tmp, __meta__=np.array(json.dumps(meta, sort_keys=True)), **arrays)


class EncoderStore:
    """Fitted class encoders of the release preset, kept on disk beside the score bundles.

    The store that :func:`topotta_lite.method.nominal.fitted_encoder` takes: ``save(name,
    arrays)`` writes ``<cache>/encoders/<key>.npz`` atomically with a checksum of its arrays, and
    ``load(name)`` returns them, or None when the entry is missing or fails its checks (then it is
    moved to ``<cache>/corrupt/`` with a warning, as a bad score bundle is). The key covers
    ``name`` and :data:`~topotta_lite.experiments.grid.RESULTS_VERSION`. Notebooks 06 and 08 use
    the same support images of a class: the encoder 06 trained is read back by 08.

    Examples
    --------
    >>> import tempfile
    >>> store = EncoderStore(tempfile.mkdtemp())
    >>> store.save("abc", {"w": np.ones(3, np.float32)})
    >>> store.load("abc")["w"].tolist(), store.load("other")
    ([1.0, 1.0, 1.0], None)
    """

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else ResultCache().root

    def _where(self, name: str) -> tuple[Path, dict]:
        key = {"encoder": str(name), "results_version": RESULTS_VERSION}
        return self.root / "encoders" / f"{cell_key(key)}.npz", key

    def load(self, name: str) -> dict[str, np.ndarray] | None:
        path, key = self._where(name)
        return _read_bundle(path, key, memo=False)  # the fitted encoder is memoised by its user

    def save(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        path, key = self._where(name)
        _write_bundle(path, arrays, key)


def score_bundle(dataset: str, category: str, scorer: str = "patchcore", backbone: str | None = None,
                 *, feature_backbone: str | None = None, size: str = "quick", seed: int = 0,
                 data_root: str | None = None, n_support: int = 10,
                 cache: ResultCache | None = None,
                 maps_dir: str | None = None) -> dict[str, np.ndarray]:
    """Score maps, ground truth, features and nominal support of one class, computed once.

    With ``maps_dir`` the maps are yours (:func:`maps_bundle`) and ``scorer`` must be
    :data:`MAPS_SCORER`; the features still come from ``backbone`` (or ``feature_backbone``).
    A cached bundle is verified (its key and a checksum of its arrays) before it is used; one that
    fails is moved to ``<cache>/corrupt/`` with a warning and recomputed. Concurrent runs take a
    lock per bundle, so a bundle is computed once.

    Returns
    -------
    dict of str -> ndarray
        ``maps`` (N, *S) float32 test score maps; ``gts`` (N, *S) bool; ``labels`` (N,);
        ``names`` (N,) str; ``val_maps`` (M, *S) nominal validation maps (for THR);
        ``features`` (N, C, *grid) float32 test features; ``support`` (n_support, C, *grid)
        features of nominal training images (few-shot PCES); ``fit_seconds`` and
        ``score_seconds`` (per image).
    """
    modality = modality_of(dataset)
    backbone = backbone or DEFAULT_BACKBONE[modality]
    feature_backbone = feature_backbone or backbone
    if (maps_dir is None) != (scorer != MAPS_SCORER):
        raise ValueError(f"scorer {MAPS_SCORER!r} reads your maps and needs maps_dir (and maps_dir "
                         f"needs scorer={MAPS_SCORER!r}); got scorer={scorer!r}, maps_dir={maps_dir!r}")
    key = _bundle_key(dataset, category, scorer, backbone, feature_backbone, size, seed, data_root,
                      n_support, maps_dir)
    path = Path((cache or ResultCache()).root) / "bundles" / f"{cell_key(key)}.npz"
    out = _read_bundle(path, key)
    if out is not None:
        return out
    with file_lock(path.parent / "locks" / f"{path.stem}.lock"):
        out = _read_bundle(path, key)  # a concurrent run may have made it while we waited
        if out is None:
            out = _compute_bundle(dataset, category, scorer, backbone, feature_backbone, size, seed,
                                  data_root, n_support, cache, modality, maps_dir)
            _write_bundle(path, out, key)
    return out


def _compute_bundle(dataset, category, scorer, backbone, feature_backbone, size, seed, data_root,
                    n_support, cache, modality, maps_dir) -> dict[str, np.ndarray]:
    split = load_split(dataset, category, size=size, seed=seed, data_root=data_root)
    split.require(train=1, validation=0 if maps_dir is not None else 1)
    support_samples = list(split.train)[:n_support]
    if maps_dir is not None:
        return maps_bundle(split, maps_dir, feature_backbone, seed=seed, n_support=n_support,
                           data_root=data_root)
    if feature_backbone != backbone:
        # cross-model (Table IV): the maps are the default bundle's; only the features differ,
        # standardised with the other backbone's nominal training statistics
        out = dict(score_bundle(dataset, category, scorer, backbone, size=size, seed=seed,
                                data_root=data_root, n_support=n_support, cache=cache))
        feats_model = _scorer("padim", feature_backbone, modality, seed).fit_statistics(
            split.train)
        out["features"] = np.asarray(feats_model.features(split.test), np.float32)
        out["support"] = np.asarray(feats_model.features(support_samples), np.float32)
        return out
    model = _scorer(scorer, backbone, modality, seed)
    t0 = time.perf_counter()
    model.fit(split.train)
    t1 = time.perf_counter()
    maps = model.score(split.test)
    t2 = time.perf_counter()
    return {
        "maps": np.asarray(maps, np.float32),
        "gts": np.stack([s.mask for s in split.test]).astype(bool),
        "labels": np.array([s.label for s in split.test], dtype=np.int8),
        "names": np.array([s.name for s in split.test]),
        "val_maps": np.asarray(model.score(split.validation), np.float32),
        "features": np.asarray(model.features(split.test), np.float32),
        "support": np.asarray(model.features(support_samples), np.float32),
        "fit_seconds": np.float64(t1 - t0),
        "score_seconds": np.float64((t2 - t1) / max(len(split.test), 1)),
    }


def maps_fingerprint(maps_dir, category: str) -> str:
    """A short hash of the names, sizes and modification times of a class's map files.

    Part of a maps bundle's cache key: replacing or re-exporting maps invalidates the bundle.

    Examples
    --------
    >>> import tempfile
    >>> len(maps_fingerprint(tempfile.mkdtemp(), "bottle"))
    16
    """
    from topotta_lite.data import MAP_SUFFIXES

    root = Path(maps_dir)
    folder = root / category if (root / category).is_dir() else root
    h = hashlib.sha256()
    if folder.is_dir():
        for p in sorted(folder.rglob("*")):
            if p.is_file() and p.suffix.lower() in MAP_SUFFIXES:
                st = p.stat()
                h.update(f"{p.relative_to(folder).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n"
                         .encode())
    return h.hexdigest()[:16]


def _validation_maps(maps_dir, split, shape) -> list[np.ndarray]:
    """Maps of the nominal validation images, if the folder has them (for THR's threshold).

    Looked up as ``<maps_dir>/<class>/train/good/<stem>`` (MVTec AD carves its validation split
    from ``train/good``) or ``<maps_dir>/<class>/validation/good/<stem>``, any map suffix.
    """
    from skimage.transform import resize

    from topotta_lite.data import MAP_SUFFIXES, read_score_map

    out = []
    for s in split.validation:
        stem = (s.meta or {}).get("stem") or s.name.removeprefix("good_")
        cands = [Path(maps_dir) / split.category / sub / "good" / f"{stem}{ext}"
                 for sub in ("train", "validation") for ext in MAP_SUFFIXES]
        p = next((c for c in cands if c.is_file()), None)
        if p is not None:
            m = read_score_map(p)
            if m.shape != shape:
                m = resize(m, shape, order=1, mode="edge", anti_aliasing=False, preserve_range=True)
            out.append(m)
    return out


def maps_bundle(split, maps_dir, backbone: str | None = None, *, seed: int = 0,
                n_support: int = 10, data_root: str | None = None) -> dict[str, np.ndarray]:
    """A score bundle whose maps are read from ``maps_dir`` instead of computed by a scorer.

    The maps are matched to ``split.test`` as :func:`topotta_lite.data.load_score_maps` does
    (``.npy`` or float ``.tiff``; a missing or extra map is an error) and interpolated to the
    ground-truth grid when they were scored at another resolution with the image's aspect ratio.
    For a real dataset the folder is first checked with :func:`topotta_lite.data.check_dataset`.
    The operators' features come from ``backbone`` (the modality's default when None), fitted
    on the nominal train images. THR's threshold needs maps of nominal validation images: they
    are read from ``<maps_dir>/<class>/train/good/`` (or ``validation/good/``) when present,
    else the good test images' maps stand in for them (with a warning).

    Returns the keys of :func:`score_bundle`; ``fit_seconds`` and ``score_seconds`` are NaN (the
    maps were scored elsewhere) and ``val_source`` says where THR's nominal maps came from.
    """
    from topotta_lite.data import check_dataset, is_embedded, load_score_maps

    modality = split.modality
    backbone = backbone or DEFAULT_BACKBONE[modality]
    if not is_embedded(split.dataset) and data_root is not None:
        check_dataset(split.dataset, data_root, [split.category], maps_dir=maps_dir)
    maps = load_score_maps(maps_dir, split, resize=True, extra="error")
    gts = np.stack([s.mask for s in split.test]).astype(bool)
    labels = np.array([s.label for s in split.test], dtype=np.int8)
    val = _validation_maps(maps_dir, split, gts.shape[1:])
    source = "validation"
    if not val:
        val = [m for m, lab in zip(maps, labels) if lab == 0]
        source = "test_good"
        warnings.warn(f"{split.category}: no maps of nominal validation images in {maps_dir} "
                      f"(<class>/train/good/<stem>); THR's threshold uses the {len(val)} good "
                      "test images' maps instead", stacklevel=2)
    model = _scorer("padim", backbone, modality, seed).fit_statistics(split.train)
    return {
        "maps": np.asarray(maps, np.float32),
        "gts": gts,
        "labels": labels,
        "names": np.array([s.name for s in split.test]),
        "val_maps": np.asarray(val, np.float32).reshape(len(val), *gts.shape[1:]),
        "features": np.asarray(model.features(split.test), np.float32),
        "support": np.asarray(model.features(list(split.train)[:n_support]), np.float32),
        "fit_seconds": np.float64(np.nan),
        "score_seconds": np.float64(np.nan),
        "val_source": np.array(source),
    }


def experiment_cell(dataset: str, category: str, scorer: str, operator: str, *,
                    params: dict | None = None, backbone: str | None = None, size: str = "quick",
                    seed: int = 0, data_root=None, maps_dir=None, **extra) -> dict:
    """The one way to write an :func:`evaluate_cell` cell, so that an experiment two notebooks run
    (TopoTTA's default setting in Tables I, V, VI, VII-IX, II, Fig. 7...) is one cache entry.

    ``backbone`` None becomes the modality's default (:data:`DEFAULT_BACKBONE`), ``params`` a dict
    (empty: the operator's defaults), ``seed`` an int; ``data_root`` / ``maps_dir`` are kept (as
    strings) only when given; ``extra`` keys (``shots``, ``perturb``, ``feature_backbone``) are
    kept only when not None.

    Examples
    --------
    >>> experiment_cell("embedded-2d", "brick", "padim", "thr", size="smoke")
    ... # doctest: +NORMALIZE_WHITESPACE
    {'dataset': 'embedded-2d', 'category': 'brick', 'scorer': 'padim',
     'backbone': 'efficientnet_lite0', 'operator': 'thr', 'params': {}, 'size': 'smoke', 'seed': 0}
    """
    cell = {"dataset": dataset, "category": category, "scorer": scorer,
            "backbone": backbone or DEFAULT_BACKBONE[modality_of(dataset)], "operator": operator,
            "params": dict(params or {}), "size": size, "seed": int(seed)}
    if data_root is not None:
        cell["data_root"] = str(data_root)
    if maps_dir is not None:
        cell["maps_dir"] = str(maps_dir)
    cell.update({k: v for k, v in extra.items() if v is not None})
    return cell


def make_operator(name: str, params: dict | None = None, seed: int = 0):
    """An operator from its short name (``"thr"``, ``"ttt4as"``, ``"topotta"``) and parameters."""
    from topotta_lite.operators import OPERATORS

    if name not in OPERATORS:
        raise ValueError(f"unknown operator {name!r}; choose one of {sorted(OPERATORS)}")
    return OPERATORS[name](**(params or {}), seed=seed)


def perturb_map(score_map: np.ndarray, kind: str, strength: float, seed: int = 0) -> np.ndarray:
    """Degrade a score map the way Fig. 7 does, relative to the map's own dynamic range.

    ``brightness`` adds ``strength * range`` everywhere and clips at the map's maximum (a global
    shift that saturates the top), ``noise`` adds Gaussian noise of std ``strength * range``,
    ``speckle`` multiplies by ``1 + strength * N(0, 1)``.

    Examples
    --------
    >>> m = np.linspace(0, 1, 16).reshape(4, 4)
    >>> bool(np.allclose(perturb_map(m, "noise", 0.0), m))
    True
    """
    if kind not in ROBUSTNESS_PERTURBATIONS:
        raise ValueError(f"unknown perturbation {kind!r}; choose one of {ROBUSTNESS_PERTURBATIONS}")
    if strength < 0:
        raise ValueError(f"strength must be >= 0, got {strength}")
    rng = np.random.default_rng(seed)
    m = np.asarray(score_map, dtype=np.float64)
    lo, hi = float(m.min()), float(m.max())
    span = hi - lo if hi > lo else 1.0
    if kind == "brightness":
        return np.minimum(m + strength * span, hi)
    if kind == "noise":
        return m + rng.normal(0.0, strength * span, m.shape)
    return m * (1.0 + strength * rng.standard_normal(m.shape))


def segment_bundle(bundle: dict, operator: str, params: dict | None = None, *, seed: int = 0,
                   shots: int = 0, perturb: dict | None = None, only_anomalous: bool = True,
                   detail: bool = False):
    """Run one operator over a bundle's test images; return (masks, indices, timings).

    ``timings`` holds the per-image seconds of the operator's stages (``timings_`` of each call)
    and, for TopoTTA with two filtrations, its fusion flags under ``"activity"``
    (:func:`topotta_lite.method.fusion.fusion_activity`). With ``detail=True`` a fourth list
    holds, per image, the masks of TopoTTA's two filtrations, its fused pseudo-label and its
    final mask (``(m_sub, m_sup, fused, mask)``; ``None`` for other operators or one filtration).
    """
    op = make_operator(operator, params, seed)
    maps = bundle["maps"]
    if perturb:
        maps = np.stack([perturb_map(m, perturb["kind"], perturb["strength"], seed + i)
                         for i, m in enumerate(maps)])
    if operator == "thr":
        op.fit(bundle["val_maps"])
    support = list(bundle["support"][:shots]) if shots else None
    if getattr(op, "adaptation", None) == "class" and getattr(op, "use_pces", False):
        if not support:
            raise ValueError("TopoTTA(preset='release') trains on nominal support images: give "
                             "shots > 0 (they count as few-shot support)")
        op.fit(support, store=EncoderStore())
    idx = [i for i in range(len(maps)) if not only_anomalous or bundle["labels"][i] == 1]
    masks, timings, details = [], [], []
    two = operator == "topotta" and len(getattr(op, "filtrations", ())) == 2
    for i in idx:
        t0 = time.perf_counter()
        if two:
            res = op.segment_detailed(maps[i], bundle["features"][i], support=support)
            masks.append(res.mask)
            details.append((res.m_sub, res.m_sup, res.fused, res.mask))
        else:
            masks.append(op.segment(maps[i], bundle["features"][i], support=support))
            details.append(None)
        stage = dict(getattr(op, "timings_", {}) or {})
        stage["total"] = time.perf_counter() - t0
        if getattr(op, "fusion_activity_", None):
            stage["activity"] = dict(op.fusion_activity_)
        timings.append(stage)
    return (masks, idx, timings, details) if detail else (masks, idx, timings)


def _mechanisms(details, gts) -> dict | None:
    """Per-image scores of every mask of :data:`~topotta_lite.experiments.tables.MECHANISM_VARIANTS`
    and the flags of :func:`~topotta_lite.experiments.tables.mechanism_flags` (JSON-able)."""
    from topotta_lite.experiments.tables import (
        MECHANISM_FLAGS,
        MECHANISM_VARIANTS,
        mechanism_flags,
        mechanism_variants,
    )
    from topotta_lite.metrics import segmentation_scores

    if not details or any(d is None for d in details):
        return None
    variants = {v: {m: [] for m in SEG_METRICS} for v in MECHANISM_VARIANTS}
    flags = {f: [] for f in MECHANISM_FLAGS}
    for d, gt in zip(details, gts):
        for v, mask in mechanism_variants(*d).items():
            for m, value in segmentation_scores(mask, gt).items():
                variants[v][m].append(round(value, 6))
        for f, value in mechanism_flags(*d).items():
            flags[f].append(value)
    return {"variants": variants, "flags": flags}


def evaluate_cell(cell: dict) -> dict:
    """One experiment cell -> mean precision / recall / F1 / IoU over the anomalous test images.

    Also returns the per-image scores (``image_ids`` and ``<metric>_per_image`` lists, in the
    same order, for paired comparisons), structure metrics and median stage timings. See the
    module docstring for the cell's keys. A TopoTTA cell with both filtrations also returns
    ``mechanisms``: the per-image scores of each filtration's mask, their intersection and
    union, the fused pseudo-label and the final mask, and the per-image flags of
    :func:`~topotta_lite.experiments.tables.mechanism_flags` (the mechanism tables read them).
    """
    from topotta_lite.method.fusion import ACTIVITY_KEYS
    from topotta_lite.metrics import mean_scores, segmentation_scores, structure_scores

    bundle = score_bundle(
        cell["dataset"], cell["category"], cell.get("scorer", "patchcore"), cell.get("backbone"),
        feature_backbone=cell.get("feature_backbone"), size=cell.get("size", "quick"),
        seed=cell.get("seed", 0), data_root=cell.get("data_root"), maps_dir=cell.get("maps_dir"))
    masks, idx, timings, details = segment_bundle(
        bundle, cell["operator"], cell.get("params"), seed=cell.get("seed", 0),
        shots=cell.get("shots", 0), perturb=cell.get("perturb"), detail=True)
    per_image = [segmentation_scores(m, bundle["gts"][i]) for m, i in zip(masks, idx)]
    structure = [structure_scores(m, bundle["gts"][i]) for m, i in zip(masks, idx)]
    out = mean_scores(per_image)
    out.update({f"{k}": float(np.mean([s[k] for s in structure])) for k in structure[0]}
               if structure else {})
    out["n_images"] = len(per_image)
    # per-image scores, for paired comparisons with confidence intervals (experiments.stats);
    # image_ids name the test images (unique within a class), in the order of the lists
    out["image_ids"] = [str(bundle["names"][i]) for i in idx]
    for metric in SEG_METRICS:
        out[f"{metric}_per_image"] = [round(p[metric], 6) for p in per_image]
    mechanisms = _mechanisms(details, [bundle["gts"][i] for i in idx])
    if mechanisms is not None:
        out["mechanisms"] = mechanisms
    activity = [t.pop("activity") for t in timings if "activity" in t]
    if activity:  # share of the images where the fusion was empty-handed / nested / active
        out.update({k: float(np.mean([a[k] for a in activity])) for k in ACTIVITY_KEYS})
    stages = sorted({k for t in timings for k in t})
    out["seconds"] = {k: float(np.median([t.get(k, 0.0) for t in timings])) for k in stages}
    return out


def ranking_cell(cell: dict) -> dict:
    """I-AUROC, P-AUROC and AUPRO of one (dataset, class, scorer, backbone) bundle."""
    from topotta_lite.metrics import aupro, i_auroc, p_auroc
    from topotta_lite.scorers import image_scores

    bundle = score_bundle(
        cell["dataset"], cell["category"], cell.get("scorer", "patchcore"), cell.get("backbone"),
        size=cell.get("size", "quick"), seed=cell.get("seed", 0), data_root=cell.get("data_root"),
        maps_dir=cell.get("maps_dir"))
    maps, gts, labels = bundle["maps"], bundle["gts"], bundle["labels"]
    return {
        "i_auroc": i_auroc(image_scores(maps), labels),
        "p_auroc": p_auroc(list(maps), list(gts)),
        "aupro": aupro(list(maps), list(gts)),
        "fit_seconds": float(bundle["fit_seconds"]),
        "score_seconds": float(bundle["score_seconds"]),
    }
