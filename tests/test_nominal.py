"""The release preset's class-level encoder (`method.nominal`): it must refine, not collapse."""

import numpy as np
import pytest

from topotta_lite.method.nominal import NominalEncoder, fitted_encoder
from topotta_lite.metrics import segmentation_scores


def _scene(seed=0, channels=8, grid=16, scale=4):
    """Ten nominal feature maps, one test map with a defect block, its truth and an over-grown mask."""
    rng = np.random.default_rng(seed)
    nominal = [rng.normal(size=(channels, grid, grid)).astype(np.float32) for _ in range(10)]
    test = rng.normal(size=(channels, grid, grid)).astype(np.float32)
    test[:, 6:10, 6:10] += 3.0 * rng.normal(size=(channels, 1, 1)).astype(np.float32)
    truth = np.zeros((grid * scale, grid * scale), bool)
    truth[6 * scale:10 * scale, 6 * scale:10 * scale] = True
    pseudo = np.zeros_like(truth)
    pseudo[3 * scale:13 * scale, 3 * scale:13 * scale] = True  # the defect plus a wide margin
    return nominal, test, truth, pseudo


@pytest.fixture(scope="module")
def scene_and_encoder():
    """The scene and the default encoder fitted on its nominal maps (fitted once: a few seconds)."""
    nominal, test, truth, pseudo = _scene()
    return (nominal, test, truth, pseudo), fitted_encoder(nominal, seed=0)


def test_encoder_trained_on_nominal_features_shrinks_an_overgrown_pseudo_label(scene_and_encoder):
    # measured when this test was written: 0.78 (a weight decay of 1e-4, an earlier default: 0.45)
    (_, test, truth, pseudo), enc = scene_and_encoder
    refined = enc.classify(test, pseudo)
    f1_pseudo = segmentation_scores(pseudo, truth)["f1"]
    f1_refined = segmentation_scores(refined, truth)["f1"]
    assert f1_pseudo < 0.3
    assert f1_refined > 0.65, (f1_pseudo, f1_refined)


def test_embeddings_keep_what_separates_defect_from_nominal(scene_and_encoder):
    # the all-similar loss pulls nominal embeddings together; the defect's must stay apart
    (_, test, truth, _), enc = scene_and_encoder
    z = enc.embed(test)
    inside = truth[::4, ::4].reshape(-1)
    p_in, p_out = z[inside].mean(0), z[~inside].mean(0)
    spread_out = np.linalg.norm(z[~inside] - p_out, axis=1).mean()
    assert np.linalg.norm(p_in - p_out) > 2 * spread_out
    assert np.all(np.isfinite(enc.loss_curve_)) and enc.loss_curve_[-1] < enc.loss_curve_[0]


def test_the_scale_of_the_features_does_not_matter():
    # inputs are standardised with the nominal statistics: a backbone's units change nothing
    nominal, test, _, pseudo = _scene(seed=4)
    # (equal up to float32 rounding: the standardised inputs differ in their last bits, and on
    # an AVX-512 processor one cell of 4096 sat close enough to the decision to flip)
    small = {"epochs": 5, "widths": (32, 16), "seed": 0}
    enc_a = NominalEncoder(**small).fit(nominal)
    enc_b = NominalEncoder(**small).fit([10 * x + 3 for x in nominal])
    np.testing.assert_allclose(enc_a.embed(test), enc_b.embed(10 * test + 3), atol=1e-5)
    a, b = enc_a.classify(test, pseudo), enc_b.classify(10 * test + 3, pseudo)
    assert (a != b).mean() <= 1e-3, (a != b).sum()
    assert 0 < a.sum() < pseudo.sum()


def test_default_width_follows_the_input_channels():
    net = NominalEncoder(seed=0)._build(64)
    widths = [m.out_features for m in net if hasattr(m, "out_features")]
    assert widths == [544, 544, 1024, 1024, 768]


def test_training_is_seeded_and_memoised(scene_and_encoder):
    (nominal, test, _, _), enc = scene_and_encoder
    small = {"epochs": 2, "widths": (32, 16), "seed": 3}
    a = NominalEncoder(**small).fit(nominal).embed(test)
    b = NominalEncoder(**small).fit([x.copy() for x in nominal]).embed(test)
    np.testing.assert_array_equal(a, b)
    assert fitted_encoder([x.copy() for x in nominal], seed=0) is enc


@pytest.mark.parametrize("kwargs", [{"hidden": 0}, {"widths": ()}, {"epochs": 0}, {"lr": 0.0},
                                    {"weight_decay": -1.0}, {"max_points": 1}])
def test_bad_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        NominalEncoder(**kwargs)


def test_unfitted_encoder_and_bad_support_say_so():
    with pytest.raises(ValueError, match="not fitted"):
        NominalEncoder().embed(np.zeros((2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="at least one"):
        NominalEncoder().fit([])
    with pytest.raises(ValueError, match="channels"):
        NominalEncoder().fit([np.zeros((2, 3, 3)), np.zeros((3, 3, 3))])


def test_training_and_embedding_run_on_one_torch_thread_and_restore_the_setting(monkeypatch):
    import torch

    nominal, test, _, _ = _scene(seed=2)
    before = torch.get_num_threads()
    seen = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: seen.append(n) or real(n))
    enc = NominalEncoder(epochs=1, widths=(16, 8), seed=0).fit(nominal)
    enc.embed(test)
    assert seen == [1, before, 1, before]
    assert torch.get_num_threads() == before


def test_a_store_keeps_the_encoder_across_processes_and_a_bad_entry_is_retrained(
        scene_and_encoder, tmp_path, monkeypatch):
    """What notebook 06 trained, notebook 08 reads back: the same weights, so the same masks;
    an entry that fails its checks is moved aside with a warning and the encoder trained again."""
    from topotta_lite.experiments import EncoderStore
    from topotta_lite.experiments.grid import CorruptCacheWarning
    from topotta_lite.method import nominal as nominal_module

    (nominal, test, _, pseudo), _ = scene_and_encoder
    nominal = [x[:, :8, :8].copy() for x in nominal[:2]]  # a support of its own: trained here
    store = EncoderStore(tmp_path)
    first = fitted_encoder(nominal, seed=5, store=store)
    assert len(list((tmp_path / "encoders").glob("*.npz"))) == 1

    calls = []
    real_fit = NominalEncoder.fit
    monkeypatch.setattr(NominalEncoder, "fit", lambda self, x: calls.append(1) or real_fit(self, x))
    nominal_module._FITTED.clear()  # as a new process: nothing in memory
    second = fitted_encoder(nominal, seed=5, store=store)
    assert second is not first and calls == []  # read back, not trained
    np.testing.assert_array_equal(second.embed(test[:, :8, :8]), first.embed(test[:, :8, :8]))
    np.testing.assert_array_equal(second.loss_curve_, first.loss_curve_)

    entry = next((tmp_path / "encoders").glob("*.npz"))
    entry.write_bytes(entry.read_bytes()[:-40])  # a truncated file
    nominal_module._FITTED.clear()
    with pytest.warns(CorruptCacheWarning):
        third = fitted_encoder(nominal, seed=5, store=store)
    assert calls == [1] and len(list((tmp_path / "corrupt").iterdir())) == 1
    np.testing.assert_array_equal(third.embed(test[:, :8, :8]), first.embed(test[:, :8, :8]))
    assert fitted_encoder(nominal, seed=6, store=store) is not third  # another seed: its own


def test_arrays_of_another_shape_are_refused():
    enc = NominalEncoder(epochs=1, widths=(8, 4), seed=0).fit(_scene()[0][:1])
    arrays = enc.to_arrays()
    with pytest.raises(ValueError, match="wrong shape|this shape"):
        NominalEncoder(widths=(8, 5), seed=0).load_arrays(arrays)
    arrays["scale"] = arrays["scale"] * np.nan
    with pytest.raises(ValueError, match="NaN"):
        NominalEncoder(epochs=1, widths=(8, 4), seed=0).load_arrays(arrays)
