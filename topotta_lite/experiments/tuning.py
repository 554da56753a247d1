"""Every default chosen on the development part only, with the same budget for every operator.

The protocol
------------
The embedded benchmark has two parts that share no image (:mod:`topotta_lite.data.embedded`):
the **development** part (``embedded-2d-dev``) and the **evaluation** part (``embedded-2d``).
Everything a table or a claim reports is measured on the evaluation part; every default the
package ships was chosen here, on the development part, and nowhere else:

* the **backbone taps** of EfficientNet-Lite0 (which stage outputs the scorers read), chosen by
  the AUPRO of the score maps. The taps are a property of the *scorer*: the maps they give are
  shared by all three operators, so no operator is favoured by that choice. The criterion is
  the AUPRO of each anomalous image (its defect regions against its own nominal pixels), averaged
  over the images of a class, then over classes and scorers (:func:`tap_cell`);
* the **operators' parameters** (:data:`SEARCH_SPACES`), chosen by the mean F1 of the masks over
  the anomalous images of every 2D class, with both scorers (mean over the images of a
  (class, scorer) cell, then over cells).

**Same budget.** Each operator gets exactly :data:`BUDGET` evaluated configurations, however
many parameters it has (:func:`search_budget` checks the search spaces): THR's one parameter gets
a grid of that many values; TTT4AS and TopoTTA get a *coordinate search*
(:func:`coordinate_search`): start from the configuration listed first in the space (the defaults
shipped before this protocol existed), then sweep one parameter at a time over its values, the
others held at the best configuration so far, and keep a new value only when it scores strictly
higher. The search is deterministic (no random draw) and its order is part of the declared space.

**What is recorded.** :func:`record_tables` turns a search into the committed record:
``tuning_record`` (one row per default: the chosen value, its development score, the runner-up
value of the same sweep and its score, the command that re-derives it) and
``tuning_candidates`` (every evaluated configuration, in full). ``topotta-lite tune``
(:mod:`topotta_lite.cli.tune`) runs all of it; it is not part of ``make all``.

**The optimism.** A value chosen as the best of several on the development images looks better
there than it will elsewhere: part of its lead is the noise of those images. Notebook 13
re-measures each choice against its runner-up on the evaluation part (:func:`optimism_table`);
that function, and only it, reads evaluation images, and ``tune`` never calls it.

Examples
--------
>>> search_budget(SEARCH_SPACES["thr"]) == search_budget(SEARCH_SPACES["topotta"]) == BUDGET
True
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from topotta_lite.experiments.bundles import (
    SCORERS,
    evaluate_cell,
    load_split,
    modality_of,
    score_bundle,
)
from topotta_lite.experiments.grid import ResultCache, run_grid
from topotta_lite.outputs import TUNING_TABLES, to_markdown

__all__ = [
    "BUDGET",
    "DEV_DATASET",
    "EVAL_DATASET",
    "SEARCH_SPACES",
    "TAP_CANDIDATES",
    "TAPS",
    "Candidate",
    "Search",
    "candidates_frame",
    "coordinate_search",
    "evaluate_config",
    "evaluate_taps",
    "optimism_table",
    "package_defaults",
    "read_record",
    "record_folder",
    "record_tables",
    "search_budget",
    "tap_cell",
    "tune_operator",
    "tune_taps",
    "write_record",
]

DEV_DATASET = "embedded-2d-dev"
"""The only dataset the tuning reads."""
EVAL_DATASET = "embedded-2d"
"""The evaluation part, read only by :func:`optimism_table` (notebook 13)."""
BUDGET = 16
"""Evaluated configurations per operator."""
TAPS = "scorer"
"""The ``operator`` column of the taps' rows: a property of the scorer, shared by all operators."""

SEARCH_SPACES: dict[str, dict[str, tuple]] = {
    # one parameter: a grid of BUDGET values of k in mu + k sigma
    "thr": {"k": (3.0, 1.0, 1.5, 2.0, 2.5, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0, 8.5)},
    "ttt4as": {
        "peak_percentile": (99.0, 97.0, 98.0, 99.5),
        "neighbour_percentile": (95.0, 90.0, 98.0),
        "neg_percentile": (80.0, 50.0, 65.0, 90.0),
        "C": (1.0, 0.01, 0.1, 10.0),
        "n_negatives": (256, 64, 128, 512, 1024),
    },
    "topotta": {
        "alpha": (0.5, 0.25, 0.75),  # level inside the selected bar (pseudo-labels)
        "eai_fallback": ("sub", "sup", "union", "larger", "persistent", "none"),
        "n_points": (512, 256, 1024),  # PCES sampling: budget of grid cells
        "pos_fraction": (1.0, 0.5, 0.75),  # PCES: positive cell coverage
        "neg_dilation": (0, 1),  # PCES: negative distance from the mask, in cells
        "max_ratio": (None, 4.0),  # PCES: class cap
        "decision": ("prototype", "trim", "area"),  # PCES decision rule
    },
}
"""The declared search spaces. The first value of each parameter is the starting point of the
coordinate search (the default before this protocol); the parameters are swept in this order.
PCES's budget stops at 1024 points to bound its cost."""

TAP_CANDIDATES: tuple[tuple[int, ...], ...] = ((4, 8), (4,), (8,), (4, 16), (8, 16), (4, 8, 16))
"""Backbone taps (output strides of EfficientNet-Lite0's stages) tried on the development part;
the first one is the default before this protocol. Strides below 4 are left out: a 112 x 112
feature grid would make every operator's adaptation four times as costly."""

_TIE = 1e-9


# --------------------------------------------------------------------------------------------
# the search (pure: works with any evaluate function)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    """One evaluated configuration: ``index`` in evaluation order, the ``parameter`` its step
    swept (``""`` for the starting point), the full ``params`` and its development ``score``."""

    operator: str
    index: int
    parameter: str
    params: dict
    score: float
    n_images: int = 0


@dataclass
class Search:
    """A finished coordinate search: every candidate, and per parameter the index of the chosen
    and of the runner-up candidate of its sweep."""

    operator: str
    candidates: list[Candidate] = field(default_factory=list)
    chosen: dict[str, int] = field(default_factory=dict)
    runner_up: dict[str, int] = field(default_factory=dict)

    @property
    def best(self) -> Candidate:
        """The final configuration."""
        return self.candidates[self.chosen[list(self.chosen)[-1]]] if self.chosen else \
            self.candidates[0]


def search_budget(space: dict[str, Sequence]) -> int:
    """Configurations a coordinate search over ``space`` evaluates: ``1 + sum(len(values) - 1)``.

    Examples
    --------
    >>> search_budget({"a": (1, 2, 3), "b": ("x", "y")})
    4
    """
    if not space:
        raise ValueError("a search space needs at least one parameter")
    for name, values in space.items():
        if len(values) < 2 or len({json.dumps(v) for v in values}) != len(values):
            raise ValueError(f"parameter {name!r} needs at least two distinct values, got {values}")
    return 1 + sum(len(v) - 1 for v in space.values())


def coordinate_search(operator: str, space: dict[str, Sequence],
                      evaluate: Callable[[dict], tuple[float, int]]) -> Search:
    """Sweep one parameter at a time; keep a value only when it scores strictly higher.

    Parameters
    ----------
    operator : str
        A label stored with the candidates.
    space : dict
        Parameter -> values; the first values form the starting configuration.
    evaluate : callable
        ``params -> (score, n_images)``, higher is better.

    Returns
    -------
    Search
        :func:`search_budget` candidates. For each parameter, ``chosen`` is the best value of
        its sweep (the incumbent on a tie) and ``runner_up`` the best of the others.

    Examples
    --------
    >>> s = coordinate_search("toy", {"a": (0, 1, 2), "b": (0, 5)},
    ...                       lambda p: (-(p["a"] - 1) ** 2 + p["b"], 1))
    >>> [c.params for c in s.candidates]
    [{'a': 0, 'b': 0}, {'a': 1, 'b': 0}, {'a': 2, 'b': 0}, {'a': 1, 'b': 5}]
    >>> s.best.params, s.candidates[s.runner_up["a"]].params
    ({'a': 1, 'b': 5}, {'a': 0, 'b': 0})
    """
    search_budget(space)
    out = Search(operator)

    def run(parameter: str, params: dict) -> Candidate:
        score, n = evaluate(dict(params))
        cand = Candidate(operator, len(out.candidates), parameter, dict(params), float(score),
                         int(n))
        out.candidates.append(cand)
        return cand

    best = run("", {name: values[0] for name, values in space.items()})
    for name, values in space.items():
        step = [best] + [run(name, {**best.params, name: v}) for v in values
                         if json.dumps(v) != json.dumps(best.params[name])]
        ranked = sorted(step, key=lambda c: -c.score)  # stable: on a tie, the incumbent first
        winner = ranked[0] if ranked[0].score > best.score + _TIE else best
        others = [c for c in ranked if c is not winner]
        out.chosen[name] = winner.index
        out.runner_up[name] = others[0].index
        best = winner
    return out


# --------------------------------------------------------------------------------------------
# evaluating configurations on a part of the benchmark
# --------------------------------------------------------------------------------------------
def _require_dev(dataset: str) -> str:
    if not str(dataset).endswith("-dev"):
        raise ValueError(f"tuning reads the development part only (a '-dev' dataset such as "
                         f"{DEV_DATASET!r}), got {dataset!r}")
    return dataset


def _cells(operator: str, params: dict, *, dataset: str, classes: Sequence[str],
           scorers: Sequence[str], size: str, seed: int) -> list[dict]:
    return [{"dataset": dataset, "category": c, "scorer": s, "operator": operator,
             "params": dict(params), "size": size, "seed": int(seed)}
            for s in scorers for c in classes]


def _per_image(records: list[dict], key: str) -> dict[tuple[str, str, str], float]:
    """``(category, scorer, image) -> value`` from cell results carrying ``image_ids``."""
    out = {}
    for r in records:
        for img, v in zip(r["image_ids"], r[key]):
            out[(r["category"], r["scorer"], str(img))] = float(v)
    return out


def _protocol_score(values: dict[tuple[str, str, str], float]) -> float:
    """Mean over the images of each (class, scorer) cell, then over cells."""
    cells: dict[tuple[str, str], list[float]] = {}
    for (c, s, _), v in values.items():
        cells.setdefault((c, s), []).append(v)
    if not cells:
        raise ValueError("no anomalous image was scored")
    return float(np.mean([np.mean(v) for v in cells.values()]))


def evaluate_config(operator: str, params: dict, *, dataset: str, classes: Sequence[str],
                    scorers: Sequence[str] = SCORERS, size: str = "quick", seed: int = 0,
                    cache: ResultCache | None = None) -> dict[tuple[str, str, str], float]:
    """Per-image F1 of one operator configuration: ``(class, scorer, image) -> F1``.

    Every (class, scorer) is one cached experiment cell (:func:`evaluate_cell`), so a
    configuration is computed once. ``params`` should name every tuned parameter, so that the
    result does not depend on the package's current defaults.
    """
    cells = _cells(operator, params, dataset=dataset, classes=classes, scorers=scorers, size=size,
                   seed=seed)
    report = run_grid(cells, evaluate_cell, cache=cache, progress=False,
                      desc=f"{operator} on {dataset}")
    return _per_image(report.records(), "f1_per_image")


def tune_operator(operator: str, *, classes: Sequence[str], scorers: Sequence[str] = SCORERS,
                  size: str = "quick", seed: int = 0, dataset: str = DEV_DATASET,
                  cache: ResultCache | None = None,
                  space: dict[str, Sequence] | None = None) -> Search:
    """The coordinate search of one operator on the development part (see the module docstring).

    Raises
    ------
    ValueError
        For an unknown operator or a dataset that is not a development part.
    """
    if operator not in SEARCH_SPACES:
        raise ValueError(f"unknown operator {operator!r}; choose from {list(SEARCH_SPACES)}")
    _require_dev(dataset)

    def evaluate(params):
        per = evaluate_config(operator, params, dataset=dataset, classes=classes, scorers=scorers,
                              size=size, seed=seed, cache=cache)
        return _protocol_score(per), len(per)

    return coordinate_search(operator, space or SEARCH_SPACES[operator], evaluate)


def _default_taps() -> tuple[int, ...]:
    from topotta_lite.features import EfficientNetLite0Backbone

    return tuple(inspect.signature(EfficientNetLite0Backbone).parameters["layers"].default)


def tap_cell(cell: dict) -> dict:
    """AUPRO of one (dataset, class, scorer) with EfficientNet-Lite0 tapped at ``cell["layers"]``.

    With the package's default taps the maps are the score bundle's (:func:`score_bundle`, shared
    with the operators); other taps fit the scorer on the class's nominal training images and score
    its test images. Returns ``image_ids`` and ``aupro_per_image`` (each anomalous image's AUPRO:
    its defect regions against its own nominal pixels) and ``aupro`` (the usual AUPRO over all
    test images of the class).
    """
    from topotta_lite.features import get_backbone
    from topotta_lite.metrics import aupro
    from topotta_lite.scorers import PaDiMScorer, PatchCoreScorer

    dataset, category, scorer = cell["dataset"], cell["category"], cell["scorer"]
    size, seed = cell.get("size", "quick"), int(cell.get("seed", 0))
    layers = tuple(int(s) for s in cell["layers"])
    if modality_of(dataset) != "2d":
        raise ValueError(f"taps are tuned on 2D images, got {dataset!r}")
    if scorer not in SCORERS:
        raise ValueError(f"unknown scorer {scorer!r}; choose one of {SCORERS}")
    if layers == _default_taps():
        b = score_bundle(dataset, category, scorer, "efficientnet_lite0", size=size, seed=seed)
        maps, gts, labels, names = b["maps"], b["gts"], b["labels"], b["names"]
    else:
        split = load_split(dataset, category, size=size, seed=seed)
        backbone = get_backbone("efficientnet_lite0", seed=seed, layers=layers)
        cls = PaDiMScorer if scorer == "padim" else PatchCoreScorer
        model = cls(backbone, seed=seed).fit(split.train)
        maps = np.asarray(model.score(split.test), np.float32)
        gts = np.stack([s.mask for s in split.test]).astype(bool)
        labels = np.array([s.label for s in split.test])
        names = np.array([s.name for s in split.test])
    idx = [i for i in range(len(maps)) if labels[i] == 1]
    return {"image_ids": [str(names[i]) for i in idx],
            "aupro_per_image": [round(aupro([maps[i]], [gts[i]]), 6) for i in idx],
            "aupro": aupro(list(maps), list(gts))}


def evaluate_taps(layers: Sequence[int], *, dataset: str, classes: Sequence[str],
                  scorers: Sequence[str] = SCORERS, size: str = "quick", seed: int = 0,
                  cache: ResultCache | None = None) -> dict[tuple[str, str, str], float]:
    """Per-image AUPRO with the given taps: ``(class, scorer, image) -> AUPRO`` (cached cells)."""
    cells = [{"kind": "taps", "dataset": dataset, "category": c, "scorer": s,
              "layers": [int(x) for x in layers], "size": size, "seed": int(seed)}
             for s in scorers for c in classes]
    report = run_grid(cells, tap_cell, cache=cache, progress=False, desc=f"taps on {dataset}")
    return _per_image(report.records(), "aupro_per_image")


def tune_taps(*, classes: Sequence[str], scorers: Sequence[str] = SCORERS, size: str = "quick",
              seed: int = 0, dataset: str = DEV_DATASET, cache: ResultCache | None = None,
              candidates: Sequence[Sequence[int]] = TAP_CANDIDATES) -> Search:
    """Choose the backbone taps by the mean per-image AUPRO of the maps (development part only).

    A grid over ``candidates`` (one parameter, ``layers``), run through
    :func:`coordinate_search` so that the record has the same form as the operators'.
    """
    _require_dev(dataset)

    def evaluate(params):
        per = evaluate_taps(params["layers"], dataset=dataset, classes=classes, scorers=scorers,
                            size=size, seed=seed, cache=cache)
        return _protocol_score(per), len(per)

    space = {"layers": tuple(tuple(int(s) for s in c) for c in candidates)}
    return coordinate_search(TAPS, space, evaluate)


# --------------------------------------------------------------------------------------------
# the record
# --------------------------------------------------------------------------------------------
def _json(value) -> str:
    return json.dumps(list(value) if isinstance(value, tuple) else value)


RECORD_COLUMNS = ("operator", "parameter", "chosen", "dev_score", "runner_up", "runner_up_score",
                  "criterion", "n_images", "chosen_id", "runner_up_id", "command")
CANDIDATE_COLUMNS = ("operator", "candidate", "parameter", "value", "dev_score", "n_images",
                     "params")


def _criterion(operator: str) -> str:
    return "mean per-image AUPRO" if operator == TAPS else "mean F1"


def record_tables(searches: Sequence[Search], command: str):
    """``(record, candidates)`` DataFrames of finished searches (see the module docstring).

    Values are JSON text (``0.5``, ``"sub"``, ``null``, ``[4, 8]``), so that the record can be
    compared with the package's defaults exactly (:func:`package_defaults`).
    """
    import pandas as pd

    rows = []
    for s in searches:
        for name in s.chosen:
            win, run = s.candidates[s.chosen[name]], s.candidates[s.runner_up[name]]
            rows.append({"operator": s.operator, "parameter": name,
                         "chosen": _json(win.params[name]), "dev_score": round(win.score, 4),
                         "runner_up": _json(run.params[name]),
                         "runner_up_score": round(run.score, 4),
                         "criterion": _criterion(s.operator), "n_images": win.n_images,
                         "chosen_id": f"{s.operator}:{win.index}",
                         "runner_up_id": f"{s.operator}:{run.index}", "command": command})
    record = pd.DataFrame(rows, columns=list(RECORD_COLUMNS))
    return record, candidates_frame(searches)


def candidates_frame(searches: Sequence[Search]):
    """Every evaluated configuration of ``searches``, one row each (``params`` as JSON)."""
    import pandas as pd

    rows = [{"operator": c.operator, "candidate": c.index, "parameter": c.parameter,
             "value": _json(c.params[c.parameter]) if c.parameter else "",
             "dev_score": round(c.score, 4), "n_images": c.n_images,
             "params": json.dumps(c.params, sort_keys=True)}
            for s in searches for c in s.candidates]
    return pd.DataFrame(rows, columns=list(CANDIDATE_COLUMNS))


def write_record(record, candidates, folder: str | Path) -> list[Path]:
    """Write ``tuning_record.csv|md`` and ``tuning_candidates.csv|md`` into ``folder``, each
    file atomically (a crash leaves the previous files whole)."""
    from topotta_lite.safe_io import atomic_write

    folder = Path(folder)
    out = []
    for name, df in zip(TUNING_TABLES, (record, candidates)):
        csv, md = folder / f"{name}.csv", folder / f"{name}.md"
        with atomic_write(csv) as tmp:
            df.to_csv(tmp, index=False, float_format="%.4f", lineterminator="\n")
        with atomic_write(md) as tmp:
            tmp.write_text(to_markdown(df), encoding="utf-8")
        out += [csv, md]
    return out


def record_folder() -> Path:
    """Where the record is read from by default: the figures' ``tables/`` folder when it holds
    one (``$TOPOTTA_FIGURES``), else the checkout's committed ``figures/tables``.

    Examples
    --------
    >>> record_folder().name
    'tables'
    """
    from topotta_lite.config import figures_dir, repo_root

    here = figures_dir() / "tables"
    return here if (here / f"{TUNING_TABLES[0]}.csv").is_file() else \
        repo_root() / "figures" / "tables"


def read_record(folder: str | Path | None = None):
    """``(record, candidates)`` as committed (default: :func:`record_folder`).

    Raises
    ------
    FileNotFoundError
        Naming the missing file and the command that writes it.
    """
    import pandas as pd

    folder = Path(folder) if folder is not None else record_folder()
    frames = []
    for name in TUNING_TABLES:
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"no tuning record at {path}: run `topotta-lite tune`")
        frames.append(pd.read_csv(path, dtype=str, keep_default_na=False))
    record, candidates = frames
    for df, cols in ((record, ("dev_score", "runner_up_score")), (candidates, ("dev_score",))):
        for c in cols:
            df[c] = df[c].astype(float)
    return record, candidates


def package_defaults() -> dict[tuple[str, str], object]:
    """The defaults the package ships for every tuned parameter, read from the operators'
    signatures and constants: ``(operator, parameter) -> value`` (taps as a list).

    Examples
    --------
    >>> ("thr", "k") in package_defaults(), package_defaults()[("scorer", "layers")] != []
    (True, True)
    """
    from topotta_lite.method.pseudolabels import DEFAULT_ALPHA
    from topotta_lite.operators import OPERATORS as OPS

    out: dict[tuple[str, str], object] = {(TAPS, "layers"): list(_default_taps())}
    for op, space in SEARCH_SPACES.items():
        sig = inspect.signature(OPS[op]).parameters
        for name in space:
            value = sig[name].default
            if op == "topotta" and name == "alpha" and value is None:
                value = DEFAULT_ALPHA
            out[(op, name)] = value
    return out


# --------------------------------------------------------------------------------------------
# the optimism: development gain vs evaluation gain (notebook 13; reads the evaluation part)
# --------------------------------------------------------------------------------------------
def _paired(a: dict, b: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image (averaged over scorers): the two values and the image's class."""
    keys = sorted(set(a) & set(b))
    if len(keys) != len(a) or len(keys) != len(b):
        raise ValueError("the two configurations were not scored on the same images")
    by_image: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for c, _s, img in keys:
        by_image.setdefault((c, img), []).append((a[(c, _s, img)], b[(c, _s, img)]))
    items = sorted(by_image.items())
    va = np.array([np.mean([x for x, _ in v]) for _, v in items])
    vb = np.array([np.mean([y for _, y in v]) for _, v in items])
    return va, vb, np.array([c for (c, _), _ in items])


def optimism_table(record, candidates, *, classes: Sequence[str],
                   scorers: Sequence[str] = SCORERS, size: str = "quick", seed: int = 0,
                   dataset: str = EVAL_DATASET, cache: ResultCache | None = None,
                   include_taps: bool = True, n_boot: int = 4000):
    """Each tuned choice re-measured on the evaluation part: its gain over the runner-up there,
    next to its development gain.

    One row per record row (the chosen configuration of a sweep against the runner-up of the
    same sweep, the two exactly as the search evaluated them), plus one row per operator for all
    its choices together (the final configuration against the starting one). ``eval_gain`` is the
    protocol mean of the per-image differences (F1, or AUPRO for the taps), ``eval_low`` /
    ``eval_high`` a 95% paired bootstrap interval resampling images within classes
    (:func:`topotta_lite.experiments.stats.paired_difference`, which calls
    :func:`~topotta_lite.experiments.stats.stratified_bootstrap`); an image's value is its mean
    over the scorers. ``dev_gain`` comes from the record, measured on the development part with
    every class and both scorers.
    """
    import pandas as pd

    from topotta_lite.experiments.stats import paired_difference, seed_for

    params = {row.operator + ":" + str(row.candidate): json.loads(row.params)
              for row in candidates.itertuples()}
    scores = {row.operator + ":" + str(row.candidate): float(row.dev_score)
              for row in candidates.itertuples()}
    pairs = []
    for row in record.itertuples():
        if row.operator == TAPS and not include_taps:
            continue
        pairs.append((f"{row.operator}.{row.parameter}", row.operator, row.chosen, row.runner_up,
                      row.chosen_id, row.runner_up_id))
    for op in dict.fromkeys(record["operator"]):
        if op == TAPS:
            continue
        ids = [k for k in params if k.startswith(op + ":")]
        final = record[record["operator"] == op]["chosen_id"].iloc[-1]
        pairs.append((f"{op}.all", op, "tuned", "starting point", final,
                      min(ids, key=lambda k: int(k.split(":")[1]))))
    memo: dict[str, dict] = {}

    def per_image(op, cid):
        if cid not in memo:
            p = params[cid]
            memo[cid] = (evaluate_taps(p["layers"], dataset=dataset, classes=classes,
                                       scorers=scorers, size=size, seed=seed, cache=cache)
                         if op == TAPS else
                         evaluate_config(op, p, dataset=dataset, classes=classes, scorers=scorers,
                                         size=size, seed=seed, cache=cache))
        return memo[cid]

    rows = []
    for choice, op, chosen, alt, cid, aid in pairs:
        a, b, strata = _paired(per_image(op, cid), per_image(op, aid))
        ci = paired_difference(a, b, strata, n_boot=n_boot, seed=seed_for("optimism", choice))
        rows.append({"choice": choice, "operator": op, "chosen": chosen, "alternative": alt,
                     "metric": "AUPRO" if op == TAPS else "F1",
                     "dev_gain": round(scores[cid] - scores[aid], 4),
                     "eval_gain": ci.estimate, "eval_low": ci.low, "eval_high": ci.high,
                     "n_images": ci.n_images})
    out = pd.DataFrame(rows, columns=["choice", "operator", "chosen", "alternative", "metric",
                                      "dev_gain", "eval_gain", "eval_low", "eval_high",
                                      "n_images"])
    out["optimism"] = (out["dev_gain"] - out["eval_gain"]).round(4)
    return out
