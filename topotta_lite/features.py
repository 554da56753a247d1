"""Frozen feature extractors ("backbones") that turn inputs into dense feature grids.

Every backbone maps a batch of inputs to a float32 numpy array of shape ``(N, C, h, w)`` (or
``(N, C, d, h, w)`` for voxel volumes). The grid is coarser than the input by ``backbone.stride``
pixels per cell: cell ``(i, j)`` summarises the input around pixel ``(stride * i + stride / 2,
stride * j + stride / 2)``; scorers upsample their maps back to the input resolution.

Backbones available through :func:`get_backbone`:

=============== ========== ====== =====================================================================
name            input      stride features
=============== ========== ====== =====================================================================
``filterbank``  RGB image  4      fixed multi-scale filter bank (colour, Gabor, LoG, gradients), the
                                  offline default: no weights to download
``randconv``    RGB image  4      seeded random convolutional network (3 stages, two taps)
``dino_vits8``  RGB image  8      DINO ViT-S/8 patch tokens (timm ``vit_small_patch8_224.dino`` keys)
``dino_vitb8``  RGB image  8      DINO ViT-B/8 patch tokens (timm ``vit_base_patch8_224.dino`` keys)
``depth``       depth map  4      2.5D geometry: relief at several scales, normals, curvatures
``voxel``       volume     2      3D intensity, blur, relief, LoG and gradient responses
=============== ========== ====== =====================================================================

The DINO backbones are our own small ViT whose parameter names match timm's state dicts, so a
checkpoint the user already has on disk (``.pth``, ``.bin`` or ``.safetensors``; the original DINO
release or timm's Hugging Face files) loads with strict key checking. Nothing here touches the
network.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BACKBONES",
    "DINO_CONFIGS",
    "Backbone",
    "DepthBackbone",
    "DinoViTBackbone",
    "FilterBankBackbone",
    "RandConvBackbone",
    "ViT",
    "VoxelBackbone",
    "find_cached_weights",
    "get_backbone",
    "load_state_dict_file",
    "resolve_device",
    "timm_vit_state_dict_keys",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------------------------
# small torch helpers
# --------------------------------------------------------------------------------------------
def resolve_device(device: str | torch.device = "cpu") -> torch.device:
    """Return a usable torch device, falling back to CPU with a warning when CUDA is absent.

    Examples
    --------
    >>> resolve_device("cpu").type
    'cpu'
    """
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        warnings.warn("CUDA was requested but is not available; using the CPU", stacklevel=2)
        return torch.device("cpu")
    return dev


def _gaussian_kernel1d(sigma: float, truncate: float = 3.0) -> torch.Tensor:
    radius = max(1, math.ceil(truncate * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a ``(N, C, *spatial)`` tensor (2 or 3 spatial dims), reflect-padded.

    Examples
    --------
    >>> gaussian_blur(torch.ones(1, 1, 8, 8), 1.0).shape
    torch.Size([1, 1, 8, 8])
    """
    if sigma <= 0:
        return x
    nsp = x.ndim - 2
    k = _gaussian_kernel1d(sigma).to(x.device, x.dtype)
    c = x.shape[1]
    out = x
    for axis in range(nsp):
        size = out.shape[2 + axis]
        r = min((k.numel() - 1) // 2, size - 1)
        kk = k if r == (k.numel() - 1) // 2 else _gaussian_kernel1d_trunc(k, r)
        shape = [1] * nsp
        shape[axis] = kk.numel()
        weight = kk.reshape(1, 1, *shape).repeat(c, 1, *([1] * nsp))
        pad = [0, 0] * nsp
        # F.pad lists the last dimension first
        pad[2 * (nsp - 1 - axis)] = r
        pad[2 * (nsp - 1 - axis) + 1] = r
        if r > 0:
            out = F.pad(out, pad, mode="reflect" if size > 1 else "replicate")
        conv = F.conv2d if nsp == 2 else F.conv3d
        out = conv(out, weight, groups=c)
    return out


def _gaussian_kernel1d_trunc(k: torch.Tensor, r: int) -> torch.Tensor:
    mid = (k.numel() - 1) // 2
    kk = k[mid - r : mid + r + 1]
    return kk / kk.sum()


def _conv_same(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """2D convolution with reflect padding so the output keeps the input size."""
    kh, kw = weight.shape[-2:]
    ph, pw = kh // 2, kw // 2
    h, w = x.shape[-2:]
    mode = "reflect" if (ph < h and pw < w) else "replicate"
    return F.conv2d(F.pad(x, (pw, pw, ph, ph), mode=mode), weight)


def _float_array(inputs: Any) -> np.ndarray:
    """A float32 numpy array from a tensor, a list of arrays or an array."""
    if hasattr(inputs, "detach"):
        return inputs.detach().cpu().float().numpy()
    if isinstance(inputs, (list, tuple)):
        return np.stack([np.asarray(a, dtype=np.float32) for a in inputs])
    return np.asarray(inputs, dtype=np.float32)


def _to_tensor_images(images: Any, name: str = "images") -> torch.Tensor:
    """(N, H, W, 3) or (H, W, 3) array/tensor in [0, 1] -> (N, 3, H, W) float32 tensor."""
    arr = _float_array(images)
    if arr.ndim == 3 and arr.shape[-1] in (1, 3):
        arr = arr[None]
    if arr.ndim == 3:  # (N, H, W) grey
        arr = arr[..., None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise ValueError(f"{name} must have shape (N, H, W, 3) (or (H, W, 3)), got {arr.shape}")
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(0, 3, 1, 2)))


# --------------------------------------------------------------------------------------------
# interface
# --------------------------------------------------------------------------------------------
class Backbone:
    """A frozen dense feature extractor.

    Subclasses implement ``_prepare`` (input -> tensor batch) and ``_forward`` (tensor batch ->
    feature tensor). Calling the backbone runs mini-batches under ``torch.no_grad`` and returns
    float32 numpy features ``(N, C, *grid)``.

    Attributes
    ----------
    name : str
        Registry name.
    stride : int
        Input pixels (voxels) per feature cell along each axis.
    input_kind : str
        ``"image"`` (``(N, H, W, 3)`` in [0, 1]), ``"depth"`` (``(N, H, W)`` depth or
        ``(N, H, W, 3)`` xyz point maps) or ``"volume"`` (``(N, D, H, W)``).
    device : torch.device
    """

    name: str = "backbone"
    stride: int = 1
    input_kind: str = "image"
    batch_size: int = 8

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = resolve_device(device)

    # subclasses -----------------------------------------------------------------------------
    def _prepare(self, inputs: Any) -> torch.Tensor:
        return _to_tensor_images(inputs)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # public ---------------------------------------------------------------------------------
    def grid_shape(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        """Feature grid shape for an input of spatial shape ``spatial``."""
        return tuple(max(1, s // self.stride) for s in spatial)

    def __call__(self, inputs: Any, batch_size: int | None = None) -> np.ndarray:
        """Return float32 features ``(N, C, *grid)`` for a batch of inputs.

        Examples
        --------
        >>> bb = get_backbone("filterbank")
        >>> bb(np.zeros((1, 32, 32, 3))).shape[2:]
        (8, 8)
        """
        x = self._prepare(inputs)
        bs = batch_size or self.batch_size
        outs = []
        with torch.no_grad():
            for start in range(0, x.shape[0], bs):
                xb = x[start : start + bs].to(self.device)
                outs.append(self._forward(xb).float().cpu().numpy())
        return np.ascontiguousarray(np.concatenate(outs, axis=0), dtype=np.float32)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, stride={self.stride}, device={self.device})"


# --------------------------------------------------------------------------------------------
# the offline default: a fixed multi-scale filter bank
# --------------------------------------------------------------------------------------------
def _gabor_bank(frequencies, n_orient: int) -> list[torch.Tensor]:
    """Complex Gabor kernels as (2, 1, k, k) real/imag pairs, zero-mean real part."""
    kernels = []
    for f in frequencies:
        sigma = 0.56 / f
        r = math.ceil(2.5 * sigma)
        y, x = torch.meshgrid(
            torch.arange(-r, r + 1, dtype=torch.float32),
            torch.arange(-r, r + 1, dtype=torch.float32),
            indexing="ij",
        )
        env = torch.exp(-(x**2 + y**2) / (2 * sigma**2))
        for i in range(n_orient):
            th = math.pi * i / n_orient
            u = x * math.cos(th) + y * math.sin(th)
            re = env * torch.cos(2 * math.pi * f * u)
            im = env * torch.sin(2 * math.pi * f * u)
            re = re - env * (re.sum() / env.sum())
            norm = env.sum()
            kernels.append(torch.stack([re / norm, im / norm])[:, None])
    return kernels


def _log_kernel(sigma: float) -> torch.Tensor:
    r = math.ceil(3 * sigma)
    y, x = torch.meshgrid(
        torch.arange(-r, r + 1, dtype=torch.float32),
        torch.arange(-r, r + 1, dtype=torch.float32),
        indexing="ij",
    )
    rr = (x**2 + y**2) / (2 * sigma**2)
    k = (rr - 1) * torch.exp(-rr)
    k = k - k.mean()
    return (k / k.abs().sum() * 2 * sigma**2)[None, None]


def _pool_scales(maps: torch.Tensor, stride: int, scales: tuple[float, ...]) -> torch.Tensor:
    """Average-pool base maps onto the stride grid, then blur the grid at several scales."""
    h, w = maps.shape[-2:]
    gh, gw = max(1, h // stride), max(1, w // stride)
    if h % stride or w % stride:
        grid = F.adaptive_avg_pool2d(maps, (gh, gw))
    else:
        grid = F.avg_pool2d(maps, stride)
    outs = [grid if s <= 0 else gaussian_blur(grid, s) for s in scales]
    return torch.cat(outs, dim=1)


class FilterBankBackbone(Backbone):
    """Fixed multi-scale filter bank: the offline default backbone (stride 4).

    Base maps per pixel: opponent colour (L, R-G, Y-B), local colour contrast, Gabor magnitudes
    (``frequencies`` x ``n_orient``), Laplacian-of-Gaussian responses (signed and absolute) and
    gradient magnitudes. Base maps are average-pooled onto the stride grid and then blurred at
    ``scales`` (in grid cells; 0 = no blur), and the scales are concatenated along channels.

    Parameters
    ----------
    stride : int
        Pixels per feature cell (default 4: a 224 x 224 image gives a 56 x 56 grid).
    scales : tuple of float
        Gaussian blur widths of the pooled grid, in cells.
    frequencies : tuple of float
        Gabor frequencies in cycles per pixel.
    n_orient : int
        Gabor orientations.
    log_sigmas, grad_sigmas : tuple of float
        Widths (pixels) of the LoG and gradient filters.
    device : str

    Examples
    --------
    >>> bb = FilterBankBackbone()
    >>> f = bb(np.random.default_rng(0).random((2, 64, 64, 3)))
    >>> f.shape, f.dtype
    ((2, 66, 16, 16), dtype('float32'))
    """

    name = "filterbank"

    def __init__(
        self,
        *,
        stride: int = 4,
        scales: tuple[float, ...] = (0.0, 1.0, 2.0),
        frequencies: tuple[float, ...] = (0.25, 0.125),
        n_orient: int = 4,
        log_sigmas: tuple[float, ...] = (1.0, 2.0, 4.0),
        grad_sigmas: tuple[float, ...] = (1.0, 2.0),
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(device)
        self.stride = int(stride)
        self.scales = tuple(float(s) for s in scales)
        self.frequencies = tuple(frequencies)
        self.n_orient = int(n_orient)
        self.log_sigmas = tuple(log_sigmas)
        self.grad_sigmas = tuple(grad_sigmas)
        self._gabor = [k.to(self.device) for k in _gabor_bank(self.frequencies, self.n_orient)]
        self._log = [_log_kernel(s).to(self.device) for s in self.log_sigmas]
        n_base = 3 + 3 + len(self._gabor) + 2 * len(self._log) + len(self.grad_sigmas)
        self.out_channels = n_base * len(self.scales)

    def base_maps(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel filter responses ``(N, n_base, H, W)`` for images ``(N, 3, H, W)``."""
        r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
        lum = (r + g + b) / 3.0
        o1 = (r - g) / math.sqrt(2.0)
        o2 = (r + g - 2 * b) / math.sqrt(6.0)
        colour = torch.cat([lum, o1, o2], dim=1)
        contrast = (colour - gaussian_blur(colour, 2.0)).abs()
        maps = [colour, contrast]
        for k in self._gabor:
            resp = _conv_same(lum, k)
            maps.append(torch.sqrt(resp[:, 0:1] ** 2 + resp[:, 1:2] ** 2 + 1e-12))
        for k in self._log:
            resp = _conv_same(lum, k)
            maps += [resp, resp.abs()]
        for s in self.grad_sigmas:
            sm = gaussian_blur(lum, s)
            gy = sm[:, :, 2:, 1:-1] - sm[:, :, :-2, 1:-1]
            gx = sm[:, :, 1:-1, 2:] - sm[:, :, 1:-1, :-2]
            mag = F.pad(torch.sqrt(gx**2 + gy**2 + 1e-12) * 0.5, (1, 1, 1, 1), mode="replicate")
            maps.append(mag * s)
        return torch.cat(maps, dim=1)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return _pool_scales(self.base_maps(x), self.stride, self.scales)


# --------------------------------------------------------------------------------------------
# a seeded random convolutional network
# --------------------------------------------------------------------------------------------
class RandConvBackbone(Backbone):
    """Seeded random CNN: three conv stages (3x3, ReLU, 2x2 average pool) with He-initialised weights.

    The outputs of stages 2 and 3 (strides 4 and 8) are brought to the stride-4 grid and
    concatenated, then blurred once (1 cell) like PatchCore's local neighbourhood aggregation.

    Examples
    --------
    >>> RandConvBackbone(seed=0)(np.zeros((1, 32, 32, 3))).shape
    (1, 96, 8, 8)
    """

    name = "randconv"
    stride = 4

    def __init__(
        self,
        *,
        widths: tuple[int, int, int] = (32, 32, 64),
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(device)
        gen = torch.Generator().manual_seed(int(seed))
        chans = (3, *widths)
        self._weights = []
        for cin, cout in itertools.pairwise(chans):
            w = torch.randn(cout, cin, 3, 3, generator=gen) * math.sqrt(2.0 / (cin * 9))
            self._weights.append(w.to(self.device))
        self.out_channels = widths[1] + widths[2]
        self._mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1).to(self.device)
        self._std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1).to(self.device)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        h = (x - self._mean) / self._std
        taps = []
        for w in self._weights:
            h = F.avg_pool2d(F.relu(_conv_same(h, w)), 2)
            taps.append(h)
        grid = taps[1].shape[-2:]
        t3 = F.interpolate(taps[2], size=grid, mode="bilinear", align_corners=False)
        return gaussian_blur(torch.cat([taps[1], t3], dim=1), 1.0)


# --------------------------------------------------------------------------------------------
# DINO ViT with timm-compatible parameter names
# --------------------------------------------------------------------------------------------
DINO_CONFIGS: dict[str, dict[str, Any]] = {
    "dino_vits8": {
        "timm_name": "vit_small_patch8_224.dino",
        "embed_dim": 384, "depth": 12, "num_heads": 6, "patch_size": 8, "img_size": 224,
    },
    "dino_vitb8": {
        "timm_name": "vit_base_patch8_224.dino",
        "embed_dim": 768, "depth": 12, "num_heads": 12, "patch_size": 8, "img_size": 224,
    },
}
# original DINO release file names (torch hub cache)
_DINO_RELEASE_FILES = {
    "dino_vits8": "dino_deitsmall8_pretrain.pth",
    "dino_vitb8": "dino_vitbase8_pretrain.pth",
}


class _PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class _Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class _Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = _Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """Plain pre-norm ViT (class token, learned absolute positions) with timm's parameter names.

    Matches timm ``VisionTransformer(num_classes=0)`` for the DINO configurations: LayerNorm
    eps 1e-6, qkv bias, MLP ratio 4, GELU, final ``norm``, no head.

    Examples
    --------
    >>> m = ViT(embed_dim=32, depth=1, num_heads=2, patch_size=8, img_size=32)
    >>> m.patch_tokens(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 32, 4, 4])
    """

    def __init__(
        self,
        *,
        embed_dim: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        patch_size: int = 8,
        img_size: int = 224,
        in_chans: int = 3,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.img_size = img_size
        self.embed_dim = embed_dim
        n = (img_size // patch_size) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, embed_dim))
        self.patch_embed = _PatchEmbed(patch_size, in_chans, embed_dim)
        self.blocks = nn.ModuleList(_Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)

    def init_random(self, seed: int = 0) -> ViT:
        """Seeded random initialisation (truncated-normal-ish weights, zero biases)."""
        gen = torch.Generator().manual_seed(int(seed))
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("bias"):
                    p.zero_()
                elif "norm" in name:
                    p.fill_(1.0)
                else:
                    p.copy_(torch.randn(p.shape, generator=gen).clamp_(-2, 2) * 0.02)
        return self

    def _pos_embed_for(self, gh: int, gw: int) -> torch.Tensor:
        pos = self.pos_embed
        n0 = pos.shape[1] - 1
        g0 = round(math.sqrt(n0))
        if gh * gw == n0 and gh == gw == g0:
            return pos
        cls_pos, grid = pos[:, :1], pos[:, 1:]
        grid = grid.reshape(1, g0, g0, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
        return torch.cat([cls_pos, grid.permute(0, 2, 3, 1).reshape(1, gh * gw, -1)], dim=1)

    def patch_tokens(self, x: torch.Tensor, layers: tuple[int, ...] | None = None) -> torch.Tensor:
        """Patch tokens as a grid ``(N, C, H / p, W / p)``.

        ``layers=None`` returns the final normalised tokens; otherwise the (normalised) outputs
        of the listed blocks (0-based, negatives allowed) concatenated along channels.
        """
        gh, gw = x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size
        t = self.patch_embed(x)
        t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1)
        t = t + self._pos_embed_for(gh, gw)
        depth = len(self.blocks)
        want = None if layers is None else {lyr % depth for lyr in layers}
        taps = []
        for i, blk in enumerate(self.blocks):
            t = blk(t)
            if want is not None and i in want:
                taps.append(self.norm(t))
        out = self.norm(t) if want is None else torch.cat(taps, dim=-1)
        out = out[:, 1:]
        return out.transpose(1, 2).reshape(out.shape[0], -1, gh, gw)


def timm_vit_state_dict_keys(depth: int = 12) -> list[str]:
    """The state-dict keys of timm's ``VisionTransformer(num_classes=0)`` for DINO configs, in order.

    Examples
    --------
    >>> timm_vit_state_dict_keys(1)[:3]
    ['cls_token', 'pos_embed', 'patch_embed.proj.weight']
    """
    keys = ["cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias"]
    for i in range(depth):
        for part in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            keys += [f"blocks.{i}.{part}.weight", f"blocks.{i}.{part}.bias"]
    return keys + ["norm.weight", "norm.bias"]


_ST_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
    "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_,
}


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:  # the real reader when installed
        from safetensors.torch import load_file  # type: ignore[import-not-found]

        return dict(load_file(str(path), device="cpu"))
    except ImportError:
        pass
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    out: dict[str, torch.Tensor] = {}
    for key, info in header.items():
        if key == "__metadata__":
            continue
        b0, b1 = info["data_offsets"]
        buf = raw[base + b0 : base + b1]
        if info["dtype"] == "BF16":
            u16 = np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            arr = np.frombuffer(buf, dtype=np.dtype(_ST_DTYPES[info["dtype"]]).newbyteorder("<"))
        out[key] = torch.from_numpy(arr.copy().reshape(info["shape"]))
    return out


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a state dict from ``.pth``/``.pt``/``.bin`` (torch) or ``.safetensors``.

    Wrapped checkpoints (``{"state_dict": ...}``, ``{"model": ...}``, ``{"teacher": ...}``) are
    unwrapped and the prefixes ``module.`` / ``backbone.`` dropped.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "w.pth"
    >>> torch.save({"model": {"module.a": torch.zeros(1)}}, p)
    >>> list(load_state_dict_file(p))
    ['a']
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"weights file {str(p)!r} does not exist")
    if p.suffix == ".safetensors":
        sd = _read_safetensors(p)
    else:
        sd = torch.load(str(p), map_location="cpu", weights_only=True)
    for wrapper in ("state_dict", "model", "teacher"):
        if isinstance(sd, dict) and wrapper in sd and isinstance(sd[wrapper], dict):
            sd = sd[wrapper]
    clean = {}
    for k, v in sd.items():
        for prefix in ("module.", "backbone."):
            k = k.removeprefix(prefix)
        clean[k] = v
    return clean


def find_cached_weights(name: str) -> Path | None:
    """Look for already-downloaded weights of a DINO backbone in the usual caches (no network).

    Searched: ``$TOPOTTA_WEIGHTS``, the Hugging Face hub cache (``$HF_HOME``/``~/.cache/huggingface``,
    ``models--timm--<timm name>``) and the torch hub cache (original DINO release file).
    """
    cfg = DINO_CONFIGS[name]
    cands: list[Path] = []
    env = os.environ.get("TOPOTTA_WEIGHTS")
    if env:
        cands.append(Path(env))
    hf_home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    hub = Path(os.environ.get("HF_HUB_CACHE", hf_home / "hub"))
    snap = hub / f"models--timm--{cfg['timm_name']}" / "snapshots"
    if snap.is_dir():
        for d in sorted(snap.iterdir()):
            cands += [d / "model.safetensors", d / "pytorch_model.bin"]
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    cands.append(torch_home / "hub" / "checkpoints" / _DINO_RELEASE_FILES[name])
    for c in cands:
        if c.is_file():
            return c
    return None


class DinoViTBackbone(Backbone):
    """DINO ViT patch-token features (stride 8; a 224 x 224 input gives a 28 x 28 grid).

    Images are normalised with the ImageNet mean/std and resized to ``img_size`` (bilinear,
    antialiased) unless ``resize=False``, in which case sides must be multiples of 8 and the
    position embedding is interpolated.

    Parameters
    ----------
    name : {"dino_vits8", "dino_vitb8"}
    weights : str, path or None
        ``"random"`` for seeded random weights (tests, smoke runs); a file path (``.pth``,
        ``.bin``, ``.safetensors``); or None to look in the local caches
        (:func:`find_cached_weights`). Never downloads.
    layers : tuple of int or None
        Blocks whose tokens are concatenated; None = final normalised tokens.
    seed : int
        Seed of the random initialisation.
    device : str

    Raises
    ------
    FileNotFoundError
        If ``weights`` is None and no cached weights exist, or the path does not exist.
    """

    stride = 8
    batch_size = 4

    def __init__(
        self,
        name: str = "dino_vits8",
        *,
        weights: str | os.PathLike | None = None,
        layers: tuple[int, ...] | None = None,
        resize: bool = True,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(device)
        if name not in DINO_CONFIGS:
            raise ValueError(f"unknown DINO backbone {name!r}; choose from {sorted(DINO_CONFIGS)}")
        self.name = name
        cfg = DINO_CONFIGS[name]
        self.img_size = cfg["img_size"]
        self.layers = None if layers is None else tuple(layers)
        self.resize = resize
        self.model, self.uses_timm = self._build(cfg, weights, seed)
        self.model.eval().requires_grad_(False).to(self.device)
        n_taps = 1 if self.layers is None else len(self.layers)
        self.out_channels = cfg["embed_dim"] * n_taps
        self._mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1).to(self.device)
        self._std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1).to(self.device)

    def _build(self, cfg: dict, weights, seed: int) -> tuple[nn.Module, bool]:
        sd = None
        if weights is None:
            path = find_cached_weights(self.name)
            if path is None:
                raise FileNotFoundError(
                    f"no local weights for {self.name} ({cfg['timm_name']}): pass weights=<file> "
                    "(.pth/.bin/.safetensors), set TOPOTTA_WEIGHTS, or use weights='random'"
                )
            sd = load_state_dict_file(path)
        elif str(weights) != "random":
            sd = load_state_dict_file(weights)
        kw = {k: cfg[k] for k in ("embed_dim", "depth", "num_heads", "patch_size", "img_size")}
        try:  # optional: timm's own model when importable (it needs torchvision)
            import timm  # type: ignore[import-not-found]

            model = timm.create_model(cfg["timm_name"], pretrained=False, num_classes=0)
            uses_timm = self.layers is None
        except (ImportError, RuntimeError, OSError):  # e.g. a torchvision that does not load
            model, uses_timm = None, False
        if not uses_timm:
            model = ViT(**kw).init_random(seed)
        if sd is not None:
            sd = {k: v for k, v in sd.items() if not k.startswith("head")}
            model.load_state_dict(sd, strict=True)
        elif uses_timm:
            ours = ViT(**kw).init_random(seed)
            model.load_state_dict(ours.state_dict(), strict=True)
        return model, uses_timm

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resize and tuple(x.shape[-2:]) != (self.img_size, self.img_size):
            x = F.interpolate(x, size=(self.img_size, self.img_size), mode="bilinear",
                              align_corners=False, antialias=True)
        else:
            p = self.stride
            if x.shape[-2] % p or x.shape[-1] % p:
                raise ValueError(f"image sides must be multiples of {p} when resize=False, "
                                 f"got {tuple(x.shape[-2:])}")
        x = (x - self._mean) / self._std
        if self.uses_timm:
            tok = self.model.forward_features(x)[:, 1:]
            g = x.shape[-2] // self.stride, x.shape[-1] // self.stride
            return tok.transpose(1, 2).reshape(x.shape[0], -1, *g)
        return self.model.patch_tokens(x, self.layers)

    def grid_shape(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        if self.resize:
            return (self.img_size // self.stride,) * 2
        return super().grid_shape(spatial)


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


# --------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------
BACKBONES = ("filterbank", "randconv", "dino_vits8", "dino_vitb8", "depth", "voxel")


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
        Only for the DINO backbones (see :class:`DinoViTBackbone`).
    seed : int
        Seed of random weights (``randconv``, DINO with ``weights="random"``).
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
    if name == "randconv":
        return RandConvBackbone(device=device, seed=seed, **kwargs)
    if name in DINO_CONFIGS:
        return DinoViTBackbone(name, weights=weights, seed=seed, device=device, **kwargs)
    if name == "depth":
        return DepthBackbone(device=device, **kwargs)
    if name == "voxel":
        return VoxelBackbone(device=device, **kwargs)
    raise ValueError(f"unknown backbone {name!r}; choose from {BACKBONES}")
