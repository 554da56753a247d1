"""PCES: loss, model, sampling, adaptation, batching, fallbacks (CPU; CUDA when present)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from topotta_lite.method import _pces_engines as engines
from topotta_lite.method.pces import (
    PCES,
    ContrastiveMLP,
    adapt_batch,
    as_features,
    contrastive_loss,
    grid_fraction,
    pseudo_label_grids,
    sample_points,
)

EPOCHS = 15  # keeps the file fast; the default (30) is exercised once below


def _scene(seed=0, shape=(64, 64), grid=(16, 16), c=8, shift=2.5):
    """Features with an anomalous block; GT at map resolution; a noisy pseudo-label mask."""
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(c, *grid)).astype(np.float32)
    cells = np.zeros(grid, bool)
    cells[5:10, 4:9] = True
    feats[:, cells] += shift
    scale = [s // g for s, g in zip(shape, grid)]
    gt = np.kron(cells, np.ones(scale, dtype=bool))
    pseudo = ndimage.binary_erosion(gt, iterations=4)  # an under-segmenting pseudo-label
    return feats, gt, pseudo


def _iou(a, b):
    return (a & b).sum() / max(1, (a | b).sum())


# ---------------------------------------------------------------------------------- loss / model
def test_contrastive_loss_matches_hand_computation():
    z1 = torch.tensor([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [3.0, 4.0]])
    z2 = torch.tensor([[0.3, 0.4], [0.3, 0.4], [0.0, 0.0], [0.0, 0.0]])
    y = torch.tensor([0.0, 1.0, 1.0, 1.0])  # d = 0.5, 0.5, 0, 5
    want = np.mean([0.25, (1 - 0.5) ** 2, 1.0, 0.0])
    assert float(contrastive_loss(z1, z2, y, margin=1.0)) == pytest.approx(want, rel=1e-5)
    # gradient stays finite where two embeddings coincide
    z = torch.zeros(2, 3, requires_grad=True)
    contrastive_loss(z[:1], z[1:], torch.tensor([1.0])).backward()
    assert torch.isfinite(z.grad).all()


def _batched(weights):
    return [(torch.from_numpy(w)[None].clone(), torch.from_numpy(b)[None, None].clone())
            for w, b in weights]


def test_mlp_is_three_linear_gelu_layers_and_engine_forwards_match():
    weights = engines.init_weights([5, 7, 7, 3], seed=1)
    net = ContrastiveMLP.from_weights(weights)
    assert [type(m).__name__ for m in net.net] == ["Linear", "GELU"] * 3
    x = np.random.default_rng(0).normal(size=(9, 5)).astype(np.float32)
    want = net(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(engines.cpu_embed(x, weights), want, atol=1e-5)
    got = engines.torch_embed(torch.from_numpy(x)[None], _batched(weights))[0].numpy()
    np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("n_loc", [7, 300, 513])  # fewer, and more, than one embedding chunk
def test_margins_are_prototype_distances_of_standardised_locations(n_loc):
    rng = np.random.default_rng(n_loc)
    weights = engines.init_weights([6, 8, 8, 4], seed=2)
    net = ContrastiveMLP.from_weights(weights)
    x_train = rng.normal(size=(40, 6)).astype(np.float32)
    y = (rng.random(40) < 0.3).astype(np.float32)  # labels in no particular order
    raw = (rng.normal(size=(6, n_loc)) * 3 + 5).astype(np.float32)
    mean = raw.mean(1).astype(np.float32)
    scale = (1 / raw.std(1)).astype(np.float32)

    def embed(a):
        return net(torch.from_numpy(np.ascontiguousarray(a, np.float32))).detach().numpy()

    zt, za = embed(x_train), embed(((raw - mean[:, None]) * scale[:, None]).T)
    want = (np.linalg.norm(za - zt[y < 0.5].mean(0), axis=1)
            - np.linalg.norm(za - zt[y > 0.5].mean(0), axis=1))
    got = engines.cpu_margins(x_train, y, raw, weights, mean=mean, scale=scale)
    np.testing.assert_allclose(got, want, atol=2e-5)
    x_all = ((raw - mean[:, None]) * scale[:, None]).T.copy()
    got_t = engines.torch_margins(torch.from_numpy(x_train), torch.from_numpy(y),
                                  torch.from_numpy(x_all), _batched(weights)).numpy()
    np.testing.assert_allclose(got_t, want, atol=2e-5)


@pytest.mark.parametrize("offset", [0.0, -0.0562518, 3e5])
def test_constant_channels_standardise_to_zero(offset):
    from topotta_lite.features.grid import channel_stats, standardise

    rng = np.random.default_rng(0)
    f = rng.normal(size=(3, 56, 56)).astype(np.float32)
    f[1] = np.float32(offset)  # a constant channel, as depth backbones emit
    f[2] = f[2] * 1e-3 * max(1.0, abs(offset)) + np.float32(offset)  # small variation is kept
    mean, scale, ok = channel_stats(f)
    assert ok and scale[1] == 1.0
    x, _, _ = standardise(f)
    np.testing.assert_array_equal(x[:, 1], 0.0)
    np.testing.assert_allclose(x[:, [0, 2]].std(axis=0), 1.0, rtol=1e-3)
    assert not channel_stats(np.full((2, 8, 8), np.float32(offset)))[2]


def test_defaults_agree_between_pces_adapt_batch_and_topotta():
    import inspect

    from topotta_lite.operators import TopoTTA

    names = ("margin", "epochs", "lr", "weight_decay", "hidden", "embed_dim", "n_points",
             "resolution")
    sigs = [inspect.signature(f).parameters for f in (PCES, adapt_batch, TopoTTA)]
    for name in names:
        assert len({sig[name].default for sig in sigs}) == 1, name


def test_cpu_gelu_approximation_is_accurate():
    x = np.linspace(-12, 12, 48001).astype(np.float32)
    h, s = engines.gelu_and_slope(x)
    t = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    ref = F.gelu(t)
    ref.sum().backward()
    assert np.abs(h - ref.detach().numpy()).max() < 2e-6
    assert np.abs(s - t.grad.numpy()).max() < 2e-5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_analytic_gradients_equal_autograd(seed):
    """Loss over all pairs (Eq. 10) and its gradient, by hand (both engines) and by autograd."""
    rng = np.random.default_rng(seed)
    n = 23
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = (rng.random(n) < 0.4).astype(np.float32)
    x[:3] = x[3]  # coincident points: the zero-distance case
    weights = engines.init_weights([6, 8, 8, 4], seed=seed)
    net = ContrastiveMLP.from_weights(weights)
    z = net(torch.from_numpy(x))
    i, j = np.triu_indices(n, k=1)
    dissimilar = torch.from_numpy((y[i] != y[j]).astype(np.float32))
    loss = contrastive_loss(z[i], z[j], dissimilar, margin=0.7)
    loss.backward()
    want = [(layer.weight.grad.T.numpy(), layer.bias.grad.numpy()) for layer in net.net[::2]]

    got_loss, got = engines.cpu_loss_and_grads(x, y, weights, margin=0.7)
    ref_loss = loss.item()
    assert got_loss == pytest.approx(ref_loss, rel=1e-4)
    t_loss, t_grads = engines.torch_loss_and_grads(
        torch.from_numpy(x)[None], torch.from_numpy(y)[None], torch.ones(1, n), _batched(weights),
        margin=0.7)
    assert float(t_loss[0]) == pytest.approx(ref_loss, rel=1e-5)
    for (gw, gb), (tw, tb), (ww, wb) in zip(got, t_grads, want):
        scale = np.abs(ww).max() + 1e-6
        np.testing.assert_allclose(gw, ww, atol=2e-4 * scale)
        np.testing.assert_allclose(gb, wb, atol=2e-4 * scale)
        np.testing.assert_allclose(tw[0].numpy(), ww, atol=1e-5 * scale)
        np.testing.assert_allclose(tb[0, 0].numpy(), wb, atol=1e-5 * scale)


def test_torch_engine_trains_like_the_cpu_engine_and_padding_is_inert():
    rng = np.random.default_rng(3)
    kw = {"epochs": 12, "lr": 1e-2, "weight_decay": 1e-4, "margin": 1.0}
    xs = [rng.normal(size=(n, 5)).astype(np.float32) for n in (17, 30)]
    ys = [(rng.random(len(x)) < 0.3).astype(np.float32) for x in xs]
    inits = [engines.init_weights([5, 8, 8, 4], seed=s) for s in (0, 1)]
    cpu = []
    for x, y, w in zip(xs, ys, inits):
        w = [(a.copy(), b.copy()) for a, b in w]
        cpu.append((engines.cpu_train(x, y, w, **kw), w))
    # one padded batch of both images on the torch engine
    xb = torch.zeros(2, 30, 5)
    yb = torch.zeros(2, 30)
    valid = torch.zeros(2, 30)
    for b, (x, y) in enumerate(zip(xs, ys)):
        xb[b, : len(x)] = torch.from_numpy(x)
        yb[b, : len(y)] = torch.from_numpy(y)
        valid[b, : len(y)] = 1
    wb = [(torch.from_numpy(np.stack([w[k][0] for w in inits])),
           torch.from_numpy(np.stack([w[k][1] for w in inits])[:, None])) for k in range(3)]
    curves = engines.torch_train(xb, yb, valid, wb, **kw).numpy()
    for b, (curve, w) in enumerate(cpu):
        np.testing.assert_allclose(curves[b], curve, rtol=2e-3, atol=1e-5)
        for k in range(3):
            np.testing.assert_allclose(wb[k][0][b].numpy(), w[k][0], atol=2e-4)


# ---------------------------------------------------------------------------------- sampling
def test_grid_fraction_is_block_mean():
    rng = np.random.default_rng(1)
    m = rng.random((12, 8)) > 0.5
    want = m.reshape(4, 3, 4, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(grid_fraction(m, (4, 4)), want, atol=1e-6)
    m3 = rng.random((4, 6, 6)) > 0.5
    np.testing.assert_allclose(grid_fraction(m3, (2, 3, 3)),
                               m3.reshape(2, 2, 3, 2, 3, 2).mean(axis=(1, 3, 5)), atol=1e-6)
    # real-valued maps (TTT4AS pools its score map) give the mean of each cell
    x = rng.normal(size=(12, 8)) * 5
    np.testing.assert_allclose(grid_fraction(x, (4, 4)), x.reshape(4, 3, 4, 2).mean(axis=(1, 3)),
                               rtol=1e-6, atol=1e-6)
    # sizes that are not multiples of the grid: adaptive pooling, as torch does it
    y = rng.random((30, 30))
    want = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(y)[None, None], (7, 7))[0, 0]
    np.testing.assert_allclose(grid_fraction(y, (7, 7)), want.numpy(), atol=1e-6)


def test_pseudo_label_grids_negatives_avoid_dilated_union():
    mask = np.zeros((32, 32), bool)
    mask[8:16, 8:16] = True
    union = mask.copy()
    union[20:24, 20:24] = True
    pos, neg = pseudo_label_grids(mask, (8, 8), union=union, neg_dilation=1)
    assert pos.sum() == 4 and pos[2:4, 2:4].all()
    near = ndimage.binary_dilation(grid_fraction(union, (8, 8)) > 0, np.ones((3, 3), bool))
    assert not (neg & near).any() and not (neg & pos).any()
    assert (neg | near).all()  # everything not near the union is a negative
    # a mask smaller than a cell still yields its best-covered cell as positive
    tiny = np.zeros((32, 32), bool)
    tiny[1, 1] = True
    pos, _ = pseudo_label_grids(tiny, (8, 8))
    assert pos.sum() == 1 and pos[0, 0]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 300), st.integers(0, 300), st.integers(2, 200), st.integers(0, 10))
def test_sample_points_sizes(n_pos, n_neg, n_points, seed):
    p, n = sample_points(n_pos, n_neg, n_points, np.random.default_rng(seed), max_ratio=4.0)
    if n_pos == 0 or n_neg == 0:
        assert len(p) == len(n) == 0
        return
    assert len(p) + len(n) <= n_points
    assert len(np.unique(p)) == len(p) and len(np.unique(n)) == len(n)
    assert p.max() < n_pos and n.max() < n_neg
    assert max(len(p), len(n)) <= 4 * min(len(p), len(n))
    assert len(p) >= min(n_pos, n_points // 2, 1) and len(n) >= 1


# ---------------------------------------------------------------------------------- adaptation
def test_adapt_recovers_the_anomaly_from_an_undersegmenting_pseudo_label():
    """With a margin of unlabelled cells around the mask (neg_dilation=1) PCES grows it."""
    feats, gt, pseudo = _scene()
    res = PCES(device="cpu", epochs=30, lr=1e-2, seed=0, pos_fraction=0.5, neg_dilation=1,
               max_ratio=4.0, n_points=256).adapt(feats, pseudo)
    assert res.fallback is None and res.mask.shape == gt.shape and res.mask.dtype == bool
    assert _iou(res.mask, gt) > 0.8 > _iou(pseudo, gt)
    assert res.loss_curve.shape == (30,) and res.loss_curve[-1] < res.loss_curve[0]
    assert res.n_pos >= 1 and res.n_neg >= res.n_pos


def test_default_sampling_trims_an_oversegmenting_pseudo_label():
    """The defaults (full-coverage positives, negatives up to the boundary) shrink a pseudo-label
    that is too large, which is what the topological pseudo-labels are on the embedded data."""
    feats, gt, _ = _scene()
    pseudo = ndimage.binary_dilation(gt, iterations=6)
    res = PCES(device="cpu", seed=0).adapt(feats, pseudo)
    assert res.fallback is None
    assert _iou(res.mask, gt) > _iou(pseudo, gt) + 0.2
    assert (res.mask & ~pseudo).sum() <= 0.05 * res.mask.sum()  # it trims, it does not spread


def test_adapt_is_deterministic_and_accepts_torch():
    feats, _, pseudo = _scene(seed=2)
    a = PCES(device="cpu", epochs=EPOCHS, seed=3).adapt(feats, pseudo)
    b = PCES(device="cpu", epochs=EPOCHS, seed=3).adapt(torch.from_numpy(feats), pseudo)
    np.testing.assert_array_equal(a.score, b.score)
    np.testing.assert_array_equal(a.loss_curve, b.loss_curve)
    c = PCES(device="cpu", epochs=EPOCHS, seed=4).adapt(feats, pseudo)
    assert not np.array_equal(a.score, c.score)


def test_torch_engine_through_adapt_batch_matches_numba():
    """The GPU code path (padding, stacked weights, batched embedding), run on the CPU."""
    scenes = [_scene(seed=s) for s in range(3)]
    feats = [f for f, _, _ in scenes]
    masks = [m for _, _, m in scenes]
    kw = {"seeds": [5, 6, 7], "device": "cpu", "epochs": EPOCHS}
    batched = adapt_batch(feats, masks, engine="torch", batch_size=3, **kw)
    numba_res = adapt_batch(feats, masks, **kw)
    for t, n in zip(batched, numba_res):
        assert t.n_pos == n.n_pos and t.n_neg == n.n_neg
        np.testing.assert_allclose(t.loss_curve, n.loss_curve, rtol=2e-3, atol=1e-5)
        np.testing.assert_allclose(t.score, n.score, atol=2e-3)
        assert (t.mask == n.mask).mean() > 0.99
    with pytest.raises(ValueError, match="engine"):
        adapt_batch(feats, masks, engine="jax", device="cpu")


def test_support_features_join_the_negatives():
    feats, _, pseudo = _scene()
    kw = {"device": "cpu", "epochs": 2, "n_points": 4096, "max_ratio": 1000}
    base = PCES(**kw).adapt(feats, pseudo)
    support = [np.random.default_rng(9).normal(size=feats.shape).astype(np.float32)]
    more = PCES(**kw).adapt(feats, pseudo, support=support)
    assert more.n_neg == base.n_neg + 16 * 16 and more.n_pos == base.n_pos


def test_3d_and_full_resolution():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(4, 8, 8, 8)).astype(np.float32)
    feats[:, 2:5, 2:5, 2:5] += 3
    gt = np.zeros((16, 16, 16), bool)
    gt[4:10, 4:10, 4:10] = True
    pseudo = ndimage.binary_erosion(gt, iterations=1)  # under-segmenting: leave a margin unlabelled
    res = PCES(device="cpu", epochs=EPOCHS, lr=1e-2, pos_fraction=0.5, neg_dilation=1).adapt(feats, pseudo)
    assert res.mask.shape == gt.shape and _iou(res.mask, gt) > 0.6
    f2, gt2, p2 = _scene()
    full = PCES(device="cpu", epochs=3, resolution="full").adapt(f2, p2)
    assert full.score.shape == gt2.shape


def test_blas_threads_are_restored():
    from threadpoolctl import threadpool_info

    before = [i["num_threads"] for i in threadpool_info()]
    feats, _, pseudo = _scene()
    PCES(device="cpu", epochs=1).adapt(feats, pseudo)
    assert [i["num_threads"] for i in threadpool_info()] == before


# ---------------------------------------------------------------------------------- bad input
def test_fallbacks_never_crash():
    feats, _, pseudo = _scene()
    empty = np.zeros_like(pseudo)
    r = PCES(device="cpu").adapt(feats, empty)
    assert r.fallback == "no positives" and not r.mask.any()
    full = np.ones_like(pseudo)
    r = PCES(device="cpu").adapt(feats, full)
    assert r.fallback == "no negatives" and r.mask.all()
    const = np.ones_like(feats)
    r = PCES(device="cpu").adapt(const, pseudo)
    assert r.fallback == "zero-variance features"
    np.testing.assert_array_equal(r.mask, pseudo)


@pytest.mark.parametrize(
    "features, match",
    [
        (np.zeros((4, 32, 32)), "finer"),          # grid finer than the 16x16 map
        (np.zeros((16, 16)), r"\(C, h, w\)"),      # missing channel axis
        (np.zeros((2, 4, 8, 8)), r"\(C, h, w\)"),  # 3D features for a 2D map
        (np.full((2, 8, 8), np.nan), "NaN"),
    ],
)
def test_as_features_rejects_bad_input(features, match):
    with pytest.raises(ValueError, match=match):
        as_features(features, (16, 16))


def test_bad_parameters_and_devices():
    with pytest.raises(ValueError, match="margin"):
        PCES(margin=0)
    feats, _, pseudo = _scene()
    with pytest.raises(ValueError, match="resolution"):
        adapt_batch([feats], [pseudo], resolution="half", device="cpu")
    with pytest.raises(ValueError, match="device"):
        adapt_batch([feats], [pseudo], device="tpu")
    with pytest.raises(ValueError, match="unions"):
        adapt_batch([feats], [pseudo], unions=[np.zeros((8, 8), bool)], device="cpu")
    if not torch.cuda.is_available():  # one device policy: CUDA asked for, CPU used, with a warning
        with pytest.warns(UserWarning, match="CUDA"):
            (res,) = adapt_batch([feats], [pseudo], device="cuda", epochs=2)
        assert res.mask.shape == pseudo.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_batch_matches_cpu():
    scenes = [_scene(seed=s) for s in range(4)]
    feats = [f for f, _, _ in scenes]
    masks = [m for _, _, m in scenes]
    gpu = adapt_batch(feats, masks, seeds=0, device="cuda", epochs=EPOCHS)
    cpu = adapt_batch(feats, masks, seeds=0, device="cpu", epochs=EPOCHS)
    for g, c in zip(gpu, cpu):
        assert (g.mask == c.mask).mean() > 0.99
        np.testing.assert_allclose(g.loss_curve, c.loss_curve, rtol=1e-3, atol=1e-4)
