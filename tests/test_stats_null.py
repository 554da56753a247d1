"""Known error rates: every verdict procedure of the claims, simulated under its null.

For each procedure a claim uses (:data:`topotta_lite.experiments.claims.procedures.PROCEDURES`,
with the claim's side and threshold), 200 synthetic data sets shaped like our per-image tables
(6 classes x 24 images, a class level and an image effect shared by the comparands, per-comparand
noise, some images scoring 0) have equal means (every contrast exactly at the claim's threshold).
The procedure may say "holds" in at most 5% of them, and "does not hold" in at most 5%. The
simulation is vectorised (all data sets resampled in one call) and seeded; two deliberately naive
procedures show that it can fail.
"""

import numpy as np
import pytest

from topotta_lite.experiments.claims import CLAIMS
from topotta_lite.experiments.claims.procedures import PROCEDURES, contrasts
from topotta_lite.experiments.stats import ALPHA, bootstrap_means, contrast_pvalues, holm

N_SETS = 200
N_BOOT = 1000  # the error rate is the procedure's; resamples only add Monte-Carlo noise
CLASSES = np.repeat([f"c{i}" for i in range(6)], 24)
SHAPES = {"difference": 2, "beats_all": 5, "below_all": 3, "steps": 5, "paired_gaps": 4,
          "gap_change": 4, "mean_gap_change": 10}
"""Comparands per procedure (as many as the claims use)."""
LIMIT = 0.05
SEED = 2026  # one seed for every procedure (nominal one-sided error: 2.5%)


def null_tables(k: int, seed: int, lead: tuple = ()) -> np.ndarray:
    """``(*lead, N_SETS, k, n_images)`` per-image scores with equal means over the comparands."""
    rng = np.random.default_rng(seed)
    n = len(CLASSES)
    shape = (*lead, N_SETS)
    level = rng.uniform(0.15, 0.6, (*shape, 6))[..., np.searchsorted(np.unique(CLASSES),
                                                                     CLASSES)]
    base = level + rng.normal(0, 0.15, (*shape, n))
    x = np.clip(base[..., None, :] + rng.normal(0, 0.08, (*shape, k, n)), 0, 1)
    return np.where(rng.random(x.shape) < 0.08, 0.0, x)  # missed defects: F1 = 0


def _procedure(name: str, k: int):
    names = [f"v{j}" for j in range(k)]
    return contrasts(name, names, n_low=2 if name == "mean_gap_change" else None)[0]


def _at_threshold(x: np.ndarray, cons: np.ndarray, threshold: float) -> np.ndarray:
    """Shift comparand 0 so that every contrast's mean sits exactly at the threshold (only the
    single-contrast procedures have a non-zero threshold)."""
    if threshold == 0:
        return x
    assert len(cons) == 1 and cons[0, 0] != 0
    out = x.copy()
    out[..., 0, :] += threshold / cons[0, 0]
    return out


def rates(name: str, direction: str, threshold: float, seed: int) -> tuple[float, float]:
    """Share of the null data sets in which the procedure says holds / does not hold."""
    k = SHAPES[name]
    cons = _procedure(name, k)
    x = _at_threshold(null_tables(k, seed), cons, threshold)
    point, reps = bootstrap_means(x, CLASSES, n_boot=N_BOOT, seed=seed)
    p_holds, p_refutes = contrast_pvalues(point, reps, cons, threshold, direction)
    return float(np.mean(p_holds <= ALPHA)), float(np.mean(p_refutes <= ALPHA))


USED = sorted({(c.statistic, c.direction, round(c.threshold, 12)) for c in CLAIMS})


def test_every_procedure_the_claims_use_is_simulated():
    assert {s for s, _, _ in USED} <= set(SHAPES) == set(PROCEDURES)


@pytest.mark.parametrize("statistic,direction,threshold", USED,
                         ids=[f"{s}-{d}-{t:g}" for s, d, t in USED])
def test_each_procedure_errs_in_at_most_5_percent_of_null_data_sets(statistic, direction,
                                                                    threshold):
    holds, refutes = rates(statistic, direction, threshold, seed=SEED)
    assert holds <= LIMIT, f"{statistic}: says 'holds' in {holds:.1%} of null data sets"
    assert refutes <= LIMIT, f"{statistic}: says 'does not hold' in {refutes:.1%}"


def test_a_claim_over_several_settings_with_holm():
    """Every setting null: "holds in every setting" and "refuted in one (after Holm)"."""
    m, cons = 6, _procedure("difference", 2)
    x = null_tables(2, seed=3, lead=(m,))                        # (m, N_SETS, 2, n)
    point, reps = bootstrap_means(x, CLASSES, n_boot=N_BOOT, seed=3)
    p_holds, p_refutes = contrast_pvalues(point, reps, cons)     # (m, N_SETS)
    holds = np.all(p_holds <= ALPHA, axis=0)
    refuted = holm(p_refutes.T, ALPHA)[0].any(axis=-1)
    assert holds.mean() <= LIMIT and refuted.mean() <= LIMIT
    # the simulation can fail: refuting on any unadjusted setting errs far more often
    naive = (p_refutes <= ALPHA).any(axis=0)
    assert naive.mean() > LIMIT


def test_the_old_best_at_statistic_fails_the_simulation():
    """"Claimed value minus the best other one", with a percentile interval, refutes a true
    tie far too often: the maximum of noisy equals is biased upwards."""
    x = null_tables(5, seed=11)
    point, reps = bootstrap_means(x, CLASSES, n_boot=N_BOOT, seed=11)
    gap = reps[..., 0] - reps[..., 1:].max(axis=-1)              # (N_SETS, B)
    naive_refutes = np.quantile(gap, 1 - ALPHA / 2, axis=-1) < 0
    assert naive_refutes.mean() > LIMIT
    assert rates("beats_all", "above", 0.0, seed=11)[1] <= LIMIT


def test_the_procedures_have_power():
    """A real gain of five smallest effects of interest is found in most data sets."""
    cons = _procedure("difference", 2)
    x = null_tables(2, seed=5)
    x[:, 0, :] += 0.05
    point, reps = bootstrap_means(x, CLASSES, n_boot=N_BOOT, seed=5)
    p_holds, p_refutes = contrast_pvalues(point, reps, cons)
    assert np.mean(p_holds <= ALPHA) > 0.8 and np.mean(p_refutes <= ALPHA) == 0
