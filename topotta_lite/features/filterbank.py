"""Weight-free image backbones: a fixed multi-scale filter bank and a seeded random conv net."""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F

from ._base import IMAGENET_MEAN, IMAGENET_STD, Backbone, _conv_same, _pool_scales, gaussian_blur


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
    >>> import numpy as np
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
    >>> import numpy as np
    >>> RandConvBackbone(seed=0)(np.zeros((1, 32, 32, 3))).shape
    (1, 96, 8, 8)
    """

    name = "randconv"
    stride = 4
    min_size = 8  # three 2x2 poolings

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


