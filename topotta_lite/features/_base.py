"""The backbone interface and the small torch helpers every backbone shares."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------------------------
# small torch helpers
# --------------------------------------------------------------------------------------------
def resolve_device(device: str | torch.device | None = "cpu") -> torch.device:
    """Return a usable torch device: ``None`` means CUDA when available, else the CPU.

    Asking for CUDA where there is none falls back to the CPU with a warning, so code written
    for a GPU runs everywhere. This is the one place where the project picks a device.

    Examples
    --------
    >>> resolve_device("cpu").type
    'cpu'
    >>> resolve_device(None).type in ("cpu", "cuda")
    True
    """
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from None
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
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
    min_size : int
        Smallest side, in pixels, that the layers accept; an input needs at least
        ``max(stride, min_size)`` pixels per side (one feature cell), or :meth:`__call__`
        raises a ``ValueError`` before computing anything.
    device : torch.device
    """

    name: str = "backbone"
    stride: int = 1
    input_kind: str = "image"
    batch_size: int = 8
    min_size: int = 1  # smallest side the layers accept, beyond the one-cell minimum ``stride``

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
        >>> from topotta_lite.features import get_backbone
        >>> bb = get_backbone("filterbank")
        >>> bb(np.zeros((1, 32, 32, 3))).shape[2:]
        (8, 8)
        """
        x = self._prepare(inputs)
        smallest = max(int(self.stride), int(self.min_size))
        if x.ndim < 4 or x.shape[0] == 0 or min(x.shape[2:]) < smallest:
            raise ValueError(
                f"{self.name} needs a non-empty batch of inputs of at least {smallest} pixels per "
                f"side (one feature cell), got a batch of shape {tuple(x.shape)} "
                f"(N, channels, *spatial)"
            )
        if batch_size is not None and (isinstance(batch_size, bool)
                                       or not isinstance(batch_size, int) or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        bs = batch_size or self.batch_size
        outs = []
        with torch.no_grad():
            for start in range(0, x.shape[0], bs):
                xb = x[start : start + bs].to(self.device)
                outs.append(self._forward(xb).float().cpu().numpy())
        return np.ascontiguousarray(np.concatenate(outs, axis=0), dtype=np.float32)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, stride={self.stride}, device={self.device})"



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


