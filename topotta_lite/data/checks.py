"""Check a dataset on disk (and a folder of score maps) before an experiment writes anything.

A real benchmark copied by hand often has one thing wrong: a class folder without ground truth,
a mask renamed, masks saved at another resolution, score maps for half the images. Without a
check, the experiment notebooks would run for minutes and die half-way, after some tables were
written. :func:`check_dataset` reads image and map sizes from their headers (images and maps are
not decoded; ground-truth masks are, since they are small and an all-black or truncated mask
would silently change every metric) and raises :class:`DatasetError` naming the **first** problem:

1. the root folder exists and the dataset name is known;
2. the classes: explicit ones must exist on disk; otherwise every class found on disk is used
   (:func:`resolve_classes`);
3. each class loads in its dataset's layout (see :mod:`topotta_lite.data.loaders`; two files of
   one sample name, such as ``000.png`` and ``000.jpg``, are an error);
4. each class has at least one anomalous test image with a ground-truth mask;
5. every mask decodes, has the size of its image, and marks at least one pixel;
6. with ``maps_dir``: one map per test image (no missing, no extra file) whose header is
   readable (an empty or truncated ``.npy`` is named) and whose shape is the image's size, or the
   same aspect ratio (a map scored at a lower resolution, interpolated later), or the voxel grid
   for 3D data.

The embedded benchmark (``"embedded-2d"``, ``"embedded-2.5d"``, ``"embedded-3d"``) is generated,
so only its class names are checked.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .embedded import list_categories, parse_dataset_name
from .loaders import DATASETS, find_categories, image_size, load_dataset, read_mask
from .maps import ASPECT_TOLERANCE, find_extra_maps, map_shape, match_score_maps, same_aspect
from .types import LazySamples, Sample

__all__ = [
    "ASPECT_TOLERANCE",
    "DatasetError",
    "DatasetReport",
    "check_dataset",
    "check_score_maps",
    "is_embedded",
    "resolve_classes",
]

class DatasetError(ValueError):
    """A dataset (or score-map folder) on disk that the experiments cannot use."""


@dataclass
class DatasetReport:
    """What :func:`check_dataset` found.

    Attributes
    ----------
    dataset, root : str
    classes : list of str
        The classes the experiments will use (explicit, else all found on disk).
    counts : dict
        Per class: ``train`` (nominal train + validation images), ``test_good``,
        ``test_anomalous`` and ``with_mask`` (anomalous test images with a GT mask); empty
        for the embedded benchmark.
    maps_dir : str or None
    """

    dataset: str
    root: str | None
    classes: list[str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    maps_dir: str | None = None

    def summary(self) -> str:
        """One line per class, for a notebook's first cell.

        Examples
        --------
        >>> print(DatasetReport("embedded-2d", None, ["brick"]).summary())
        embedded-2d: 1 class(es): brick
        """
        head = f"{self.dataset}: {len(self.classes)} class(es): {', '.join(self.classes)}"
        if self.root:
            head += f"\n  root: {self.root}"
        if self.maps_dir:
            head += f"\n  score maps: {self.maps_dir}"
        lines = [head]
        for c, n in self.counts.items():
            lines.append(f"  {c}: {n['train']} nominal train, {n['test_good']} good + "
                         f"{n['test_anomalous']} anomalous test images ({n['with_mask']} with mask)")
        return "\n".join(lines)


def is_embedded(dataset: str) -> bool:
    """Whether ``dataset`` names the generated benchmark (``"embedded-<modality>"``).

    Examples
    --------
    >>> is_embedded("embedded-2.5d"), is_embedded("mvtec_ad")
    (True, False)
    """
    return str(dataset).startswith("embedded-")


def _key(dataset: str) -> str:
    return str(dataset).lower().replace("-", "_").replace(" ", "_")


def resolve_classes(dataset: str, data_root: str | os.PathLike | None = None,
                    classes: Sequence[str] | None = None) -> list[str]:
    """The classes an experiment runs on: ``classes`` when given, else every class of the dataset.

    For the embedded benchmark "every class" is its generated categories; for a real dataset it
    is the categories found on disk (:func:`topotta_lite.data.find_categories`), so a folder in
    the MVTec AD layout with classes ``coffee`` and ``rocket`` runs on exactly those two.

    Raises
    ------
    DatasetError
        When the root is missing, an explicit class is not on disk, or no class is found.

    Examples
    --------
    >>> resolve_classes("embedded-3d")
    ['casting', 'composite']
    >>> resolve_classes("embedded-2d", classes=["nut"])
    ['nut']
    >>> resolve_classes("embedded-3d-dev")  # the development part has the same classes
    ['casting', 'composite']
    """
    if isinstance(classes, str):
        classes = [classes]
    if is_embedded(dataset):
        try:
            known = list_categories(parse_dataset_name(dataset)[0])  # "-dev": the same classes
        except ValueError as e:
            raise DatasetError(str(e)) from e
        if classes is None:
            return known
        unknown = [c for c in classes if c not in known]
        if unknown:
            raise DatasetError(f"{dataset} has no class {unknown[0]!r}; it has {known}")
        return list(classes)
    if _key(dataset) not in DATASETS:
        raise DatasetError(f"unknown dataset {dataset!r}; choose from {list(DATASETS)} or "
                           "embedded-2d / embedded-2.5d / embedded-3d")
    if data_root is None:
        raise DatasetError(f"dataset {dataset!r} is read from disk: give data_root (the folder "
                           "that holds its class folders)")
    root = Path(data_root)
    if not root.is_dir():
        raise DatasetError(f"data_root of {dataset} not found: {root}")
    try:
        found = find_categories(root, _key(dataset))
    except (FileNotFoundError, ValueError, KeyError) as e:
        raise DatasetError(f"{dataset} at {root}: {e}") from e
    if classes is None:
        if not found:
            raise DatasetError(
                f"no {dataset} class folder in {root}: expected <root>/<class>/train/... "
                "(the layouts are listed in topotta_lite/data/README.md)")
        return found
    missing = [c for c in classes if c not in found]
    if missing:
        raise DatasetError(f"class {missing[0]!r} not found in {root} ({dataset} layout); "
                           f"classes found there: {found}")
    return list(classes)


def _image_size(path: Path) -> tuple[int, int] | None:
    """(H, W) from an image header (as the loaders read it), or None for a point cloud."""
    if Path(path).suffix.lower() in (".pcd", ".txt", ".npy"):
        return None
    try:
        return image_size(path)
    except ValueError as e:
        raise DatasetError(str(e)) from e


def _mask_files(gt) -> list[Path]:
    gt = Path(gt)
    if gt.is_dir():
        return sorted(p for p in gt.iterdir() if p.is_file() and not p.name.startswith("."))
    return [gt]


def _light_sample(record, modality: str) -> Sample:
    """A stand-in Sample (no pixels) carrying what map matching needs: name, defect, stem."""
    defect, stem = str(record[0]), str(record[1])
    return Sample(None, np.zeros((0,) * (3 if modality == "3d" else 2), bool),
                  int(defect != "good"), f"{defect}_{stem}", defect,
                  meta={"stem": stem, "path": str(record[2])})


def check_score_maps(maps_dir: str | os.PathLike, dataset: str, category: str,
                     records: Sequence, *, modality: str = "2d") -> int:
    """Check a class's score maps against its test records; return the number of maps.

    ``records`` are the loader's test records (:attr:`LazySamples.records`). Every test image
    needs one map; a map file under ``<maps_dir>/<category>/`` that matches no test image is an
    error too (see :func:`topotta_lite.data.find_extra_maps`). A 2D map must be 2D with the size
    of its image or the same aspect ratio (within :data:`ASPECT_TOLERANCE`); a 3D map must be 3D.

    Raises
    ------
    DatasetError
        Naming the first missing, extra, unreadable or mis-shaped map.
    """
    samples = [_light_sample(r, modality) for r in records]
    try:
        paths = match_score_maps(maps_dir, samples, category=category)
    except (FileNotFoundError, ValueError) as e:
        raise DatasetError(f"{dataset}/{category}: {e}") from e
    extras = find_extra_maps(maps_dir, category, paths)
    if extras:
        from .maps import _extra_message

        raise DatasetError(f"{dataset}/{category}: "
                           + _extra_message(extras, Path(maps_dir) / category))
    want_dims = 3 if modality == "3d" else 2
    for rec, path in zip(records, paths):
        try:
            shape = map_shape(path)
        except ValueError as e:
            raise DatasetError(f"{dataset}/{category}: {e}") from e
        if len(shape) != want_dims:
            raise DatasetError(f"{dataset}/{category}: score map {path} has shape {shape}; "
                               f"a {modality} map must have {want_dims} dimensions")
        if want_dims == 2:
            size = _image_size(Path(rec[2]))
            if size is not None and shape != size and not same_aspect(shape, size):
                raise DatasetError(
                    f"{dataset}/{category}: score map {path} has shape {shape} but its image "
                    f"{rec[2]} is {size[0]}x{size[1]} (H x W): a map must have the image's size "
                    "or at least its aspect ratio")
    return len(paths)


def _check_class(dataset: str, root: Path, category: str, maps_dir) -> dict[str, int]:
    key = _key(dataset)
    try:
        split = load_dataset(key, root, category, resize=None, lazy=True) if key != \
            "anomaly_shapenet" else load_dataset(key, root, category, lazy=True)
    except (FileNotFoundError, ValueError) as e:
        raise DatasetError(f"{dataset}/{category}: {e}") from e
    test = split.test
    records = test.records if isinstance(test, LazySamples) else ()
    n_train = len(split.train) + len(split.validation)
    anomalous = [r for r in records if r[0] != "good"]
    with_mask = [r for r in anomalous if r[-1] is not None]
    if not with_mask:
        raise DatasetError(
            f"{dataset}/{category}: no anomalous test image with a ground-truth mask "
            f"({len(records)} test images, {len(anomalous)} anomalous); the per-pixel metrics "
            "need at least one")
    for rec in with_mask:
        size = _image_size(Path(rec[2]))
        if size is None:
            continue
        marked = 0
        for mpath in _mask_files(rec[-1]):
            try:
                mask = read_mask(mpath)
            except ValueError as e:
                raise DatasetError(f"{dataset}/{category}: {e}") from e
            if mask.shape != size:
                raise DatasetError(
                    f"{dataset}/{category}: mask {mpath} is {mask.shape[0]}x{mask.shape[1]} "
                    f"(H x W) but its image {rec[2]} is {size[0]}x{size[1]}")
            marked += int(np.count_nonzero(mask))
        if not marked:
            raise DatasetError(
                f"{dataset}/{category}: the ground truth of anomalous image {rec[2]} is all black "
                f"({', '.join(str(m) for m in _mask_files(rec[-1]))}): no pixel is marked, so "
                "every metric of this image would be 0; fix the mask or move the image to good")
    if maps_dir is not None:
        check_score_maps(maps_dir, dataset, category, records, modality=split.modality)
    return {"train": n_train, "test_good": len(records) - len(anomalous),
            "test_anomalous": len(anomalous), "with_mask": len(with_mask)}


def check_dataset(dataset: str, data_root: str | os.PathLike | None = None,
                  classes: Sequence[str] | None = None, *,
                  maps_dir: str | os.PathLike | None = None) -> DatasetReport:
    """Check a dataset (and optionally a score-map folder) on disk; return what was found.

    Parameters
    ----------
    dataset : str
        A name of :data:`topotta_lite.data.DATASETS` (``"mvtec_ad"``, ...) or an embedded one.
    data_root : path, optional
        The folder holding the class folders (required for a real dataset).
    classes : sequence of str, optional
        Classes to use; ``None``: every class found on disk.
    maps_dir : path, optional
        A folder of your own score maps (``.npy`` / float ``.tiff``) to check against the
        test images.

    Returns
    -------
    DatasetReport

    Raises
    ------
    DatasetError
        A ``ValueError`` naming the first problem (see the module docstring for the order).

    Examples
    --------
    >>> check_dataset("embedded-2d").classes[:2]
    ['brick', 'grass']
    >>> check_dataset("mvtec_ad", "/nonexistent")
    Traceback (most recent call last):
    ...
    topotta_lite.data.checks.DatasetError: data_root of mvtec_ad not found: /nonexistent
    """
    chosen = resolve_classes(dataset, data_root, classes)
    if is_embedded(dataset):
        if maps_dir is not None and not Path(maps_dir).is_dir():
            raise DatasetError(f"score-map folder not found: {maps_dir}")
        return DatasetReport(str(dataset), None, chosen,
                             maps_dir=None if maps_dir is None else str(maps_dir))
    if maps_dir is not None and not Path(maps_dir).is_dir():
        raise DatasetError(f"score-map folder not found: {maps_dir}")
    root = Path(data_root)
    counts = {c: _check_class(dataset, root, c, maps_dir) for c in chosen}
    return DatasetReport(str(dataset), str(root), chosen, counts,
                         None if maps_dir is None else str(maps_dir))
