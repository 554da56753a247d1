"""Outputs and caches that never lie (issue 14): each test reproduces one way a user broke things
and asserts the fixed behaviour.

The runner tests use tiny fixture notebooks (written below) instead of the real ones, so that each
run costs one kernel start.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image

from topotta_lite import cli
from topotta_lite.cli.reproduce import (
    ParameterError,
    declared_parameters,
    list_notebooks,
    parse_value,
    resolve_parameters,
)
from topotta_lite.config import cache_dir
from topotta_lite.data.loaders import dataset_fingerprint, load_mvtec_ad, read_rgb
from topotta_lite.experiments.bundles import bundle_path, evaluate_cell, score_bundle
from topotta_lite.experiments.grid import CorruptCacheWarning, ResultCache, run_grid
from topotta_lite.operators import THR, TTT4AS, TopoTTA
from topotta_lite.outputs import MANIFEST, TABLE_TOLERANCE, compare_tables, read_manifest, update_manifest
from topotta_lite.safe_io import file_lock, remove_stale_temporaries, temporary_name

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable

# ============================================================================ fixture notebooks
HEADER = """\
# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

"""

WRITER = HEADER + '''\
# %% tags=["parameters"]
profile = "full"
value = 1
names = ["a"]
data_root = None
delay = 0.0
fail = False

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd

from topotta_lite.outputs import savefig, use_style, write_table

use_style()
fig, ax = plt.subplots(figsize=(2, 2))
ax.plot([0, value], [0, 1])
savefig(fig, "t_fig")
time.sleep(delay)
write_table(pd.DataFrame({"value": [value], "names": [",".join(names)],
                          "data_root": [str(data_root)]}), "t_table")
time.sleep(delay)

# %%
if fail:
    raise ValueError(f"deliberate failure with value={value}")
'''

SLEEPER = HEADER + '''\
# %% tags=["parameters"]
profile = "full"
delay = 60.0

# %%
import time

import pandas as pd

from topotta_lite.outputs import write_table

time.sleep(delay)
write_table(pd.DataFrame({"slept": [delay]}), "slept")
'''


@pytest.fixture(scope="module")
def notebooks(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("notebooks")
    (folder / "01_write.py").write_text(WRITER)
    (folder / "02_sleep.py").write_text(SLEEPER)
    (folder / "profiles.toml").write_text("[smoke.01_write]\nvalue = 2\n")
    return folder


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOPOTTA_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def _runner(notebooks: Path, *args: str) -> list[str]:
    return [PY, "-c", "import sys; from topotta_lite.cli.main import main; sys.exit(main(sys.argv[1:]))",
            "reproduce", "--notebooks-dir", str(notebooks),
            "--profile", "smoke", "--no-progress", *args]


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def published(notebooks, tmp_path_factory) -> Path:
    """A figures folder after one successful profile run of the writer notebook."""
    root = tmp_path_factory.mktemp("published")
    out = subprocess.run(_runner(notebooks, "--only", "01", "--figures-dir", str(root / "figs"),
                                 "--build-dir", str(root / "build")),
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 file(s) published" in out.stdout
    return root / "figs"


def _copy(published: Path, tmp_path: Path) -> Path:
    figs = tmp_path / "figs"
    shutil.copytree(published, figs)
    return figs


# ============================================================================ 1, 2: failures publish nothing
def test_a_failed_notebook_keeps_every_published_file_and_names_its_error(notebooks, published,
                                                                          tmp_path):
    figs = _copy(published, tmp_path)
    before = _snapshot(figs)
    manifest = json.loads((figs / MANIFEST).read_text())
    assert manifest["tables/t_table.csv"]["profile_run"] is True
    out = subprocess.run(_runner(notebooks, "--only", "01", "--figures-dir", str(figs),
                                 "--build-dir", str(tmp_path / "build"),
                                 "-p", "fail", "true", "-p", "value", "7"),
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    text = out.stdout + out.stderr
    assert "ValueError: deliberate failure with value=7" in text  # type and message
    assert "at cell In [4]" in text and "nothing published" in text  # the cell (parameters: 1, 2)
    executed = tmp_path / "build" / "smoke" / "01_write.ipynb"
    assert f"executed copy with the traceback: {executed}" in text and executed.exists()
    assert _snapshot(figs) == before  # every previous file byte-identical, manifest included


def test_sigkill_during_a_run_leaves_published_files_intact(notebooks, published, tmp_path):
    figs = _copy(published, tmp_path)
    before = _snapshot(figs)
    build = tmp_path / "build"
    proc = subprocess.Popen(_runner(notebooks, "--only", "01", "--figures-dir", str(figs),
                                    "--build-dir", str(build), "-p", "value", "9",
                                    "-p", "delay", "5"),
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        staged = []
        while time.time() < deadline and not staged:  # wait until the notebook has written
            staged = list(build.glob("smoke/.runs/*/01_write/figures/t_fig.png"))
            time.sleep(0.2)
        assert staged, "the notebook never staged its figure"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert _snapshot(figs) == before
    from topotta_lite.cli import reproduce as runner  # the next run clears the dead run's folder

    runner._remove_dead_runs(build / "smoke" / ".runs")
    assert not list((build / "smoke" / ".runs").iterdir())


def test_sigkill_during_an_atomic_write_never_leaves_a_partial_file(tmp_path):
    target = tmp_path / "big.bin"
    contents = [b"a" * 8_000_000, b"b" * 12_000_000]
    target.write_bytes(contents[0])
    code = textwrap.dedent(f"""
        from pathlib import Path
        from topotta_lite.safe_io import atomic_write
        i = 0
        while True:
            with atomic_write(Path({str(target)!r})) as tmp:
                tmp.write_bytes([b"a" * 8_000_000, b"b" * 12_000_000][i % 2])
            i += 1
    """)
    for delay in (0.3, 0.55, 0.8):
        proc = subprocess.Popen([PY, "-c", code], env=_env())
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert target.read_bytes() in contents  # old or new, never a mixture or a prefix
    leftovers = [p for p in tmp_path.iterdir() if p != target]

    remove_stale_temporaries(tmp_path)
    assert [p for p in tmp_path.iterdir() if p != target] == [], leftovers


@pytest.mark.parametrize("whom", ["runner", "group"])
def test_sigint_stops_the_run_and_keeps_the_notebooks_that_finished(notebooks, tmp_path, whom):
    """Ctrl-C in a terminal signals the whole group (runner and kernel); `kill -INT` only the
    runner. Either way the run stops at once, and what finished before stays published."""
    figs, build = tmp_path / "figs", tmp_path / "build"
    proc = subprocess.Popen(_runner(notebooks, "--figures-dir", str(figs), "--build-dir",
                                    str(build)),
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            if (figs / MANIFEST).exists() and list(build.glob("smoke/.runs/*/02_sleep.input.ipynb")):
                break
            time.sleep(0.2)
        time.sleep(3)  # the sleeper's kernel is busy
        if whom == "group":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGINT)
        out, _ = proc.communicate(timeout=40)  # promptly: the sleeper would take 60 s
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, out
    assert "interrupted" in out
    entries = read_manifest(figs)
    assert {v["notebook"] for v in entries.values()} == {"01_write"}, out
    assert not (figs / "tables" / "slept.csv").exists()


def test_a_corrupt_manifest_is_rebuilt_with_a_warning(tmp_path):
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "t.csv").write_text("x\n1\n")
    (tmp_path / "f.png").write_bytes(b"png")
    (tmp_path / MANIFEST).write_text('{"f.png": {"notebook": "01_x", "sha')  # truncated
    with pytest.warns(RuntimeWarning, match=r"MANIFEST\.json cannot be read"):
        update_manifest(tmp_path, "02_y", [tmp_path / "tables" / "t.csv"], {"profile": "smoke"})
    entries = json.loads((tmp_path / MANIFEST).read_text())
    assert entries["tables/t.csv"]["notebook"] == "02_y"
    assert entries["f.png"]["notebook"] is None  # rebuilt from the file, owner unknown
    assert entries["f.png"]["sha256"] == hashlib.sha256(b"png").hexdigest()


def _manifest_writer(folder: str, i: int) -> None:
    p = Path(folder) / f"f{i}.csv"
    p.write_text(f"{i}\n")
    for _ in range(20):
        update_manifest(folder, f"{i:02d}_nb", [p], {"profile": "smoke"})


def test_concurrent_manifest_updates_lose_no_entry(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_manifest_writer, args=(str(tmp_path), i)) for i in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert sorted(read_manifest(tmp_path)) == [f"f{i}.csv" for i in range(4)]


# ============================================================================ 3, 7: caches
def _square(cell):
    return {"y": cell["x"] ** 2}


def test_corrupt_and_mismatched_cache_entries_are_moved_aside_and_recomputed(tmp_path):
    cache = ResultCache(tmp_path)
    cells = [{"x": i} for i in range(5)]
    run_grid(cells, _square, cache=cache, progress=False)
    paths = [cache.path(c) for c in cells]
    paths[0].write_text(paths[0].read_text()[:20])  # truncated
    paths[1].write_bytes(b"\xff\xfe garbage \x00")  # not UTF-8
    paths[2].write_text(json.dumps({"result": {"y": 4}}))  # key-less
    paths[3].write_text(paths[4].read_text())  # another cell's entry under this key
    stored = json.loads(paths[4].read_text())
    stored["result"]["y"] = 999  # edited by hand: checksum no longer matches
    paths[4].write_text(json.dumps(stored))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep = run_grid(cells, _square, cache=cache, progress=False)
    bad = [w for w in caught if issubclass(w.category, CorruptCacheWarning)]
    assert len(bad) == 5
    for p in paths:
        assert any(str(p) in str(w.message) for w in bad), p  # each names its file
    assert [r["y"] for r in rep.results] == [0, 1, 4, 9, 16] and rep.computed == 5
    assert len(list((tmp_path / "corrupt").iterdir())) == 5
    again = run_grid(cells, _square, cache=cache, progress=False)
    assert again.cached == 5


_SLOW_LOG = None


def _slow_cell(cell):
    with open(_SLOW_LOG, "a") as fh:
        fh.write(f"{os.getpid()} {cell['x']}\n")
    time.sleep(0.3)
    return {"y": cell["x"]}


def _grid_worker(root: str, log: str, out: str) -> None:
    global _SLOW_LOG
    _SLOW_LOG = log
    rep = run_grid([{"x": i} for i in range(6)], _slow_cell, cache=ResultCache(root), progress=False)
    Path(out).write_text(json.dumps([r["y"] for r in rep.results]))


def test_concurrent_runs_compute_each_cell_once(tmp_path):
    ctx = multiprocessing.get_context("fork")
    log = tmp_path / "calls.log"
    procs = [ctx.Process(target=_grid_worker, args=(str(tmp_path / "cache"), str(log),
                                                    str(tmp_path / f"out{i}.json")))
             for i in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    calls = [line.split()[1] for line in log.read_text().splitlines()]
    assert sorted(calls) == [str(i) for i in range(6)]  # six cells, six computations in total
    assert len({line.split()[0] for line in log.read_text().splitlines()}) == 2  # shared work
    for i in range(2):
        assert json.loads((tmp_path / f"out{i}.json").read_text()) == list(range(6))


def test_per_process_temporary_names():
    names = {temporary_name("/x/a.npz", ".npz") for _ in range(50)}
    assert len(names) == 50 and all(f".{os.getpid()}." in n.name for n in names)
    with file_lock(Path("/tmp")):
        pass


def _where_is_the_cache(cell):
    return {"cache": str(cache_dir())}


def test_dask_workers_use_the_runs_cache(tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv("TOPOTTA_CACHE", str(tmp_path / "somewhere_else"))
    cache = ResultCache(tmp_path / "run_cache")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        rep = run_grid([{"i": i} for i in range(3)], _where_is_the_cache, cache=cache,
                       executor="dask", scheduler=client, progress=False)
    assert {r["cache"] for r in rep.results} == {str((tmp_path / "run_cache").absolute())}


def test_concurrent_runs_keep_their_own_logs(notebooks, tmp_path):
    build = tmp_path / "build"
    procs = [subprocess.Popen(_runner(notebooks, "--only", "01", "--figures-dir",
                                      str(tmp_path / f"figs{i}"), "--build-dir", str(build)),
                              env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for i in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    for i, out in enumerate(outs):
        assert "01_write: ok" in out and "4 file(s) published" in out, out
        assert len(read_manifest(tmp_path / f"figs{i}")) == 4


def _fake_papermill(failures: list[BaseException | None], calls: list[str], *, ran_cells: bool):
    """Stands in for ``papermill.execute_notebook``: raises the next of ``failures`` (after
    writing the output notebook, with executed cells when ``ran_cells``), or succeeds."""
    def fake(inp, out, **kwargs):
        calls.append(out)
        nb = json.loads(Path(inp).read_text(encoding="utf-8"))
        exc = failures.pop(0) if failures else None
        for c in nb["cells"]:
            if c["cell_type"] == "code" and (exc is None or ran_cells):
                c["execution_count"] = 1
        Path(out).write_text(json.dumps(nb), encoding="utf-8")
        if exc is not None:
            raise exc
    return fake


_DIED = "Kernel died before replying to kernel_info"


@pytest.mark.parametrize("failures, ran_cells, attempts, ok", [
    ([RuntimeError(_DIED)], False, 2, True),  # the port race seen in CI: started again
    ([RuntimeError("Kernel didn't respond in 60 seconds")] * 2, False, 3, True),
    ([RuntimeError(_DIED)] * 3, False, 3, False),  # gives up after three attempts
    ([RuntimeError(_DIED)], True, 1, False),  # a cell had run: never run a notebook twice
    ([ValueError("a cell's own error")], False, 1, False),
])
def test_a_kernel_that_never_answered_is_started_again_and_nothing_else_is(
        notebooks, tmp_path, monkeypatch, failures, ran_cells, attempts, ok):
    import papermill

    from topotta_lite.cli import reproduce

    calls: list[str] = []
    first = failures[0]
    monkeypatch.setattr(papermill, "execute_notebook",
                        _fake_papermill(list(failures), calls, ran_cells=ran_cells))
    monkeypatch.setattr(reproduce.time, "sleep", lambda seconds: None)
    res = reproduce.execute_notebook(notebooks / "01_write.py", {}, tmp_path / "build")
    assert len(calls) == attempts and res.ok is ok
    assert len(res.kernel_restarts) == (attempts - 1)
    lines: list[str] = []
    reproduce._report(res, lines.append)
    said = "\n".join(lines)
    assert said.count("its kernel failed to start") == attempts - 1
    if attempts > 1:
        assert f"attempt {attempts} of {reproduce.KERNEL_START_ATTEMPTS}" in said
    if not ok:
        assert str(first) in res.error and "FAILED" in said


def test_a_real_kernel_that_dies_at_start_is_started_again(notebooks, tmp_path, monkeypatch):
    """End to end, with real kernels: a kernel spec whose first launch exits at once (as a kernel
    that lost the port race does), and whose next launch is an ordinary ipykernel."""
    from topotta_lite.cli import reproduce

    marker = tmp_path / "first-launch-done"
    launcher = tmp_path / "launch.py"
    launcher.write_text(textwrap.dedent(f"""\
        import os, runpy, sys
        marker = {str(marker)!r}
        if not os.path.exists(marker):
            open(marker, "w").close()
            sys.exit(1)
        sys.argv = ["ipykernel_launcher", *sys.argv[1:]]
        runpy.run_module("ipykernel_launcher", run_name="__main__")
        """))
    spec = tmp_path / "jupyter" / "kernels" / "dies-once"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [PY, str(launcher), "-f", "{connection_file}"],
        "display_name": "dies once", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("PYTHONPATH", str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = reproduce.execute_notebook(notebooks / "01_write.py", {"profile": "smoke"},
                                     tmp_path / "build", kernel="dies-once")
    assert marker.exists() and res.ok, res.error
    assert [r.startswith("RuntimeError: Kernel died before replying") for r in
            res.kernel_restarts] == [True]
    assert len(res.files) == 4


# ============================================================================ 4, 5: datasets on disk
def _png16(path: Path, arr: np.ndarray) -> None:
    """A 16-bit PNG (grey, or RGB which Pillow cannot write) written by hand."""
    import struct
    import zlib

    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[r].astype(">u2").tobytes() for r in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(
            ">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    head = struct.pack(">IIBBBBB", w, h, 16, 2 if arr.ndim == 3 else 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


def _mvtec(root: Path, *, n_train=3, size=(24, 24), mask_size=None, sixteen=False) -> Path:
    rng = np.random.default_rng(0)
    cls = root / "bottle"

    def image(path):
        arr = rng.integers(20000, 40000, size + (3,), dtype=np.uint16)
        if sixteen:
            _png16(path, arr[..., 0])
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((arr // 257).astype(np.uint8)).save(path)

    for i in range(n_train):
        image(cls / "train" / "good" / f"{i:03d}.png")
    image(cls / "test" / "good" / "000.png")
    image(cls / "test" / "crack" / "000.png")
    m = np.zeros(mask_size or size, np.uint8)
    m[4:10, 4:10] = 255
    (cls / "ground_truth" / "crack").mkdir(parents=True)
    Image.fromarray(m).save(cls / "ground_truth" / "crack" / "000_mask.png")
    return cls


def test_16_bit_and_float_images_are_read_with_their_scale(tmp_path):
    grey = np.full((6, 7), 32768, np.uint16)
    _png16(tmp_path / "g16.png", grey)
    assert read_rgb(tmp_path / "g16.png").mean() == pytest.approx(32768 / 65535, abs=1e-6)
    rgb = np.stack([np.full((6, 7), v, np.uint16) for v in (0, 32768, 65535)], axis=-1)
    _png16(tmp_path / "rgb48.png", rgb)
    assert read_rgb(tmp_path / "rgb48.png")[0, 0] == pytest.approx([0, 0.5, 1], abs=1 / 255)
    import tifffile

    tifffile.imwrite(tmp_path / "f.tif", np.full((6, 7, 3), 0.25, np.float32), photometric="rgb")
    assert read_rgb(tmp_path / "f.tif", 12).shape == (12, 12, 3)
    assert read_rgb(tmp_path / "f.tif").mean() == pytest.approx(0.25)
    tifffile.imwrite(tmp_path / "u16.tiff", np.full((6, 7), 65535, np.uint16))
    assert read_rgb(tmp_path / "u16.tiff").min() == 1.0
    tifffile.imwrite(tmp_path / "hdr.tif", np.full((6, 7), 300.0, np.float32))
    with pytest.raises(ValueError, match=r"hdr\.tif.*\[0, 1\]"):
        read_rgb(tmp_path / "hdr.tif")
    tifffile.imwrite(tmp_path / "i32.tif", np.full((6, 7), 5, np.int32))
    with pytest.raises(ValueError, match=r"i32\.tif"):
        read_rgb(tmp_path / "i32.tif")


def test_an_mvtec_class_of_16_bit_pngs_is_not_saturated(tmp_path):
    _mvtec(tmp_path, sixteen=True)
    split = load_mvtec_ad(tmp_path, "bottle", resize=None, val_fraction=0.34)
    mean = float(np.mean([s.image.mean() for s in split.test]))
    assert 0.3 < mean < 0.62  # values drawn in [20000, 40000] / 65535; saturated would be 1.0


def test_a_mask_of_another_size_names_both_files_unless_resize_masks(tmp_path):
    cls = _mvtec(tmp_path, mask_size=(12, 12))
    with pytest.raises(ValueError, match=r"000_mask\.png is 12x12.*crack/000\.png is 24x24"):
        load_mvtec_ad(tmp_path, "bottle", resize=None).test[0]
    ok = load_mvtec_ad(tmp_path, "bottle", resize=None, resize_masks=True)
    assert ok.test[0].mask.shape == (24, 24) and ok.test[0].mask.sum() == 144
    assert cls.exists()


def test_a_class_with_one_training_image_says_so(tmp_path):
    _mvtec(tmp_path, n_train=1)
    with pytest.raises(ValueError, match=r"1 nominal training image.*at least 2"):
        load_mvtec_ad(tmp_path, "bottle")


def test_an_edited_dataset_is_recomputed_and_a_corrupt_bundle_too(tmp_path):
    _mvtec(tmp_path / "data")
    root = str(tmp_path / "data")
    cache = ResultCache(tmp_path / "cache")
    kw = {"size": "smoke", "data_root": root, "cache": cache, "backbone": "filterbank"}
    first = score_bundle("mvtec_ad", "bottle", "padim", **kw)
    path = bundle_path("mvtec_ad", "bottle", "padim", **kw)
    assert path.exists()
    # a truncated bundle is reported with its path, moved aside and recomputed
    path.write_bytes(path.read_bytes()[:100])
    with pytest.warns(CorruptCacheWarning, match=str(path.name)):
        again = score_bundle("mvtec_ad", "bottle", "padim", **kw)
    assert np.array_equal(again["maps"], first["maps"])
    # a GT mask edited on disk gives another fingerprint, bundle and result
    fp = dataset_fingerprint("mvtec_ad", root, "bottle")
    cell = {"dataset": "mvtec_ad", "category": "bottle", "scorer": "padim", "operator": "thr",
            "size": "smoke", "data_root": root, "backbone": "filterbank"}
    old = run_grid([cell], evaluate_cell, cache=cache, progress=False).results[0]
    big = np.full((24, 24), 255, np.uint8)
    time.sleep(0.01)
    Image.fromarray(big).save(tmp_path / "data" / "bottle" / "ground_truth" / "crack" / "000_mask.png")
    assert dataset_fingerprint("mvtec_ad", root, "bottle") != fp
    assert bundle_path("mvtec_ad", "bottle", "padim", **kw) != path
    new = run_grid([cell], evaluate_cell, cache=cache, progress=False)
    assert new.computed == 1
    assert new.results[0]["recall"] != old["recall"] or new.results[0]["f1"] != old["f1"]
    edited = score_bundle("mvtec_ad", "bottle", "padim", **kw)
    assert edited["gts"][edited["labels"] == 1].all() and not first["gts"].all()


# ============================================================================ 6: parameters
def test_unknown_and_mistyped_parameters_are_errors(capsys):
    (filtration,) = [p.stem for p in list_notebooks() if p.stem.endswith("_multilevel_filtration")]
    assert cli.main(["reproduce", "--only", filtration, "-p", "levelz", "64", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "'levelz'" in err and "did you mean 'levels'" in err
    assert cli.main(["reproduce", "--only", "06", "-p", "classes", "brick", "--no-progress"]) == 2
    assert "is a list" in capsys.readouterr().err
    sources = list_notebooks(["06"])
    params, changed = resolve_parameters("smoke", sources, {"classes": parse_value('["brick"]')})
    assert params["06_experiments_2d"]["classes"] == ["brick"] and not any(changed.values())
    with pytest.raises(ParameterError, match="levels.*integer"):
        resolve_parameters("smoke", list_notebooks([filtration]), {"levels": 6.5})
    with pytest.raises(ParameterError, match="profile"):
        resolve_parameters("smoke", sources, {"profile": "quick"})
    assert set(declared_parameters(sources[0])) >= {"classes", "scorers", "data_root", "profile"}


def test_relative_paths_and_non_profile_runs(notebooks, tmp_path):
    """`--build-dir bld` and `-p data_root data` from another folder; changed parameters go to a
    scratch folder, never to the profile's figures, and the manifest says so."""
    out = subprocess.run(_runner(notebooks, "--only", "01", "--build-dir", "bld",
                                 "-p", "data_root", "data", "-p", "names", '["x", "y"]'),
                         cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    (scratch,) = (tmp_path / "bld" / "scratch").iterdir()
    assert scratch.name.startswith("smoke-")
    table = pd.read_csv(scratch / "tables" / "t_table.csv")
    assert table.loc[0, "data_root"] == str(tmp_path / "data") and table.loc[0, "names"] == "x,y"
    entry = read_manifest(scratch)["tables/t_table.csv"]
    assert entry["profile_run"] is False and entry["overrides"]["names"] == ["x", "y"]
    assert (tmp_path / "bld" / "smoke" / "01_write.ipynb").exists()


# ============================================================================ 6: operators
_WORDS = ["", "junk", "V", "T", "grid", "full", "cpu", "cuda", "eai", "intersection", "union",
          "iou", "sub", "sup", "region", "release", "meanstd", "percentile", "sublevel",
          "superlevel", "auto", "fast", "gudhi"]


def _strategy(name: str, default):
    """Random values for one constructor parameter: plausible ones (the default's type, in a
    plausible range), and junk of every kind."""
    junk = st.one_of(st.none(), st.booleans(), st.integers(-3, 400),
                     st.floats(allow_nan=True, allow_infinity=True, width=32),
                     st.sampled_from(_WORDS), st.just(("sublevel",)), st.just(("superlevel", "x")),
                     st.just({"sublevel": (1,)}), st.just({"middle": (0,)}), st.just([1, 2]))
    if isinstance(default, bool):
        plausible = st.booleans()
    elif isinstance(default, int):
        plausible = st.integers(0, 48)
    elif isinstance(default, float):
        plausible = st.one_of(st.floats(0, 1), st.floats(0, 100))
    elif isinstance(default, str):
        plausible = st.sampled_from(_WORDS)
    else:
        plausible = st.one_of(st.none(), st.floats(0, 1), st.integers(1, 8))
    return st.one_of(st.just(default), plausible, plausible, junk)


def _draw_kwargs(cls, data):
    """A few of the documented constructor parameters (read from the signature, so new ones are
    covered too), each with a random value."""
    params = {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
              if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    names = data.draw(st.lists(st.sampled_from(sorted(params)), max_size=4, unique=True),
                      label="parameters set")
    return {name: data.draw(_strategy(name, params[name]), label=name) for name in names}


_RNG = np.random.default_rng(0)
_MAP = np.zeros((16, 16))
_MAP[4:8, 4:9] = 1.0
_MAP += 0.05 * _RNG.random((16, 16))
_FEATS = _RNG.normal(size=(3, 8, 8)).astype(np.float32)
_FEATS[:, 2:4, 2:4] += 2


@pytest.mark.parametrize("cls", [THR, TTT4AS, TopoTTA], ids=lambda c: c.__name__)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_operators_give_a_clear_error_or_a_valid_mask(cls, data):
    kwargs = _draw_kwargs(cls, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "CUDA requested but not available"
        try:
            op = cls(**kwargs)
        except ValueError as exc:
            assert str(exc), kwargs  # a message, naming the parameter
            event("refused")
            return
        event("constructed")
        if isinstance(op, THR) and op.threshold_ is None:
            op.fit([_MAP * 0.5, _MAP * 0.4])
        mask = op.segment(_MAP, _FEATS)  # constructed: no error of any kind from here on
    assert isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == _MAP.shape, kwargs


def test_the_issues_bad_parameters_are_value_errors_naming_them():
    for kwargs, name in (({"hidden": 0}, "hidden"), ({"margin": float("nan")}, "margin"),
                         ({"lr": float("inf")}, "lr"), ({"epochs": 2.5}, "epochs"),
                         ({"levels": 1}, "levels"), ({"construction": "X"}, "construction")):
        with pytest.raises(ValueError, match=name):
            TopoTTA(**kwargs)
    with pytest.raises(ValueError, match="threshold"):
        THR(threshold=float("nan"))
    with pytest.raises(ValueError, match="C"):
        TTT4AS(C=0)


# ============================================================================ 7, 8: floats
def test_no_fastmath_where_bytes_are_compared():
    import importlib

    for module in ("topotta_lite.features.grid", "topotta_lite.method._pces_engines"):
        mod = importlib.import_module(module)
        for name, obj in vars(mod).items():
            if hasattr(obj, "targetoptions"):  # a numba dispatcher
                assert not obj.targetoptions.get("fastmath"), f"{module}.{name} uses fastmath"


PCES_SCRIPT = """
import hashlib
import numpy as np
from topotta_lite.method import adapt_batch
rng = np.random.default_rng(0)
out = []
for i in range(3):
    f = rng.normal(size=(16, 14, 14)).astype(np.float32); f[:, 3:7, 4:8] += 1.5
    m = np.zeros((56, 56), bool); m[12:28, 16:32] = True
    r = adapt_batch([f], [m], device="cpu", seeds=i, epochs=15)[0]
    out += [r.loss_curve.tobytes(), r.score.tobytes()]
print(hashlib.sha256(b"".join(out)).hexdigest())
"""


def test_pces_gives_the_same_bytes_from_a_fresh_and_a_cached_compile(tmp_path):
    env = _env(NUMBA_CACHE_DIR=str(tmp_path / "numba"))
    runs = [subprocess.run([PY, "-c", PCES_SCRIPT], env=env, capture_output=True, text=True,
                           timeout=600) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    assert list((tmp_path / "numba").rglob("*.nbc")), "the first run did not fill the cache"
    assert runs[0].stdout == runs[1].stdout


TABLE_SCRIPT = """
import hashlib, sys
import pandas as pd
from topotta_lite.experiments import evaluate_cell, score_bundle
from topotta_lite.outputs import write_table
rows = []
for op in ("thr", "ttt4as", "topotta"):
    r = evaluate_cell({"dataset": "embedded-2d", "category": "brick", "scorer": "padim",
                       "operator": op, "size": "smoke", "seed": 0})
    rows.append({"method": op, **{k: r[k] for k in ("precision", "recall", "f1", "iou")}})
write_table(pd.DataFrame(rows), "table_check")
b = score_bundle("embedded-2d", "brick", "padim", size="smoke")
print(hashlib.sha256(b["maps"].tobytes()).hexdigest())
"""

ANOTHER_MACHINE = {  # what differs on another computer: BLAS kernels, vector width, threads
    "OPENBLAS_CORETYPE": "Sandybridge", "MKL_CBWR": "AVX2", "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}


def test_tables_agree_within_the_stated_tolerance_on_another_numeric_environment(tmp_path):
    hashes = []
    for name, extra in (("here", {}), ("elsewhere", ANOTHER_MACHINE)):
        env = _env(TOPOTTA_FIGURES=str(tmp_path / name), TOPOTTA_CACHE=str(tmp_path / f"c_{name}"),
                   **extra)
        r = subprocess.run([PY, "-c", TABLE_SCRIPT], env=env, capture_output=True, text=True,
                           timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
        hashes.append(r.stdout.strip())
    assert compare_tables(tmp_path / "here", tmp_path / "elsewhere") == []
    print("score maps identical across environments:", hashes[0] == hashes[1])
    assert TABLE_TOLERANCE == 0.002
