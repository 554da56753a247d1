"""Tests of topotta_lite.scorers: exact reference computations and detection on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from topotta_lite.features import Backbone
from topotta_lite.metrics import i_auroc, p_auroc
from topotta_lite.scorers import (
    PaDiMScorer,
    PatchCoreScorer,
    VoxelScorer,
    greedy_coreset,
    image_scores,
    inputs_from,
)


class PixelBackbone(Backbone):
    """Stride-1 'features' = the RGB values themselves: makes scorer outputs hand-checkable."""

    name = "pixels"
    stride = 1

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _stripes(rng, n, size=48, defect=False):
    """Nominal: noisy horizontal stripes with a random phase; defect: a dark square."""
    yy = np.arange(size)[:, None].repeat(size, 1)
    imgs, masks = [], []
    for _ in range(n):
        g = 0.5 + 0.25 * np.sin(2 * np.pi * (yy / 8.0 + rng.random()))
        g = g + 0.03 * rng.standard_normal((size, size))
        m = np.zeros((size, size), bool)
        if defect:
            y, x = rng.integers(8, size - 20, 2)
            m[y : y + 10, x : x + 10] = True
            g[m] = 0.05
        imgs.append(np.repeat(g[..., None], 3, -1).clip(0, 1))
        masks.append(m)
    return np.stack(imgs).astype(np.float32), np.stack(masks)


@pytest.fixture(scope="module")
def stripes():
    rng = np.random.default_rng(0)
    train, _ = _stripes(rng, 8)
    good, gm = _stripes(rng, 3)
    bad, bm = _stripes(rng, 4, defect=True)
    return train, np.concatenate([good, bad]), np.concatenate([gm, bm])


@pytest.mark.parametrize("make", [
    lambda: PaDiMScorer(seed=0),
    lambda: PatchCoreScorer(coreset_ratio=0.25, seed=0),
])
def test_scorers_detect_a_defect(make, stripes):
    train, test, gts = stripes
    s = make().fit(train)
    maps = s.score(test)
    assert maps.shape == (len(test), 48, 48) and maps.dtype == np.float32
    labels = gts.reshape(len(gts), -1).any(1)
    assert i_auroc(maps, labels) == 1.0
    assert p_auroc(maps, gts) > 0.95
    feats = s.features(test[:2])
    assert feats.shape == (2, s.backbone.out_channels, 12, 12) and feats.dtype == np.float32
    # after fit, features are standardised with the nominal training statistics
    ftr = s.features(train)
    live = s.std_ > 1e-3  # grey images: the opponent-colour channels are constant (-> 0)
    assert live.sum() > 20
    np.testing.assert_allclose(ftr.mean(axis=(0, 2, 3)), 0.0, atol=1e-3)
    np.testing.assert_allclose(ftr.std(axis=(0, 2, 3))[live], 1.0, atol=1e-2)
    np.testing.assert_array_equal(maps, make().fit(train).score(test))  # seeded


def _standardise(train_f, f):
    mu = train_f.mean(axis=(0, 2, 3), keepdims=True)
    sd = train_f.std(axis=(0, 2, 3), keepdims=True) + 1e-6
    return (f - mu) / sd


def test_padim_equals_reference_mahalanobis():
    rng = np.random.default_rng(1)
    train = rng.random((12, 5, 6, 3)).astype(np.float32)
    test = rng.random((2, 5, 6, 3)).astype(np.float32)
    eps, a = 0.05, 0.2
    s = PaDiMScorer(PixelBackbone(), neighbourhood=0, shrinkage=a, eps=eps, sigma=0.0,
                    n_channels=None).fit(train)
    got = s.score(test)
    ftr = _standardise(train.transpose(0, 3, 1, 2), train.transpose(0, 3, 1, 2))
    fte = _standardise(train.transpose(0, 3, 1, 2), test.transpose(0, 3, 1, 2))
    ref = np.zeros((2, 5, 6))
    for y in range(5):
        for x in range(6):
            xs = ftr[:, :, y, x].astype(np.float64)
            cov = np.cov(xs, rowvar=False)
            cov = (1 - a) * cov + a * np.trace(cov) / 3 * np.eye(3) + eps * np.eye(3)
            prec = np.linalg.inv(cov)
            for n in range(2):
                d = fte[n, :, y, x] - xs.mean(0)
                ref[n, y, x] = np.sqrt(d @ prec @ d)
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3)


def test_padim_channel_subset_and_neighbourhood():
    rng = np.random.default_rng(2)
    train = rng.random((4, 16, 16, 3)).astype(np.float32)
    s = PaDiMScorer(n_channels=10, seed=3).fit(train)
    assert len(s.channels_) == 10 and len(set(s.channels_.tolist())) == 10
    assert not np.array_equal(s.channels_, PaDiMScorer(n_channels=10, seed=4).fit(train).channels_)
    # neighbourhood pooling: a location's Gaussian sees 9x the samples
    x = torch.arange(2 * 1 * 3 * 3, dtype=torch.float32).reshape(2, 1, 3, 3)
    stack = PaDiMScorer(PixelBackbone(), neighbourhood=1)._neighbour_stack(x)
    assert stack.shape == (18, 1, 3, 3)
    assert sorted(stack[:, 0, 1, 1].tolist()) == sorted(x[:, 0].flatten().tolist())


@pytest.mark.parametrize("shape", [(6, 4, 9, 7), (5, 3, 6, 5, 4)])
def test_padim_streamed_fit_equals_the_stacked_one(shape):
    """Large grids (64^3 volumes) are fitted one neighbour offset at a time: same Gaussians."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(shape).astype(np.float32) * 2 + 1

    class Grid(Backbone):
        name, stride = "grid", 1
        input_kind = "image" if len(shape) == 4 else "volume"

        def __call__(self, inputs, batch_size=None):
            return np.asarray(inputs, np.float32)

    stacked = PaDiMScorer(Grid(), n_channels=None, sigma=0.0).fit(x)
    streamed = PaDiMScorer(Grid(), n_channels=None, sigma=0.0)
    streamed.max_stack_bytes = 0
    streamed.fit(x)
    torch.testing.assert_close(streamed.mu_, stacked.mu_, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(streamed.precision_, stacked.precision_, rtol=1e-4, atol=1e-4)


def test_fit_statistics_gives_the_features_of_a_full_fit(stripes):
    train, test, _ = stripes
    full = PaDiMScorer(seed=0).fit(train)
    light = PaDiMScorer(seed=0).fit_statistics(train)
    np.testing.assert_array_equal(light.features(test), full.features(test))
    with pytest.raises(ValueError, match="not fitted"):
        light.score(test)  # the Gaussians were not estimated
    vols = np.random.default_rng(0).random((3, 8, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(VoxelScorer(sigma=1.0).fit_statistics(vols).features(vols),
                                  VoxelScorer(sigma=1.0).fit(vols).features(vols))


def test_patchcore_equals_brute_force_nearest_neighbour():
    rng = np.random.default_rng(3)
    train = rng.random((5, 4, 5, 3)).astype(np.float32)
    test = rng.random((2, 4, 5, 3)).astype(np.float32)
    s = PatchCoreScorer(PixelBackbone(), coreset_ratio=1.0, k=1, sigma=0.0).fit(train)
    assert s.memory_bank_.shape == (5 * 4 * 5, 3)
    got = s.score(test)
    ftr = _standardise(train.transpose(0, 3, 1, 2), train.transpose(0, 3, 1, 2))
    fte = _standardise(train.transpose(0, 3, 1, 2), test.transpose(0, 3, 1, 2))
    bank = ftr.transpose(0, 2, 3, 1).reshape(-1, 3)
    nn = NearestNeighbors(n_neighbors=3).fit(bank)
    dist, _ = nn.kneighbors(fte.transpose(0, 2, 3, 1).reshape(-1, 3))
    np.testing.assert_allclose(got.ravel(), dist[:, 0], rtol=1e-4, atol=1e-4)
    s3 = PatchCoreScorer(PixelBackbone(), coreset_ratio=1.0, k=3, sigma=0.0).fit(train)
    np.testing.assert_allclose(s3.score(test).ravel(), dist.mean(1), rtol=1e-4, atol=1e-4)


def _greedy_reference(x, n, first):
    chosen = [first]
    for _ in range(n - 1):
        d = np.min(((x[:, None] - x[chosen][None]) ** 2).sum(-1), axis=1)
        chosen.append(int(np.argmax(d)))
    return chosen


def test_greedy_coreset_is_k_center_greedy():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((200, 5))
    idx = greedy_coreset(x, 20, seed=7, proj_dim=None)
    assert idx.tolist() == _greedy_reference(x, 20, int(idx[0]))
    assert np.array_equal(idx, greedy_coreset(x, 20, seed=7, proj_dim=None))
    # covering radius: greedy is within 2x of the optimum, so it beats a random subset here
    def radius(sel):
        return np.sqrt(((x[:, None] - x[sel][None]) ** 2).sum(-1).min(1).max())
    rand = rng.choice(200, 20, replace=False)
    assert radius(idx) < radius(rand)
    assert len(greedy_coreset(x, 500)) == 200  # capped at the number of rows


def test_sample_objects_and_errors(stripes):
    train, test, gts = stripes
    from topotta_lite.data.types import Sample

    samples = [Sample(image=im, mask=m, label=int(m.any()), name=f"s{i}", defect="x")
               for i, (im, m) in enumerate(zip(test, gts))]
    np.testing.assert_array_equal(inputs_from(samples, "image"), test)
    s = PaDiMScorer()
    with pytest.raises(ValueError, match="not fitted"):
        s.score(test)
    s.fit(train)
    np.testing.assert_allclose(s.score(samples), s.score(test))
    with pytest.raises(ValueError, match="depth"):
        inputs_from(samples, "depth")
    with pytest.raises(ValueError, match="fitted grid"):
        s.score(np.zeros((1, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="coreset_ratio"):
        PatchCoreScorer(coreset_ratio=0.0)
    assert image_scores(np.arange(8.0).reshape(2, 2, 2)).tolist() == [3.0, 7.0]


def test_depth_scorer_finds_a_dent():
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:48, 0:48].astype(np.float32)

    def surface(dent=None):
        z = 20 + 0.02 * xx + rng.normal(0, 0.01) + 0.005 * rng.standard_normal((48, 48))
        m = np.zeros((48, 48), bool)
        if dent is not None:
            cy, cx = dent
            r2 = (yy - cy) ** 2 + (xx - cx) ** 2
            z = z + 0.5 * np.exp(-r2 / (2 * 2.5**2))
            m = r2 <= 16
        return z.astype(np.float32), m

    train = np.stack([surface()[0] for _ in range(6)])
    tests = [surface((24, 20)), surface((12, 30)), surface()]
    depth = np.stack([t[0] for t in tests])
    gts = np.stack([t[1] for t in tests])
    for make in (lambda: PaDiMScorer("depth"), lambda: PatchCoreScorer("depth")):
        maps = make().fit(train).score(depth)
        assert maps.shape == (3, 48, 48)
        assert p_auroc(maps, gts) > 0.95
        assert i_auroc(maps, [1, 1, 0]) == 1.0


@pytest.mark.parametrize("method", ["padim", "patchcore"])
def test_voxel_scorer_finds_an_inclusion(method):
    rng = np.random.default_rng(6)
    vols = 0.5 + 0.03 * rng.standard_normal((5, 16, 16, 16)).astype(np.float32)
    test = 0.5 + 0.03 * rng.standard_normal((2, 16, 16, 16)).astype(np.float32)
    gt = np.zeros((2, 16, 16, 16), bool)
    gt[0, 5:9, 8:12, 6:10] = True
    test[gt] += 0.6
    s = VoxelScorer(method, sigma=1.0).fit(vols)
    maps = s.score(test)
    assert maps.shape == (2, 16, 16, 16) and maps.dtype == np.float32
    assert p_auroc(maps, gt) > 0.95
    assert maps[0].max() > maps[1].max()
    assert s.features(test).shape[2:] == (8, 8, 8)
    with pytest.raises(ValueError, match="method"):
        VoxelScorer("knn")
