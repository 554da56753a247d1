"""`topotta-lite segment` as a careless or hostile user runs it (issue 19, findings 2, 5, 8-10, 13).

Every input is written by the test into ``tmp_path``; the "bombs" are small files whose headers lie
(a 1 KB ``.npy`` claiming (200000, 200000), a 241-byte zlib TIFF and a PNG claiming 30000 x 30000),
so no test allocates more than a few megabytes when the code is right.
"""

from __future__ import annotations

import csv
import errno
import os
import re
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hostile_files import lying_npy, png_bomb, tiff_bomb, truncate
from PIL import Image

from topotta_lite.cli.main import main

SHAPE = (48, 40)


def _square(shape=SHAPE, seed=0, shift=0):
    """A smooth map whose anomaly is a square, and that square as GT."""
    from scipy import ndimage

    gt = np.zeros(shape, bool)
    gt[tuple(slice(s // 4 + shift, s // 2 + shift) for s in shape)] = True
    rng = np.random.default_rng(seed)
    return ndimage.gaussian_filter(gt.astype(float), 1.0) + 0.02 * rng.random(shape), gt


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) under root, by relative path; links by their target."""
    out: dict[str, bytes | None] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = f"-> {os.readlink(p)}".encode()
        elif p.is_dir():
            out[rel] = None
        else:
            out[rel] = p.read_bytes()
    return out


@pytest.fixture()
def inputs(tmp_path):
    """maps/ (two 2D maps and one 3D map), gt/ and images/ for them."""
    maps, gts, images = tmp_path / "maps", tmp_path / "gt", tmp_path / "images"
    for d in (maps, gts, images):
        d.mkdir()
    for i, name in enumerate(["a", "b"]):
        psi, gt = _square(seed=i)
        np.save(maps / f"{name}.npy", psi)
        Image.fromarray(gt.astype(np.uint8) * 255).save(gts / f"{name}.png")
        grey = (psi / psi.max() * 255).astype(np.uint8)
        Image.fromarray(np.repeat(grey[..., None], 3, axis=2)).save(images / f"{name}.png")
    psi3, gt3 = _square((10, 12, 12), seed=5)
    np.save(maps / "vol.npy", psi3)
    np.save(gts / "vol.npy", gt3)
    return tmp_path


def _seg(*args) -> int:
    return main(["segment", *map(str, args), "--quiet"])


# ----------------------------------------------------------------------------- finding 2: --out


@pytest.mark.parametrize("case", ["maps", "gt", "images", "inside", "contains", "symlink"])
def test_an_out_that_is_inside_or_holds_an_input_is_refused(inputs, case, capsys):
    root = inputs
    maps, gts, images = root / "maps", root / "gt", root / "images"
    extra = []
    if case == "maps":
        out = maps
    elif case == "gt":
        out, extra = gts, ["--gt", gts]
    elif case == "images":
        out, extra = images, ["--images", images, "--no-pces"]
    elif case == "inside":
        out, extra = gts / "masks", ["--gt", gts]
    elif case == "contains":
        out = root
    else:
        (root / "link").symlink_to(maps, target_is_directory=True)
        out = root / "link"
    before = _snapshot(root)
    assert _seg(maps, "--out", out, "--no-pces", *extra) == 2
    err = capsys.readouterr().err
    assert "--out" in err and ("inside" in err or "is the" in err or "contains" in err)
    assert _snapshot(root) == before  # nothing overwritten, nothing created


# ----------------------------------------------------------------------------- finding 5: writes


def test_a_symlink_in_out_is_an_error_for_that_file_and_is_not_followed(inputs, capsys):
    root = inputs
    out = root / "out"
    out.mkdir()
    victim = root / "thesis.tex"
    victim.write_text("my thesis")
    (out / "a.png").symlink_to(victim)
    assert _seg(root / "maps", "--out", out, "--no-pces") == 1
    err = capsys.readouterr().err
    assert re.search(r"a\.png.*symbolic link", err)
    assert victim.read_text() == "my thesis"
    assert (out / "a.png").is_symlink()
    assert Image.open(out / "b.png").size == SHAPE[::-1] and (out / "vol.npy").is_file()


def test_a_full_disk_keeps_the_earlier_masks_and_names_the_file(inputs, monkeypatch, capsys):
    root = inputs
    maps, out = root / "maps", root / "out"
    (maps / "vol.npy").unlink()
    np.save(maps / "c.npy", _square(seed=3)[0])
    assert _seg(maps, "--out", out, "--no-pces") == 0
    old = {n: (out / n).read_bytes() for n in ("a.png", "b.png", "c.png")}
    for i, n in enumerate("abc"):  # new maps: the new masks differ from the old ones
        np.save(maps / f"{n}.npy", _square(seed=i, shift=4)[0])

    real_save = Image.Image.save
    calls = []

    def save(self, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) == 2:  # the second mask: half the bytes, then the disk is full
            Path(fp).write_bytes(b"\x89PNG\r\n")
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save)
    assert _seg(maps, "--out", out, "--no-pces") == 1
    err = capsys.readouterr().err
    assert re.search(r"b\.png.*No space left", err)
    assert "c.npy" in err  # not processed after the disk filled, and said so
    assert (out / "a.png").read_bytes() != old["a.png"]  # written before the disk filled
    assert (out / "b.png").read_bytes() == old["b.png"]  # intact, not a 0-byte / half PNG
    assert (out / "c.png").read_bytes() == old["c.png"]
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]  # no temporaries


def test_an_out_that_cannot_be_made_fails_before_computing(inputs, monkeypatch, capsys):
    from topotta_lite.operators import TopoTTA

    calls = []
    monkeypatch.setattr(TopoTTA, "segment", lambda self, *a, **k: calls.append(1))
    root = inputs
    blocker = root / "afile"
    blocker.write_text("x")
    for out in (blocker, blocker / "masks"):
        assert _seg(root / "maps", "--out", out) == 2
        assert "--out" in capsys.readouterr().err
    assert blocker.read_text() == "x" and calls == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_out_fails_before_computing(inputs, capsys):
    out = inputs / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        assert _seg(inputs / "maps", "--out", out) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        out.chmod(0o700)


# ----------------------------------------------------------------------------- finding 8: bad files


def test_bad_files_are_refused_before_decoding_reported_and_skipped(inputs, capsys):
    root = inputs
    maps = root / "maps"
    (maps / "a0_empty.npy").write_bytes(b"")
    lying_npy(maps / "a1_lying.npy")
    tiff_bomb(maps / "a2_bomb.tiff")
    tifffile.imwrite(maps / "a3_truncated.tiff", np.random.default_rng(0).random(SHAPE, np.float32))
    truncate(maps / "a3_truncated.tiff")
    (maps / "a4_text.npy").write_text("not an npy file")
    # images and GT: PIL images over the pixel limit, a lying GT .npy
    (maps / "vol.npy").unlink()  # --images works with 2D maps only
    for n in ("a5_img_bomb", "a6_gt_bomb", "a7_gt_lying"):
        np.save(maps / f"{n}.npy", _square()[0])
        (root / "images" / f"{n}.png").write_bytes((root / "images" / "a.png").read_bytes())
    png_bomb(root / "images" / "a5_img_bomb.png")
    png_bomb(root / "gt" / "a6_gt_bomb.png", 10000, 9000)  # under PIL's own limit, over ours
    lying_npy(root / "gt" / "a7_gt_lying.npy", (48, 40, 100000))
    out = root / "out"
    assert _seg(maps, "--out", out, "--gt", root / "gt", "--images", root / "images",
                "--epochs", "1", "--device", "cpu") == 1
    err = capsys.readouterr().err
    reasons = {"a0_empty.npy": "empty", "a1_lying.npy": "header", "a2_bomb.tiff": "pixels",
               "a3_truncated.tiff": "truncated", "a4_text.npy": "not an .npy",
               "a5_img_bomb": "pixels", "a6_gt_bomb": "pixels", "a7_gt_lying": "header"}
    for name, reason in reasons.items():
        assert re.search(rf"{re.escape(name)}.*{reason}", err), (name, err)
    # the good maps went through
    assert {p.name for p in out.iterdir()} == {"a.png", "b.png", "metrics.csv"}


def test_the_pixel_limit_is_an_option(inputs, capsys):
    root = inputs
    (root / "maps" / "vol.npy").unlink()
    assert _seg(root / "maps", "--out", root / "out", "--no-pces", "--max-pixels", "1000") == 2
    err = capsys.readouterr().err
    assert "a.npy" in err and "1,920 pixels" in err and "--max-pixels" in err
    assert _seg(root / "maps", "--out", root / "out", "--no-pces", "--max-pixels", "1920") == 0


# ----------------------------------------------------------------------------- finding 9: channels


def _channel_files(folder: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    base = _square((64, 64))[0].astype(np.float32)
    f3 = np.stack([base, 0.5 * base, rng.random((64, 64), np.float32)], axis=-1)
    f4 = np.concatenate([f3, np.ones((64, 64, 1), np.float32)], axis=-1)
    u2 = np.stack([(base / base.max() * 255).astype(np.uint8),
                   rng.integers(0, 255, (64, 64), dtype=np.uint8)], axis=-1)
    tifffile.imwrite(folder / "f3.tiff", f3, photometric="rgb")
    tifffile.imwrite(folder / "f4.tiff", f4, photometric="rgb", extrasamples=["unassalpha"])
    tifffile.imwrite(folder / "u2.tiff", u2)  # tifffile stores it as 64 pages of 64 x 2
    return {"f3": f3, "f4": f4, "u2": u2}


def test_colour_and_two_channel_files_are_not_volumes(tmp_path, capsys):
    maps = tmp_path / "maps"
    maps.mkdir()
    arrays = _channel_files(maps)
    out = tmp_path / "out"
    assert _seg(maps, "--out", out, "--no-pces") == 2  # every map refused: nothing written
    err = capsys.readouterr().err
    for name, n in (("f3", 3), ("f4", 4), ("u2", 2)):
        assert re.search(rf"{name}\.tiff.*{n} channels.*--channels", err), err
    assert not out.exists()
    for rule, reduce in (("mean", lambda a: a.astype(np.float64).mean(axis=-1)),
                         ("first", lambda a: a[..., 0])):
        assert _seg(maps, "--out", tmp_path / rule, "--no-pces", "--channels", rule) == 0
        ref = tmp_path / f"ref_{rule}"
        ref.mkdir()
        for name, arr in arrays.items():
            np.save(ref / f"{name}.npy", reduce(arr))
        assert _seg(ref, "--out", tmp_path / f"refout_{rule}", "--no-pces") == 0
        for name in arrays:
            assert not (tmp_path / rule / f"{name}.npy").exists()  # never a 3D volume
            got = np.asarray(Image.open(tmp_path / rule / f"{name}.png"))
            want = np.asarray(Image.open(tmp_path / f"refout_{rule}" / f"{name}.png"))
            assert got.shape == (64, 64) and np.array_equal(got, want), (rule, name)


# ----------------------------------------------------------------------------- finding 10: metrics


def test_metrics_are_computed_on_anomalous_images_only(tmp_path, capsys):
    maps, gts, nominal = tmp_path / "maps", tmp_path / "gt", tmp_path / "nominal"
    for d in (maps, gts, nominal):
        d.mkdir()
    rng = np.random.default_rng(0)
    gt = np.zeros(SHAPE, bool)
    gt[10:20, 8:18] = True
    np.save(maps / "anomalous.npy", gt + 0.01 * rng.random(SHAPE))
    np.save(maps / "nominal.npy", 0.01 * rng.random(SHAPE))
    Image.fromarray(gt.astype(np.uint8) * 255).save(gts / "anomalous.png")
    Image.fromarray(np.zeros(SHAPE, np.uint8)).save(gts / "nominal.png")
    for i in range(3):
        np.save(nominal / f"n{i}.npy", 0.01 * rng.random(SHAPE))
    out = tmp_path / "out"
    assert _seg(maps, "--out", out, "--gt", gts, "--operator", "thr", "--nominal-maps", nominal) == 0
    printed = capsys.readouterr().out
    assert re.search(r"f1=1\.000", printed)
    assert re.search(r"1 anomalous image", printed) and re.search(r"1 nominal image", printed)
    with open(out / "metrics.csv", newline="") as fh:
        rows = {r["name"]: r for r in csv.DictReader(fh)}
    assert rows["anomalous"]["anomalous"] == "1" and float(rows["anomalous"]["f1"]) == 1.0
    assert rows["nominal"]["anomalous"] == "0" and rows["nominal"]["f1"] == ""


# ----------------------------------------------------------------------------- exit codes


def test_exit_codes_are_documented(capsys):
    with pytest.raises(SystemExit):
        main(["segment", "--help"])
    text = capsys.readouterr().out
    assert re.search(r"0\s+every map", text) and re.search(r"1\s+some", text)
    assert re.search(r"2\s+usage or data error", text)
    assert "--channels" in text and "--max-pixels" in text
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Your own score maps", 1)[1].split("\n#", 1)[0]
    for word in ("exit code", "--channels", "anomalous", "--max-pixels", "decompression bomb"):
        assert word in section.lower()


# ----------------------------------------------------------------------------- finding 13: images


class _RecordingBackbone:
    """Stands in for a feature backbone: records each image, returns its channels as features."""

    stride = 1

    def __init__(self):
        self.seen = []

    def __call__(self, images):
        images = np.asarray(images)
        self.seen.append(images[0].copy())
        return np.moveaxis(images, -1, 1).astype(np.float32)


@pytest.fixture()
def recording_backbone(monkeypatch):
    import topotta_lite.features as features

    bb = _RecordingBackbone()
    monkeypatch.setattr(features, "get_backbone", lambda *a, **k: bb)
    return bb


def test_a_16_bit_image_is_read_with_its_scale(tmp_path, recording_backbone):
    maps, images = tmp_path / "maps", tmp_path / "images"
    maps.mkdir()
    images.mkdir()
    np.save(maps / "a.npy", _square()[0])
    Image.fromarray(np.full(SHAPE, 20000, np.uint16)).save(images / "a.png")
    assert Image.open(images / "a.png").mode.startswith("I;16")
    assert _seg(maps, "--out", tmp_path / "out", "--images", images, "--epochs", "1",
                "--device", "cpu") == 0
    (img,) = recording_backbone.seen
    assert img.shape == (*SHAPE, 3)
    np.testing.assert_allclose(img, 20000 / 65535, atol=1e-6)  # not saturated at 1


def test_an_image_of_another_size_is_refused_unless_only_the_scale_differs(
        tmp_path, recording_backbone, capsys):
    maps, images = tmp_path / "maps", tmp_path / "images"
    maps.mkdir()
    images.mkdir()
    np.save(maps / "same_aspect.npy", _square()[0])
    np.save(maps / "other_aspect.npy", _square()[0])
    Image.new("RGB", (SHAPE[1] * 2, SHAPE[0] * 2), (10, 20, 30)).save(images / "same_aspect.png")
    Image.new("RGB", (60, 30)).save(images / "other_aspect.png")
    assert _seg(maps, "--out", tmp_path / "out", "--images", images, "--epochs", "1",
                "--device", "cpu") == 1
    err = capsys.readouterr().err
    assert re.search(r"other_aspect\.png.*30x60.*48x40", err), err
    (img,) = recording_backbone.seen  # the other one was interpolated to the map's grid
    assert img.shape == (*SHAPE, 3)
    np.testing.assert_allclose(img[0, 0], np.array([10, 20, 30]) / 255, atol=1e-6)


def test_an_image_and_a_mask_of_one_stem_twice_are_errors(inputs, capsys):
    root = inputs
    Image.open(root / "gt" / "a.png").save(root / "gt" / "a.bmp")
    assert _seg(root / "maps", "--out", root / "out", "--gt", root / "gt", "--no-pces") == 1
    err = capsys.readouterr().err
    assert re.search(r"a\.npy.*a\.bmp.*a\.png|a\.npy.*a\.png.*a\.bmp", err), err
    assert not (root / "out" / "a.png").exists() and (root / "out" / "b.png").exists()
