"""A notebook-friendly overview figure of a dataset: nominal / anomalous / GT per class."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .types import ClassSplit, Sample

__all__ = ["gallery", "sample_view"]


def _depth_view(depth: np.ndarray) -> np.ndarray:
    d = np.asarray(depth, float)
    valid = d > 0
    if not valid.any():
        return np.zeros_like(d)
    lo, hi = np.percentile(d[valid], [1, 99])
    return np.clip((hi - d) / (hi - lo + 1e-12), 0, 1) * valid  # near = bright


def sample_view(
    sample: Sample, channel: str = "auto", view: str = "slice"
) -> tuple[np.ndarray, np.ndarray]:
    """A 2D picture of a sample and the matching 2D GT, for display.

    Parameters
    ----------
    channel : {"auto", "image", "depth"}
        For 2.5D samples: the shaded RGB rendering or the depth map ("auto" = depth).
    view : {"slice", "mip"}
        For volumes: the axial slice holding most GT voxels (the middle one if no GT), or the
        maximum-intensity projection along the first axis (GT projected the same way).

    Examples
    --------
    >>> s = Sample(None, np.zeros((4, 5, 6), bool), 0, "g", "good", volume=np.zeros((4, 5, 6)))
    >>> [a.shape for a in sample_view(s)]
    [(5, 6), (5, 6)]
    """
    if sample.volume is not None:
        vol, gt = sample.volume, sample.mask
        if view == "mip":
            return vol.max(axis=0), gt.any(axis=0)
        per = gt.reshape(gt.shape[0], -1).sum(axis=1)
        k = int(np.argmax(per)) if per.any() else gt.shape[0] // 2
        return vol[k], gt[k]
    if sample.depth is not None and (channel == "depth" or (channel == "auto")):
        return _depth_view(sample.depth), sample.mask
    if sample.image is not None:
        return sample.image, sample.mask
    return _depth_view(sample.depth), sample.mask


def _overlay(img: np.ndarray, gt: np.ndarray) -> np.ndarray:
    rgb = np.repeat(img[..., None], 3, axis=-1) if img.ndim == 2 else np.array(img, float)
    rgb = np.clip(rgb, 0, 1).astype(float)
    red = np.array([1.0, 0.1, 0.1])
    rgb[gt] = 0.45 * rgb[gt] + 0.55 * red
    return rgb


def gallery(
    splits: Mapping[str, ClassSplit] | ClassSplit,
    n: int = 3,
    *,
    channel: str = "auto",
    view: str = "slice",
    cell: float = 1.6,
):
    """Grid figure: one row per class; a nominal test image, then ``n`` anomalous ones with
    their GT overlaid (red) next to each.

    Parameters
    ----------
    splits : dict[str, ClassSplit] or ClassSplit
        E.g. the output of :func:`load_embedded`.
    n : int
        Anomalous samples per class (different defect types first).
    channel, view
        See :func:`sample_view`.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> m = np.zeros((8, 8), bool); m[2:4, 2:4] = True
    >>> s0 = Sample(np.zeros((8, 8, 3)), np.zeros((8, 8), bool), 0, "good_000", "good")
    >>> s1 = Sample(np.ones((8, 8, 3)), m, 1, "crack_000", "crack")
    >>> fig = gallery(ClassSplit("t", "a", "2d", [], [], [s0, s1]), n=1)
    >>> len(fig.axes)
    3
    """
    import matplotlib.pyplot as plt

    if isinstance(splits, ClassSplit):
        splits = {splits.category: splits}
    if not splits:
        raise ValueError("gallery needs at least one ClassSplit")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    ncols = 1 + 2 * n
    fig, axes = plt.subplots(
        len(splits), ncols, figsize=(cell * ncols, cell * len(splits)), squeeze=False
    )
    for row, (cat, cs) in enumerate(splits.items()):
        good = [s for s in cs.test if s.label == 0] or list(cs.train[:1])
        bad = [s for s in cs.test if s.label == 1]
        # one of each defect type first, then the rest
        seen, order = set(), []
        for s in bad:
            if s.defect not in seen:
                order.append(s)
                seen.add(s.defect)
        order += [s for s in bad if all(s is not o for o in order)]
        cells: list[tuple[np.ndarray | None, str, bool]] = []
        if good:
            cells.append((sample_view(good[0], channel, view)[0], "nominal", False))
        else:
            cells.append((None, "", False))
        for s in order[:n]:
            img, gt = sample_view(s, channel, view)
            cells.append((img, s.defect, False))
            cells.append((_overlay(img, gt), "GT", True))
        for col in range(ncols):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if col >= len(cells) or cells[col][0] is None:
                continue
            img, title, _ = cells[col]
            ax.imshow(
                img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest"
            )
            ax.set_title(title, fontsize=7)
        axes[row, 0].set_ylabel(cat, fontsize=8)
    fig.tight_layout()
    return fig
