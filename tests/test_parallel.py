"""Experiment grids on local worker processes: same cache, same results, nothing left behind."""

from __future__ import annotations

import os

import pytest

from topotta_lite.experiments import ResultCache, run_grid
from topotta_lite.experiments.parallel import (
    bundle_specs,
    prepare_bundles,
    use_workers,
    workers_that_fit,
)


def pid_and_square(cell):
    import torch

    return {"y": cell["x"] ** 2, "pid": os.getpid(), "threads": torch.get_num_threads()}


def test_one_process_or_a_chosen_executor_starts_nothing(monkeypatch):
    monkeypatch.delenv("TOPOTTA_EXECUTOR", raising=False)
    assert use_workers(None) is None and use_workers(1) is None
    monkeypatch.setenv("TOPOTTA_EXECUTOR", "dask")
    assert use_workers(2) is None  # the caller's own cluster wins
    monkeypatch.setenv("TOPOTTA_EXECUTOR", "local")
    assert prepare_bundles([{"dataset": "embedded-2d", "category": "brick",
                             "scorer": "padim"}]) == 0  # no workers: nothing to prepare


def test_two_workers_compute_every_cell_once_in_other_processes(tmp_path, monkeypatch):
    pytest.importorskip("distributed")
    monkeypatch.setenv("TOPOTTA_EXECUTOR", "local")  # what `topotta-lite reproduce` sets
    monkeypatch.delenv("TOPOTTA_SCHEDULER", raising=False)
    cache = ResultCache(tmp_path)
    cells = [{"x": i} for i in range(6)]
    with use_workers(2) as pool:
        assert os.environ["TOPOTTA_EXECUTOR"] == "dask"
        rep = run_grid(cells, pid_and_square, cache=cache, progress=False)
        assert pool.n == 2
    assert os.environ["TOPOTTA_EXECUTOR"] == "local" and "TOPOTTA_SCHEDULER" not in os.environ
    assert rep.ok and rep.computed == 6
    assert [r["y"] for r in rep.results] == [i * i for i in range(6)]
    assert os.getpid() not in {r["pid"] for r in rep.results}  # computed by the workers
    assert {r["threads"] for r in rep.results} == {1}  # one thread each
    again = run_grid(cells, pid_and_square, cache=cache, progress=False)
    assert again.cached == 6  # the workers filled this process's cache


def test_bundle_specs_and_memory():
    cells = [{"dataset": "d", "category": c, "scorer": s, "operator": op, "size": "quick"}
             for c in ("a", "b") for s in ("padim", "patchcore") for op in ("thr", "topotta")]
    assert len(bundle_specs(cells)) == 4
    assert len(bundle_specs([*cells, {**cells[0], "feature_backbone": "randconv"}])) == 5
    gb = 2**30
    assert workers_that_fit(2, None, what="x", instead="y", available=gb) == 2  # unknown need
    assert workers_that_fit(4, gb, what="x", instead="y", available=3 * gb) == 2
    with pytest.raises(MemoryError, match="run y instead"):
        workers_that_fit(2, 2 * gb, what="x", instead="y", available=gb)
