"""DINO ViT-S/8 and ViT-B/8 in plain torch, with timm-compatible parameter names (weights from disk)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from topotta_lite.config import env

from ._base import IMAGENET_MEAN, IMAGENET_STD, Backbone

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
    local = env("TOPOTTA_WEIGHTS")
    if local:
        cands.append(Path(local))
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


