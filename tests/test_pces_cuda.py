"""PCES and TopoTTA on a CUDA device (``benchmarks/gpu_check.sh`` runs this file), and the CPU
fallback of everything that asks for CUDA where there is none."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from topotta_lite.method.pces import PCES, PCESFallbackWarning, adapt_batch
from topotta_lite.operators import TopoTTA

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not CUDA, reason="no CUDA device")
ROOT = Path(__file__).resolve().parents[1]


def _scenes(n, seed=0, shape=(64, 64), c=8):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        gt = np.zeros(shape, bool)
        y, x = rng.integers(8, 40, size=2)
        gt[y:y + 16, x:x + 12] = True
        psi = ndimage.gaussian_filter(gt.astype(float), 1.5) + 0.02 * rng.random(shape)
        feats = rng.normal(size=(c, shape[0] // 4, shape[1] // 4)).astype(np.float32)
        feats[:, gt[::4, ::4]] += 2.5
        out.append((psi, gt, feats))
    return out


def _agree(a, b):
    return np.mean([(x == y).mean() for x, y in zip(a, b)])


@needs_cuda
def test_topotta_segment_batch_on_cuda_matches_the_cpu():
    scenes = _scenes(6)
    maps, feats = [s[0] for s in scenes], [s[2] for s in scenes]
    gpu = TopoTTA(device="cuda", epochs=15).segment_batch(maps, feats)
    cpu = TopoTTA(device="cpu", epochs=15).segment_batch(maps, feats)
    assert _agree([r.mask for r in gpu], [r.mask for r in cpu]) > 0.99
    for g, c in zip(gpu, cpu):
        np.testing.assert_array_equal(g.fused, c.fused)  # pseudo-labels do not depend on the device
        np.testing.assert_allclose(g.loss_curve, c.loss_curve, rtol=1e-3, atol=1e-4)
        assert g.pces_fallback is None


@needs_cuda
def test_cuda_results_do_not_depend_on_the_batch_size():
    scenes = _scenes(7, seed=1)
    feats, masks = [s[2] for s in scenes], [s[1] for s in scenes]
    one = adapt_batch(feats, masks, device="cuda", epochs=10, batch_size=1)
    all_ = adapt_batch(feats, masks, device="cuda", epochs=10)
    three = adapt_batch(feats, masks, device="cuda", epochs=10, batch_size=3)
    for a, b, c in zip(one, all_, three):
        np.testing.assert_allclose(a.loss_curve, b.loss_curve, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(a.loss_curve, c.loss_curve, rtol=1e-4, atol=1e-6)
        assert (a.mask == b.mask).mean() > 0.999 and (a.mask == c.mask).mean() > 0.999


@needs_cuda
def test_grids_of_several_shapes_in_one_cuda_batch():
    small, large = _scenes(1, shape=(64, 64))[0], _scenes(1, shape=(96, 80), seed=2)[0]
    res = adapt_batch([small[2], large[2]], [small[1], large[1]], device="cuda", epochs=10)
    ref = adapt_batch([small[2], large[2]], [small[1], large[1]], device="cpu", epochs=10)
    assert [r.mask.shape for r in res] == [(64, 64), (96, 80)]
    assert _agree([r.mask for r in res], [r.mask for r in ref]) > 0.99


@needs_cuda
def test_a_failing_training_on_cuda_falls_back_with_a_warning():
    psi, gt, feats = _scenes(1)[0]
    with pytest.warns(PCESFallbackWarning):
        res = TopoTTA(device="cuda", lr=1.0).segment_detailed(psi, feats)
    assert res.pces_fallback is not None
    np.testing.assert_array_equal(res.mask, res.fused)


@needs_cuda
def test_bad_support_is_refused_before_reaching_the_gpu():
    psi, _, feats = _scenes(1)[0]
    bad = feats.copy()
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"support\[0\]"):
        TopoTTA(device="cuda").segment(psi, feats, support=[bad])


# ------------------------------------------------------------------ CPU fallback (always runs)
@pytest.mark.skipif(CUDA, reason="a CUDA device is present")
def test_cuda_asked_for_without_a_gpu_runs_on_the_cpu_with_a_warning():
    psi, gt, feats = _scenes(1)[0]
    with pytest.warns(UserWarning, match="CUDA"):
        on_cuda = TopoTTA(device="cuda", epochs=10).segment(psi, feats)
    np.testing.assert_array_equal(on_cuda, TopoTTA(device="cpu", epochs=10).segment(psi, feats))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert PCES(device="cuda", epochs=5).adapt(feats, gt).mask.shape == gt.shape


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_gpu_check_script_is_valid_bash_and_stops_clearly_without_a_gpu():
    script = ROOT / "benchmarks" / "gpu_check.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    if CUDA:
        return
    env = {**os.environ, "PYTHON": sys.executable}
    out = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 3, out.stdout + out.stderr
    assert "no CUDA device" in out.stderr
