"""The operators never fail silently: bad support, diverging training, parameters that would hang
or overflow, huge maps, hostile weight files and tiny images all give a clear, early answer.

Each test here failed before the guard it tests was written (findings 11-13 of the reliability
review): NaN support features gave an empty mask without a word, ``TTT4AS(C=1e100)`` hung in
liblinear, ``seed=2**64`` was a scikit-learn ``TypeError``, a map spanning +-1.7e308 gave an empty
mask, release support with the wrong channels failed only after its training, a text file as
Lite0 weights gave an ``IndexError`` and a 2 x 2 image a torch ``RuntimeError``.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from scipy import ndimage

import topotta_lite._validation as validation
from topotta_lite._validation import SEED_MAX, ScoreMap, as_score_map, checked_map
from topotta_lite.method import nominal as nominal_module
from topotta_lite.method.nominal import NominalEncoder
from topotta_lite.method.pces import (
    LIMITS,
    PCESFallbackWarning,
    adapt_batch,
    training_failure,
)
from topotta_lite.operators import THR, TTT4AS, TopoTTA
from topotta_lite.operators.ttt4as import C_MIN

EPOCHS = 10


def _scene(shape=(64, 64), seed=0):
    """A noisy blob map, its truth and separable stride-4 features."""
    rng = np.random.default_rng(seed)
    gt = np.zeros(shape, bool)
    gt[16:32, 16:32] = True
    psi = ndimage.gaussian_filter(gt.astype(float), 1.0) + 0.02 * rng.random(shape)
    feats = rng.normal(size=(6, shape[0] // 4, shape[1] // 4)).astype(np.float32)
    feats[:, 4:8, 4:8] += 3.0
    return psi, gt, feats


# ------------------------------------------------------------------ non-finite support features
@pytest.mark.parametrize("preset", ["paper", "release"])
def test_nan_support_features_are_refused_naming_them(preset):
    psi, _, feats = _scene()
    support = [feats.copy(), feats.copy()]
    support[1][0, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"support\[1\].*NaN"):
        TopoTTA(preset=preset, epochs=EPOCHS, device="cpu").segment(psi, feats, support=support)
    with pytest.raises(ValueError, match=r"support\[1\]"):
        adapt_batch([feats], [psi > 0.5], support=support, device="cpu", epochs=EPOCHS)
    with pytest.raises(ValueError, match="NaN"):
        NominalEncoder(epochs=1, widths=(8, 4)).fit(support)


def test_support_with_the_wrong_channels_fails_before_any_training(monkeypatch):
    psi, _, feats = _scene()
    trained = []
    monkeypatch.setattr(nominal_module.NominalEncoder, "fit",
                        lambda self, nominal: trained.append(1) or self)
    wrong = [np.zeros((4, *feats.shape[1:]), np.float32)]
    for preset in ("release", "paper"):
        with pytest.raises(ValueError, match="channels"):
            TopoTTA(preset=preset, device="cpu").segment(psi, feats, support=wrong)
    assert not trained


def test_the_release_encoder_refuses_features_of_other_channels():
    psi, _, feats = _scene()
    op = TopoTTA(preset="release").fit([feats])
    assert op.nominal_.channels_ == feats.shape[0]
    with pytest.raises(ValueError, match="channels"):
        op.segment(psi, feats[:4])


# ------------------------------------------------------------------ training that fails
def test_a_learning_rate_beyond_the_bound_is_refused():
    for lr in (100.0, 1e10):
        with pytest.raises(ValueError, match="lr"):
            TopoTTA(lr=lr)
    with pytest.raises(ValueError, match="margin"):
        TopoTTA(margin=1e300)
    assert LIMITS["lr"] == 1.0


def test_a_failing_training_falls_back_to_the_pseudo_labels_with_a_warning_and_a_flag():
    psi, _, feats = _scene()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = TopoTTA(lr=1.0, device="cpu").segment_detailed(psi, feats)
    assert res.pces_fallback in ("loss did not decrease", "embeddings collapsed", "non-finite loss")
    assert res.pces.fallback == res.pces_fallback
    np.testing.assert_array_equal(res.mask, res.fused)
    assert any(issubclass(w.category, PCESFallbackWarning) for w in caught)
    assert len(res.loss_curve) > 0  # the failed curve is kept for diagnosis


def test_the_default_training_does_not_trip_the_check():
    psi, gt, feats = _scene()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PCESFallbackWarning)
        res = TopoTTA(device="cpu").segment_detailed(psi, feats)
    assert res.pces_fallback is None and res.pces.fallback is None
    assert res.pces.loss_curve[-1] < 0.5 * res.pces.loss_curve[0]
    assert (res.mask & gt).sum() / (res.mask | gt).sum() > 0.5


def test_training_failure_reasons():
    ok_curve, ok_score = np.array([1.0, 0.2]), np.array([0.5, -0.5])
    assert training_failure(ok_curve, ok_score, 1.0) is None
    assert training_failure(np.array([np.inf, 1.0]), ok_score, 1.0) == "non-finite loss"
    assert training_failure(ok_curve, np.array([np.nan, 1.0]), 1.0) == "non-finite loss"
    assert training_failure(np.array([1.0, 1.0]), ok_score, 1.0) == "loss did not decrease"
    assert training_failure(np.array([1.0]), ok_score, 1.0) is None  # one epoch: nothing to compare
    assert training_failure(ok_curve, np.full(2, 1e-4), 1.0) == "embeddings collapsed"


def test_fallbacks_without_training_are_flagged_too():
    psi, _, feats = _scene()
    res = TopoTTA(preset="release").segment_detailed(psi, feats)  # no support, never fitted
    assert res.pces_fallback == "no nominal support to train on"
    res = TopoTTA(pces=False).segment_detailed(psi, feats)
    assert res.pces_fallback is None and res.pces is None


# ------------------------------------------------------------------ hangs and overflows
def test_svm_regularisation_is_bounded_and_the_bound_finishes():
    with pytest.raises(ValueError, match="C must"):
        TTT4AS(C=1e100)
    for tiny in (1e-300, 1e-20, C_MIN / 2):  # 1e-300: liblinear never returned
        with pytest.raises(ValueError, match="C must"):
            TTT4AS(C=tiny)
    with pytest.raises(ValueError, match="max_iter"):
        TTT4AS(max_iter=10**9)
    for tol in (0.0, -1e-6, 1e-13, 0.2, float("nan")):
        with pytest.raises(ValueError, match="tol must"):
            TTT4AS(tol=tol)
    # C = 1e100 ran liblinear for minutes, immune to signals: run the largest accepted C with the
    # finest accepted tolerance and the most iterations in a child process that can be killed
    code = ("import numpy as np; from scipy import ndimage\n"
            "from topotta_lite.operators.ttt4as import LIMITS, TTT4AS\n"
            "rng = np.random.default_rng(0); gt = np.zeros((64, 64), bool); gt[16:32, 16:32] = 1\n"
            "psi = ndimage.gaussian_filter(gt.astype(float), 1.0) + 0.02 * rng.random((64, 64))\n"
            "f = rng.normal(size=(6, 16, 16)).astype(np.float32); f[:, 4:8, 4:8] += 3\n"
            "op = TTT4AS(C=LIMITS['C'], tol=1e-12, max_iter=LIMITS['max_iter'])\n"
            "print(int(op.segment(psi, f).sum()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 0


@pytest.mark.parametrize("cls", [THR, TTT4AS, TopoTTA], ids=lambda c: c.__name__)
def test_seeds_must_fit_every_library(cls):
    with pytest.raises(ValueError, match="seed"):
        cls(seed=2**64)
    with pytest.raises(ValueError, match="seed"):
        cls(seed=-1)
    psi, _, feats = _scene()
    op = cls(seed=SEED_MAX, **({"epochs": EPOCHS, "device": "cpu"} if cls is TopoTTA else {}))
    if isinstance(op, THR):
        op.fit([psi * 0.1])
    assert op.segment(psi, feats).shape == psi.shape


def test_a_finite_map_spanning_the_float_range_is_segmented_like_its_scaled_copy():
    psi, _, feats = _scene()
    unit = (psi - psi.min()) / (psi.max() - psi.min()) * 2 - 1  # in [-1, 1]
    huge = unit * 1.7e308
    assert np.isfinite(huge).all() and huge.min() < -1e308 and huge.max() > 1e308
    small = TopoTTA(pces=False).segment(unit)
    assert small.any()
    np.testing.assert_array_equal(TopoTTA(pces=False).segment(huge), small)
    np.testing.assert_array_equal(TTT4AS().segment(huge, feats), TTT4AS().segment(unit, feats))
    thr = THR(k=1.0).fit([huge])
    assert np.isfinite(thr.threshold_)
    np.testing.assert_array_equal(thr.segment(huge), THR(k=1.0).fit([unit]).segment(unit))


def test_a_threshold_that_overflows_is_an_error():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="finite"):
        THR(k=1e300).fit([1e10 * rng.random((8, 8))])


# ------------------------------------------------------------------ validated once
def test_segment_checks_the_score_map_once(monkeypatch):
    calls = []
    full = validation._check_map
    monkeypatch.setattr(validation, "_check_map", lambda *a: calls.append(1) or full(*a))
    psi, _, feats = _scene()
    TopoTTA(epochs=EPOCHS, device="cpu").segment(psi, feats)
    assert len(calls) == 1
    calls.clear()
    TopoTTA(pces=False).segment_batch([psi, psi + 1])
    assert len(calls) == 2


def test_a_checked_map_is_read_only_owned_and_results_are_plain_arrays():
    raw = np.arange(12.0).reshape(3, 4)
    psi = checked_map(raw)
    assert isinstance(psi, ScoreMap) and not psi.flags.writeable
    raw[0, 0] = np.nan  # the caller's array changes; the checked map does not
    assert np.isfinite(psi).all()
    assert as_score_map(psi) is psi
    assert type(psi - 1) is np.ndarray and type(psi.copy()) is ScoreMap
    with pytest.raises(ValueError):  # a writable copy is checked again
        bad = psi.copy()
        bad[0, 0] = np.inf
        as_score_map(bad)


# ------------------------------------------------------------------ backbones
def test_a_file_that_is_not_a_state_dict_is_a_value_error(tmp_path):
    import torch

    from topotta_lite.features import get_backbone

    text = tmp_path / "passwd"
    text.write_text("root:x:0:0:root:/root:/bin/bash\n")
    tensor = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor)
    other = tmp_path / "other.pth"
    torch.save({"layer.weight": torch.zeros(2, 2)}, other)
    for path, match in ((text, "not a PyTorch state dict"), (tensor, "does not hold a state dict"),
                        (other, "not an EfficientNet-Lite0 state dict")):
        with pytest.raises(ValueError, match=match):
            get_backbone("efficientnet_lite0", weights=str(path))


@pytest.mark.parametrize("name", ["filterbank", "randconv", "efficientnet_lite0"])
def test_images_smaller_than_one_feature_cell_are_a_value_error(name):
    from topotta_lite.features import get_backbone

    bb = get_backbone(name, weights="random") if name == "efficientnet_lite0" else get_backbone(name)
    with pytest.raises(ValueError, match="pixels per side"):
        bb(np.zeros((1, 2, 2, 3), np.float32))
    side = max(bb.stride, bb.min_size)
    assert bb(np.zeros((1, side, side, 3), np.float32)).shape[2:] == bb.grid_shape((side, side))


# ------------------------------------------------------------------ every constructor parameter
_INTS = [-1, 0, 1, 2, 3, 2**31 - 1, SEED_MAX, 2**32, 2**63, 2**64, 10**12]
_FLOATS = [-1e300, -1.0, 0.0, 1e-300, 0.5, 2.0, 1e6, 1e100, 1e300, float("inf"), float("nan")]


def _extreme(default):
    if isinstance(default, bool):
        return st.booleans()
    if isinstance(default, int):
        return st.sampled_from(_INTS)
    return st.sampled_from(_FLOATS + _INTS)


def _kwargs(cls, data):
    import inspect

    params = {n: p.default for n, p in inspect.signature(cls.__init__).parameters.items()
              if n != "self" and isinstance(p.default, (int, float)) and p.default is not None}
    names = data.draw(st.lists(st.sampled_from(sorted(params)), min_size=1, max_size=2,
                               unique=True), label="parameters")
    return {n: data.draw(_extreme(params[n]), label=n) for n in names}


_PSI, _GT, _FEATS = _scene((32, 32))


@pytest.mark.parametrize("cls", [THR, TTT4AS, TopoTTA], ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_extreme_parameters_give_a_clear_error_or_a_valid_mask(cls, data):
    """Numbers at and beyond every library's range (seeds of 2**64, C of 1e100, lr of 1e300 ...):
    refused at construction with a ValueError, or a valid mask (no hang, no overflow, no other
    exception). Extends the reliability suite's junk-value test to extreme magnitudes."""
    kwargs = _kwargs(cls, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            op = cls(**kwargs)
        except ValueError as exc:
            assert str(exc)
            event("refused")
            return
        event("constructed")
        if isinstance(op, THR) and op.threshold_ is None:
            try:
                op.fit([_PSI * 0.5])
            except ValueError:  # a threshold that overflows says so
                event("fit refused")
                return
        mask = op.segment(_PSI, _FEATS)
    assert mask.dtype == bool and mask.shape == _PSI.shape, kwargs
