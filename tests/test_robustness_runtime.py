"""Fig. 7/8 helpers (sweep grid, tables, failure diagnosis) and Table X's memory probe."""

import numpy as np
import pytest

from topotta_lite.experiments.robustness import (
    diagnose,
    per_image_table,
    robustness_cells,
    robustness_table,
    signal_to_noise,
)
from topotta_lite.experiments.runtime import peak_memory_mb


def test_cells_share_the_clean_map_and_validate():
    cells = robustness_cells("embedded-2d", ["a", "b"], ["padim"], ["thr", "topotta"],
                             ["brightness", "noise", "speckle"], [0.0, 0.1, 0.2])
    assert len(cells) == 2 * 2 * (1 + 3 * 2)
    assert sum("perturb" not in c for c in cells) == 4
    with pytest.raises(ValueError, match="unknown perturbation"):
        robustness_cells("embedded-2d", ["a"], ["padim"], ["thr"], ["blur"], [0.1])
    with pytest.raises(ValueError, match=">= 0"):
        robustness_cells("embedded-2d", ["a"], ["padim"], ["thr"], ["noise"], [-0.1])


def test_table_repeats_clean_rows_and_averages_classes():
    kinds = ["noise", "speckle"]
    cells = robustness_cells("d", ["a", "b"], ["s"], ["topotta"], kinds, [0.0, 0.5])
    f1 = {("a", None): 0.6, ("b", None): 0.4, ("a", "noise"): 0.2, ("b", "noise"): 0.0,
          ("a", "speckle"): 0.5, ("b", "speckle"): 0.3}
    results = [{"precision": 0, "recall": 0, "iou": 0,
                "f1": f1[(c["category"], c.get("perturb", {}).get("kind"))]} for c in cells]
    results[-1] = None  # a failed cell (b, speckle) is left out
    t = robustness_table(cells, results, kinds).set_index(["kind", "strength"])
    assert t.loc[("noise", 0.0), "f1"] == pytest.approx(0.5)
    assert t.loc[("speckle", 0.0), "f1"] == pytest.approx(0.5)  # clean row repeated
    assert t.loc[("noise", 0.5), "f1"] == pytest.approx(0.1)
    assert t.loc[("speckle", 0.5), "f1"] == pytest.approx(0.5)
    assert t.loc[("speckle", 0.5), "n_categories"] == 1


def test_signal_to_noise_matches_hand_computation():
    rng = np.random.default_rng(0)
    m = rng.normal(0, 2, (20, 30))
    gt = np.zeros_like(m, bool)
    gt[5:9, 10:20] = True
    m[gt] += 6
    out = m[~gt]
    assert signal_to_noise(m, gt) == pytest.approx((m[gt].mean() - out.mean()) / out.std())
    assert np.isnan(signal_to_noise(m, np.zeros_like(gt)))
    with pytest.raises(ValueError, match="shape"):
        signal_to_noise(m, gt[:, :5])


def test_diagnose_modes():
    gt = np.zeros((20, 20), bool)
    gt[8:12, 8:12] = True
    elsewhere = np.zeros_like(gt)
    elsewhere[0:4, 0:4] = True
    half = np.zeros_like(gt)
    half[8:12, 8:10] = True
    half[0:4, 0:4] = True
    assert diagnose(gt, gt) == "good"
    assert diagnose(elsewhere, gt) == "missed: wrong structure"
    assert diagnose(np.ones_like(gt), gt) == "too coarse"
    assert diagnose(half, gt) == "partial"


def test_robustness_image_table_repeats_clean_images_per_kind():
    from topotta_lite.experiments.robustness import robustness_image_table

    def res(v):
        return {"image_ids": ["x", "y"],
                **{f"{m}_per_image": [v, v] for m in ("precision", "recall", "f1", "iou")}}

    base = {"dataset": "d", "category": "c", "scorer": "padim", "operator": "topotta"}
    cells = [base, {**base, "perturb": {"kind": "noise", "strength": 0.1}}]
    t = robustness_image_table(cells, [res(0.5), res(0.2)], ["noise", "speckle"])
    assert len(t) == 6  # the clean images under both kinds, the noisy ones once
    assert t.groupby(["kind", "strength"])["f1"].mean().to_dict() == {
        ("noise", 0.0): 0.5, ("noise", 0.1): 0.2, ("speckle", 0.0): 0.5}


def test_per_image_table_maps_f1_to_anomalous_images():
    maps = np.zeros((3, 8, 8))
    gts = np.zeros((3, 8, 8), bool)
    gts[1:, 2:4, 2:4] = True
    maps[gts] = 1.0
    bundle = {"labels": np.array([0, 1, 1]), "names": np.array(["g", "x", "y"]),
              "maps": maps, "gts": gts}
    cells = [{"category": "c", "scorer": "s", "operator": m} for m in ("ttt4as", "topotta")]
    cells.append({"category": "c", "scorer": "s", "operator": "topotta",
                  "perturb": {"kind": "noise", "strength": 0.1}})
    results = [{"f1_per_image": [0.1, 0.2]}, {"f1_per_image": [0.3, 0.4]},
               {"f1_per_image": [9, 9]}]
    t = per_image_table(cells, results, {("c", "s"): bundle}).set_index("name")
    assert list(t.index) == ["x", "y"] and list(t["index"]) == [1, 2]
    assert t.loc["y", "f1_TopoTTA"] == 0.4 and t.loc["x", "f1_TTT4AS"] == 0.1
    assert t.loc["x", "snr"] == 1.0  # flat background: the contrast itself (std taken as 1)


def test_peak_memory_sees_a_large_temporary():
    def work(n):
        a = np.ones(n)  # n * 8 bytes, freed on return
        return float(a.sum())

    out, small = peak_memory_mb(work, 1000)
    out2, big = peak_memory_mb(work, 8_000_000)  # 64 MB
    assert out == 1000 and out2 == 8_000_000
    assert big > 50 > small


class _Recorder:
    """A fake operator that logs its calls and reports fixed stage times (slower on its first call
    to each image, as if disturbed by other load)."""

    def __init__(self, name, log, base):
        self.name, self.log, self.base, self.seen = name, log, base, set()
        self.timings_ = {}

    def segment(self, psi, features=None):
        key = int(psi[0, 0])
        slow = 0.0 if key in self.seen else 1.0
        self.seen.add(key)
        self.log.append((self.name, key))
        self.timings_ = {"pseudo_labels": self.base, "adaptation": self.base + slow,
                         "total": 2 * self.base + slow}
        return psi > 0


def test_time_operators_interleaves_and_keeps_the_fastest_call():
    from topotta_lite.experiments.runtime import time_operators

    log = []
    maps = [np.full((4, 4), float(i)) for i in range(3)]
    a, b = _Recorder("a", log, 0.1), _Recorder("b", log, 0.2)
    t = time_operators({"a": a, "b": b}, maps, [None] * 3, repeat=2)
    assert log[:2] == [("a", 0), ("b", 0)]  # warm-up of each operator on the first image
    timed = log[2:]
    assert len(timed) == 2 * 3 * 2
    firsts = [timed[i][0] for i in range(0, len(timed), 2)]  # who goes first in each round
    assert set(firsts) == {"a", "b"}  # the order rotates
    # the fastest call: image 0 was warmed up (already fast); images 1, 2 drop their slow call
    np.testing.assert_allclose(t["a"], [[0.1, 0.1, 0.2]] * 3)
    np.testing.assert_allclose(t["b"], [[0.2, 0.2, 0.4]] * 3)
    per_image = [_Recorder("c", [], 0.3) for _ in maps]  # one operator per image (THR per class)
    assert time_operators({"c": per_image}, maps, [None] * 3, repeat=1)["c"].shape == (3, 3)
    with pytest.raises(ValueError, match="3 images"):
        time_operators({"c": per_image[:2]}, maps, [None] * 3)
    with pytest.raises(ValueError, match="feature maps"):
        time_operators({"a": a}, maps, [None] * 2)
