"""The batch runner: profiles, selection, manifest, and every notebook with the smoke profile."""

import json
from pathlib import Path

import pytest

from topotta_lite import cli
from topotta_lite.cli.kernels import kernel_environment
from topotta_lite.cli.reproduce import (
    PROFILES,
    list_notebooks,
    load_profile,
    parse_value,
    reproduce,
)
from topotta_lite.config import MALLOC_TUNABLES

NOTEBOOKS = list_notebooks()


def quiet_portable_output_problems(executed: Path, forbidden: list[str]) -> list[str]:
    """Widgets (tqdm's notebook bars) and absolute paths in an executed notebook's outputs."""
    import nbformat

    problems = []
    for i, cell in enumerate(nbformat.read(executed, as_version=4).cells):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                problems.append(f"cell {i}: a widget (a progress bar?)")
            text = out.get("text", "") + "".join(str(v) for k, v in data.items()
                                                  if k.startswith("text/"))
            problems += [f"cell {i}: prints the absolute path {p!r}" for p in forbidden if p in text]
    return problems


def test_every_notebook_has_a_parameters_cell_with_profile():
    assert NOTEBOOKS, "no notebooks found"
    for nb in NOTEBOOKS:
        text = nb.read_text()
        assert '# %% tags=["parameters"]' in text, nb.name
        cell = text.split('# %% tags=["parameters"]', 1)[1].split("# %%", 1)[0]
        assert 'profile = "full"' in cell, f"{nb.name}: parameters cell must default profile to full"


def test_profiles_file_parses_and_names_existing_notebooks():
    stems = {p.stem for p in NOTEBOOKS}
    for profile in PROFILES:
        for nb in NOTEBOOKS:
            assert load_profile(profile, nb.stem)["profile"] == profile
    import tomllib

    table = tomllib.loads((NOTEBOOKS[0].parent / "profiles.toml").read_text())
    for profile, sections in table.items():
        assert profile in PROFILES
        assert set(sections) <= stems, f"profiles.toml names unknown notebooks: {set(sections) - stems}"


def test_selection_by_number_and_unknown_number():
    first = NOTEBOOKS[0]
    assert list_notebooks([first.stem[:2]]) == [first]
    assert list_notebooks([first.stem]) == [first]
    with pytest.raises(ValueError, match="no notebook matches"):
        list_notebooks(["97"])
    with pytest.raises(ValueError, match="unknown profile"):
        load_profile("huge", first.stem)


def test_parse_value():
    assert parse_value("64") == 64
    assert parse_value("1e-2") == 0.01
    assert parse_value("[1, 3]") == [1, 3]
    assert parse_value("eai") == "eai"


def test_cli_rejects_unknown_notebook(capsys):
    assert cli.main(["reproduce", "--only", "97", "--no-progress"]) == 2
    assert "no notebook matches" in capsys.readouterr().err


@pytest.mark.long
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_with_smoke_profile(notebook, tmp_path, monkeypatch):
    figs = tmp_path / "figures"
    monkeypatch.setenv("TOPOTTA_FIGURES", str(figs))
    (result,) = reproduce("smoke", [notebook.stem], build_dir=tmp_path / "build", progress=False)
    assert result.ok, f"{notebook.stem} failed: {result.error[:3000]}"
    assert result.output.exists()
    from topotta_lite.config import repo_root

    problems = quiet_portable_output_problems(result.output, [str(repo_root()), str(tmp_path)])
    assert not problems, f"{notebook.stem}: " + "; ".join(problems)
    manifest = json.loads((figs / "MANIFEST.json").read_text())
    produced = {Path(f).resolve() for f in result.files}
    listed = {(figs / k).resolve() for k, v in manifest.items() if v["notebook"] == notebook.stem}
    assert produced == listed
    for key, entry in manifest.items():
        assert (figs / key).exists()
        assert entry["profile"] == "smoke" and len(entry["sha256"]) == 64


@pytest.mark.long
def test_outputs_are_byte_reproducible(tmp_path, monkeypatch):
    """The same notebook and parameters write identical files (so manifest hashes mean something)."""
    hashes = []
    for run in ("a", "b"):
        figs = tmp_path / run
        monkeypatch.setenv("TOPOTTA_FIGURES", str(figs))
        (result,) = reproduce("smoke", ["01"], build_dir=tmp_path / f"build_{run}", progress=False)
        assert result.ok, result.error[:2000]
        manifest = json.loads((figs / "MANIFEST.json").read_text())
        hashes.append({k: v["sha256"] for k, v in manifest.items()})
    assert hashes[0] == hashes[1] and any(k.endswith(".pdf") for k in hashes[0])


def test_reproduce_sends_grid_cells_to_a_dask_cluster(tmp_path, monkeypatch):
    """`--executor dask --scheduler ADDRESS`: the notebook's cells run on the cluster's worker."""
    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv("TOPOTTA_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("TOPOTTA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("TOPOTTA_EXECUTOR", raising=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tcp", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        rc = cli.main(["reproduce", "--profile", "smoke", "--only", "09", "--no-progress",
                       "--build-dir", str(tmp_path / "build"), "--executor", "dask",
                       "--scheduler", cluster.scheduler_address])
        assert rc == 0
        prefixes = client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))
        assert "call" in prefixes, prefixes  # run_grid's per-cell task (_call) ran there
    import os

    assert "TOPOTTA_EXECUTOR" not in os.environ  # the runner leaves the environment as it was
    cached = list((tmp_path / "cache").rglob("*.json"))
    assert cached, "the cells computed on the cluster were not written to the cache"
    assert cli.main(["reproduce", "--executor", "dask", "--only", "09"]) == 2  # needs --scheduler


def test_every_notebook_pins_its_threads_in_its_import_cell():
    """Results are computed with one BLAS / OpenMP / torch thread (config.pin_threads), called
    in the first code cell after the parameters, before anything is computed."""
    for nb in NOTEBOOKS:
        text = nb.read_text()
        # the cells after the parameters cell, each starting with the rest of its "# %%" line
        cells = text.split('# %% tags=["parameters"]', 1)[1].split("\n# %%")[1:]
        first_code = next(c for c in cells if "[markdown]" not in c.splitlines()[0])
        assert "from topotta_lite.config import pin_threads" in first_code, nb.name
        assert "\npin_threads()" in first_code, nb.name


def test_the_schedule_respects_what_each_notebook_reads():
    from topotta_lite.cli.schedule import READS, dependencies, ready_order

    stems = [p.stem for p in NOTEBOOKS]
    deps = dependencies(stems)
    by_number = {s[:2]: s for s in stems}
    for stem in stems:
        reads = READS.get(stem[:2], ())
        if reads == "*":
            assert deps[stem] == set(stems) - {stem}
        else:
            assert deps[stem] == {by_number[n] for n in reads if n in by_number}
    # a whole run: every notebook starts after all it reads, whatever the number of jobs
    for jobs in (1, 2, 4):
        done, started, order = set(), set(), []
        running: list[str] = []
        while len(done) < len(stems):
            for s in ready_order(deps, done, started, longest_first=jobs > 1):
                if len(running) < jobs:
                    running.append(s)
                    started.add(s)
                    order.append(s)
            finished = running.pop(0)
            done.add(finished)
            assert deps[finished] <= done
        assert order[-1].startswith("14_") and sorted(order) == sorted(stems)
        assert order[0].startswith("06_")  # the one most others wait for starts first
    # among the notebooks equally awaited, the longest first: every notebook ranked once
    from topotta_lite.cli.schedule import LONGEST_FIRST

    assert sorted(LONGEST_FIRST) == sorted(by_number)
    after_06 = ready_order(deps, {by_number["06"]}, {by_number["06"]})
    assert after_06.index(by_number["13"]) < after_06.index(by_number["05"])
    one_at_a_time = ready_order(deps, {by_number["06"]}, {by_number["06"]}, longest_first=False)
    assert one_at_a_time[0] == by_number["07"]  # 12 and 14 wait for it: still the first
    assert one_at_a_time[1:] == sorted(one_at_a_time[1:])  # then the reading order


def test_verify_lists_moved_entries_and_timing_tables_and_writes_json(tmp_path, capsys):
    import pandas as pd

    from topotta_lite.cli.publishing import fresh_dir

    figs, build = tmp_path / "figs", tmp_path / "build"
    (figs / "tables").mkdir(parents=True)
    fresh = fresh_dir(build, "quick", figs) / "tables"
    fresh.mkdir(parents=True)
    rows = {"method": ["THR", "TopoTTA"], "f1": [0.30, 0.40]}
    pd.DataFrame(rows).to_csv(figs / "tables" / "same.csv", index=False)
    pd.DataFrame(rows).to_csv(fresh / "same.csv", index=False)
    pd.DataFrame(rows).to_csv(figs / "tables" / "t1.csv", index=False)
    pd.DataFrame({**rows, "f1": [0.30, 0.43]}).to_csv(fresh / "t1.csv", index=False)
    pd.DataFrame({"method": ["x"], "total_s": [1.0]}).to_csv(fresh / "table10_runtime.csv",
                                                              index=False)
    pd.DataFrame(rows).to_csv(figs / "tables" / "gone.csv", index=False)
    pd.DataFrame(rows).to_csv(figs / "tables" / "tuning_record.csv", index=False)
    rc = cli.main(["verify", "--figures-dir", str(figs), "--build-dir", str(build)])
    out = capsys.readouterr().out
    assert rc == 1
    assert "moved   t1: 1 entry beyond 0.002" in out
    assert "row 1 [TopoTTA] f1: published 0.4000, fresh 0.4300 (+0.0300)" in out
    assert "timing tables (wall-clock, not compared; always published afresh): table10_runtime" \
        in out
    assert "tuning tables (written by `topotta-lite tune`, not by reproduce; not compared): " \
        "tuning_record" in out
    report = json.loads((build / "quick" / "verify.json").read_text())
    status = {t["table"]: t["status"] for t in report["tables"]}
    assert status == {"same": "same", "t1": "moved", "table10_runtime": "timing",
                      "gone": "missing", "tuning_record": "tuning"}
    (moved,) = [t for t in report["tables"] if t["table"] == "t1"]
    assert moved["moved"] == [{"row": 1, "label": "TopoTTA", "column": "f1", "committed": 0.4,
                               "fresh": 0.43}]
    assert report["tolerance"] == 0.002 and report["profile"] == "quick"
    assert cli.main(["verify", "--figures-dir", str(figs), "--build-dir", str(build),
                     "--tolerance", "0.05"]) == 1  # `gone` is still missing
    (figs / "tables" / "gone.csv").unlink()
    assert cli.main(["verify", "--figures-dir", str(figs), "--build-dir", str(build),
                     "--tolerance", "0.05"]) == 0
    assert cli.main(["verify", "--build-dir", str(tmp_path / "empty")]) == 2
    assert "no fresh tables" in capsys.readouterr().err


def test_kernels_get_the_tuned_allocator_unless_the_user_chose_another(monkeypatch):
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    env = kernel_environment()
    assert env["GLIBC_TUNABLES"] == MALLOC_TUNABLES and env["OMP_NUM_THREADS"] == "1"
    assert "glibc.malloc.trim_threshold=" in MALLOC_TUNABLES
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.check=0")
    assert kernel_environment()["GLIBC_TUNABLES"] == "glibc.malloc.check=0"
    assert "GLIBC_TUNABLES" not in kernel_environment({"GLIBC_TUNABLES": None})
