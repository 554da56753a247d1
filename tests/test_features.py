"""Tests of topotta_lite.features: shapes, equivariance, filter selectivity, the ViT key layout."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from topotta_lite.features import (
    DINO_CONFIGS,
    DepthBackbone,
    FilterBankBackbone,
    ViT,
    VoxelBackbone,
    gaussian_blur,
    get_backbone,
    load_state_dict_file,
    resolve_device,
    timm_vit_state_dict_keys,
)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    return rng.random((2, 64, 64, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def vits8_random():
    return get_backbone("dino_vits8", weights="random", seed=3)


# ------------------------------------------------------------------------------------------
# 2D offline backbones
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["filterbank", "randconv"])
def test_offline_backbones_shape_dtype_determinism(name, images):
    bb = get_backbone(name, seed=1)
    f = bb(images)
    assert f.dtype == np.float32 and f.shape == (2, bb.out_channels, 16, 16)
    assert bb.stride == 4 and bb.grid_shape((64, 64)) == (16, 16)
    assert np.isfinite(f).all()
    np.testing.assert_array_equal(f, get_backbone(name, seed=1)(images))  # frozen, seeded
    np.testing.assert_allclose(bb(torch.from_numpy(images)), f, atol=1e-6)  # torch input
    np.testing.assert_allclose(bb(images[1]), f[1:], atol=1e-6)  # single (H, W, 3) image
    np.testing.assert_allclose(bb(images, batch_size=1), f, atol=1e-5)  # batching


def test_randconv_seed_changes_weights(images):
    a = get_backbone("randconv", seed=0)(images[:1])
    b = get_backbone("randconv", seed=1)(images[:1])
    assert not np.allclose(a, b)


@pytest.mark.parametrize("name", ["filterbank", "randconv"])
def test_translation_equivariance(name):
    """Shifting the image by two strides shifts the interior of the grid by two cells.

    (Two, because randconv's deepest tap lives on a stride-8 grid.)"""
    rng = np.random.default_rng(1)
    big = rng.random((144, 144, 3)).astype(np.float32)
    bb = get_backbone(name)
    s = bb.stride
    a = bb(big[None, :128, :128])[0]
    b = bb(big[None, 2 * s : 128 + 2 * s, :128])[0]
    # cells far from the borders (beyond the receptive field) see identical neighbourhoods
    np.testing.assert_allclose(a[:, 14:19, 12:20], b[:, 12:17, 12:20], rtol=1e-4, atol=1e-4)


def test_filterbank_gabor_orientation_selectivity():
    """A vertical-stripe grating at 0.25 cycles/px excites the matching Gabor channel most."""
    bb = FilterBankBackbone(scales=(0.0,))
    x = np.arange(64)
    grating = 0.5 + 0.4 * np.cos(2 * np.pi * 0.25 * x)[None, :].repeat(64, 0)
    img = np.repeat(grating[..., None], 3, -1)[None].astype(np.float32)
    base = bb.base_maps(torch.from_numpy(img.transpose(0, 3, 1, 2)))[0].numpy()
    gabor = base[6 : 6 + 8, 16:48, 16:48].mean(axis=(1, 2))  # 2 freq x 4 orientations
    assert int(np.argmax(gabor)) == 0  # frequency 0.25, orientation 0 (varies along x)
    assert gabor[0] > 5 * gabor[2]  # orthogonal orientation barely responds
    # a constant image has no texture energy and zero LoG response
    flat = bb.base_maps(torch.full((1, 3, 32, 32), 0.5))[0].numpy()
    assert np.abs(flat[6:]).max() < 1e-3


def test_gaussian_blur_matches_scipy():
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(2)
    x = rng.random((20, 24)).astype(np.float32)
    ours = gaussian_blur(torch.from_numpy(x)[None, None], 1.5)[0, 0].numpy()
    ref = gaussian_filter(x, 1.5, mode="mirror", truncate=3.0)
    np.testing.assert_allclose(ours, ref, atol=2e-3)
    v = rng.random((6, 7, 8)).astype(np.float32)
    ours3 = gaussian_blur(torch.from_numpy(v)[None, None], 1.0)[0, 0].numpy()
    np.testing.assert_allclose(ours3, gaussian_filter(v, 1.0, mode="mirror", truncate=3.0),
                               atol=2e-3)


def test_bad_inputs_and_names():
    bb = get_backbone("filterbank")
    with pytest.raises(ValueError, match="images"):
        bb(np.zeros((2, 8, 8, 4)))
    with pytest.raises(ValueError, match="NaN"):
        bb(np.full((1, 8, 8, 3), np.nan))
    with pytest.raises(ValueError, match="unknown backbone"):
        get_backbone("resnet999")


def test_cuda_falls_back_to_cpu_with_warning():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.warns(UserWarning, match="CUDA"):
        dev = resolve_device("cuda")
    assert dev.type == "cpu"
    with pytest.warns(UserWarning):
        assert get_backbone("filterbank", device="cuda").device.type == "cpu"


# ------------------------------------------------------------------------------------------
# DINO ViT with timm keys
# ------------------------------------------------------------------------------------------
def test_vit_keys_match_timm_layout():
    for cfg in DINO_CONFIGS.values():
        with torch.device("meta"):
            m = ViT(**{k: cfg[k] for k in ("embed_dim", "depth", "num_heads", "patch_size",
                                           "img_size")})
        sd = m.state_dict()
        assert list(sd) == timm_vit_state_dict_keys(cfg["depth"])
        d = cfg["embed_dim"]
        assert tuple(sd["pos_embed"].shape) == (1, 28 * 28 + 1, d)
        assert tuple(sd["cls_token"].shape) == (1, 1, d)
        assert tuple(sd["patch_embed.proj.weight"].shape) == (d, 3, 8, 8)
        assert tuple(sd["blocks.0.attn.qkv.weight"].shape) == (3 * d, d)
        assert tuple(sd["blocks.11.mlp.fc1.weight"].shape) == (4 * d, d)
        assert not any(k.startswith("head") for k in sd)
    assert DINO_CONFIGS["dino_vits8"]["num_heads"] == 6
    assert DINO_CONFIGS["dino_vitb8"]["num_heads"] == 12


def test_dino_random_weights_shape_and_grid(vits8_random):
    rng = np.random.default_rng(0)
    f = vits8_random(rng.random((1, 224, 224, 3)))
    assert f.shape == (1, 384, 28, 28) and f.dtype == np.float32
    # final LayerNorm with unit weight / zero bias: each token is standardised over channels
    np.testing.assert_allclose(f.mean(axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(f.std(axis=1), 1.0, atol=1e-2)
    # other input sizes are resized to 224 -> still a 28 x 28 grid
    assert vits8_random(rng.random((1, 100, 120, 3))).shape == (1, 384, 28, 28)
    assert vits8_random.grid_shape((100, 120)) == (28, 28)


def test_vit_matches_manual_attention():
    """One block of our ViT equals a hand-written pre-norm transformer block."""
    torch.manual_seed(0)
    m = ViT(embed_dim=16, depth=1, num_heads=2, patch_size=4, img_size=8).init_random(1)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    x = torch.randn(1, 3, 8, 8)
    ours = m.patch_tokens(x)
    sd = m.state_dict()
    with torch.no_grad():
        t = torch.nn.functional.conv2d(x, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"],
                                       stride=4).flatten(2).transpose(1, 2)
        t = torch.cat([sd["cls_token"], t], 1) + sd["pos_embed"]

        def ln(v, p):
            return torch.nn.functional.layer_norm(v, (16,), sd[p + ".weight"], sd[p + ".bias"], 1e-6)

        h = ln(t, "blocks.0.norm1") @ sd["blocks.0.attn.qkv.weight"].T + sd["blocks.0.attn.qkv.bias"]
        q, k, v = h.reshape(1, 5, 3, 2, 8).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), -1) @ v
        a = a.transpose(1, 2).reshape(1, 5, 16)
        t = t + a @ sd["blocks.0.attn.proj.weight"].T + sd["blocks.0.attn.proj.bias"]
        h = ln(t, "blocks.0.norm2") @ sd["blocks.0.mlp.fc1.weight"].T + sd["blocks.0.mlp.fc1.bias"]
        h = torch.nn.functional.gelu(h)
        t = t + h @ sd["blocks.0.mlp.fc2.weight"].T + sd["blocks.0.mlp.fc2.bias"]
        ref = ln(t, "norm")[:, 1:].transpose(1, 2).reshape(1, 16, 2, 2)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def _write_safetensors(path, sd, bf16=False):
    header, blobs, off = {}, [], 0
    for k, v in sd.items():
        a = v.detach().float().contiguous().numpy()
        if bf16:
            raw = (a.view(np.uint32) >> 16).astype("<u2").tobytes()
        else:
            raw = a.astype("<f4").tobytes()
        header[k] = {"dtype": "BF16" if bf16 else "F32", "shape": list(a.shape),
                     "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    path.write_bytes(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def test_weights_round_trip_pth_bin_safetensors(tmp_path, vits8_random):
    sd = vits8_random.model.state_dict()
    x = np.random.default_rng(5).random((1, 224, 224, 3))
    ref = vits8_random(x)
    # original-DINO-like wrapped checkpoint with a DDP prefix, as .pth
    torch.save({"teacher": {"module." + k: v for k, v in sd.items()}}, tmp_path / "w.pth")
    # timm/HF files: pytorch_model.bin and model.safetensors
    torch.save(sd, tmp_path / "pytorch_model.bin")
    _write_safetensors(tmp_path / "model.safetensors", sd)
    for fname in ("w.pth", "pytorch_model.bin", "model.safetensors"):
        bb = get_backbone("vit_small_patch8_224.dino", weights=tmp_path / fname)
        np.testing.assert_allclose(bb(x), ref, atol=1e-5, err_msg=fname)
    # bf16 safetensors decode to the bf16-rounded values
    _write_safetensors(tmp_path / "bf16.safetensors", {"a": torch.tensor([1.0, -2.5, 3.14159])},
                       bf16=True)
    got = load_state_dict_file(tmp_path / "bf16.safetensors")["a"]
    torch.testing.assert_close(got, torch.tensor([1.0, -2.5, 3.14159]).bfloat16().float())


def test_weights_strict_keys_and_missing(tmp_path, monkeypatch, vits8_random):
    sd = dict(vits8_random.model.state_dict())
    sd.pop("norm.bias")
    torch.save(sd, tmp_path / "broken.pth")
    with pytest.raises(RuntimeError, match="norm.bias"):
        get_backbone("dino_vits8", weights=tmp_path / "broken.pth")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        get_backbone("dino_vits8", weights=tmp_path / "nope.pth")
    for var in ("HF_HOME", "HF_HUB_CACHE", "TORCH_HOME"):
        monkeypatch.setenv(var, str(tmp_path / "empty"))
    monkeypatch.delenv("TOPOTTA_WEIGHTS", raising=False)
    with pytest.raises(FileNotFoundError, match="weights='random'"):
        get_backbone("dino_vits8")  # no download, ever


def test_dino_finds_weights_in_hf_cache(tmp_path, monkeypatch, vits8_random):
    snap = tmp_path / "hub" / "models--timm--vit_small_patch8_224.dino" / "snapshots" / "abc"
    snap.mkdir(parents=True)
    _write_safetensors(snap / "model.safetensors", vits8_random.model.state_dict())
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("TOPOTTA_WEIGHTS", raising=False)
    bb = get_backbone("dino_vits8")
    x = np.full((1, 224, 224, 3), 0.3)
    np.testing.assert_allclose(bb(x), vits8_random(x), atol=1e-5)


# ------------------------------------------------------------------------------------------
# 2.5D and 3D
# ------------------------------------------------------------------------------------------
def test_depth_features_plane_and_bump():
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    plane = 10.0 + 0.05 * xx + 0.02 * yy
    bump = plane + 2.0 * np.exp(-((yy - 32) ** 2 + (xx - 32) ** 2) / (2 * 3.0**2))
    bb = DepthBackbone(scales=(0.0,))
    f = bb(np.stack([plane, bump]))
    assert f.shape == (2, bb.out_channels, 16, 16) and f.dtype == np.float32
    rel = 2  # first relief channel (z - G_2 * z)
    # a plane has no relief away from the borders, and its normals are constant
    assert np.abs(f[0, rel, 3:-3, 3:-3]).max() < 1e-3
    nz = 2 + 2 * 3 + 2
    assert np.ptp(f[0, nz, 3:-3, 3:-3]) < 1e-4
    assert np.unravel_index(np.argmax(f[1, rel]), (16, 16)) in {(7, 7), (7, 8), (8, 7), (8, 8)}
    # xyz point maps use their z channel; NaN points become invalid
    xyz = np.stack([xx, yy, bump], -1)[None]
    np.testing.assert_allclose(bb(xyz), f[1:], atol=1e-5)
    holey = bump.copy()
    holey[:8, :8] = np.nan
    g = bb(holey[None])
    assert np.isfinite(g).all() and g[0, 1, 0, 0] == 0.0  # validity channel


def test_voxel_features_shape_and_inclusion():
    rng = np.random.default_rng(0)
    v = 0.5 + 0.01 * rng.standard_normal((2, 16, 16, 16)).astype(np.float32)
    v[1, 6:10, 6:10, 6:10] += 1.0
    bb = VoxelBackbone(scales=(0.0,))
    f = bb(v)
    assert f.shape == (2, bb.out_channels, 8, 8, 8) and f.dtype == np.float32
    diff = np.abs(f[1] - f[0]).sum(0)
    peak = np.unravel_index(np.argmax(diff), diff.shape)
    assert all(2 <= p <= 5 for p in peak)
    assert get_backbone("voxel").stride == 2
