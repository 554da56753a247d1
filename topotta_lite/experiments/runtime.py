"""Table X: per-image time of each operator stage, and peak memory, on CPU (and GPU if present).

:func:`time_operators` times several operators on the same images, interleaved image by image
(the order rotates), so that a change of load on a shared machine touches all of them alike and
their ratio stays fair; per image it keeps the fastest of ``repeat`` calls (the one least
disturbed by other load; the operators are deterministic, so every call does the same work).
:func:`runtime_cell` is an experiment cell for :func:`topotta_lite.experiments.grid.run_grid` (so the
measured numbers are cached and the written table is byte-stable across runs) that applies it to
the first ``n_images`` anomalous test images of a score bundle and reports medians over them.

Peak memory is the largest increase of the process's resident memory (sampled every millisecond
from ``/proc/self/statm`` by a helper thread) or of traced Python/numpy allocations
(``tracemalloc``), whichever is larger, during one image; on CUDA the device's peak allocation
(``torch.cuda.max_memory_allocated``) is added. It is the operator's own working memory: unlike
the paper's Table X it does not include the backbone. It is measured in calls of its own, never in
a timed one (tracing slows every allocation).
"""

from __future__ import annotations

import os
import threading
import time
import tracemalloc

import numpy as np

__all__ = ["bundle_is_cached", "gpu_available", "peak_memory_mb", "runtime_cell", "time_operators"]

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


def time_operators(operators: dict, maps, features, *, repeat: int = 3) -> dict[str, np.ndarray]:
    """Per-image seconds ``(pseudo_labels, adaptation, total)`` of several operators, interleaved.

    Parameters
    ----------
    operators : dict
        ``key -> operator``, or ``key -> sequence of operators`` with one per image (e.g. a THR
        fitted on each image's class). Each distinct operator is warmed up on its first image
        (JIT compilation, torch start-up), untimed.
    maps, features : sequences
        The images' score maps and feature maps (``None`` entries for no features).
    repeat : int
        Timed calls per (operator, image); the fastest is kept, with its own stage times.

    Returns
    -------
    dict
        ``key -> (n_images, 3)`` float array (the keys of ``operators``).

    Examples
    --------
    >>> from topotta_lite.operators import TopoTTA
    >>> psi = np.zeros((32, 32)); psi[8:16, 8:16] = 1.0
    >>> t = time_operators({"topo": TopoTTA()}, [psi, psi], [None, None], repeat=2)
    >>> t["topo"].shape
    (2, 3)
    """
    n = len(maps)
    if len(features) != n:
        raise ValueError(f"got {len(features)} feature maps for {n} score maps")
    per_image = {name: list(op) if isinstance(op, (list, tuple)) else [op] * n
                 for name, op in operators.items()}
    warmed = set()
    for name, ops in per_image.items():
        if len(ops) != n:
            raise ValueError(f"operators[{name!r}] has {len(ops)} entries for {n} images")
        for op, psi, f in zip(ops, maps, features):
            if id(op) not in warmed:
                op.segment(psi, f)
                warmed.add(id(op))
    names = list(per_image)
    repeat = max(1, int(repeat))
    best = {name: np.full((n, 3), np.inf) for name in names}
    for i in range(n):
        for r in range(repeat):
            k = (i * repeat + r) % len(names)
            for name in names[k:] + names[:k]:
                op = per_image[name][i]
                t0 = time.perf_counter()
                op.segment(maps[i], features[i])
                wall = time.perf_counter() - t0
                t = dict(getattr(op, "timings_", {}) or {})
                call = (t.get("pseudo_labels", 0.0), t.get("adaptation", 0.0), t.get("total", wall))
                if call[2] < best[name][i, 2]:
                    best[name][i] = call
    return best


def runtime_cell(cell: dict) -> dict:
    """Median per-image seconds (pseudo-labels, adaptation, total) and peak memory of operators.

    Cell keys: those of :func:`topotta_lite.experiments.bundles.evaluate_cell` (``dataset, category,
    scorer, size, seed``) plus ``operators`` (a list of ``[name, device]`` pairs, e.g.
    ``[["ttt4as", "cpu"], ["topotta", "cpu"]]``; the device is that of TopoTTA's PCES), timed
    together by :func:`time_operators`, ``n_images`` and ``repeat`` (timed calls per image,
    default 3). ``host`` may be added by the caller to keep machines apart in the cache.

    Returns ``{"rows": [{operator, device, pl_s, adapt_s, total_s, peak_mem_mb}, ...],
    "n_images", "map_shape"}``.
    """
    from topotta_lite.experiments.bundles import make_operator, score_bundle

    bundle = score_bundle(cell["dataset"], cell["category"], cell.get("scorer", "patchcore"),
                          cell.get("backbone"), size=cell.get("size", "quick"),
                          seed=cell.get("seed", 0), data_root=cell.get("data_root"),
                          maps_dir=cell.get("maps_dir"))
    ops = {}
    for name, device in cell["operators"]:
        params = dict(cell.get("params") or {})
        if name == "topotta":
            params["device"] = device
        op = make_operator(name, params, cell.get("seed", 0))
        if name == "thr":
            op.fit(bundle["val_maps"])
        ops[name, device] = op
    idx = [i for i in range(len(bundle["labels"])) if bundle["labels"][i] == 1]
    idx = idx[: max(1, int(cell.get("n_images", 5)))]
    maps = [bundle["maps"][i] for i in idx]
    feats = [bundle["features"][i] for i in idx]
    times = time_operators(ops, maps, feats, repeat=int(cell.get("repeat", 3)))
    rows = []
    for (name, device), op in ops.items():
        mems = [peak_memory_mb(op.segment, m, f, device=device)[1] for m, f in zip(maps, feats)]
        med = np.median(times[name, device], axis=0)
        rows.append({"operator": name, "device": device, "pl_s": float(med[0]),
                     "adapt_s": float(med[1]), "total_s": float(med[2]),
                     "peak_mem_mb": float(np.median(mems))})
    return {"rows": rows, "n_images": len(idx), "map_shape": list(bundle["maps"].shape[1:])}


def bundle_is_cached(dataset: str, category: str, scorer: str = "patchcore",
                     backbone: str | None = None, *, size: str = "quick", seed: int = 0,
                     data_root: str | None = None, n_support: int = 10,
                     maps_dir: str | None = None) -> bool:
    """Whether :func:`topotta_lite.experiments.bundles.score_bundle` would read this bundle from the cache.

    Lets a quick run time the 2.5D/3D operators only when notebook 07 already scored those maps.
    """
    from topotta_lite.experiments.bundles import bundle_path

    return bundle_path(dataset, category, scorer, backbone, size=size, seed=seed,
                       data_root=data_root, n_support=n_support, maps_dir=maps_dir).exists()
