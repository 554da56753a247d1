"""Paired bootstrap intervals and three-way verdicts (experiments.stats) on synthetic data."""

import numpy as np
import pytest

from topotta_lite.experiments.stats import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    SESOI,
    bootstrap_means,
    combine_verdicts,
    contrast_test,
    effect_label,
    holm,
    holm_levels,
    paired_difference,
    protocol_mean,
    seed_for,
    stratified_bootstrap,
    three_way,
)

CLASSES = np.repeat(["brick", "bottle", "pcb"], 12)


def synthetic_pair(shift, seed, noise=0.08, classes=CLASSES):
    """Two methods on the same images: b = a - shift + noise; class levels differ."""
    rng = np.random.default_rng(seed)
    n = len(classes)
    level = {c: rng.uniform(0.2, 0.7) for c in np.unique(classes)}
    a = np.array([level[c] for c in classes]) + rng.normal(0, 0.1, n)
    b = a - shift + rng.normal(0, noise, n)
    return a, b


def test_protocol_mean_weights_every_class_once():
    values = [1.0, 0.0, 0.0, 0.0, 0.0]
    assert float(protocol_mean(values, ["a", "b", "b", "b", "b"])) == pytest.approx(0.5)
    assert float(protocol_mean(values)) == pytest.approx(0.2)  # one class: the plain mean
    both = protocol_mean([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], ["a", "b", "b"])
    assert both.tolist() == pytest.approx([0.5, 0.5])


@pytest.mark.parametrize("seed", range(5))
def test_a_known_positive_shift_holds_and_a_negative_one_does_not(seed):
    a, b = synthetic_pair(0.1, seed)
    ci = paired_difference(a, b, CLASSES, seed=seed)
    assert ci.verdict() == HOLDS and (ci.n_images, ci.n_classes) == (36, 3)
    assert paired_difference(b, a, CLASSES, seed=seed).verdict() == FAILS


def test_zero_shift_is_inconclusive_about_95_percent_of_the_time():
    runs = 300
    inconclusive = sum(
        paired_difference(*synthetic_pair(0.0, 1000 + r), CLASSES, seed=r,
                          n_boot=1000).verdict() == INCONCLUSIVE for r in range(runs))
    # a 95% interval: about 5% of the runs exclude the true difference (0) by chance; the
    # binomial spread over 300 runs is about +-1.3 points
    assert 0.90 <= inconclusive / runs <= 0.99


def test_coverage_of_a_known_nonzero_difference():
    covered = 0
    for r in range(200):
        a, b = synthetic_pair(0.03, 5000 + r)
        ci = paired_difference(a, b, CLASSES, seed=r, n_boot=1000)
        covered += ci.low <= 0.03 <= ci.high
    assert 0.89 <= covered / 200 <= 0.99


def test_the_small_sample_correction_widens_the_interval():
    a, b = synthetic_pair(0.0, 7, classes=np.repeat(["x", "y", "z"], 4))
    strata = np.repeat(["x", "y", "z"], 4)
    plain = paired_difference(a, b, strata, seed=0, correct=False)
    corrected = paired_difference(a, b, strata, seed=0)
    assert corrected.high - corrected.low > plain.high - plain.low


def test_seeded_and_deterministic():
    a, b = synthetic_pair(0.02, 3)
    one = paired_difference(a, b, CLASSES, seed=11)
    assert one == paired_difference(a, b, CLASSES, seed=11)
    other = paired_difference(a, b, CLASSES, seed=12)
    assert (one.low, one.high) != (other.low, other.high)
    assert one.estimate == other.estimate  # the estimate does not depend on the draws
    # image order inside a class does not change the estimate
    order = np.random.default_rng(0).permutation(len(a))
    assert paired_difference(a[order], b[order], CLASSES[order], seed=11).estimate == \
        pytest.approx(one.estimate)
    assert seed_for("claim", "setting") == seed_for("claim", "setting") != seed_for("claim", "x")


def test_resampling_stays_within_classes():
    # every image of a class has the same difference, the classes differ: the protocol mean
    # over classes cannot move under within-class resampling (a pooled bootstrap would)
    diff = np.repeat([0.3, -0.1, 0.1], 5)
    ci = stratified_bootstrap(diff, np.repeat(["a", "b", "c"], 5), seed=0)
    assert ci.estimate == pytest.approx(0.1)
    assert ci.low == pytest.approx(0.1) and ci.high == pytest.approx(0.1)


def test_exact_tie_is_inconclusive_and_statistics_combine_rows():
    a = np.linspace(0.2, 0.8, 12)
    tie = paired_difference(a, a, seed=0)
    assert (tie.estimate, tie.low, tie.high) == (0.0, 0.0, 0.0)
    assert tie.verdict() == INCONCLUSIVE and tie.text() == "+0.000 [+0.000, +0.000]"
    # "row 0 is best": against the better of two rows
    rows = np.stack([a + 0.05, a, a + 0.04])
    best = stratified_bootstrap(rows, None, lambda m: m[..., 0] - m[..., 1:].max(axis=-1),
                                seed=0)
    assert best.estimate == pytest.approx(0.01) and best.verdict() == HOLDS


def test_three_way_and_combine():
    assert three_way(0.001, 0.2) == HOLDS
    assert three_way(-0.2, -0.001) == FAILS
    assert three_way(-0.01, 0.01) == INCONCLUSIVE
    assert three_way(0.0, 0.1) == INCONCLUSIVE  # touching the tolerance is not above it
    assert three_way(-0.004, 0.01, tolerance=-0.005) == HOLDS
    assert three_way(1.3, 1.4, tolerance=1.25, direction="below") == FAILS
    assert combine_verdicts([HOLDS, HOLDS]) == HOLDS
    assert combine_verdicts([HOLDS, INCONCLUSIVE]) == INCONCLUSIVE
    assert combine_verdicts([INCONCLUSIVE, FAILS, HOLDS]) == FAILS
    with pytest.raises(ValueError, match="direction"):
        three_way(0, 1, direction="up")
    with pytest.raises(ValueError, match="not an interval"):
        three_way(1, 0)
    with pytest.raises(ValueError, match="verdicts"):
        combine_verdicts([])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="strata"):
        stratified_bootstrap([0.1, 0.2], ["a"])
    with pytest.raises(ValueError, match="NaN"):
        stratified_bootstrap([0.1, np.nan])
    with pytest.raises(ValueError, match="n_boot"):
        stratified_bootstrap([0.1, 0.2], n_boot=10)
    with pytest.raises(ValueError, match="level"):
        stratified_bootstrap([0.1, 0.2], level=1.5)
    with pytest.raises(ValueError, match="statistic"):
        stratified_bootstrap([[0.1, 0.2], [0.3, 0.4]])
    with pytest.raises(ValueError, match="same images"):
        paired_difference([0.1, 0.2], [0.1])


# ----------------------------------------------------------------------------- contrasts
def test_bootstrap_means_batches_equal_separate_calls():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (3, 2, 36))  # three data sets, two comparands
    point, reps = bootstrap_means(x, CLASSES, n_boot=300, seed=4)
    for d in range(3):
        p1, r1 = bootstrap_means(x[d], CLASSES, n_boot=300, seed=4)
        np.testing.assert_allclose(point[d], p1)
        np.testing.assert_allclose(reps[d], r1)
    assert point.shape == (3, 2) and reps.shape == (3, 300, 2)
    np.testing.assert_allclose(point, protocol_mean(x, CLASSES))


def test_simultaneous_intervals_cover_all_contrasts_together():
    """Three contrasts with known values: all three intervals cover them in about 95% of runs
    (each alone would cover more often: the intervals are simultaneous)."""
    cons = [[1, -1, 0, 0], [1, 0, -1, 0], [1, 0, 0, -1]]
    truth = np.array([0.02, 0.0, 0.04])
    together, alone = 0, 0
    for r in range(150):
        rng = np.random.default_rng(900 + r)
        base = rng.uniform(0.2, 0.7, 36)
        x = np.stack([base + 0.04, base + 0.02, base + 0.04, base]) + rng.normal(0, 0.08, (4, 36))
        t = contrast_test(x, CLASSES, cons, n_boot=1000, seed=r)
        inside = (t.low <= truth) & (truth <= t.high)
        together += inside.all()
        alone += inside[0]
    assert 0.89 <= together / 150 <= 0.995
    assert alone >= together


def test_contrast_test_verdict_ingredients():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.2, 0.6, 36)
    x = np.stack([base + 0.1 + rng.normal(0, 0.02, 36), base])
    t = contrast_test(x, CLASSES, [[1, -1]], ["a - b"], n_boot=2000, seed=0)
    assert t.p_holds <= 0.05 and t.p_refutes == 1.0 and t.low[0] > 0
    below = contrast_test(x, CLASSES, [[1, -1]], threshold=0.2, direction="below", n_boot=2000)
    assert below.p_holds <= 0.05 and below.high[0] < 0.2  # 0.1 is below 0.2
    # an exact tie: no interval width, and no verdict either way
    tie = contrast_test(np.stack([base, base]), CLASSES, [[1, -1]], n_boot=500)
    assert (tie.low[0], tie.high[0], tie.p_holds, tie.p_refutes) == (0.0, 0.0, 1.0, 1.0)
    # the interval ends and the p-values agree: an end beyond the threshold <=> p <= alpha
    for shift in np.linspace(-0.15, 0.05, 9):
        s = contrast_test(x + np.array([[shift], [0.0]]), CLASSES, [[1, -1]], n_boot=1000,
                          seed=2)
        assert (s.low[0] > 0) == (s.p_holds <= 0.05)
        assert (s.high[0] < 0) == (s.p_refutes <= 0.05)
    with pytest.raises(ValueError, match="columns"):
        contrast_test(x, CLASSES, [[1, -1, 0]])


def test_monte_carlo_error_of_an_end_shrinks_with_resamples():
    rng = np.random.default_rng(3)
    base = rng.uniform(0.2, 0.6, 36)
    x = np.stack([base + 0.03 + rng.normal(0, 0.05, 36), base])
    errs = []
    for b in (2000, 20000):
        t = contrast_test(x, CLASSES, [[1, -1]], n_boot=b, seed=1)
        value, err = t.end(0, "claimed")
        assert value == pytest.approx(t.low[0])
        errs.append(err)
    assert 0 < errs[1] < errs[0]
    # the seed moves the end by about that error, not more
    ends = [contrast_test(x, CLASSES, [[1, -1]], n_boot=20000, seed=s).low[0] for s in range(4)]
    assert np.ptp(ends) < 4 * errs[1]
    iv = t.interval(0, 36, 3)
    assert np.isfinite(iv.mc_low) and "±" in iv.text(mc=True)


def test_holm_and_effect_labels():
    rejected, adjusted = holm([0.01, 0.04, 0.03])
    assert rejected.tolist() == [True, False, False]
    assert adjusted.tolist() == pytest.approx([0.03, 0.06, 0.06])
    assert holm([[0.001, 0.2], [0.03, 0.04]])[0].tolist() == [[True, False], [False, False]]
    assert holm_levels([0.01, 0.04, 0.03]).tolist() == pytest.approx([0.05 / 3, 0.05, 0.025])
    assert SESOI == 0.01
    assert effect_label(0.012, 0.05) == "of interest"
    assert effect_label(-0.05, -0.02) == "of interest, against"
    assert effect_label(-0.009, 0.009) == "negligible"
    assert effect_label(0.001, 0.05) == "undetermined"
    assert effect_label(1.0, 1.2, threshold=1.25, direction="below") == "of interest"
