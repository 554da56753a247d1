"""The two data objects every loader returns: :class:`Sample` and :class:`ClassSplit`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ClassSplit", "LazySamples", "Sample"]


@dataclass(eq=False)  # arrays inside: compare by identity
class Sample:
    """One image (or depth map, or volume) with its ground truth.

    Attributes
    ----------
    image : ndarray or None
        ``(H, W, 3)`` float32 RGB in [0, 1] (2D; for 2.5D the shaded rendering); None for voxels.
    mask : ndarray
        Boolean ground truth with the spatial shape of the score map: ``(H, W)`` or ``(D, H, W)``.
    label : int
        0 nominal, 1 anomalous.
    name : str
        Unique within its split, e.g. ``"crack_003"``.
    defect : str
        ``"good"`` or the defect type.
    depth : ndarray or None
        ``(H, W)`` float32 distance from the camera (2.5D), the z channel of the point map.
    volume : ndarray or None
        ``(D, H, W)`` float32 intensities (voxel data).
    xyz : ndarray or None
        ``(H, W, 3)`` float32 point map when the source has one (MVTec 3D-AD), zeros = no point.
    meta : dict
        Free extras (source paths, point clouds, ...); never needed by the pipeline.

    Examples
    --------
    >>> s = Sample(image=None, mask=np.zeros((4, 4), bool), label=0, name="good_000", defect="good")
    >>> s.spatial_shape
    (4, 4)
    """

    image: np.ndarray | None
    mask: np.ndarray
    label: int
    name: str
    defect: str
    depth: np.ndarray | None = None
    volume: np.ndarray | None = None
    xyz: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """Shape of the ground-truth mask, i.e. of the score map this sample needs."""
        return tuple(self.mask.shape)

    @property
    def data(self) -> np.ndarray:
        """The main array: volume for voxels, else the RGB image, else the depth map."""
        for arr in (self.volume, self.image, self.depth):
            if arr is not None:
                return arr
        raise ValueError(f"sample {self.name!r} holds no image, depth or volume")


class LazySamples(Sequence):
    """A read-only list of samples built on access (``lazy=True`` loaders).

    Each ``lazy[i]`` calls the loader again (nothing is cached), so memory stays flat.

    Examples
    --------
    >>> lazy = LazySamples([3, 4], lambda n: n * 2)
    >>> list(lazy)
    [6, 8]
    """

    def __init__(self, items: Sequence[Any], build: Callable[[Any], Sample]):
        self._items = list(items)
        self._build = build

    def __len__(self) -> int:
        return len(self._items)

    @property
    def records(self) -> tuple:
        """The loader's records, one per sample, without reading any file.

        Real-dataset loaders store ``(defect, stem, image_path, ..., gt)`` tuples: the defect
        type, the file stem, the main input file and, last, the ground truth (a mask file, a
        folder of masks, or ``None`` for a nominal image). :mod:`topotta_lite.data.checks`
        reads them to check a dataset quickly.

        Examples
        --------
        >>> LazySamples([("good", "000", "a.png", None)], print).records[0][1]
        '000'
        """
        return tuple(self._items)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return LazySamples(self._items[index], self._build)
        return self._build(self._items[index])

    def __iter__(self) -> Iterator[Sample]:
        for item in self._items:
            yield self._build(item)

    def __repr__(self) -> str:
        return f"LazySamples(n={len(self)})"


@dataclass
class ClassSplit:
    """One class (category) of one dataset: nominal train / nominal validation / test.

    Examples
    --------
    >>> m = np.zeros((2, 2), bool)
    >>> cs = ClassSplit("toy", "a", "2d", [], [], [Sample(None, m, 0, "good_000", "good")])
    >>> cs.counts()
    {'train': 0, 'validation': 0, 'test_good': 1, 'test_anomalous': 0}
    """

    dataset: str
    category: str
    modality: str  # "2d" | "2.5d" | "3d"
    train: Sequence[Sample]
    validation: Sequence[Sample]
    test: Sequence[Sample]
    files: Sequence[Path] = ()  # every file the loader reads (for cache fingerprints); () if generated

    def require(self, *, train: int = 1, validation: int = 0, test: int = 1) -> ClassSplit:
        """Raise a ``ValueError`` naming the class when a split has fewer samples than asked.

        Examples
        --------
        >>> m = np.zeros((2, 2), bool)
        >>> cs = ClassSplit("toy", "a", "2d", [Sample(None, m, 0, "x", "good")], [], [])
        >>> cs.require(train=1, validation=1)
        Traceback (most recent call last):
        ...
        ValueError: class 'a' of toy has 0 validation image(s); at least 1 needed
        """
        for name, need in (("train", train), ("validation", validation), ("test", test)):
            have = len(getattr(self, name))
            if have < need:
                raise ValueError(f"class {self.category!r} of {self.dataset} has {have} {name} "
                                 f"image(s); at least {need} needed")
        return self

    def split(self, name: str) -> Sequence[Sample]:
        """Return the split called ``"train"``, ``"validation"`` (or ``"val"``) or ``"test"``."""
        key = {"val": "validation"}.get(name, name)
        if key not in ("train", "validation", "test"):
            raise ValueError(f"split must be 'train', 'validation' or 'test', got {name!r}")
        return getattr(self, key)

    def stack(self, split: str, attr: str = "image") -> np.ndarray:
        """Stack one attribute of every sample of a split, e.g. ``stack("train")`` -> (N, H, W, 3).

        Examples
        --------
        >>> m = np.zeros((2, 2), bool)
        >>> cs = ClassSplit("t", "a", "2d", [Sample(None, m, 0, "x", "good")], [], [])
        >>> cs.stack("train", "mask").shape
        (1, 2, 2)
        """
        samples = self.split(split)
        arrays = [getattr(s, attr) for s in samples]
        if not arrays:
            raise ValueError(f"split {split!r} of {self.category!r} is empty")
        if any(a is None for a in arrays):
            raise ValueError(f"attribute {attr!r} is None for some samples of {self.category!r}")
        return np.stack(arrays)

    @property
    def labels(self) -> np.ndarray:
        """Test labels as an int array."""
        return np.array([s.label for s in self.test], dtype=int)

    def counts(self) -> dict[str, int]:
        """Number of samples per split (test split into good / anomalous)."""
        n_bad = sum(int(s.label == 1) for s in self.test)
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test_good": len(self.test) - n_bad,
            "test_anomalous": n_bad,
        }
