"""TopoTTA: topological pseudo-labels, Euler-aware fusion and PCES test-time adaptation.

Pipeline (paper Sec. IV): the score map is min-max normalised and quantised to
``levels``; for each filtration (sublevel, superlevel, or one of them for the ablation) the Top-K
(or persistence >= tau) features become region masks (:func:`topotta_lite.method.pseudolabels.
pseudo_label_mask`); the two masks are fused (:func:`topotta_lite.method.fusion.fuse`: ``"eai"``,
``"intersection"``, ``"union"``, ``"iou"``; ``None`` with a single filtration); the fused mask
supervises PCES (:mod:`topotta_lite.method.pces`) on the image's frozen features. Without features, or
with ``pces=False``, the fused pseudo-label mask is the result, so TopoTTA can refine any score map
on its own (Table VI ablation).

A constant map has no persistent feature: the result is an empty mask.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from topotta_lite._validation import (
    boolean,
    bounded_int,
    checked_map,
    choice,
    finite_float,
    positive_int,
    seed_value,
)
from topotta_lite.features.grid import as_features
from topotta_lite.method.fusion import FALLBACKS, METHODS, TARGETS, fusion_activity
from topotta_lite.method.nominal import NominalEncoder, fitted_encoder
from topotta_lite.method.pces import (
    DEFAULT_SAMPLING,
    DEFAULT_WIDTHS,
    PCES,
    PCESResult,
    checked_support,
)
from topotta_lite.method.pseudolabels import RULES
from topotta_lite.topology.persistence import BACKENDS
from topotta_lite.vocabulary import CONSTRUCTIONS, FILTRATIONS

__all__ = ["PRESETS", "TopoTTA", "TopoTTAResult"]

PRESETS = {
    "paper": {"construction": "V", "rule": "region", "fusion": "eai", "adaptation": "image",
              "levels": 256},
    "release": {"construction": "T", "rule": "release", "fusion": "intersection",
                "adaptation": "class", "levels": None},  # the released code does not quantise
}
"""The two readings of TopoTTA. ``adaptation``: ``"image"`` = PCES trained on each test image;
``"class"`` = one encoder per class trained on nominal support images."""

MAX_LEVELS = 2**24
"""Most filtration levels accepted: more levels than a map has pixels change nothing, and the
persistence engine's integer keys must hold them."""


class _PresetLevels(int):
    """The default of ``levels``: the preset's value (it reads as the paper preset's)."""


_PRESET_LEVELS = _PresetLevels(PRESETS["paper"]["levels"])



@dataclass
class TopoTTAResult:
    """Intermediate results of one TopoTTA call (for notebooks).

    Attributes
    ----------
    m_sub, m_sup : np.ndarray or None
        Pseudo-label masks of the sublevel / superlevel filtration (None if not used).
    fused : np.ndarray
        The fused pseudo-label mask (EAI by default).
    mask : np.ndarray
        The final mask (PCES output, or ``fused`` when PCES did not run).
    pces : PCESResult or None
        PCES details (loss curve, sample counts, fallback), None when PCES did not run.
    timings : dict
        Seconds: ``pseudo_labels`` (filtrations + fusion), ``adaptation`` (PCES), ``total``.
    pces_fallback : str or None
        Why the refinement returned the pseudo-label mask unchanged although it was asked to run
        (:attr:`PCESResult.fallback`: nothing to train on, or a training that failed, e.g.
        ``"loss did not decrease"``; the release preset: ``"no nominal support to train on"``);
        None when it ran normally or was not asked for.
    """

    m_sub: np.ndarray | None
    m_sup: np.ndarray | None
    fused: np.ndarray
    mask: np.ndarray
    pces: PCESResult | None = None
    timings: dict = field(default_factory=dict)
    pces_fallback: str | None = None

    @property
    def loss_curve(self) -> np.ndarray:
        """PCES loss per epoch (empty when PCES did not run or fell back)."""
        return np.zeros(0) if self.pces is None else self.pces.loss_curve


class TopoTTA:
    """The TopoTTA segmentation operator (see the module docstring).

    Parameters
    ----------
    preset : {"paper", "release"}
        ``"paper"``: the method as the paper's text describes it (our reading): V construction,
        region masks, Euler-aware fusion, PCES trained on each test image. ``"release"``: the
        authors' released code (see :data:`PRESETS`): T construction, whole-map thresholds at
        ``death - delta``, a plain AND of the two masks, and a class-level encoder trained on
        nominal support images (:class:`~topotta_lite.method.nominal.NominalEncoder`), which
        :meth:`fit` trains (or the first :meth:`segment` call given ``support``).
        ``construction``, ``rule`` and ``fusion`` left at None take the preset's value.
    filtrations : sequence of {"sublevel", "superlevel"}
        Filtrations used (both by default; one for the single-filtration ablation).
    k : int or None
        Top-K features per filtration (paper: 1). None with ``tau`` to select by persistence.
    tau : float or None
        Keep features with persistence >= tau (normalised units) instead of Top-K.
    only_kth : bool
        Use only the K-th most persistent feature of each filtration instead of the Top-K
        (Table V's ablation; with ``k=1`` it is the default pipeline).
    levels : int or None
        Filtration levels n, at most :data:`MAX_LEVELS`; None = no quantisation. Default: the
        preset's (paper: 256; release: None, as the released code).
    alpha : float or None
        Level inside each selected bar (see :mod:`topotta_lite.method.pseudolabels`); None = its default.
    construction : {"V", "T"} or None
        Cubical construction (V: 4/6-connectivity, the paper's text; T: the authors' code).
    rule : {"region", "release"} or None
        Feature -> mask rule (paper-text reading or the authors' release).
    dims : dict or None
        Homology dimensions per filtration, e.g. ``{"sublevel": (1,), "superlevel": (0,)}``;
        None = the defaults of :func:`topotta_lite.method.pseudolabels.default_dims`.
    fusion : {"eai", "intersection", "union", "iou"} or None
        How the two masks are fused (ignored with a single filtration).
    lam : float
        EAI weight lambda (paper: 0.01).
    fusion_target : {"union", "sub", "sup"}
        EAI's target Euler characteristic.
    eai_fallback : {"sub", "sup", "union", "larger", "persistent", "none"}
        What EAI returns when the two masks do not overlap (an empty intersection) although their
        union is not empty (:func:`topotta_lite.method.fusion.fuse`); ``"persistent"`` takes the
        mask of the filtration whose selected feature is the more persistent.
    pces : bool
        Run the learned refinement when features are given: PCES on the test image (paper
        preset) or the nominal-trained encoder (release preset). False: the fused mask is
        returned (the Table VI ablation).
    margin, epochs, lr, weight_decay, hidden, embed_dim, n_points, pos_fraction, neg_dilation, \
max_ratio, resolution, decision
        PCES parameters (:class:`topotta_lite.method.pces.PCES`, which bounds them; paper: margin
        1.0, 30 epochs of Adam, 3-layer GELU MLP). A PCES training that fails (its loss does not
        fall, or its embeddings collapse) returns the pseudo-label mask with a warning, and
        :attr:`TopoTTAResult.pces_fallback` says why.
    device : {"cpu", "cuda"} or None
        PCES device; None = CUDA when available.
    backend : str
        Persistence backend.
    seed : int
        Seeds PCES (sampling, initial weights): results are deterministic on the CPU. In
        ``[0, 2**32 - 1]``.

    Notes
    -----
    Each input is checked once, in :meth:`segment_detailed`: the score map becomes a read-only
    :class:`~topotta_lite._validation.ScoreMap` (scaled by an exact power of two if its values
    are beyond ``2**64``, so that normalising it cannot overflow), which the pseudo-label code
    accepts without checking it again.

    Examples
    --------
    >>> psi = np.zeros((32, 32)); psi[8:16, 8:16] = 1.0
    >>> int(TopoTTA().segment(psi).sum())
    64
    """

    def __init__(
        self,
        *,
        preset: str = "paper",
        filtrations: Sequence[str] = FILTRATIONS,
        k: int | None = 1,
        tau: float | None = None,
        only_kth: bool = False,
        levels: int | None = _PRESET_LEVELS,
        alpha: float | None = None,
        construction: str | None = None,
        rule: str | None = None,
        dims: dict | None = None,
        fusion: str | None = None,
        lam: float = 0.01,
        fusion_target: str = "union",
        eai_fallback: str = "sub",
        pces: bool = True,
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
        backend: str = "auto",
        seed: int = 0,
    ):
        if isinstance(filtrations, str):
            filtrations = (filtrations,)
        if not isinstance(filtrations, Sequence):
            raise ValueError(f"filtrations must be a non-empty subset of {FILTRATIONS}, "
                             f"got {filtrations!r}")
        filtrations = tuple(filtrations)
        bad = [f for f in filtrations if f not in FILTRATIONS]
        if bad or not filtrations or len(set(filtrations)) != len(filtrations):
            raise ValueError(f"filtrations must be a non-empty subset of {FILTRATIONS}, "
                             f"got {filtrations!r}")
        preset = choice("preset", preset, tuple(PRESETS))
        chosen = PRESETS[preset]
        construction = chosen["construction"] if construction is None else construction
        rule = chosen["rule"] if rule is None else rule
        fusion = chosen["fusion"] if fusion is None else fusion
        if fusion not in METHODS:
            raise ValueError(f"fusion must be one of {METHODS} or None, got {fusion!r}")
        if k is None and tau is None:
            raise ValueError("give k (Top-K) or tau (persistence threshold)")
        k = None if k is None else positive_int("k", k)
        tau = None if tau is None else finite_float("tau", tau, low=0)
        only_kth, pces = boolean("only_kth", only_kth), boolean("pces", pces)
        levels = chosen["levels"] if levels is _PRESET_LEVELS else levels
        levels = None if levels is None else bounded_int("levels", levels, 2, MAX_LEVELS)
        alpha = None if alpha is None else finite_float("alpha", alpha, low=0, high=1, high_open=True)
        construction = choice("construction", construction, CONSTRUCTIONS)
        rule = choice("rule", rule, RULES)
        lam = finite_float("lam", lam, low=0)
        if not (isinstance(fusion_target, int | np.integer) and not isinstance(fusion_target, bool)):
            fusion_target = choice("fusion_target", fusion_target, TARGETS)
        backend = choice("backend", backend, BACKENDS)
        seed = seed_value("seed", seed)
        if dims is not None:
            if not isinstance(dims, dict) or not set(dims) <= set(filtrations):
                raise ValueError(f"dims must be None or a dict keyed by {filtrations}, got {dims!r}")
        self.filtrations, self.k, self.tau, self.levels = filtrations, k, tau, levels
        self.only_kth = bool(only_kth)
        self.alpha, self.construction, self.rule, self.dims = alpha, construction, rule, dims
        if eai_fallback not in (*FALLBACKS, "persistent"):
            raise ValueError(f"eai_fallback must be one of {(*FALLBACKS, 'persistent')}, "
                             f"got {eai_fallback!r}")
        self.fusion, self.lam, self.fusion_target = fusion, lam, fusion_target
        self.eai_fallback = eai_fallback
        self.preset, self.adaptation = preset, chosen["adaptation"]
        self.use_pces, self.backend, self.seed = pces, backend, seed
        self.nominal_: NominalEncoder | None = None
        self._nominal_source: int | None = None
        self.pces = PCES(margin=margin, epochs=epochs, lr=lr, weight_decay=weight_decay,
                         hidden=hidden, embed_dim=embed_dim, n_points=n_points,
                         pos_fraction=pos_fraction, neg_dilation=neg_dilation, max_ratio=max_ratio,
                         resolution=resolution, decision=decision, device=device, seed=seed)
        self.timings_: dict[str, float] = {}
        self.fusion_activity_: dict[str, bool] = {}

    # ----------------------------------------------------------------------------------------
    def pseudo_labels(self, score_map) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray]:
        """Return ``(m_sub, m_sup, fused)`` for one score map (no adaptation)."""
        from topotta_lite.method.fusion import fuse
        from topotta_lite.method.pseudolabels import DEFAULT_ALPHA, pseudo_label_masks

        psi = checked_map(score_map)
        dims = {f: (self.dims or {}).get(f) for f in self.filtrations}
        # one call for all filtrations: the map is normalised and sorted once
        results = pseudo_label_masks(
            psi, dims, k=self.k, tau=self.tau, levels=self.levels,
            alpha=DEFAULT_ALPHA if self.alpha is None else self.alpha,
            construction=self.construction, rule=self.rule, backend=self.backend,
            only_kth=self.only_kth)
        masks = {f: mask for f, (mask, _, _) in zip(dims, results, strict=True)}
        m_sub, m_sup = masks.get("sublevel"), masks.get("superlevel")
        if len(masks) == 1:
            only = next(iter(masks.values()))
            fused = only.copy()
        else:
            fallback = self.eai_fallback
            if fallback == "persistent":  # the filtration whose chosen feature lives longer
                pers = {f: float(np.abs(dg.births - dg.deaths).max(initial=0.0))
                        for f, (_, _, dg) in zip(dims, results, strict=True)}
                fallback = "sub" if pers["sublevel"] >= pers["superlevel"] else "sup"
            fused = np.asarray(fuse(m_sub, m_sup, method=self.fusion, lam=self.lam,
                                    target=self.fusion_target, construction=self.construction,
                                    fallback=fallback), dtype=bool)
        return m_sub, m_sup, fused

    @staticmethod
    def _union(m_sub, m_sup, fused) -> np.ndarray:
        out = fused.copy()
        for m in (m_sub, m_sup):
            if m is not None:
                out |= m
        return out

    def segment_detailed(self, score_map, features=None, *, support=None) -> TopoTTAResult:
        """Like :meth:`segment`, returning every intermediate mask, the loss curve and timings.

        Every input is checked here, once, before any work: the map, the features against the
        map, and the support against the features (their channels, finite values).
        """
        t0 = time.perf_counter()
        psi = checked_map(score_map)
        checked = None
        if features is not None:
            features = as_features(features, psi.shape)
            if self.adaptation == "class" and self.use_pces:
                self._prepare_encoder(features, support)
            else:
                checked = checked_support(support, features)
        m_sub, m_sup, fused = self.pseudo_labels(psi)
        t1 = time.perf_counter()
        res = None
        mask = fused
        if self.use_pces and features is not None and self.adaptation == "image":
            res = self.pces._adapt_checked(features, fused, self._union(m_sub, m_sup, fused),
                                           checked)
            mask = res.mask
        elif self.use_pces and features is not None:
            mask, res = self._classify_with_encoder(features, fused)
        t2 = time.perf_counter()
        self.timings_ = {"pseudo_labels": t1 - t0, "adaptation": t2 - t1, "total": t2 - t0}
        if m_sub is not None and m_sup is not None:
            self.fusion_activity_ = fusion_activity(m_sub, m_sup, fused)
        return TopoTTAResult(m_sub, m_sup, fused, mask, res, dict(self.timings_),
                             None if res is None else res.fallback)

    def fit(self, support: Sequence, *, store=None) -> TopoTTA:
        """Train the release preset's class-level encoder on nominal feature maps (once per class).

        The paper preset adapts on each test image and needs no fitting: it returns ``self``.
        ``store``: where fitted encoders are kept across processes (see
        :func:`~topotta_lite.method.nominal.fitted_encoder`); None: in this process only.

        Raises
        ------
        ValueError
            If a support map is not ``(C, *grid)`` with the first map's channels, or holds NaN /
            infinite values (checked before any training).
        """
        if self.adaptation == "class":
            source = id(support)
            support = list(support)
            if not support:
                raise ValueError("fit needs at least one nominal support feature map")
            first = np.asarray(support[0].detach().cpu().numpy() if hasattr(support[0], "detach")
                               else support[0])
            if first.ndim not in (3, 4):
                raise ValueError(f"support[0] must be (C, h, w) or (C, d, h, w), got {first.shape}")
            self.nominal_ = fitted_encoder(checked_support(support, first), seed=self.seed,
                                           store=store)
            self._nominal_source = source
        return self

    def _prepare_encoder(self, features: np.ndarray, support) -> None:
        """The release preset: train the class encoder on new ``support`` (checked against the
        test features first, so that wrong channels fail before any training), and check that
        the features fit the encoder."""
        if support is not None and len(support) and id(support) != self._nominal_source:
            self.nominal_ = fitted_encoder(checked_support(support, features), seed=self.seed)
            self._nominal_source = id(support)
        if self.nominal_ is not None and self.nominal_.channels_ != features.shape[0]:
            raise ValueError(f"features have {features.shape[0]} channels but the class encoder "
                             f"was trained on {self.nominal_.channels_}-channel support features")

    def _classify_with_encoder(self, features: np.ndarray, fused: np.ndarray):
        """The release preset's refinement: (mask, fallback result or None)."""
        if self.nominal_ is None:
            return fused, PCESResult(mask=fused.copy(), fallback="no nominal support to train on")
        return self.nominal_.classify(features, fused), None

    def segment(self, score_map, features=None, *, support=None) -> np.ndarray:
        """Boolean anomaly mask of the map's shape.

        Parameters
        ----------
        score_map : array_like, (H, W) or (D, H, W)
            Raw anomaly scores (any units; finite).
        features : array_like or torch.Tensor, (C, h, w) or (C, d, h, w), optional
            Frozen backbone features of the same image, on a grid no finer than the map.
            None: return the fused pseudo-label mask.
        support : list of feature arrays, optional
            Nominal support features (few-shot): they join PCES's negatives.
        """
        return self.segment_detailed(score_map, features, support=support).mask

    def segment_batch(self, score_maps: Sequence, features: Sequence | None = None, *,
                      support=None, batch_size: int | None = None) -> list[TopoTTAResult]:
        """Segment several images; PCES adapts them together (one MLP per image, batched on GPU).

        Returns one :class:`TopoTTAResult` per image; their ``timings`` give each image's pseudo-label
        time and its share of the batched adaptation.
        """
        psis = [checked_map(m, name=f"score_maps[{i}]") for i, m in enumerate(score_maps)]
        if features is not None and len(features) != len(psis):
            raise ValueError(f"got {len(features)} feature maps for {len(psis)} score maps")
        checked = None
        if features is not None:
            features = [as_features(f, psi.shape, name=f"features[{i}]")
                        for i, (f, psi) in enumerate(zip(features, psis))]
            if features and self.adaptation == "class" and self.use_pces:
                self._prepare_encoder(features[0], support)
            elif features:
                checked = checked_support(support, features[0])
        labels, pl_time = [], []
        for psi in psis:
            t0 = time.perf_counter()
            labels.append(self.pseudo_labels(psi))
            pl_time.append(time.perf_counter() - t0)
        if features is None or not self.use_pces:
            return [TopoTTAResult(s, u, f, f, None, {"pseudo_labels": t, "adaptation": 0.0,
                                                     "total": t})
                    for (s, u, f), t in zip(labels, pl_time)]
        if self.adaptation == "class":
            out = []
            for (s, u, f), t, feats in zip(labels, pl_time, features):
                t0 = time.perf_counter()
                mask, res = self._classify_with_encoder(feats, f)
                dt = time.perf_counter() - t0
                out.append(TopoTTAResult(s, u, f, mask, res, {"pseudo_labels": t, "adaptation": dt,
                                                              "total": t + dt},
                                         None if res is None else res.fallback))
            return out
        p = self.pces
        pres = p.adapt_batch(features, [f for _, _, f in labels],
                             unions=[self._union(*lab) for lab in labels], support=checked,
                             batch_size=batch_size)
        return [TopoTTAResult(s, u, f, r.mask, r, {"pseudo_labels": t, "adaptation": r.seconds,
                                                   "total": t + r.seconds}, r.fallback)
                for (s, u, f), t, r in zip(labels, pl_time, pres)]

    def __repr__(self) -> str:
        return (f"TopoTTA(preset={self.preset!r}, filtrations={self.filtrations}, k={self.k}, "
                f"tau={self.tau}, "
                f"levels={self.levels}, construction={self.construction!r}, "
                f"fusion={self.fusion!r}, lam={self.lam}, pces={self.use_pces}, seed={self.seed})")
