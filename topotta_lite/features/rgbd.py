"""RGB-D features for 2.5D data: an image backbone and the depth backbone side by side.

Industrial 2.5D benchmarks (MVTec 3D-AD and our embedded 2.5D set) give every sample an RGB image
*and* a depth / point map. Multimodal detectors such as M3DM describe each location with both; we
do the same in the simplest way: the image backbone (default the ImageNet-pretrained
EfficientNet-Lite0) and the geometric depth backbone run on their own inputs, the finer grid is
average-pooled to the coarser one, and the two feature stacks are concatenated. Scorers
standardise every channel with nominal statistics, so neither modality dominates by scale.

Inputs are ``(N, H, W, 4)`` arrays (RGB in [0, 1], then depth; invalid depth as NaN or 0) or
samples that carry both ``image`` and ``depth`` (:func:`topotta_lite.scorers.inputs_from` stacks
them).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from ._base import Backbone, _float_array, _to_tensor_images
from .geometry import DepthBackbone, _prepare_depth

__all__ = ["RGBDBackbone"]


class RGBDBackbone(Backbone):
    """Image features and depth features concatenated on one grid (2.5D).

    Parameters
    ----------
    image : Backbone
        An RGB backbone (``input_kind == "image"``).
    depth : Backbone or None
        A depth backbone; default :class:`DepthBackbone` with the image backbone's stride.
    device : str or torch.device

    Examples
    --------
    >>> import numpy as np
    >>> from topotta_lite.features import get_backbone
    >>> bb = get_backbone("rgbd", weights="random")
    >>> x = np.concatenate([np.zeros((1, 32, 32, 3)), np.ones((1, 32, 32, 1))], axis=-1)
    >>> f = bb(x)
    >>> f.shape[0], f.shape[2:] == bb.grid_shape((32, 32)), f.shape[1] == bb.image.out_channels + 48
    (1, True, True)
    """

    name = "rgbd"
    input_kind = "rgbd"
    batch_size = 8

    def __init__(self, image: Backbone, depth: Backbone | None = None,
                 device: str | torch.device = "cpu") -> None:
        super().__init__(device)
        if getattr(image, "input_kind", None) != "image":
            raise ValueError(f"image must be an RGB backbone, got {image!r}")
        self.image = image
        self.depth = depth if depth is not None else DepthBackbone(stride=image.stride, device=device)
        if self.depth.input_kind != "depth":
            raise ValueError(f"depth must be a depth backbone, got {self.depth!r}")
        self.stride = max(self.image.stride, self.depth.stride)

    def _prepare(self, inputs: Any) -> torch.Tensor:
        arr = _float_array(inputs)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4 or arr.shape[-1] != 4:
            raise ValueError(f"RGB-D inputs must have shape (N, H, W, 4), got {arr.shape}")
        rgb = _to_tensor_images(arr[..., :3], name="RGB part of the RGB-D inputs")
        return torch.cat([rgb, _prepare_depth(arr[..., 3])], dim=1)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        f_img = self.image._forward(x[:, :3])
        f_dep = self.depth._forward(x[:, 3:])
        grid = tuple(min(a, b) for a, b in zip(f_img.shape[-2:], f_dep.shape[-2:]))
        parts = [f if tuple(f.shape[-2:]) == grid else F.adaptive_avg_pool2d(f, grid)
                 for f in (f_img, f_dep)]
        return torch.cat(parts, dim=1)

    def grid_shape(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        a, b = self.image.grid_shape(spatial), self.depth.grid_shape(spatial)
        return tuple(min(x, y) for x, y in zip(a, b))

    def __repr__(self) -> str:
        return f"RGBDBackbone(image={self.image!r}, depth={self.depth!r})"
