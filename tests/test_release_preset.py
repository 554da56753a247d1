"""``TopoTTA(preset="release")`` is the authors' released pseudo-label rule, value for value.

The rule is written again here from its description, with numpy and gudhi only: the map is
min-max normalised (not quantised), the most persistent finite bar of each filtration is taken
on the top-cell (T) complex (sublevel H1; superlevel H0, the never-dying class excluded), the
whole map is thresholded at the bar's upper value minus the release's offset, and the two masks
are intersected.
"""

from __future__ import annotations

import gudhi
import numpy as np
import pytest
from scipy import ndimage

from topotta_lite.operators import TopoTTA

DELTA_SUB, DELTA_SUP = 0.47, 0.30  # the offsets in the authors' code


def most_persistent(values: np.ndarray, dim: int):
    """(persistence, birth, death) of the longest finite bar of dimension ``dim`` (gudhi, T)."""
    bars = gudhi.CubicalComplex(top_dimensional_cells=values).persistence()
    finite = sorted(((d - b, b, d) for k, (b, d) in bars if k == dim and np.isfinite(d)),
                    reverse=True)
    if len(finite) > 1:
        assert finite[0][0] > finite[1][0], "a tie would make the rule ambiguous"
    return finite[0] if finite else None


def released_rule(psi: np.ndarray) -> np.ndarray:
    x = (psi - psi.min()) / (psi.max() - psi.min())
    masks = []
    hole = most_persistent(x, 1)  # a loop of low values around a high region
    masks.append(x >= max(0.0, hole[2] - DELTA_SUB) if hole else np.zeros(x.shape, bool))
    blob = most_persistent(-x, 0)  # a bright component, seen by gudhi on -x
    masks.append(x >= max(0.0, -blob[1] - DELTA_SUP) if blob else np.zeros(x.shape, bool))
    return masks[0] & masks[1]


def random_map(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = tuple(rng.integers(24, 72, size=2))
    psi = ndimage.gaussian_filter(rng.random(shape), rng.uniform(1.0, 4.0))
    return psi * rng.uniform(0.5, 20.0) + rng.normal()  # any range: the rule normalises


@pytest.mark.parametrize("seed", range(40))
def test_release_preset_equals_the_released_rule(seed):
    psi = random_map(seed)
    op = TopoTTA(preset="release", pces=False)
    assert op.levels is None and op.construction == "T" and op.fusion == "intersection"
    _, _, fused = op.pseudo_labels(psi)
    np.testing.assert_array_equal(fused, released_rule(psi))


def test_quantising_changes_the_pseudo_labels_the_release_does_not_quantise():
    """Why the preset keeps the values as they are: quantised, some masks move."""
    moved = 0
    for seed in range(40):
        psi = random_map(seed)
        quantised = TopoTTA(preset="release", pces=False, levels=256).pseudo_labels(psi)[2]
        moved += not np.array_equal(quantised, released_rule(psi))
    assert moved > 0
