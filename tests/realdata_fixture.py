"""A tiny dataset in the exact MVTec AD layout, and score maps for it, written into a folder.

Used by ``test_realdata.py`` and ``test_report.py``. Two classes whose names are not those of the
embedded benchmark (``coffee``, ``rocket``), so that a run that silently used the embedded class
list fails. Images are textured (seeded), each anomalous one has a bright defect and its mask::

    <root>/<class>/train/good/000.png ...
    <root>/<class>/test/good/000.png
    <root>/<class>/test/<defect>/000.png
    <root>/<class>/ground_truth/<defect>/000_mask.png
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

CLASSES = {"coffee": ("scratch", "stain"), "rocket": ("dent",)}
SIZE = 48  # native image size (pixels); the loaders resize to 224


def _image(rng, defect_box=None) -> np.ndarray:
    base = rng.normal(110, 12, (SIZE, SIZE, 1)) + np.linspace(0, 30, SIZE)[None, :, None]
    img = np.repeat(base, 3, axis=2)
    if defect_box is not None:
        y0, y1, x0, x1 = defect_box
        img[y0:y1, x0:x1] += 90
    return np.clip(img, 0, 255).astype(np.uint8)


def write_mvtec(root: Path, classes=CLASSES, *, n_train: int = 6, n_good: int = 2,
                n_per_defect: int = 2, seed: int = 0) -> dict[str, dict]:
    """Write the dataset; return, per class, each test image's mask keyed by ``(defect, stem)``."""
    rng = np.random.default_rng(seed)
    truth = {}
    for cls, defects in classes.items():
        c = Path(root) / cls
        for d in (c / "train" / "good", c / "test" / "good"):
            d.mkdir(parents=True, exist_ok=True)
        for i in range(n_train):
            Image.fromarray(_image(rng)).save(c / "train" / "good" / f"{i:03d}.png")
        masks = {}
        for i in range(n_good):
            Image.fromarray(_image(rng)).save(c / "test" / "good" / f"{i:03d}.png")
            masks["good", f"{i:03d}"] = np.zeros((SIZE, SIZE), bool)
        for defect in defects:
            (c / "test" / defect).mkdir(parents=True, exist_ok=True)
            (c / "ground_truth" / defect).mkdir(parents=True, exist_ok=True)
            for i in range(n_per_defect):
                y0, x0 = rng.integers(6, SIZE - 18, 2)
                box = (y0, y0 + 10, x0, x0 + 12)
                Image.fromarray(_image(rng, box)).save(c / "test" / defect / f"{i:03d}.png")
                m = np.zeros((SIZE, SIZE), np.uint8)
                m[box[0]:box[1], box[2]:box[3]] = 255
                Image.fromarray(m).save(c / "ground_truth" / defect / f"{i:03d}_mask.png")
                masks[defect, f"{i:03d}"] = m > 0
        truth[cls] = masks
    return truth


def fake_map(mask: np.ndarray, seed: int) -> np.ndarray:
    """A plausible detector output: the defect raised above smooth noise, float32."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    m = gaussian_filter(mask.astype(np.float64), 1.5) * 2.0 + gaussian_filter(
        rng.normal(0, 1, mask.shape), 2.0)
    return m.astype(np.float32)


def write_maps(maps_dir: Path, truth: dict[str, dict], suffix: str = ".tiff",
               train_root: Path | None = None) -> None:
    """Maps in the MVTec evaluation layout ``<dir>/<class>/test/<defect>/<stem><suffix>``.

    With ``train_root`` (the dataset root) maps of the nominal train images are written too,
    under ``<dir>/<class>/train/good/`` (THR reads its threshold from them).
    """
    for k, (cls, masks) in enumerate(sorted(truth.items())):
        for j, ((defect, stem), mask) in enumerate(sorted(masks.items())):
            p = Path(maps_dir) / cls / "test" / defect / f"{stem}{suffix}"
            _save(p, fake_map(mask, 100 * k + j))
        if train_root is not None:
            for j, img in enumerate(sorted((Path(train_root) / cls / "train" / "good").glob("*.png"))):
                p = Path(maps_dir) / cls / "train" / "good" / f"{img.stem}{suffix}"
                _save(p, fake_map(np.zeros((SIZE, SIZE), bool), 1000 + 100 * k + j))


def _save(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, arr)
    else:
        tifffile.imwrite(path, arr)
