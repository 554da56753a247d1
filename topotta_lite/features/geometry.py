"""Backbones for geometry: 2.5D depth / point maps and 3D voxel volumes."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ._base import Backbone, _float_array, _pool_scales, gaussian_blur


# --------------------------------------------------------------------------------------------
# 2.5D: depth / point maps
# --------------------------------------------------------------------------------------------
def _prepare_depth(inputs: Any) -> torch.Tensor:
    """Depth (N, H, W) or xyz (N, H, W, 3) -> (N, 2, H, W): z (invalid -> 0) and a valid mask."""
    arr = _float_array(inputs)
    if arr.ndim == 4 and arr.shape[-1] == 3:
        valid = np.isfinite(arr).all(-1) & (np.abs(arr).sum(-1) > 0)
        arr = arr[..., 2]
    elif arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3 and arr.shape[0] != 3):
        raise ValueError(f"depth maps must be (N, H, W) or (N, H, W, 3), got {arr.shape}")
    elif arr.ndim == 3:
        valid = np.isfinite(arr)
    else:
        raise ValueError(f"depth maps must be (N, H, W) or (N, H, W, 3), got {arr.shape}")
    z = np.where(valid, arr, 0.0).astype(np.float32)
    return torch.from_numpy(np.stack([z, valid.astype(np.float32)], axis=1))


class DepthBackbone(Backbone):
    """Geometric features of depth / xyz point maps (2.5D), stride 4.

    Base maps: depth, validity, relief ``z - G_s * z`` at ``relief_sigmas`` (signed and
    absolute), unit normals (nx, ny, nz), mean curvature (Laplacian of the smoothed depth) at
    ``curv_sigmas``, Gaussian curvature and slope at sigma 2; pooled like the filter bank.
    Depth is expected in consistent units across images (scorers standardise channels).

    Examples
    --------
    >>> DepthBackbone()(np.zeros((1, 32, 32))).shape
    (1, 48, 8, 8)
    """

    name = "depth"
    input_kind = "depth"

    def __init__(
        self,
        *,
        stride: int = 4,
        scales: tuple[float, ...] = (0.0, 1.0, 2.0),
        relief_sigmas: tuple[float, ...] = (2.0, 4.0, 8.0),
        curv_sigmas: tuple[float, ...] = (1.0, 2.0, 4.0),
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(device)
        self.stride = int(stride)
        self.scales = tuple(scales)
        self.relief_sigmas = tuple(relief_sigmas)
        self.curv_sigmas = tuple(curv_sigmas)
        n_base = 2 + 2 * len(self.relief_sigmas) + 3 + len(self.curv_sigmas) + 2
        self.out_channels = n_base * len(self.scales)

    def _prepare(self, inputs: Any) -> torch.Tensor:
        return _prepare_depth(inputs)

    @staticmethod
    def _grad(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zp = F.pad(z, (1, 1, 1, 1), mode="replicate")
        gx = (zp[:, :, 1:-1, 2:] - zp[:, :, 1:-1, :-2]) * 0.5
        gy = (zp[:, :, 2:, 1:-1] - zp[:, :, :-2, 1:-1]) * 0.5
        return gx, gy

    def base_maps(self, x: torch.Tensor) -> torch.Tensor:
        z, valid = x[:, 0:1], x[:, 1:2]
        maps = [z, valid]
        for s in self.relief_sigmas:
            rel = z - gaussian_blur(z, s)
            maps += [rel, rel.abs()]
        zs = gaussian_blur(z, 1.0)
        gx, gy = self._grad(zs)
        norm = torch.sqrt(1 + gx**2 + gy**2)
        maps += [-gx / norm, -gy / norm, 1 / norm]
        for s in self.curv_sigmas:
            zs = gaussian_blur(z, s)
            gx, gy = self._grad(zs)
            gxx, gxy = self._grad(gx)
            _, gyy = self._grad(gy)
            maps.append((gxx + gyy) * s**2)
        zs = gaussian_blur(z, 2.0)
        gx, gy = self._grad(zs)
        gxx, gxy = self._grad(gx)
        _, gyy = self._grad(gy)
        maps.append((gxx * gyy - gxy**2) / (1 + gx**2 + gy**2) ** 2 * 16.0)
        maps.append(torch.sqrt(gx**2 + gy**2 + 1e-12))
        return torch.cat(maps, dim=1)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return _pool_scales(self.base_maps(x), self.stride, self.scales)


# --------------------------------------------------------------------------------------------
# 3D: voxel volumes
# --------------------------------------------------------------------------------------------
class VoxelBackbone(Backbone):
    """Features of voxel volumes ``(N, D, H, W)`` -> ``(N, C, D/s, H/s, W/s)``, stride 2.

    Base maps: intensity, Gaussian blurs and reliefs ``v - G_s * v`` at ``sigmas`` (signed and
    absolute), Laplacian of Gaussian at ``sigmas`` and gradient magnitude; average-pooled by the
    stride and blurred at ``scales`` (cells).

    Examples
    --------
    >>> VoxelBackbone()(np.zeros((1, 8, 8, 8))).shape
    (1, 22, 4, 4, 4)
    """

    name = "voxel"
    input_kind = "volume"
    batch_size = 2

    def __init__(
        self,
        *,
        stride: int = 2,
        scales: tuple[float, ...] = (0.0, 1.0),
        sigmas: tuple[float, ...] = (1.0, 2.0),
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(device)
        self.stride = int(stride)
        self.scales = tuple(scales)
        self.sigmas = tuple(sigmas)
        self.out_channels = (1 + 4 * len(self.sigmas) + 2) * len(self.scales)

    def _prepare(self, inputs: Any) -> torch.Tensor:
        arr = _float_array(inputs)
        if arr.ndim == 3:
            arr = arr[None]
        if arr.ndim != 4:
            raise ValueError(f"volumes must be (N, D, H, W), got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("volumes hold NaN or infinite values")
        return torch.from_numpy(np.ascontiguousarray(arr[:, None]))

    @staticmethod
    def _grad_mag(v: torch.Tensor) -> torch.Tensor:
        vp = F.pad(v, (1, 1, 1, 1, 1, 1), mode="replicate")
        gz = vp[:, :, 2:, 1:-1, 1:-1] - vp[:, :, :-2, 1:-1, 1:-1]
        gy = vp[:, :, 1:-1, 2:, 1:-1] - vp[:, :, 1:-1, :-2, 1:-1]
        gx = vp[:, :, 1:-1, 1:-1, 2:] - vp[:, :, 1:-1, 1:-1, :-2]
        return 0.5 * torch.sqrt(gx**2 + gy**2 + gz**2 + 1e-12)

    def base_maps(self, v: torch.Tensor) -> torch.Tensor:
        maps = [v]
        for s in self.sigmas:
            b = gaussian_blur(v, s)
            rel = v - b
            b2 = gaussian_blur(v, s * 1.6)
            dog = (b - b2) * 2.0
            maps += [b, rel, rel.abs(), dog]
        maps.append(self._grad_mag(gaussian_blur(v, 1.0)))
        maps.append(self._grad_mag(gaussian_blur(v, 2.0)) * 2.0)
        return torch.cat(maps, dim=1)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.base_maps(x)
        d, h, w = maps.shape[-3:]
        s = self.stride
        if d % s or h % s or w % s:
            grid = F.adaptive_avg_pool3d(maps, (max(1, d // s), max(1, h // s), max(1, w // s)))
        else:
            grid = F.avg_pool3d(maps, s)
        return torch.cat([grid if sc <= 0 else gaussian_blur(grid, sc) for sc in self.scales], 1)


