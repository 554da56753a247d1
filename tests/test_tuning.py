"""The development / evaluation protocol: tuning reads the development part only, every operator
gets the same budget, the committed record is what the package ships, and the optimism table."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from topotta_lite import cli
from topotta_lite.experiments import tuning
from topotta_lite.experiments.tuning import (
    BUDGET,
    SEARCH_SPACES,
    TAP_CANDIDATES,
    Candidate,
    Search,
    coordinate_search,
    package_defaults,
    read_record,
    record_tables,
    search_budget,
    write_record,
)

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "figures" / "tables"


# ----------------------------------------------------------------------------- the search


def test_every_operator_gets_the_same_budget():
    assert {op: search_budget(space) for op, space in SEARCH_SPACES.items()} == {
        op: BUDGET for op in SEARCH_SPACES}
    assert set(SEARCH_SPACES) == {"thr", "ttt4as", "topotta"}
    # the parameters the brief names are all searched
    assert set(SEARCH_SPACES["topotta"]) >= {"alpha", "eai_fallback", "n_points", "pos_fraction",
                                             "neg_dilation", "max_ratio", "decision"}
    assert set(SEARCH_SPACES["ttt4as"]) >= {"peak_percentile", "neg_percentile", "C",
                                            "n_negatives"}
    assert list(SEARCH_SPACES["thr"]) == ["k"]
    assert len(TAP_CANDIDATES) == len(set(TAP_CANDIDATES)) >= 2


def test_every_searched_value_is_accepted_by_its_operator():
    from topotta_lite.operators import OPERATORS

    for op, space in SEARCH_SPACES.items():
        for name, values in space.items():
            for v in values:
                OPERATORS[op](**{name: v})  # a bad value would raise ValueError


def test_coordinate_search_spends_its_budget_and_keeps_ties_with_the_incumbent():
    calls = []

    def evaluate(p):
        calls.append(dict(p))
        # a peak at a=2, b does nothing (every b ties), c prefers "z"
        return -abs(p["a"] - 2) + (0.5 if p["c"] == "z" else 0.0), 7

    space = {"a": (0, 1, 2, 3), "b": (10, 20), "c": ("x", "y", "z")}
    s = coordinate_search("toy", space, evaluate)
    assert len(s.candidates) == len(calls) == search_budget(space) == 1 + 3 + 1 + 2
    assert all(set(c.params) == set(space) for c in s.candidates)  # every value explicit
    assert [c.index for c in s.candidates] == list(range(len(calls)))
    chosen = {k: s.candidates[i].params[k] for k, i in s.chosen.items()}
    assert chosen == {"a": 2, "b": 10, "c": "z"}  # b: a tie keeps the starting value
    assert s.candidates[s.runner_up["a"]].params["a"] in (1, 3)
    assert s.candidates[s.runner_up["b"]].params["b"] == 20
    assert s.best.params == {"a": 2, "b": 10, "c": "z"} and s.best.n_images == 7
    # the runner-up is the best of the sweep's other values
    for name in space:
        win = s.candidates[s.chosen[name]]
        run = s.candidates[s.runner_up[name]]
        step = [c for c in s.candidates if c.parameter == name] + [win]
        assert run.score == max(c.score for c in step if c is not win)
        assert win.score >= run.score


def test_search_spaces_are_checked():
    with pytest.raises(ValueError, match="two distinct"):
        search_budget({"a": (1,)})
    with pytest.raises(ValueError, match="two distinct"):
        search_budget({"a": (1, 1)})
    with pytest.raises(ValueError, match="at least one"):
        search_budget({})


def test_tuning_refuses_the_evaluation_part():
    for bad in ("embedded-2d", "mvtec_ad"):
        with pytest.raises(ValueError, match="development part"):
            tuning.tune_operator("thr", classes=["brick"], dataset=bad)
        with pytest.raises(ValueError, match="development part"):
            tuning.tune_taps(classes=["brick"], dataset=bad)
    with pytest.raises(ValueError, match="unknown operator"):
        tuning.tune_operator("otsu", classes=["brick"])


# ----------------------------------------------------------------------------- the record


def _toy_searches():
    a = Search("thr", [Candidate("thr", 0, "", {"k": 3.0}, 0.30, 4),
                       Candidate("thr", 1, "k", {"k": 2.0}, 0.35, 4),
                       Candidate("thr", 2, "k", {"k": 4.0}, 0.20, 4)],
               {"k": 1}, {"k": 0})
    b = Search("scorer", [Candidate("scorer", 0, "", {"layers": [4, 8]}, 0.9, 4),
                          Candidate("scorer", 1, "layers", {"layers": [8]}, 0.8, 4)],
               {"layers": 0}, {"layers": 1})
    return [b, a]


def test_record_round_trip(tmp_path):
    record, candidates = record_tables(_toy_searches(), "topotta-lite tune --size smoke")
    assert record["chosen"].tolist() == ["[4, 8]", "2.0"]
    assert record["runner_up"].tolist() == ["[8]", "3.0"]
    assert record["dev_score"].tolist() == [0.9, 0.35]
    assert record["criterion"].tolist() == ["mean per-image AUPRO", "mean F1"]
    assert len(candidates) == 5 and candidates["value"].iloc[0] == ""
    paths = write_record(record, candidates, tmp_path)
    assert sorted(p.name for p in paths) == ["tuning_candidates.csv", "tuning_candidates.md",
                                             "tuning_record.csv", "tuning_record.md"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    rec, cand = read_record(tmp_path)
    assert rec["chosen"].tolist() == record["chosen"].tolist()
    assert rec["dev_score"].tolist() == record["dev_score"].tolist()
    assert json.loads(cand["params"].iloc[1]) == {"layers": [8]}
    with pytest.raises(FileNotFoundError, match="topotta-lite tune"):
        read_record(tmp_path / "nowhere")


def test_a_failed_write_leaves_the_previous_record_whole(tmp_path, monkeypatch):
    record, candidates = record_tables(_toy_searches(), "cmd")
    write_record(record, candidates, tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    class Broken(pd.DataFrame):
        def to_csv(self, *a, **k):
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_record(Broken(record), candidates, tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_the_package_ships_the_committed_record():
    """Every default the package ships (read from the operators' signatures and constants) is
    the value the development part chose, as committed in figures/tables/tuning_record.csv."""
    record, candidates = read_record(COMMITTED)
    shipped = package_defaults()
    recorded = {(r.operator, r.parameter): json.loads(r.chosen) for r in record.itertuples()}
    assert set(recorded) == set(shipped)
    mismatch = {k: (shipped[k], v) for k, v in recorded.items() if shipped[k] != v}
    assert not mismatch, f"(shipped, chosen on the development part): {mismatch}"
    # the record is a full search at the canonical settings, with the declared spaces
    assert set(record["command"]) == {"topotta-lite tune --size quick --seed 0"}
    counts = candidates.groupby("operator").size().to_dict()
    assert counts == {"scorer": len(TAP_CANDIDATES), **{op: BUDGET for op in SEARCH_SPACES}}
    for op, space in SEARCH_SPACES.items():
        rows = candidates[candidates["operator"] == op]
        first = json.loads(rows.iloc[0]["params"])
        assert first == {k: v[0] for k, v in space.items()}
    # the chosen value is the best of its sweep, the runner-up the second
    for r in record.itertuples():
        assert r.dev_score >= r.runner_up_score
    # the same defaults are the ones the building blocks use on their own
    from topotta_lite.method.fusion import fuse
    from topotta_lite.method.pces import DEFAULT_SAMPLING, PCES

    assert inspect.signature(fuse).parameters["fallback"].default == recorded[
        ("topotta", "eai_fallback")]
    for name in ("n_points", "pos_fraction", "neg_dilation", "max_ratio"):
        assert DEFAULT_SAMPLING[name] == recorded[("topotta", name)]
    assert inspect.signature(PCES).parameters["decision"].default == recorded[
        ("topotta", "decision")]


def test_package_defaults_follow_the_signatures(monkeypatch):
    from topotta_lite.operators import thr

    monkeypatch.setattr(thr.THR.__init__, "__defaults__", (9.5,))
    assert package_defaults()[("thr", "k")] == 9.5


# ----------------------------------------------------------------------------- the optimism


def test_paired_values_average_the_scorers_and_keep_the_classes():
    a = {("brick", "padim", "crack_000"): 0.2, ("brick", "patchcore", "crack_000"): 0.4,
         ("nut", "padim", "scratch_000"): 1.0, ("nut", "patchcore", "scratch_000"): 0.0}
    b = {k: 0.1 for k in a}
    va, vb, strata = tuning._paired(a, b)
    assert np.allclose(va, [0.3, 0.5]) and np.allclose(vb, [0.1, 0.1])
    assert strata.tolist() == ["brick", "nut"]
    with pytest.raises(ValueError, match="same images"):
        tuning._paired(a, {k: 0.1 for k in list(a)[:2]})


def test_optimism_table_compares_the_recorded_pairs(monkeypatch):
    """Each record row re-measures its two candidates; `<op>.all` compares the final one with
    the starting point; the evaluation dataset is the one asked for."""
    record, candidates = record_tables(_toy_searches(), "cmd")
    images = [("brick", s, f"crack_{i:03d}") for s in ("padim", "patchcore") for i in range(6)]
    images += [("nut", s, f"scratch_{i:03d}") for s in ("padim", "patchcore") for i in range(6)]
    asked = []

    def fake_config(op, params, *, dataset, **ctx):
        asked.append((dataset, op, params["k"]))
        gain = {2.0: 0.05, 3.0: 0.0, 4.0: -0.1}[params["k"]]
        return {key: 0.5 + gain + 0.01 * (hash(key) % 3) for key in images}

    def fake_taps(layers, *, dataset, **ctx):
        asked.append((dataset, "taps", tuple(layers)))
        return {key: 0.8 - 0.1 * (len(layers) == 1) for key in images}

    monkeypatch.setattr(tuning, "evaluate_config", fake_config)
    monkeypatch.setattr(tuning, "evaluate_taps", fake_taps)
    opt = tuning.optimism_table(record, candidates, classes=["brick", "nut"], n_boot=200)
    assert opt["choice"].tolist() == ["scorer.layers", "thr.k", "thr.all"]
    assert {d for d, *_ in asked} == {"embedded-2d"}
    assert opt["dev_gain"].tolist() == [pytest.approx(0.1), pytest.approx(0.05), pytest.approx(0.05)]
    assert opt["eval_gain"].tolist() == [pytest.approx(0.1), pytest.approx(0.05),
                                         pytest.approx(0.05)]
    assert (opt["eval_low"] <= opt["eval_gain"]).all() and (opt["eval_gain"] <= opt["eval_high"]).all()
    assert opt["n_images"].tolist() == [12, 12, 12]  # images, each averaged over the two scorers
    assert opt["metric"].tolist() == ["AUPRO", "F1", "F1"]
    assert np.allclose(opt["optimism"], opt["dev_gain"] - opt["eval_gain"], atol=1e-4)
    no_taps = tuning.optimism_table(record, candidates, classes=["brick", "nut"], n_boot=200,
                                    include_taps=False)
    assert no_taps["choice"].tolist() == ["thr.k", "thr.all"]


# ----------------------------------------------------------------------------- the command


def test_tune_show_and_bad_options(capsys):
    assert cli.main(["tune", "--show"]) == 0
    out = capsys.readouterr().out
    assert f"{BUDGET} evaluated configurations per operator" in out and "eai_fallback" in out
    assert cli.main(["tune", "--classes", "carpet"]) == 2
    assert "carpet" in capsys.readouterr().err


def _fake(monkeypatch, taps=(4, 8)):
    seen = []

    def fake_taps(**ctx):
        seen.append(("taps", ctx))
        return Search("scorer", [Candidate("scorer", 0, "", {"layers": list(taps)}, 0.9, 4),
                                 Candidate("scorer", 1, "layers", {"layers": [8]}, 0.8, 4)],
                      {"layers": 0}, {"layers": 1})

    def fake_operator(op, **ctx):
        seen.append((op, ctx))
        name = next(iter(SEARCH_SPACES[op]))
        v0, v1 = SEARCH_SPACES[op][name][:2]
        return Search(op, [Candidate(op, 0, "", {name: v0}, 0.5, 4),
                           Candidate(op, 1, name, {name: v1}, 0.4, 4)], {name: 0}, {name: 1})

    monkeypatch.setattr(tuning, "tune_taps", fake_taps)
    monkeypatch.setattr(tuning, "tune_operator", fake_operator)
    return seen


def test_a_trial_run_never_replaces_the_committed_record(tmp_path, monkeypatch):
    figs = tmp_path / "figures"
    monkeypatch.setenv("TOPOTTA_FIGURES", str(figs))
    monkeypatch.setattr("topotta_lite.config.scratch_dir", lambda: tmp_path / "scratch")
    seen = _fake(monkeypatch, taps=package_defaults()[("scorer", "layers")])
    assert cli.main(["tune", "--size", "smoke", "--classes", "brick"]) == 0
    assert not (figs / "tables" / "tuning_record.csv").exists()
    (folder,) = (tmp_path / "scratch" / "tune").iterdir()
    assert folder.name.startswith("smoke-seed0-")
    rec = pd.read_csv(folder / "tuning_record.csv")
    assert set(rec["command"]) == {"topotta-lite tune --size smoke --seed 0 --classes brick"}
    assert [s for s, _ in seen] == ["taps", "thr", "ttt4as", "topotta"]
    assert all(ctx["classes"] == ["brick"] and ctx["size"] == "smoke" for _, ctx in seen)
    # the canonical settings write the record where it is committed
    assert cli.main(["tune"]) == 0
    rec = pd.read_csv(figs / "tables" / "tuning_record.csv")
    assert set(rec["command"]) == {"topotta-lite tune --size quick --seed 0"}


def test_operators_wait_for_the_shipped_taps(tmp_path, monkeypatch, capsys):
    seen = _fake(monkeypatch, taps=(8, 16))
    assert package_defaults()[("scorer", "layers")] != [8, 16]
    assert cli.main(["tune", "--out", str(tmp_path)]) == 3
    assert "set the default `layers`" in capsys.readouterr().err
    assert [s for s, _ in seen] == ["taps"] and not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- must show


def _guarded(fn, what):
    sig = inspect.signature(fn)

    def wrapped(*args, **kwargs):
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        if bound.arguments["part"] != "dev":
            raise AssertionError(f"tuning asked {what} for the {bound.arguments['part']!r} part")
        return fn(*args, **kwargs)

    return wrapped


def test_tune_never_reads_an_evaluation_image(tmp_path, monkeypatch):
    """`topotta-lite tune` (smoke size, both stages, every operator) with every way to an image
    instrumented: generating a sample, reading a cached class, building a cache folder, reading a
    photograph's half. Any request for the evaluation part fails the run; afterwards nothing of
    the evaluation part exists in the data cache, and every score bundle and result cell holds
    the development part."""
    from topotta_lite.data import embedded, textures

    data, cache = tmp_path / "data", tmp_path / "cache"
    monkeypatch.setenv("TOPOTTA_DATA", str(data))
    monkeypatch.setenv("TOPOTTA_CACHE", str(cache))
    for name in ("_raw_sample", "_load_class", "build_embedded", "load_embedded"):
        monkeypatch.setattr(embedded, name, _guarded(getattr(embedded, name), name))
    monkeypatch.setattr(textures, "_read", _guarded(textures._read, "a photograph's pixels"))
    monkeypatch.setattr(textures, "_photo", _guarded(textures._photo, "a photograph"))
    import topotta_lite.data as data_pkg

    monkeypatch.setattr(data_pkg, "load_embedded", embedded.load_embedded)
    # the guard itself works
    with pytest.raises(AssertionError, match="eval"):
        embedded.load_embedded("2d", ["brick"], size="smoke", root=tmp_path / "probe")

    out = tmp_path / "out"
    base = ["tune", "--size", "smoke", "--classes", "brick", "--scorers", "patchcore", "--out",
            str(out)]
    # in two stages, so that the smoke size's own taps preference cannot stop the run
    assert cli.main([*base, "--stage", "taps"]) == 0
    _, candidates = read_record(out)
    assert candidates.groupby("operator").size().to_dict() == {"scorer": len(TAP_CANDIDATES)}
    assert cli.main([*base, "--stage", "operators"]) == 0
    _, candidates = read_record(out)
    assert candidates.groupby("operator").size().to_dict() == {op: BUDGET for op in SEARCH_SPACES}

    folders = sorted(p.relative_to(data).as_posix() for p in data.glob("*/*") if p.is_dir())
    assert folders == ["2d/smoke-seed0-dev"]
    bundles = list((cache / "bundles").glob("*.npz"))
    assert bundles
    for path in bundles:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["__meta__"]))
        assert meta["cell"]["dataset"] == "embedded-2d-dev"
    entries = [p for p in cache.glob("??/*.json")]
    assert len(entries) == len(TAP_CANDIDATES) + BUDGET * len(SEARCH_SPACES)
    for path in entries:
        assert json.loads(path.read_text())["cell"]["dataset"] == "embedded-2d-dev"
