"""Per-image cost of THR, TTT4AS and TopoTTA on the CPU, in the layout of the paper's Table X.

Run: ``python benchmarks/bench_operators.py [--size smoke|quick] [--categories a,b] [--repeat R]
[--full]``.

For every anomalous test image of the embedded 2D benchmark (224 x 224), with PaDiM-like score
maps and features from each backbone of ``--backbones`` (default: the ImageNet EfficientNet-Lite0
and the weight-free filter bank), each operator segments the map and we record the median seconds
per image of pseudo-label generation (P.L.), adaptation (TTT) and the total, the peak memory of the
operator, and mean F1 / IoU against the ground truth. Operators: THR, TTT4AS, TopoTTA (paper
preset), TopoTTA without PCES, and TopoTTA's release preset, whose class-level encoder is trained
once per class on the features of ``--shots`` nominal training images before the timed pass (like
THR's fit, outside the per-image time).

Timings (:func:`topotta_lite.experiments.runtime.time_operators`, as notebook 12 uses): all operators run in
one process, interleaved image by image, ``R`` calls each per image (the fastest per image, then
the median over the images), so that a change of load on a shared machine touches every operator
alike and the ratio TopoTTA / TTT4AS is measured fairly.
Memory: each operator runs again in a fresh child process, so that its peak is its own:
``VmHWM - VmRSS`` at the start (Linux; the resident-set high-water mark covers numpy,
scikit-learn and torch alike), with the ``tracemalloc`` peak (Python / numpy heap only) beside it;
both are taken after a warm-up image (imports, numba compilation), so they are the per-image
working memory, not the libraries. Tracing slows every allocation, which is why memory is never
measured in the timed pass. If the data or scorer modules are missing, synthetic maps with random
features are used instead and the output says so.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from topotta_lite.operators import THR, TTT4AS, TopoTTA

PAPER_2D = {"TTT4AS": (0.047, 0.099, 0.146), "TopoTTA": (0.061, 0.102, 0.163)}


def _status(key: str) -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def load_inputs(size: str, categories: list[str] | None, seed: int = 0,
                backbone_name: str = "efficientnet_lite0", shots: int = 10):
    """Return (note, maps, gts, feats, nominal) for anomalous test images.

    ``nominal[cls]`` holds the class's nominal validation maps (THR) under ``"maps"`` and the
    features of ``shots`` nominal training images (the release preset) under ``"support"``."""
    try:
        from topotta_lite.data import load_embedded
        from topotta_lite.features import get_backbone
        from topotta_lite.scorers import PaDiMScorer
    except ImportError as exc:  # fall back to synthetic inputs
        return _synthetic(f"SYNTHETIC maps + random features ({exc})", seed)
    splits = load_embedded("2d", categories=categories, size=size, seed=seed)
    backbone = get_backbone(backbone_name)
    maps, gts, feats, nominal = [], [], [], {}
    for name, split in splits.items():
        train = np.stack([s.image for s in split.train])
        scorer = PaDiMScorer(backbone).fit(train)
        nominal[name] = {"maps": list(scorer.score(np.stack([s.image for s in split.validation]))),
                         "support": list(backbone(train[:shots]))}
        test = [s for s in split.test if s.label == 1]
        imgs = np.stack([s.image for s in test])
        for s, m, f in zip(test, scorer.score(imgs), backbone(imgs)):
            maps.append((name, m))
            gts.append(s.mask)
            feats.append(f)
    note = (f"embedded 2D benchmark, size={size}, {len(splits)} classes, {len(maps)} anomalous "
            f"test images, PaDiM-like maps, {backbone_name} features {feats[0].shape}")
    return note, maps, gts, feats, nominal


def _synthetic(note: str, seed: int):
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    maps, gts, feats = [], [], []
    for _ in range(8):
        gt = np.zeros((224, 224), bool)
        y, x = rng.integers(30, 170, size=2)
        gt[y:y + 30, x:x + 20] = True
        psi = ndimage.gaussian_filter(gt.astype(float), 4) + 0.05 * rng.random((224, 224))
        f = rng.normal(size=(64, 56, 56)).astype(np.float32)
        f[:, gt[::4, ::4]] += 1.0
        maps.append(("synthetic", psi))
        gts.append(gt)
        feats.append(f)
    nominal = {"synthetic": {"maps": [0.05 * rng.random((224, 224)) for _ in range(4)],
                             "support": [rng.normal(size=(64, 56, 56)).astype(np.float32)
                                         for _ in range(4)]}}
    return note, maps, gts, feats, nominal


def _make(name: str):
    return {
        "THR": lambda: THR(),
        "TTT4AS": lambda: TTT4AS(),
        "TopoTTA": lambda: TopoTTA(device="cpu"),
        "TopoTTA-noPCES": lambda: TopoTTA(pces=False),
        "TopoTTA-release": lambda: TopoTTA(preset="release"),
        "TTT4AS-full": lambda: TTT4AS(resolution="full"),
        "TopoTTA-full": lambda: TopoTTA(device="cpu", resolution="full"),
    }[name]()


def _fitted(name: str, cls: str, nominal, cache: dict):
    """One operator per (name, class); THR is fitted on the class's nominal maps."""
    if (name, cls) not in cache:
        op = _make(name)
        if isinstance(op, THR):
            op.fit(nominal[cls]["maps"])
        elif isinstance(op, TopoTTA):
            op.fit(nominal[cls]["support"])  # the release preset's class-level encoder
        cache[name, cls] = op
    return cache[name, cls]


def _time_operators(names, maps, gts, feats, nominal, repeat: int):
    """Per operator, rows of (P.L., TTT, total, F1, IoU) per image.

    Timings come from :func:`topotta_lite.experiments.runtime.time_operators`: all operators in this one
    process, interleaved image by image, the fastest of ``repeat`` calls per image.
    """
    from topotta_lite.experiments import time_operators
    from topotta_lite.metrics import segmentation_scores

    cache: dict = {}
    ops = {name: [_fitted(name, cls, nominal, cache) for cls, _ in maps] for name in names}
    psis = [psi for _, psi in maps]
    times = time_operators(ops, psis, feats, repeat=repeat)
    out = {}
    for name in names:
        scores = []
        for op, psi, f, gt in zip(ops[name], psis, feats, gts):
            s = segmentation_scores(op.segment(psi, f), gt)
            scores.append((s["f1"], s["iou"]))
        out[name] = np.concatenate([times[name], np.array(scores)], axis=1)
    return out


def _memory(name, maps, feats, nominal, queue):
    """Peak memory of one operator over the images, in a fresh process (after a warm-up image)."""
    ops: dict = {}
    _fitted(name, maps[0][0], nominal, ops).segment(maps[0][1], feats[0])
    for cls, _ in maps:
        _fitted(name, cls, nominal, ops)
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        pass
    rss0 = _status("VmRSS")
    tracemalloc.start()
    for (cls, psi), f in zip(maps, feats):
        ops[name, cls].segment(psi, f)
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    queue.put((_status("VmHWM") - rss0, py_peak))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="smoke", choices=("smoke", "quick", "full"))
    ap.add_argument("--categories", default=None, help="comma-separated subset of classes")
    ap.add_argument("--repeat", type=int, default=3,
                    help="timed calls per operator and image (the fastest is kept)")
    ap.add_argument("--full", action="store_true",
                    help="also run TTT4AS / TopoTTA with features upsampled to the map")
    ap.add_argument("--backbones", default="efficientnet_lite0,filterbank",
                    help="comma-separated feature backbones, one table each")
    ap.add_argument("--shots", type=int, default=10,
                    help="nominal training images of the release preset's encoder")
    args = ap.parse_args(argv)
    cats = args.categories.split(",") if args.categories else None
    for backbone_name in args.backbones.split(","):
        _bench(backbone_name, args, cats)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
          "(timings on a shared machine are noisy)")
    return 0


def _bench(backbone_name: str, args, cats) -> None:
    t0 = time.perf_counter()
    note, maps, gts, feats, nominal = load_inputs(args.size, cats, backbone_name=backbone_name,
                                                  shots=args.shots)
    print(f"\n## {backbone_name}\n\ninputs: {note} (prepared in {time.perf_counter() - t0:.1f} s)",
          flush=True)
    operators = ["THR", "TTT4AS", "TopoTTA", "TopoTTA-noPCES", "TopoTTA-release"]
    operators += ["TTT4AS-full", "TopoTTA-full"] if args.full else []
    results = {}
    rows = _time_operators(operators, maps, gts, feats, nominal, args.repeat)
    # memory: each operator in a fresh process, so that its peak is its own; spawn, not fork (a
    # child forked after torch has started its thread pool can deadlock)
    ctx = mp.get_context("spawn")
    for name in operators:
        q = ctx.Queue()
        p = ctx.Process(target=_memory, args=(name, maps, feats, nominal, q))
        p.start()
        results[name] = (rows[name], *q.get())
        p.join()
    print()
    print("| operator | P.L. (s) | TTT (s) | total (s) | peak mem (MB) | numpy/py peak (MB) "
          "| F1 | IoU | images |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    med = {}
    for name, (rows, hwm, py_peak) in results.items():
        m = np.median(rows[:, :3], axis=0)
        med[name] = m
        f1, iou = rows[:, 3].mean(), rows[:, 4].mean()
        print(f"| {name} | {m[0]:.4f} | {m[1]:.4f} | {m[2]:.4f} | {hwm / 2**20:.1f} | "
              f"{py_peak / 2**20:.1f} | {f1:.3f} | {iou:.3f} | {len(rows)} |")
    ratio = med["TopoTTA"][2] / med["TTT4AS"][2]
    paper = PAPER_2D["TopoTTA"][2] / PAPER_2D["TTT4AS"][2]
    print()
    print(f"TopoTTA / TTT4AS total time: {ratio:.2f}x (paper, RTX 5090: {paper:.2f}x); "
          f"without PCES: {med['TopoTTA-noPCES'][2] / med['TTT4AS'][2]:.2f}x")
    print(f"paper Table X (2D, GPU): TTT4AS P.L. {PAPER_2D['TTT4AS'][0]} s, TTT "
          f"{PAPER_2D['TTT4AS'][1]} s, total {PAPER_2D['TTT4AS'][2]} s; TopoTTA P.L. "
          f"{PAPER_2D['TopoTTA'][0]} s, TTT {PAPER_2D['TopoTTA'][1]} s, total "
          f"{PAPER_2D['TopoTTA'][2]} s")
    pl_ok = med["TopoTTA"][0] <= 0.010
    print(f"target TopoTTA P.L. <= 10 ms per 224x224 map: {med['TopoTTA'][0] * 1e3:.1f} ms "
          f"-> {'met' if pl_ok else 'NOT met'}")
    print(f"target TopoTTA total <= TTT4AS total: {'met' if ratio <= 1 else 'NOT met'}; "
          f"release preset / TTT4AS: {med['TopoTTA-release'][2] / med['TTT4AS'][2]:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
