"""Grid runner: caching, resume after failure, Dask execution, paper tables."""

import json

import pandas as pd
import pytest

from topotta_lite.experiments.grid import GridError, ResultCache, cell_key, paper_table, run_grid
from topotta_lite.experiments.tables import side_by_side

CALLS = []


def square(cell):
    CALLS.append(cell["x"])
    if cell["x"] == 3 and cell.get("fail"):
        raise RuntimeError("boom")
    return {"y": cell["x"] ** 2}


def test_key_is_order_independent_and_value_sensitive():
    assert cell_key({"a": 1, "b": [1, 2]}) == cell_key({"b": [1, 2], "a": 1})
    assert cell_key({"a": 1}) != cell_key({"a": 1.5})


def test_second_run_recomputes_nothing(tmp_path):
    cache = ResultCache(tmp_path)
    cells = [{"x": i} for i in range(5)]
    CALLS.clear()
    first = run_grid(cells, square, cache=cache, progress=False)
    assert first.computed == 5 and first.cached == 0 and CALLS == list(range(5))
    CALLS.clear()
    second = run_grid(cells, square, cache=cache, progress=False)
    assert second.computed == 0 and second.cached == 5 and CALLS == []
    assert second.results == first.results == [{"y": i * i} for i in range(5)]


def test_failure_is_reported_others_run_and_resume_finishes(tmp_path, capsys):
    cache = ResultCache(tmp_path)
    cells = [{"x": i, "fail": True} for i in range(5)]
    with pytest.raises(GridError, match=r"1 of 5 cell\(s\) failed.*RuntimeError: boom") as err:
        run_grid(cells, square, cache=cache, progress=False)  # strict: raises after every cell ran
    assert err.value.report.computed == 4
    rep = run_grid(cells, square, cache=cache, progress=False, strict=False)
    assert not rep.ok and list(rep.failures) == [3] and rep.cached == 4
    assert rep.results[3] is None and rep.results[4] == {"y": 16}
    assert "cell 3 failed: RuntimeError: boom" in capsys.readouterr().out
    # a later run (the bug fixed) only computes the missing cell
    CALLS.clear()
    fixed = run_grid(cells, lambda c: {"y": c["x"] ** 2}, cache=cache, progress=False)
    assert fixed.ok and fixed.computed == 1 and fixed.cached == 4


def test_cache_file_is_json_with_cell(tmp_path):
    cache = ResultCache(tmp_path)
    cache.put({"x": 1}, {"y": 1.0})
    stored = json.loads(cache.path({"x": 1}).read_text())
    assert stored["cell"] == {"x": 1} and stored["result"] == {"y": 1.0}
    assert stored["key"] == cache.path({"x": 1}).stem and len(stored["sha256"]) == 64
    assert {"x": 1} in cache and {"x": 2} not in cache


def test_unknown_executor(tmp_path):
    with pytest.raises(ValueError, match="unknown executor"):
        run_grid([{"x": 1}], square, cache=ResultCache(tmp_path), executor="spark", progress=False)
    with pytest.raises(ValueError, match="needs scheduler"):
        run_grid([{"x": 1}], square, cache=ResultCache(tmp_path), executor="dask", progress=False)


def test_dask_local_cluster_fills_the_same_cache(tmp_path):
    distributed = pytest.importorskip("distributed")
    cache = ResultCache(tmp_path)
    cells = [{"x": i} for i in range(6)]
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        rep = run_grid(cells, square, cache=cache, executor="dask", scheduler=cluster.scheduler_address,
                       progress=False)
    assert rep.ok and rep.computed == 6
    assert rep.results == [{"y": i * i} for i in range(6)]
    again = run_grid(cells, square, cache=cache, progress=False)
    assert again.cached == 6


def test_paper_tables_and_compare():
    lam = paper_table("table7_lambda")
    assert {"lambda", "f1", "iou"} <= set(lam.columns)
    with pytest.raises(FileNotFoundError, match="available"):
        paper_table("table4_crossmodel")
    ours = pd.DataFrame({"lambda": [0.01, 99.0], "f1": [0.5, 0.1]})
    paper = lam[(lam.dataset == "MVTec AD") & (lam.backbone == "PatchCore")][["lambda", "f1"]]
    out = side_by_side(ours, paper, on=["lambda"], metrics=["f1"])
    assert list(out.columns) == ["lambda", "f1_paper", "f1_ours"]
    assert out.loc[out["lambda"] == 99.0, "f1_paper"].isna().all()
    assert out.loc[out["lambda"] == 0.01, "f1_ours"].item() == 0.5


def test_results_version_is_part_of_the_key(tmp_path, monkeypatch):
    import topotta_lite.experiments.grid as ex

    cache = ResultCache(tmp_path)
    cache.put({"x": 1}, {"y": 1})
    assert cache.get({"x": 1}) == {"y": 1}
    monkeypatch.setattr(ex, "RESULTS_VERSION", ex.RESULTS_VERSION + 1)
    assert cache.get({"x": 1}) is None  # a bumped version never reads old results
