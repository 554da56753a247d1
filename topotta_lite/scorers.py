"""Anomaly scorers fit on nominal images that turn test inputs into score maps.

Scorers follow a small sklearn-like protocol::

    scorer = PatchCoreScorer("filterbank").fit(train_images)   # nominal inputs only
    maps = scorer.score(test_images)                            # (N, H, W) float32, input resolution
    feats = scorer.features(test_images)                        # (N, C, h, w), what the maps use

Inputs are arrays (``(N, H, W, 3)`` RGB in [0, 1], ``(N, H, W)`` depth / ``(N, H, W, 3)`` xyz,
``(N, D, H, W)`` volumes) or lists of :class:`topotta_lite.data.Sample` objects, from which the
field matching the backbone's ``input_kind`` (``image``, ``depth`` or ``volume``) is taken. The
2.5D path is the same scorers with ``backbone="depth"``; :class:`VoxelScorer` is the 3D one.

Both scorers standardise every feature channel with the mean and standard deviation of the
nominal training features, score on the backbone's grid, upsample bilinearly (trilinearly in 3D)
to the input resolution and smooth with a Gaussian of ``sigma`` pixels (PatchCore's sigma = 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from topotta_lite.features import Backbone, gaussian_blur, get_backbone

__all__ = [
    "PaDiMScorer", "PatchCoreScorer", "VoxelScorer", "greedy_coreset", "image_scores", "inputs_from",
]


def inputs_from(items: Any, kind: str) -> Any:
    """Pick the backbone input out of ``items``.

    Arrays and tensors pass through; a sequence of objects with ``image`` / ``depth`` /
    ``volume`` attributes (e.g. ``Sample``) gives the stacked field named by ``kind``.

    Examples
    --------
    >>> inputs_from(np.zeros((2, 4, 4, 3)), "image").shape
    (2, 4, 4, 3)
    """
    if isinstance(items, np.ndarray) or hasattr(items, "detach"):
        return items
    items = list(items)
    if not items:
        raise ValueError("no inputs given (empty list)")
    if kind == "rgbd" and hasattr(items[0], "image") and hasattr(items[0], "depth"):
        missing = [getattr(s, "name", str(i)) for i, s in enumerate(items)
                   if s.image is None or s.depth is None]
        if missing:
            raise ValueError(f"samples {missing[:5]} need both an image and a depth map (RGB-D)")
        return np.stack([np.concatenate([np.asarray(s.image, np.float32),
                                         np.asarray(s.depth, np.float32)[..., None]], axis=-1)
                         for s in items])
    field = {"image": "image", "depth": "depth", "volume": "volume", "rgbd": "image"}[kind]
    if hasattr(items[0], field):
        arrs = [getattr(s, field) for s in items]
        missing = [getattr(s, "name", str(i)) for i, s in enumerate(items) if arrs[i] is None]
        if missing:
            raise ValueError(f"samples {missing[:5]} have no {field!r} for this backbone")
        return np.stack([np.asarray(a, dtype=np.float32) for a in arrs])
    return np.stack([np.asarray(a, dtype=np.float32) for a in items])


def _spatial_shape(x: Any, kind: str) -> tuple[int, ...]:
    shape = tuple(np.shape(x))
    if kind in ("image", "rgbd"):
        return shape[1:3] if len(shape) == 4 else shape[0:2]
    if kind == "depth":
        return shape[1:3]
    return shape[1:4] if len(shape) == 4 else shape[0:3]


def greedy_coreset(
    x: np.ndarray | torch.Tensor, n: int, *, seed: int = 0, proj_dim: int | None = 32
) -> np.ndarray:
    """Indices of an ``n``-point greedy k-center coreset of the rows of ``x`` (PatchCore).

    Starts from a seeded random row, then repeatedly adds the row farthest from the chosen set
    (Euclidean, after an optional seeded Gaussian random projection to ``proj_dim`` dims when
    ``x`` is wider, as PatchCore does; PatchCore projects its 1000+ dims to 128, our default
    32 suits the 50-100 channel offline features and keeps the greedy loop fast on a CPU).

    Examples
    --------
    >>> pts = np.array([[0.0], [0.1], [5.0], [10.0]])
    >>> sorted(greedy_coreset(pts, 3, seed=1).tolist())[-2:]  # the far points are always kept
    [2, 3]
    """
    xt = torch.as_tensor(np.asarray(x) if not hasattr(x, "detach") else x, dtype=torch.float32)
    m = xt.shape[0]
    n = int(min(max(n, 1), m))
    rng = np.random.default_rng(seed)
    if proj_dim is not None and xt.shape[1] > proj_dim:
        gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
        proj = torch.randn(xt.shape[1], proj_dim, generator=gen) / np.sqrt(proj_dim)
        xt = xt @ proj
    first = int(rng.integers(m))
    chosen = np.empty(n, dtype=np.int64)
    chosen[0] = first
    sq = (xt * xt).sum(dim=1)
    # squared distances to the chosen set, updated with one matrix-vector product per step; the
    # steps are small and many, so they run on one thread: more threads only add synchronisation
    # (on a busy machine, threads spinning while they wait for a descheduled partner multiply
    # the CPU time)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        dist = sq - 2.0 * (xt @ xt[first]) + sq[first]
        for i in range(1, n):
            nxt = int(torch.argmax(dist))
            chosen[i] = nxt
            torch.minimum(dist, sq - 2.0 * (xt @ xt[nxt]) + sq[nxt], out=dist)
    finally:
        torch.set_num_threads(threads)
    return chosen


class _BaseScorer:
    """Shared plumbing: backbone, channel standardisation, upsampling and smoothing."""

    def __init__(
        self,
        backbone: str | Backbone = "filterbank",
        *,
        sigma: float = 4.0,
        device: str = "cpu",
        seed: int = 0,
        weights: Any = None,
    ) -> None:
        if isinstance(backbone, str):
            backbone = get_backbone(backbone, device=device, weights=weights, seed=seed)
        self.backbone = backbone
        self.sigma = float(sigma)
        self.seed = int(seed)
        self.device = backbone.device
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    # features -----------------------------------------------------------------------------
    def _raw_features(self, images: Any) -> tuple[np.ndarray, tuple[int, ...]]:
        x = inputs_from(images, self.backbone.input_kind)
        return self.backbone(x), _spatial_shape(x, self.backbone.input_kind)

    def _standardise(self, feats: np.ndarray) -> np.ndarray:
        if self.mean_ is None:
            return feats
        shape = (1, -1) + (1,) * (feats.ndim - 2)
        return (feats - self.mean_.reshape(shape)) / self.std_.reshape(shape)

    def features(self, images: Any) -> np.ndarray:
        """Features the scorer works on, ``(N, C, *grid)`` float32.

        After ``fit`` the channels are standardised with the nominal training statistics (so
        operators that compare features see comparable units); before it, raw backbone output.
        """
        feats, _ = self._raw_features(images)
        return self._standardise(feats).astype(np.float32)

    def fit_statistics(self, train_images: Any) -> _BaseScorer:
        """Fit only the channel standardisation on nominal inputs (what :meth:`features` needs,
        not :meth:`score`): the statistics :meth:`fit` computes first; returns self."""
        feats, _ = self._raw_features(train_images)
        self._fit_stats(feats)
        return self

    def _fit_stats(self, feats: np.ndarray) -> np.ndarray:
        axes = (0,) + tuple(range(2, feats.ndim))
        self.mean_ = feats.mean(axis=axes).astype(np.float32)
        self.std_ = (feats.std(axis=axes) + 1e-6).astype(np.float32)
        return self._standardise(feats)

    # maps ---------------------------------------------------------------------------------
    def _to_maps(self, grid_scores: torch.Tensor, spatial: tuple[int, ...]) -> np.ndarray:
        """(N, *grid) scores -> (N, *spatial) smoothed maps at the input resolution."""
        t = grid_scores[:, None].float()
        mode = "bilinear" if t.ndim == 4 else "trilinear"
        t = F.interpolate(t, size=spatial, mode=mode, align_corners=False)
        t = gaussian_blur(t, self.sigma)
        return np.ascontiguousarray(t[:, 0].cpu().numpy(), dtype=np.float32)

    _model_attr = "mean_"  # set by fit: the model itself (fit_statistics sets mean_ only)

    def _check_fitted(self) -> None:
        if self.mean_ is None or getattr(self, self._model_attr, None) is None:
            raise ValueError(f"{type(self).__name__} is not fitted: call fit(train_images) first")

    def score(self, images: Any) -> np.ndarray:
        """Anomaly score maps ``(N, *spatial)`` float32 at the input resolution (higher = more
        anomalous)."""
        self._check_fitted()
        feats, spatial = self._raw_features(images)
        grid = self._score_grid(torch.from_numpy(self._standardise(feats)).to(self.device))
        return self._to_maps(grid, spatial)

    def _score_grid(self, feats: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class PaDiMScorer(_BaseScorer):
    """PaDiM-like scorer: a Gaussian per feature-grid location, Mahalanobis distance.

    Parameters
    ----------
    backbone : str or Backbone
        Feature extractor (default the offline ``"filterbank"``; ``"depth"`` for 2.5D).
    n_channels : int or None
        Keep a seeded random subset of this many channels when the backbone has more (PaDiM's
        random dimensionality reduction); None keeps all.
    shrinkage : float
        Covariance shrinkage towards ``mean(diag) * I``: ``(1 - a) S + a * tr(S)/d * I``, then
        ``+ eps * I`` (PaDiM's 0.01 regulariser).
    neighbourhood : int
        Pool training samples from the ``(2r+1)^ndim`` neighbouring grid locations when
        estimating each location's Gaussian (helps with few training images and unaligned
        textures); 0 = the strict per-location model.
    sigma : float
        Gaussian smoothing of the upsampled map, in input pixels.
    eps : float
    device, seed, weights
        As for :func:`topotta_lite.features.get_backbone`; ``seed`` also draws the channels.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> train = rng.random((4, 32, 32, 3)) * 0.1 + 0.5
    >>> s = PaDiMScorer().fit(train)
    >>> s.score(train[:1]).shape
    (1, 32, 32)
    """

    def __init__(
        self,
        backbone: str | Backbone = "filterbank",
        *,
        n_channels: int | None = 100,
        shrinkage: float = 0.1,
        neighbourhood: int = 1,
        sigma: float = 4.0,
        eps: float = 0.01,
        device: str = "cpu",
        seed: int = 0,
        weights: Any = None,
    ) -> None:
        super().__init__(backbone, sigma=sigma, device=device, seed=seed, weights=weights)
        self.n_channels = n_channels
        self.shrinkage = float(shrinkage)
        self.neighbourhood = int(neighbourhood)
        self.eps = float(eps)
        self.max_stack_bytes = 512 * 2**20  # above this, fit streams the neighbour offsets
        self.channels_: np.ndarray | None = None
        self._model_attr = "mu_"
        self.mu_: torch.Tensor | None = None
        self.precision_: torch.Tensor | None = None

    def _neighbour_stack(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, *g) -> (N * k, C, *g): the grid shifted to each neighbour (replicate border)."""
        r = self.neighbourhood
        if r <= 0:
            return x
        nsp = x.ndim - 2
        pad = F.pad(x, (r, r) * nsp, mode="replicate")
        g = x.shape[2:]
        outs = []
        for off in np.ndindex(*((2 * r + 1,) * nsp)):
            sl = (slice(None), slice(None)) + tuple(slice(o, o + s) for o, s in zip(off, g))
            outs.append(pad[sl])
        return torch.cat(outs, dim=0)

    def _shifted(self, x: torch.Tensor):
        """Yield the grid shifted to each neighbour (replicate border), one offset at a time."""
        r = self.neighbourhood
        nsp = x.ndim - 2
        pad = F.pad(x, (r, r) * nsp, mode="replicate") if r > 0 else x
        g = x.shape[2:]
        for off in np.ndindex(*((2 * r + 1,) * nsp)) if r > 0 else [(0,) * nsp]:
            yield pad[(slice(None), slice(None)) + tuple(slice(o, o + s) for o, s in zip(off, g))]

    def _streamed_moments(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-location mean and covariance over every (image, neighbour) sample, computed one
        neighbour offset at a time (two passes, float64 sums), without the stacked copy of
        :meth:`_neighbour_stack`; the same statistics up to rounding."""
        n_img, d = x.shape[:2]
        total = 0
        s1 = None
        for xs in self._shifted(x):
            part = xs.reshape(n_img, d, -1).double().sum(dim=0)  # (d, L)
            s1 = part if s1 is None else s1 + part
            total += n_img
        mu = (s1 / total).T.contiguous()  # (L, d)
        mu32 = mu.float()
        s2 = None
        for xs in self._shifted(x):
            xc = xs.reshape(n_img, d, -1).permute(2, 0, 1) - mu32[:, None]  # (L, n, d)
            part = (xc.transpose(1, 2) @ xc).double()
            s2 = part if s2 is None else s2 + part
        return mu32, (s2 / max(total - 1, 1)).float()

    def fit(self, train_images: Any) -> PaDiMScorer:
        """Estimate the per-location Gaussians from nominal inputs; returns self."""
        feats, _ = self._raw_features(train_images)
        feats = self._fit_stats(feats)
        c = feats.shape[1]
        rng = np.random.default_rng(self.seed)
        if self.n_channels is not None and c > self.n_channels:
            self.channels_ = np.sort(rng.choice(c, self.n_channels, replace=False))
        else:
            self.channels_ = np.arange(c)
        x = torch.from_numpy(np.ascontiguousarray(feats[:, self.channels_])).to(self.device)
        k = (2 * max(self.neighbourhood, 0) + 1) ** (x.ndim - 2)
        if x.numel() * k * 4 > self.max_stack_bytes:  # e.g. 64^3 volumes: stream the offsets
            mu, cov = self._streamed_moments(x)
        else:
            x = self._neighbour_stack(x)
            n = x.shape[0]
            x = x.reshape(n, x.shape[1], -1).permute(2, 0, 1)  # (L, n, d)
            mu = x.mean(dim=1)
            xc = x - mu[:, None]
            cov = xc.transpose(1, 2) @ xc / max(n - 1, 1)
        d = cov.shape[-1]
        eye = torch.eye(d, dtype=cov.dtype, device=cov.device)
        tr = torch.diagonal(cov, dim1=1, dim2=2).mean(dim=1)
        a = self.shrinkage
        cov = (1 - a) * cov + a * tr[:, None, None] * eye + self.eps * eye
        self.mu_ = mu
        self.precision_ = torch.linalg.inv(cov.double()).float()
        self.grid_shape_ = tuple(feats.shape[2:])
        return self

    def _score_grid(self, feats: torch.Tensor) -> torch.Tensor:
        if tuple(feats.shape[2:]) != self.grid_shape_:
            raise ValueError(f"feature grid {tuple(feats.shape[2:])} differs from the fitted grid "
                             f"{self.grid_shape_}: test inputs must have the training size")
        x = feats[:, torch.as_tensor(self.channels_, device=feats.device)]
        n, d = x.shape[:2]
        x = x.reshape(n, d, -1).permute(2, 0, 1)  # (L, n, d)
        diff = x - self.mu_[:, None]
        m = torch.einsum("lnd,lde,lne->nl", diff, self.precision_, diff)
        return torch.sqrt(m.clamp_min(0)).reshape(n, *feats.shape[2:])


class PatchCoreScorer(_BaseScorer):
    """PatchCore-like scorer: coreset-subsampled memory bank of nominal patch features, kNN distance.

    Parameters
    ----------
    backbone : str or Backbone
    coreset_ratio : float
        Fraction of all training patches kept by greedy k-center subsampling (1 = keep all).
    max_bank : int
        Upper bound on the memory bank size.
    k : int
        Score = mean distance to the ``k`` nearest bank entries (k = 1: PatchCore's distance).
    sigma : float
        Gaussian smoothing of the upsampled map, in input pixels.
    device, seed, weights
        ``seed`` fixes the coreset's start and projection.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> train = rng.random((3, 32, 32, 3)) * 0.1 + 0.5
    >>> s = PatchCoreScorer(coreset_ratio=0.5).fit(train)
    >>> s.memory_bank_.shape[0]
    96
    """

    def __init__(
        self,
        backbone: str | Backbone = "filterbank",
        *,
        coreset_ratio: float = 0.1,
        max_bank: int = 2500,
        k: int = 1,
        sigma: float = 4.0,
        device: str = "cpu",
        seed: int = 0,
        weights: Any = None,
    ) -> None:
        super().__init__(backbone, sigma=sigma, device=device, seed=seed, weights=weights)
        if not 0 < coreset_ratio <= 1:
            raise ValueError(f"coreset_ratio must be in (0, 1], got {coreset_ratio}")
        self.coreset_ratio = float(coreset_ratio)
        self.max_bank = int(max_bank)
        self.k = int(k)
        self._model_attr = "memory_bank_"
        self.memory_bank_: torch.Tensor | None = None

    def fit(self, train_images: Any) -> PatchCoreScorer:
        """Build the memory bank from nominal inputs; returns self."""
        feats, _ = self._raw_features(train_images)
        feats = self._fit_stats(feats)
        c = feats.shape[1]
        bank = np.ascontiguousarray(np.moveaxis(feats, 1, -1).reshape(-1, c))
        n_keep = min(int(np.ceil(self.coreset_ratio * bank.shape[0])), self.max_bank)
        tb = torch.from_numpy(bank).to(self.device)
        if n_keep < bank.shape[0]:
            idx = greedy_coreset(tb, n_keep, seed=self.seed)
            tb = tb[torch.as_tensor(idx, device=tb.device)]
        self.memory_bank_ = tb.contiguous()
        return self

    def _score_grid(self, feats: torch.Tensor) -> torch.Tensor:
        n, c = feats.shape[:2]
        q = feats.reshape(n, c, -1).transpose(1, 2).reshape(-1, c)
        k = min(self.k, self.memory_bank_.shape[0])
        out = torch.empty(q.shape[0], device=q.device)
        step = 4096
        for s in range(0, q.shape[0], step):
            dist = torch.cdist(q[s : s + step], self.memory_bank_)
            out[s : s + step] = dist.topk(k, dim=1, largest=False).values.mean(dim=1)
        return out.reshape(n, *feats.shape[2:])


class VoxelScorer:
    """3D scorer for voxel volumes ``(N, D, H, W)`` -> maps ``(N, D, H, W)``.

    A thin wrapper choosing the voxel backbone and a 3D-capable method: ``"padim"`` (per-voxel
    Gaussian, neighbourhood pooled) or ``"patchcore"`` (memory bank, kNN).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> vols = rng.random((3, 8, 8, 8)).astype(np.float32)
    >>> VoxelScorer(sigma=1.0).fit(vols).score(vols[:1]).shape
    (1, 8, 8, 8)
    """

    def __init__(
        self,
        method: str = "padim",
        *,
        backbone: str | Backbone = "voxel",
        sigma: float = 2.0,
        device: str = "cpu",
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        if method == "padim":
            kwargs.setdefault("n_channels", None)
            self._inner: _BaseScorer = PaDiMScorer(backbone, sigma=sigma, device=device,
                                                   seed=seed, **kwargs)
        elif method == "patchcore":
            self._inner = PatchCoreScorer(backbone, sigma=sigma, device=device, seed=seed,
                                          **kwargs)
        else:
            raise ValueError(f"method must be 'padim' or 'patchcore', got {method!r}")
        self.method = method
        self.backbone = self._inner.backbone

    def fit(self, train_volumes: Any) -> VoxelScorer:
        """Fit on nominal volumes; returns self."""
        self._inner.fit(train_volumes)
        return self

    def fit_statistics(self, train_volumes: Any) -> VoxelScorer:
        """Fit only the channel standardisation (what :meth:`features` needs); returns self."""
        self._inner.fit_statistics(train_volumes)
        return self

    def score(self, volumes: Any) -> np.ndarray:
        """Score maps ``(N, D, H, W)`` float32."""
        return self._inner.score(volumes)

    def features(self, volumes: Any) -> np.ndarray:
        """Standardised features ``(N, C, d, h, w)``."""
        return self._inner.features(volumes)


def image_scores(maps: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """Image-level anomaly scores: the maximum of each map (the paper's I-AUROC convention).

    Examples
    --------
    >>> image_scores(np.arange(8.0).reshape(2, 2, 2)).tolist()
    [3.0, 7.0]
    """
    return np.array([float(np.max(m)) for m in maps])
