"""TopoTTA keeps what its topology finds: fused pseudo-labels are never empty on real maps, the
EAI diagnostics are honest, and the release preset is the authors' pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from topotta_lite.data import list_categories
from topotta_lite.experiments import ResultCache, evaluate_cell, score_bundle, segment_bundle
from topotta_lite.method import fuse
from topotta_lite.method.fusion import fusion_activity
from topotta_lite.operators import TTT4AS, TopoTTA


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return ResultCache(tmp_path_factory.mktemp("fidelity-cache"))


@pytest.mark.long
@pytest.mark.parametrize("modality", ["2d", "2.5d"])
def test_no_empty_fused_pseudo_label_on_the_embedded_benchmark(cache, modality):
    """Every non-constant score map of the smoke benchmark gets a non-empty fused pseudo-label."""
    op = TopoTTA(pces=False)
    n_maps = n_empty_intersections = 0
    for category in list_categories(modality):
        bundle = score_bundle(f"embedded-{modality}", category, "patchcore", size="smoke",
                              cache=cache)
        for psi in bundle["maps"]:
            if np.ptp(psi) == 0:
                continue
            m_sub, m_sup, fused = op.pseudo_labels(psi)
            n_maps += 1
            n_empty_intersections += int(not (m_sub & m_sup).any())
            assert fused.any(), f"{category}: empty fused pseudo-label on a non-constant map"
            assert (m_sub | m_sup).any()
    assert n_maps >= 10
    # the fallback is what keeps them non-empty where the masks do not overlap
    assert n_empty_intersections <= n_maps


def test_eai_fallback_options_and_empty_union():
    sub = np.zeros((6, 6), bool)
    sub[0, 0] = True
    sup = np.zeros((6, 6), bool)
    sup[4:6, 4:6] = True
    assert (fuse(sub, sup) == sub).all()                     # the default: the sublevel mask
    assert (fuse(sub, sup, fallback="larger") == sup).all()
    assert not fuse(sub, sup, fallback="none").any()
    empty = np.zeros((6, 6), bool)
    assert not fuse(empty, empty).any()                      # nothing found: nothing returned
    assert (fuse(empty, sup) == sup).all()                   # one side empty: the other one
    act = fusion_activity(sub, sup, fuse(sub, sup))
    assert act == {"empty_intersection": True, "nested": False, "fusion_differs": True,
                   "eai_acts": False, "fallback_fired": True, "eai_differs_sub": False,
                   "eai_differs_intersection": True, "eai_differs_union": True}


def test_persistent_fallback_picks_the_longer_bar():
    psi = np.zeros((32, 32))
    psi[4:12, 4:12] = 1.0           # a bright square: its superlevel H0 bar spans the whole range
    op = TopoTTA(pces=False, eai_fallback="persistent")
    assert op.pseudo_labels(psi)[2].any()
    with pytest.raises(ValueError, match="eai_fallback"):
        TopoTTA(eai_fallback="biggest")


def test_activity_is_reported_by_experiment_cells(cache, monkeypatch):
    monkeypatch.setenv("TOPOTTA_CACHE", str(cache.root))
    cell = {"dataset": "embedded-2d", "category": "brick", "scorer": "patchcore", "size": "smoke",
            "seed": 0, "operator": "topotta", "params": {"pces": False}}
    res = evaluate_cell(cell)
    for key in ("empty_intersection", "nested", "fusion_differs"):
        assert 0.0 <= res[key] <= 1.0
    assert "activity" not in res["seconds"]


def test_release_preset_is_the_authors_pipeline(cache):
    paper, release = TopoTTA(), TopoTTA(preset="release")
    assert (paper.construction, paper.rule, paper.fusion, paper.adaptation) == \
        ("V", "region", "eai", "image")
    assert (release.construction, release.rule, release.fusion, release.adaptation) == \
        ("T", "release", "intersection", "class")
    # an explicit value wins over the preset's
    assert TopoTTA(preset="release", construction="V").construction == "V"
    with pytest.raises(ValueError, match="preset"):
        TopoTTA(preset="authors")
    bundle = score_bundle("embedded-2d", "brick", "patchcore", size="smoke", cache=cache)
    with pytest.raises(ValueError, match="shots"):
        segment_bundle(bundle, "topotta", {"preset": "release"})
    masks, idx, _ = segment_bundle(bundle, "topotta", {"preset": "release"}, shots=3)
    assert len(masks) == len(idx) > 0 and all(m.shape == bundle["maps"].shape[1:] for m in masks)
    # without support the class-level encoder cannot train: the pseudo-label is returned, and said
    op = TopoTTA(preset="release")
    res = op.segment_detailed(bundle["maps"][idx[0]], bundle["features"][idx[0]])
    assert res.pces.fallback.startswith("no nominal support") and (res.mask == res.fused).all()
    # with support: the encoder is fitted once and reused for the next image of the class
    support = list(bundle["support"][:3])
    op.segment(bundle["maps"][idx[0]], bundle["features"][idx[0]], support=support)
    fitted = op.nominal_
    op.segment(bundle["maps"][idx[-1]], bundle["features"][idx[-1]], support=support)
    assert op.nominal_ is fitted and fitted.loss_curve_.shape == (30,)
    # TTT4AS takes the same nominal images as negatives
    assert TTT4AS(seed=0).segment(bundle["maps"][idx[0]], bundle["features"][idx[0]],
                                  support=support).shape == bundle["maps"].shape[1:]
