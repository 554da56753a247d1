"""Table X: per-image time of each operator stage, and peak memory, on CPU (and GPU if present).

:func:`runtime_cell` is an experiment cell for :func:`topotta_lite.experiments.run_grid` (so the
measured numbers are cached and the written table is byte-stable across runs); it times one
operator on the first ``n_images`` anomalous test images of a score bundle, after one warm-up call
(JIT compilation, torch start-up), and reports medians.

Peak memory is the largest increase of the process's resident memory (sampled every millisecond
from ``/proc/self/statm`` by a helper thread) or of traced Python/numpy allocations
(``tracemalloc``), whichever is larger, during one image; on CUDA the device's peak allocation
(``torch.cuda.max_memory_allocated``) is added. It is the operator's own working memory: unlike
the paper's Table X it does not include the backbone.
"""

from __future__ import annotations

import os
import threading
import time
import tracemalloc

import numpy as np

__all__ = ["bundle_is_cached", "gpu_available", "peak_memory_mb", "runtime_cell"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def gpu_available() -> bool:
    """Whether torch sees a CUDA device."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except ImportError:  # pragma: no cover - torch is a dependency
        return False


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except OSError:  # not Linux: rely on tracemalloc only
        return 0


def peak_memory_mb(fn, *args, device: str = "cpu", **kwargs):
    """Run ``fn(*args, **kwargs)``; return ``(result, peak extra memory in MiB)``.

    Examples
    --------
    >>> _, mb = peak_memory_mb(lambda: np.ones(4_000_000).sum())
    >>> mb > 20  # 32 MB of float64
    True
    """
    stop = threading.Event()
    base = _rss_bytes()
    peak = [base]

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_bytes())
            stop.wait(0.001)

    cuda = str(device).startswith("cuda")
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        cuda_base = torch.cuda.memory_allocated()
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    traced_base = tracemalloc.get_traced_memory()[0]
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        out = fn(*args, **kwargs)
        if cuda:
            torch.cuda.synchronize()
    finally:
        stop.set()
        thread.join()
        traced_peak = tracemalloc.get_traced_memory()[1] - traced_base
        if not tracing:
            tracemalloc.stop()
    peak[0] = max(peak[0], _rss_bytes())
    extra = max(peak[0] - base, traced_peak, 0)
    if cuda:
        extra += max(torch.cuda.max_memory_allocated() - cuda_base, 0)
    return out, extra / 2**20


def runtime_cell(cell: dict) -> dict:
    """Median per-image seconds (pseudo-labels, adaptation, total) and peak memory of one operator.

    Cell keys: those of :func:`topotta_lite.evaluation.evaluate_cell` (``dataset, category,
    scorer, operator, size, seed``) plus ``device`` (``"cpu"``/``"cuda"``, TopoTTA's PCES) and
    ``n_images``. ``host`` may be added by the caller to keep machines apart in the cache.
    """
    from .evaluation import make_operator, score_bundle

    bundle = score_bundle(cell["dataset"], cell["category"], cell.get("scorer", "patchcore"),
                          cell.get("backbone"), size=cell.get("size", "quick"),
                          seed=cell.get("seed", 0), data_root=cell.get("data_root"))
    params = dict(cell.get("params") or {})
    device = cell.get("device", "cpu")
    if cell["operator"] == "topotta":
        params["device"] = device
    op = make_operator(cell["operator"], params, cell.get("seed", 0))
    if cell["operator"] == "thr":
        op.fit(bundle["val_maps"])
    idx = [i for i in range(len(bundle["labels"])) if bundle["labels"][i] == 1]
    idx = idx[: max(1, int(cell.get("n_images", 5)))]
    maps, feats = bundle["maps"], bundle["features"]
    op.segment(maps[idx[0]], feats[idx[0]])  # warm-up: JIT, torch/cuDNN start-up
    stages: dict[str, list[float]] = {"pseudo_labels": [], "adaptation": [], "total": []}
    mems = []
    for i in idx:
        # time without memory tracing (tracemalloc slows every allocation), then measure memory
        t0 = time.perf_counter()
        op.segment(maps[i], feats[i])
        wall = time.perf_counter() - t0
        t = dict(getattr(op, "timings_", {}) or {})
        stages["pseudo_labels"].append(t.get("pseudo_labels", 0.0))
        stages["adaptation"].append(t.get("adaptation", 0.0))
        stages["total"].append(t.get("total", wall))
        mems.append(peak_memory_mb(op.segment, maps[i], feats[i], device=device)[1])
    return {"pl_s": float(np.median(stages["pseudo_labels"])),
            "adapt_s": float(np.median(stages["adaptation"])),
            "total_s": float(np.median(stages["total"])),
            "peak_mem_mb": float(np.median(mems)), "n_images": len(idx),
            "map_shape": list(maps.shape[1:])}


def bundle_is_cached(dataset: str, category: str, scorer: str = "patchcore",
                     backbone: str | None = None, *, size: str = "quick", seed: int = 0,
                     data_root: str | None = None, n_support: int = 10) -> bool:
    """Whether :func:`topotta_lite.evaluation.score_bundle` would read this bundle from the cache.

    Lets a quick run time the 2.5D/3D operators only when notebook 07 already scored those maps.
    """
    from .evaluation import bundle_path

    return bundle_path(dataset, category, scorer, backbone, size=size, seed=seed,
                       data_root=data_root, n_support=n_support).exists()
