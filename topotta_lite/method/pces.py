"""PCES: the per-image pixel-level contrastive encoder of TopoTTA (paper Sec. IV-C).

A small MLP (3 linear layers, each followed by GELU) maps every feature vector of one image into an
embedding space. It is trained at test time, on that image alone, with the margin contrastive loss
of Eq. 10 (Hadsell et al.): a pair of locations with the same pseudo-label pays ``d**2``, a pair
with different pseudo-labels pays ``max(0, m - d)**2``, ``d`` the Euclidean distance of the two
embeddings. Every location is then given to the nearer of the two class prototypes (mean
embeddings of the sampled pseudo-positives and pseudo-negatives).

What we chose where the paper is silent (all are parameters of :class:`PCES`):

- **Resolution.** We work at the feature grid's resolution: the pseudo-label masks are
  area-downsampled to the grid, and the decision margin ``||z - p_neg|| - ||z - p_pos||`` is
  upsampled (bilinear / trilinear) to the map and thresholded at 0. ``resolution="full"`` upsamples
  the features to the map first, as the authors' code does (much slower, kept to measure it).
- **Samples.** A grid cell is pseudo-positive when at least ``pos_fraction`` of its area is in
  the pseudo-label mask (if none reaches it, the cells with the largest fraction are taken), and
  pseudo-negative when no part of it lies in ``union`` (default: the mask) dilated by
  ``neg_dilation`` cells. At most ``n_points`` locations are drawn; half positives and half
  negatives when both pools are large enough, else the smaller pool whole and the other one
  filling the budget, at most ``max_ratio`` times the smaller (None: no cap). Nominal ``support``
  feature maps (few-shot) join the negative pool. The loss averages over **all** pairs of the
  drawn points at every epoch; pairs are labelled by pseudo-label equality.
- **Which samples** (:data:`DEFAULT_SAMPLING`) and the **decision rule** (nearest prototype;
  :data:`DECISIONS` lists the alternatives) were chosen by ``topotta-lite tune`` on the
  development part of the embedded benchmark, in one coordinate search with TopoTTA's other
  knobs and the same budget as the baselines (``figures/tables/tuning_record.md`` gives each
  choice and its runner-up; notebook 13 re-measures them on the evaluation part). More points
  cost more time, which the tuning does not weigh (``benchmarks/bench_operators.py`` measures
  it against TTT4AS). Notebook 05 shows what each sampling choice does to one image.
- **Widths** (:data:`DEFAULT_WIDTHS`; the paper gives none). Every width costs time in every
  epoch; ours are the narrowest we found whose masks stay close to those of the wider network
  used before (``hidden`` 32): on the quick 2D, 2.5D and 3D sets, a mean F1 within 0.01 of its
  and a median per-image IoU with its masks above 0.9, as for a change of seed
  (``python benchmarks/bench_pces.py --widths`` prints the comparison).
- **Features** are standardised per channel with the mean / std of the test image's own locations
  (support maps use the same statistics), so that one learning rate fits every backbone.
- **Optimiser.** Adam, ``epochs`` (30) full-batch steps (one image = one batch), ``lr`` 1e-2,
  ``weight_decay`` 1e-4 (the paper lost both numbers).
- **Degenerate inputs** never crash: an empty pseudo-label mask returns an empty mask; no
  pseudo-negatives (the mask covers nearly everything), or features without variance, return the
  pseudo-label mask itself. :attr:`PCESResult.fallback` says which case happened.

Training has hand-written gradients and two engines (:mod:`topotta_lite.method._pces_engines`): on the
CPU a compiled numba loop trains one image at a time (the faster engine there, by far:
``benchmarks/bench_pces.py`` times both); on a GPU,
:func:`adapt_batch` trains one MLP per image for a whole batch of images at once (the weights are
stacked on a leading batch axis and every layer is one ``torch.baddbmm``). Both start from the same
seeded weights and are tested against each other and against autograd.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage

from topotta_lite._validation import (
    as_mask,
    bounded_int,
    choice,
    device_name,
    finite_float,
    positive_int,
    seed_value,
)
from topotta_lite.features import resolve_device
from topotta_lite.features.grid import (
    as_features,
    channel_stats,
    grid_fraction,
    resize_features,
    standardised_rows,
    upsample_scores,
)
from topotta_lite.method._pces_engines import (
    cpu_fit_margins,
    init_weights,
    torch_margins,
    torch_margins_batch,
    torch_train,
)

__all__ = [
    "DECISIONS",
    "DEFAULT_SAMPLING",
    "DEFAULT_WIDTHS",
    "LIMITS",
    "PCES",
    "ContrastiveMLP",
    "PCESFallbackWarning",
    "PCESResult",
    "adapt_batch",
    "checked_support",
    "contrastive_loss",
    "decide",
    "init_weights",
    "pseudo_label_grids",
    "sample_points",
    "training_failure",
]

DECISIONS = ("prototype", "trim", "area")
"""How the decision margin becomes a mask (:func:`decide`); notebook 05 compares them."""

DEFAULT_WIDTHS = {"hidden": 16, "embed_dim": 16}
"""PCES's network widths: two hidden layers of ``hidden`` units, ``embed_dim`` embedding units
(see the module docstring)."""

DEFAULT_SAMPLING = {"n_points": 1024, "pos_fraction": 1.0, "neg_dilation": 0, "max_ratio": None}
"""PCES's training-set defaults, chosen by ``topotta-lite tune`` on the development part of the
embedded benchmark (``figures/tables/tuning_record.md``; notebook 05 shows the ablation): up to
1024 grid cells, positives only where the pseudo-label covers the whole cell, negatives
everywhere else (right up to the mask's boundary), and no cap on the class ratio (the classes keep
the image's own proportions)."""





# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------
def pseudo_label_grids(
    mask: np.ndarray,
    grid_shape: tuple[int, ...],
    *,
    union: np.ndarray | None = None,
    pos_fraction: float = DEFAULT_SAMPLING["pos_fraction"],
    neg_dilation: int = DEFAULT_SAMPLING["neg_dilation"],
) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-positive and pseudo-negative cells of the feature grid.

    Positive: at least ``pos_fraction`` of the cell lies in ``mask`` (when no cell reaches it but the
    mask is not empty, the cells of maximal coverage). Negative: no part of the cell lies in
    ``union`` (default ``mask``) dilated by ``neg_dilation`` cells (full-connectivity structuring
    element).

    Examples
    --------
    >>> m = np.zeros((8, 8), bool); m[2:4, 2:4] = True
    >>> pos, neg = pseudo_label_grids(m, (4, 4))
    >>> int(pos.sum()), int(neg.sum())
    (1, 15)
    >>> pos, neg = pseudo_label_grids(m, (4, 4), neg_dilation=1)   # keep the ring of 8 cells out
    >>> int(pos.sum()), int(neg.sum())
    (1, 7)
    """
    frac = grid_fraction(mask, grid_shape)
    pos = frac >= pos_fraction
    if not pos.any() and frac.max() > 0:
        pos = frac >= frac.max()
    near = (frac if union is None or union is mask else grid_fraction(union, grid_shape)) > 0
    if neg_dilation > 0 and near.any():
        structure = np.ones((3,) * near.ndim, dtype=bool)
        near = ndimage.binary_dilation(near, structure=structure, iterations=int(neg_dilation))
    neg = ~(near | pos)
    return pos, neg


def sample_points(
    n_pos: int,
    n_neg: int,
    n_points: int,
    rng: np.random.Generator,
    *,
    max_ratio: float | None = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw indices into a positive pool of size ``n_pos`` and a negative pool of size ``n_neg``.

    Half of ``n_points`` goes to each class; a class with a smaller pool is taken whole and the other
    fills the remaining budget, but never beyond ``max_ratio`` times the smaller class (None: no
    cap, the classes keep the pools' proportions). Indices are sorted (deterministic order).

    Examples
    --------
    >>> p, n = sample_points(10, 1000, 64, np.random.default_rng(0))
    >>> len(p), len(n)
    (10, 40)
    >>> p, n = sample_points(10, 1000, 64, np.random.default_rng(0), max_ratio=None)
    >>> len(p), len(n)
    (10, 54)
    """
    if n_pos <= 0 or n_neg <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    half = n_points // 2
    take_pos = min(n_pos, max(half, n_points - min(n_neg, half)))
    take_neg = min(n_neg, n_points - take_pos)
    if max_ratio is not None:
        small = min(take_pos, take_neg)
        cap = max(1, math.floor(max_ratio * small))
        take_pos, take_neg = min(take_pos, cap), min(take_neg, cap)
    p = np.sort(rng.choice(n_pos, size=take_pos, replace=False))
    n = np.sort(rng.choice(n_neg, size=take_neg, replace=False))
    return p.astype(np.int64), n.astype(np.int64)


# --------------------------------------------------------------------------------------------
# Model and loss
# --------------------------------------------------------------------------------------------
def _safe_sqrt(d2: torch.Tensor) -> torch.Tensor:
    """sqrt with a zero (not infinite) gradient at 0, exact value 0 there."""
    return torch.where(d2 > 1e-12, torch.sqrt(d2.clamp_min(1e-12)), torch.zeros_like(d2))


def contrastive_loss(z1: torch.Tensor, z2: torch.Tensor, y: torch.Tensor, margin: float = 1.0):
    """Eq. 10: mean over pairs of ``(1-y) d^2 + y max(0, m-d)^2`` (``y = 1``: dissimilar pair).

    Examples
    --------
    >>> z = torch.zeros(2, 3)
    >>> float(contrastive_loss(z, z, torch.tensor([0.0, 1.0]), margin=1.0))
    0.5
    """
    d2 = ((z1 - z2) ** 2).sum(dim=-1)
    d = _safe_sqrt(d2)
    return ((1 - y) * d2 + y * torch.clamp(margin - d, min=0) ** 2).mean()


class ContrastiveMLP(torch.nn.Module):
    """Three linear layers, each followed by GELU (the paper's encoder), for one image.

    :func:`adapt_batch` trains the same network with hand-written gradients; this class is the
    readable one, for autograd (notebooks, tests).

    Examples
    --------
    >>> ContrastiveMLP(16)(torch.zeros(5, 16)).shape
    torch.Size([5, 16])
    """

    def __init__(self, in_dim: int, hidden: int = DEFAULT_WIDTHS["hidden"],
                 embed_dim: int = DEFAULT_WIDTHS["embed_dim"]):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(in_dim, hidden), torch.nn.GELU(),
            torch.nn.Linear(hidden, hidden), torch.nn.GELU(),
            torch.nn.Linear(hidden, embed_dim), torch.nn.GELU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @classmethod
    def from_weights(cls, weights) -> ContrastiveMLP:
        """The network carrying ``[(W, b), ...]`` as :func:`init_weights` draws them (W: in x out).

        Examples
        --------
        >>> net = ContrastiveMLP.from_weights(init_weights([5, 4, 4, 2], seed=0))
        >>> net(torch.zeros(3, 5)).shape
        torch.Size([3, 2])
        """
        net = cls(weights[0][0].shape[0], hidden=weights[0][0].shape[1],
                  embed_dim=weights[-1][0].shape[1])
        with torch.no_grad():
            for layer, (w, b) in zip(net.net[::2], weights):
                layer.weight.copy_(torch.as_tensor(np.asarray(w)).T)
                layer.bias.copy_(torch.as_tensor(np.asarray(b)))
        return net


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------
@dataclass
class PCESResult:
    """What PCES did on one image.

    Attributes
    ----------
    mask : np.ndarray
        The final boolean mask, the map's shape.
    score : np.ndarray or None
        The decision margin ``||z - p_neg|| - ||z - p_pos||`` on the working grid (> 0 = anomalous);
        None when a fallback was taken.
    loss_curve : np.ndarray
        The training loss before each update (empty when training did not run).
    n_pos, n_neg : int
        Number of sampled pseudo-positive / pseudo-negative locations.
    fallback : str or None
        None, or why the pseudo-label mask was returned as is: nothing to train on
        (``"no positives"``, ``"no negatives"``, ``"zero-variance features"``), or a training that
        failed (:func:`training_failure`: ``"non-finite loss"``, ``"loss did not decrease"``,
        ``"embeddings collapsed"``; a :class:`PCESFallbackWarning` is issued).
    seconds : float
        Wall-clock seconds of the adaptation of this image (its share of a batch).
    """

    mask: np.ndarray
    score: np.ndarray | None = None
    loss_curve: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_pos: int = 0
    n_neg: int = 0
    fallback: str | None = None
    seconds: float = 0.0


@dataclass
class _Prepared:
    index: int
    x_cols: np.ndarray         # (C, L) raw locations of the working grid, one per column
    mean: np.ndarray           # (C,) float32: standardisation ``(x - mean) * scale``
    scale: np.ndarray          # (C,) float32
    x_train: np.ndarray        # (n, C), the positives first
    y_train: np.ndarray        # (n,) 1 = positive
    grid_shape: tuple[int, ...]
    map_shape: tuple[int, ...]
    mask: np.ndarray           # the pseudo-label mask at the map's resolution

    @property
    def n_pos(self) -> int:
        return int(np.count_nonzero(self.y_train))


def _prepare(
    features: np.ndarray,
    mask: np.ndarray,
    union: np.ndarray | None,
    support: Sequence[np.ndarray] | None,
    *,
    resolution: str,
    n_points: int,
    pos_fraction: float,
    neg_dilation: int,
    max_ratio: float | None,
    rng: np.random.Generator,
    index: int,
) -> _Prepared | PCESResult:
    map_shape = mask.shape
    if resolution == "full":
        features = resize_features(features, map_shape)
        support = [resize_features(s, map_shape) for s in support] if support else support
    grid = tuple(features.shape[1:])
    if not mask.any():
        return PCESResult(mask=mask.copy(), fallback="no positives")
    c = features.shape[0]
    mean, scale, has_var = channel_stats(features)
    if not has_var:
        return PCESResult(mask=mask.copy(), fallback="zero-variance features")
    mean, scale = mean.astype(np.float32), scale.astype(np.float32)
    x_cols = np.ascontiguousarray(features, np.float32).reshape(c, -1)
    sup = [np.asarray(x, np.float32).reshape(c, -1) for x in support or []]
    pos, neg = pseudo_label_grids(
        mask, grid, union=union, pos_fraction=pos_fraction, neg_dilation=neg_dilation
    )
    at_pos, at_neg = np.flatnonzero(pos), np.flatnonzero(neg)
    n_neg = len(at_neg) + sum(x.shape[1] for x in sup)
    if n_neg == 0:
        return PCESResult(mask=mask.copy(), fallback="no negatives")
    ip, ineg = sample_points(len(at_pos), n_neg, n_points, rng, max_ratio=max_ratio)
    # only the sampled locations are gathered and standardised; the negative pool is the
    # image's cells, then the support's
    x_neg = (np.concatenate([x_cols[:, at_neg], *sup], axis=1)[:, ineg] if sup
             else x_cols[:, at_neg[ineg]])
    picked = np.concatenate([x_cols[:, at_pos[ip]], x_neg], axis=1)
    x_train = standardised_rows(picked, mean, scale)
    y_train = np.concatenate([np.ones(len(ip)), np.zeros(len(ineg))]).astype(np.float32)
    return _Prepared(index, x_cols, mean, scale, x_train, y_train, grid, map_shape, mask)


def decide(margin: np.ndarray, pseudo: np.ndarray, rule: str = "prototype") -> np.ndarray:
    """Turn the upsampled decision margin ``||z - p_neg|| - ||z - p_pos||`` into a mask.

    ``"prototype"``: every location nearer the positive prototype (margin > 0), the paper's
    rule; ``"trim"``: the same, but only inside the pseudo-label (PCES may remove, not add);
    ``"area"``: the locations of largest margin, as many as the pseudo-label has (a calibrated
    threshold that keeps its size).

    Examples
    --------
    >>> m = np.array([[2.0, 1.0, -1.0, 0.5]]); pseudo = np.array([[True, False, True, False]])
    >>> [decide(m, pseudo, r).astype(int).tolist() for r in DECISIONS]
    [[[1, 1, 0, 1]], [[1, 0, 0, 0]], [[1, 1, 0, 0]]]
    """
    if rule == "prototype":
        return margin > 0
    if rule == "trim":
        return (margin > 0) & pseudo
    if rule == "area":
        k = int(pseudo.sum())
        if k == 0:
            return np.zeros(margin.shape, bool)
        flat = margin.ravel()
        top = np.argsort(-flat, kind="stable")[:k]
        out = np.zeros(flat.shape, bool)
        out[top] = True
        return out.reshape(margin.shape)
    raise ValueError(f"decision must be one of {DECISIONS}, got {rule!r}")


def adapt_batch(
    features: Sequence,
    masks: Sequence[np.ndarray],
    *,
    unions: Sequence[np.ndarray | None] | None = None,
    support: Sequence | None = None,
    seeds: Sequence[int] | int = 0,
    margin: float = 1.0,
    epochs: int = 30,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    hidden: int = DEFAULT_WIDTHS["hidden"],
    embed_dim: int = DEFAULT_WIDTHS["embed_dim"],
    n_points: int = DEFAULT_SAMPLING["n_points"],
    pos_fraction: float = DEFAULT_SAMPLING["pos_fraction"],
    neg_dilation: int = DEFAULT_SAMPLING["neg_dilation"],
    max_ratio: float | None = DEFAULT_SAMPLING["max_ratio"],
    resolution: str = "grid",
    decision: str = "prototype",
    device: str | None = None,
    batch_size: int | None = None,
    engine: str | None = None,
) -> list[PCESResult]:
    """Adapt one PCES encoder per image, for a batch of images at once, and classify.

    Parameters
    ----------
    features : sequence of array_like
        One ``(C, h, w)`` / ``(C, d, h, w)`` feature map per image (numpy or torch), all with the
        same ``C``, grids no finer than the masks.
    masks : sequence of bool arrays
        The pseudo-label masks (e.g. the EAI mask), each of its image's map shape.
    unions : sequence of bool arrays or None, optional
        Per image, the region whose dilation excludes pseudo-negatives (default: the mask).
    support : sequence of array_like, optional
        Nominal support feature maps (few-shot); shared by every image of the batch, they join each
        image's negative pool.
    seeds : int or sequence of int
        One seed per image (an int is used for every image): sampling and initial weights depend
        only on the image's own seed, so a batch gives the same result as one image at a time.
    margin, epochs, lr, weight_decay, hidden, embed_dim, n_points, pos_fraction, \
neg_dilation, max_ratio, resolution, decision
        See :class:`PCES`.
    device : {"cpu", "cuda"} or None
        None picks CUDA when available; CUDA asked for where there is none falls back to the CPU
        with a warning.
    batch_size : int or None
        Images trained together by the torch engine (None = all of them). The numba engine
        trains one image at a time whatever this is.
    engine : {"numba", "torch"} or None
        None: numba on the CPU, batched torch on CUDA. ``"torch"`` with ``device="cpu"`` runs the
        GPU code path on the CPU (the tests use it); ``"numba"`` needs ``device="cpu"``.

    Returns
    -------
    list of PCESResult
        One per image, in order.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> feats = rng.normal(size=(4, 8, 8)).astype(np.float32)
    >>> m = np.zeros((16, 16), bool); m[4:8, 4:8] = True; feats[:, 2:4, 2:4] += 3
    >>> res = adapt_batch([feats], [m], device="cpu", epochs=5)
    >>> res[0].mask.shape, bool(res[0].mask[5, 5])
    ((16, 16), True)
    """
    cfg = _checked(margin=margin, epochs=epochs, lr=lr, weight_decay=weight_decay, hidden=hidden,
                   embed_dim=embed_dim, n_points=n_points, pos_fraction=pos_fraction,
                   neg_dilation=neg_dilation, max_ratio=max_ratio, resolution=resolution)
    if batch_size is not None:
        batch_size = positive_int("batch_size", batch_size)
    seeds = (seed_value("seeds", seeds) if isinstance(seeds, int | np.integer)
             else [seed_value(f"seeds[{i}]", s) for i, s in enumerate(seeds)])
    cfg["decision"] = choice("decision", decision, DECISIONS)
    # None: CUDA when available; CUDA absent: the CPU, with a warning
    dev = resolve_device(device_name("device", device))
    cfg["device"] = str(dev)
    on_cuda = dev.type == "cuda"
    engine = ("torch" if on_cuda else "numba") if engine is None else engine
    if engine not in ("numba", "torch") or (engine == "numba" and on_cuda):
        raise ValueError(f"engine must be 'numba' (CPU) or 'torch', got {engine!r} on {str(dev)!r}")
    cfg["engine"] = engine
    n_img = len(masks)
    if len(features) != n_img:
        raise ValueError(f"got {len(features)} feature maps for {n_img} masks")
    if isinstance(seeds, (int, np.integer)):
        seeds = [int(seeds)] * n_img
    elif len(seeds) != n_img:
        raise ValueError(f"got {len(seeds)} seeds for {n_img} images")
    unions = list(unions) if unions is not None else [None] * n_img
    if len(unions) != n_img:
        raise ValueError(f"got {len(unions)} unions for {n_img} masks")
    masks = [as_mask(m, name=f"masks[{i}]") for i, m in enumerate(masks)]
    feats = [as_features(f, m.shape, name=f"features[{i}]") for i, (f, m) in
             enumerate(zip(features, masks))]
    if any(f.shape[0] != feats[0].shape[0] for f in feats):
        raise ValueError("every feature map of a batch must have the same number of channels")
    sup = checked_support(support, feats[0]) if n_img else None
    for i, u in enumerate(unions):
        if u is not None:
            unions[i] = as_mask(u, name=f"unions[{i}]")
            if unions[i].shape != masks[i].shape:
                raise ValueError(
                    f"unions[{i}] has shape {unions[i].shape} but masks[{i}] has {masks[i].shape}"
                )
    return _adapt(feats, masks, unions, sup, seeds, cfg, batch_size)


def checked_support(support: Sequence | None, features: np.ndarray) -> list[np.ndarray] | None:
    """Nominal support feature maps as float32 arrays, each checked against ``features``.

    Every map must have the test features' layout (``(C, h, w)`` or ``(C, d, h, w)``) with the
    same ``C``, and finite values (a NaN would silently turn the loss into NaN). ``None`` or an
    empty sequence gives ``None``.

    Raises
    ------
    ValueError
        Naming the first bad map (``support[j]``).

    Examples
    --------
    >>> f = np.zeros((3, 4, 4), np.float32)
    >>> checked_support([np.ones((3, 4, 4))], f)[0].dtype
    dtype('float32')
    >>> checked_support([np.full((3, 4, 4), np.nan)], f)
    Traceback (most recent call last):
    ...
    ValueError: support[0] holds NaN or infinite values
    """
    if support is None or len(support) == 0:
        return None
    out = []
    for j, s in enumerate(support):
        s = np.asarray(s.detach().cpu().numpy() if hasattr(s, "detach") else s)
        if s.dtype.kind not in "iuf" or s.ndim != features.ndim or s.shape[0] != features.shape[0] \
                or s.size == 0:
            raise ValueError(
                f"support[{j}] has shape {s.shape} and dtype {s.dtype}; it must have the test "
                f"features' layout {'(C, h, w)' if features.ndim == 3 else '(C, d, h, w)'} "
                f"with {features.shape[0]} channels of real numbers"
            )
        s = np.ascontiguousarray(s, dtype=np.float32)
        if not np.isfinite(s).all():
            raise ValueError(f"support[{j}] holds NaN or infinite values")
        out.append(s)
    return out


def _adapt(feats: list[np.ndarray], masks: list[np.ndarray], unions: list, sup, seeds: list[int],
           cfg: dict, batch_size: int | None) -> list[PCESResult]:
    """:func:`adapt_batch` on checked inputs (features float32, masks bool, support checked)."""
    n_img = len(masks)
    resolution = cfg["resolution"]
    engine = cfg["engine"]
    results: list[PCESResult | None] = [None] * n_img
    prepared: list[_Prepared] = []
    for i in range(n_img):
        t0 = time.perf_counter()
        s = sup
        if sup is not None and resolution == "grid":
            s = [resize_features(x, feats[i].shape[1:]) if x.shape[1:] != feats[i].shape[1:]
                 else x for x in sup]
        p = _prepare(
            feats[i], masks[i], unions[i], s, resolution=resolution, n_points=cfg["n_points"],
            pos_fraction=cfg["pos_fraction"], neg_dilation=cfg["neg_dilation"],
            max_ratio=cfg["max_ratio"], rng=np.random.default_rng(seeds[i]), index=i,
        )
        if isinstance(p, PCESResult):
            p.seconds = time.perf_counter() - t0
            results[i] = p
        else:
            prepared.append(p)

    if batch_size is None:
        batch_size = len(prepared) if engine == "torch" else 1
    batch_size = max(1, int(batch_size))
    train = {k: cfg[k] for k in ("margin", "epochs", "lr", "weight_decay", "hidden", "embed_dim",
                                 "device", "engine", "decision")}
    for start in range(0, len(prepared), batch_size):
        chunk = prepared[start:start + batch_size]
        t0 = time.perf_counter()
        out = _train_and_classify(chunk, [seeds[p.index] for p in chunk], **train)
        share = (time.perf_counter() - t0) / len(chunk)
        for p, r in zip(chunk, out):
            r.seconds = share
            results[p.index] = r
    return results  # type: ignore[return-value]


def _train_and_classify(
    chunk: list[_Prepared], seeds: list[int], *, margin, epochs, lr, weight_decay, hidden,
    embed_dim, device, engine, decision,
) -> list[PCESResult]:
    """Train one encoder per prepared image (numba: one by one; torch: one padded batch)."""
    dims = [chunk[0].x_train.shape[1], hidden, hidden, embed_dim]
    train = {"epochs": epochs, "lr": lr, "weight_decay": weight_decay, "margin": margin}
    inits = [init_weights(dims, s) for s in seeds]
    if engine == "numba":
        margins = []
        with _single_threaded_blas():
            for p, w in zip(chunk, inits):  # x_train holds the positives first (_prepare)
                margins.append(cpu_fit_margins(p.x_train, p.n_pos, p.x_cols, p.mean, p.scale, w,
                                               **train))
    else:
        n = max(len(p.y_train) for p in chunk)
        x = np.zeros((len(chunk), n, dims[0]), np.float32)
        y = np.zeros((len(chunk), n), np.float32)
        valid = np.zeros((len(chunk), n), np.float32)
        for b, p in enumerate(chunk):
            x[b, : len(p.y_train)] = p.x_train
            y[b, : len(p.y_train)] = p.y_train
            valid[b, : len(p.y_train)] = 1
        weights = [
            (torch.from_numpy(np.stack([w[k][0] for w in inits])).to(device),
             torch.from_numpy(np.stack([w[k][1] for w in inits])[:, None]).to(device))
            for k in range(len(dims) - 1)
        ]
        tx, ty = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
        curves = torch_train(tx, ty, torch.from_numpy(valid).to(device), weights,
                             **train).cpu().numpy()
        margins = []
        tvalid = torch.from_numpy(valid).to(device)
        with torch.no_grad():
            if len({p.x_cols.shape for p in chunk}) == 1:  # one grid: every image at once
                cols = torch.from_numpy(np.stack([p.x_cols for p in chunk])).to(device)
                mean = torch.from_numpy(np.stack([p.mean for p in chunk])).to(device)
                scale = torch.from_numpy(np.stack([p.scale for p in chunk])).to(device)
                ms = torch_margins_batch(tx, ty, tvalid, cols, mean, scale, weights).cpu().numpy()
                margins = list(zip(curves, ms))
            else:
                for b, p in enumerate(chunk):
                    wb = [(w[b:b + 1], bias[b:b + 1]) for w, bias in weights]
                    k = len(p.y_train)
                    x_all = torch.from_numpy(standardised_rows(p.x_cols, p.mean, p.scale))
                    m = torch_margins(tx[b, :k], ty[b, :k], x_all.to(device), wb)
                    margins.append((curves[b], m.cpu().numpy()))
    out = []
    for p, (curve, margin_map) in zip(chunk, margins):
        score = np.asarray(margin_map, np.float32).reshape(p.grid_shape)
        curve = np.asarray(curve, np.float64)
        counts = {"n_pos": int((p.y_train > 0.5).sum()), "n_neg": int((p.y_train < 0.5).sum())}
        failure = training_failure(curve, score, margin)
        if failure is not None:
            warnings.warn(f"PCES training failed on image {p.index} ({failure}); the pseudo-label "
                          "mask is returned instead (PCESResult.fallback says why)",
                          PCESFallbackWarning, stacklevel=4)
            out.append(PCESResult(mask=p.mask.copy(), loss_curve=curve, fallback=failure, **counts))
            continue
        out.append(PCESResult(
            mask=decide(upsample_scores(score, p.map_shape), p.mask, decision), score=score,
            loss_curve=curve, **counts,
        ))
    return out


def training_failure(curve: np.ndarray, score: np.ndarray, margin: float) -> str | None:
    """Why a PCES training must not be trusted, or None when it looks sound.

    * ``"non-finite loss"``: a loss or a decision margin is NaN or infinite;
    * ``"loss did not decrease"``: the loss after the last recorded update is not below the
      first one (with at least two epochs): the steps were too large for the loss to fall;
    * ``"embeddings collapsed"``: the two prototypes (almost) coincide, every decision margin is
      within ``1e-3 * margin`` of 0, so the mask would be decided by rounding.

    On the embedded 2D benchmark at the default learning rate the loss falls to about a
    hundredth of its first value and the margins reach order 1, while a learning rate of 0.1 or
    more trips one of these checks on most images (``tests/test_operator_guards.py``).

    Examples
    --------
    >>> training_failure(np.array([1.0, 0.5]), np.array([0.8, -0.3]), 1.0) is None
    True
    >>> training_failure(np.array([1.0, np.nan]), np.array([0.8, -0.3]), 1.0)
    'non-finite loss'
    >>> training_failure(np.array([1.0, 1.2]), np.array([0.8, -0.3]), 1.0)
    'loss did not decrease'
    >>> training_failure(np.array([1.0, 0.5]), np.zeros(2), 1.0)
    'embeddings collapsed'
    """
    if not (np.isfinite(curve).all() and np.isfinite(score).all()):
        return "non-finite loss"
    if len(curve) >= 2 and curve[-1] >= curve[0]:
        return "loss did not decrease"
    if score.size and float(np.abs(score).max()) <= 1e-3 * margin:
        return "embeddings collapsed"
    return None


class PCESFallbackWarning(RuntimeWarning):
    """PCES trained but failed (:func:`training_failure`); the pseudo-label mask was returned."""


_BLAS = None


def _single_threaded_blas():
    """Context in which the BLAS libraries run one thread (restored on exit).

    The engine's matrices are tiny; a multi-threaded BLAS spin-waits on them, which on a busy
    machine costs more than the arithmetic (``benchmarks/bench_pces.py`` times the engine).
    """
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


LIMITS = {"margin": 100.0, "epochs": 10_000, "lr": 1.0, "weight_decay": 1.0, "width": 4096,
          "n_points": 8192, "neg_dilation": 64}
"""Upper bounds of PCES's parameters (:func:`_checked`). Embeddings of a GELU network on
standardised features are of order 1, so a margin beyond 100 only overflows the loss; Adam moves
every weight by about ``lr`` per step, and from 0.1 on the training fails on most images of the
embedded benchmark (:func:`training_failure` catches it), beyond 1 on all of them; the widths and
``n_points`` bound the memory (the torch engine forms ``n_points**2`` pair matrices); a dilation
beyond 64 grid cells covers any feature grid."""


def _checked(*, margin, epochs, lr, weight_decay, hidden, embed_dim, n_points, pos_fraction,
             neg_dilation, max_ratio, resolution) -> dict:
    """PCES's parameters, each checked (a ``ValueError`` names the first bad one), in this order."""
    lim = LIMITS
    return {
        "margin": finite_float("margin", margin, low=0, low_open=True, high=lim["margin"]),
        "epochs": bounded_int("epochs", epochs, 1, lim["epochs"]),
        "lr": finite_float("lr", lr, low=0, low_open=True, high=lim["lr"]),
        "weight_decay": finite_float("weight_decay", weight_decay, low=0,
                                     high=lim["weight_decay"]),
        "hidden": bounded_int("hidden", hidden, 1, lim["width"]),
        "embed_dim": bounded_int("embed_dim", embed_dim, 1, lim["width"]),
        "n_points": bounded_int("n_points", n_points, 2, lim["n_points"]),
        "pos_fraction": finite_float("pos_fraction", pos_fraction, low=0, high=1, low_open=True),
        "neg_dilation": bounded_int("neg_dilation", neg_dilation, 0, lim["neg_dilation"]),
        "max_ratio": None if max_ratio is None else finite_float("max_ratio", max_ratio, low=1),
        "resolution": choice("resolution", resolution, ("grid", "full")),
    }


class PCES:
    """Per-image contrastive adaptation and prototype classification (see the module docstring).

    Parameters
    ----------
    margin : float
        Contrastive margin m of Eq. 10 (paper default 1.0), in ``(0, 100]``.
    epochs : int
        Adam steps, each over all pairs of the sampled points (paper: 30), at most 10000.
    lr, weight_decay : float
        Adam learning rate and weight decay (the paper's values were lost; 1e-2 and 1e-4), ``lr``
        in ``(0, 1]`` and ``weight_decay`` in ``[0, 1]``. A training whose loss does not fall, or
        whose embeddings collapse, is not trusted (:func:`training_failure`): the pseudo-label
        mask is returned with a :class:`PCESFallbackWarning`.
    hidden, embed_dim : int
        Widths of the two hidden layers and of the embedding (:data:`DEFAULT_WIDTHS`), at most
        4096.
    n_points : int
        At most this many sampled locations per image (2 to 8192).
    pos_fraction : float
        Coverage of a grid cell by the pseudo-label mask that makes it a positive.
    neg_dilation : int
        Grid cells of dilation of the union before negatives are taken outside it (at most 64).
    max_ratio : float or None
        Largest ratio of the larger to the smaller class among the samples; None: no cap.
    resolution : {"grid", "full"}
        Work at the feature grid (default) or upsample features to the map first.
    decision : {"prototype", "trim", "area"}
        How the margin becomes a mask (:func:`decide`); the paper's nearest prototype by default.
    device : {"cpu", "cuda"} or None
        None = CUDA when available.
    seed : int
        Seeds sampling and initial weights (deterministic on the CPU).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> feats = rng.normal(size=(4, 8, 8)).astype(np.float32); feats[:, 2:4, 2:4] += 3
    >>> m = np.zeros((16, 16), bool); m[4:8, 4:8] = True
    >>> PCES(device="cpu").adapt(feats, m).mask[5, 5]
    True
    """

    def __init__(
        self, *, margin: float = 1.0, epochs: int = 30, lr: float = 1e-2,
        weight_decay: float = 1e-4, hidden: int = DEFAULT_WIDTHS["hidden"],
        embed_dim: int = DEFAULT_WIDTHS["embed_dim"],
        n_points: int = DEFAULT_SAMPLING["n_points"],
        pos_fraction: float = DEFAULT_SAMPLING["pos_fraction"],
        neg_dilation: int = DEFAULT_SAMPLING["neg_dilation"],
        max_ratio: float | None = DEFAULT_SAMPLING["max_ratio"],
        resolution: str = "grid", decision: str = "prototype", device: str | None = None,
        seed: int = 0,
    ):
        margin, epochs, lr, weight_decay, hidden, embed_dim, n_points, pos_fraction, \
            neg_dilation, max_ratio, resolution = _checked(
                margin=margin, epochs=epochs, lr=lr, weight_decay=weight_decay, hidden=hidden,
                embed_dim=embed_dim, n_points=n_points, pos_fraction=pos_fraction,
                neg_dilation=neg_dilation, max_ratio=max_ratio, resolution=resolution).values()
        device, seed = device_name("device", device), seed_value("seed", seed)
        decision = choice("decision", decision, DECISIONS)
        self.margin, self.epochs, self.lr, self.weight_decay = margin, epochs, lr, weight_decay
        self.hidden, self.embed_dim, self.n_points = hidden, embed_dim, n_points
        self.pos_fraction, self.neg_dilation, self.max_ratio = pos_fraction, neg_dilation, max_ratio
        self.resolution, self.decision, self.device, self.seed = resolution, decision, device, seed

    def _kwargs(self) -> dict:
        return {
            "margin": self.margin, "epochs": self.epochs, "lr": self.lr,
            "weight_decay": self.weight_decay, "hidden": self.hidden,
            "embed_dim": self.embed_dim, "n_points": self.n_points,
            "pos_fraction": self.pos_fraction, "neg_dilation": self.neg_dilation,
            "max_ratio": self.max_ratio, "resolution": self.resolution, "decision": self.decision,
            "device": self.device,
        }

    def adapt(self, features, mask, *, union=None, support=None) -> PCESResult:
        """Adapt on one image and classify every location (see :func:`adapt_batch`)."""
        return adapt_batch([features], [mask], unions=[union], support=support,
                           seeds=self.seed, **self._kwargs())[0]

    def _adapt_checked(self, features: np.ndarray, mask: np.ndarray, union: np.ndarray | None,
                       support: list[np.ndarray] | None) -> PCESResult:
        """:meth:`adapt` for an operator that has checked its inputs already: ``features`` from
        :func:`~topotta_lite.features.grid.as_features`, boolean masks of the map's shape and
        ``support`` from :func:`checked_support`."""
        cfg = self._kwargs()
        dev = resolve_device(cfg["device"])
        cfg.update(device=str(dev), engine="torch" if dev.type == "cuda" else "numba")
        return _adapt([features], [mask], [union], support, [self.seed], cfg, None)[0]

    def adapt_batch(self, features, masks, *, unions=None, support=None,
                    batch_size=None) -> list[PCESResult]:
        """Adapt one encoder per image for a batch (see :func:`adapt_batch`)."""
        return adapt_batch(features, masks, unions=unions, support=support, seeds=self.seed,
                           batch_size=batch_size, **self._kwargs())
