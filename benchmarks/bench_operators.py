"""Per-image cost of THR, TTT4AS and TopoTTA on the CPU, interleaved, with the ratios to TTT4AS.

Run: ``python benchmarks/bench_operators.py [--size smoke|quick] [--categories a,b] [--repeat R]
[--backbones a,b] [--shots K] [--memory] [--full]``.

For every anomalous test image of the embedded 2D benchmark (224 x 224), with PaDiM-like score
maps and features from each backbone of ``--backbones`` (default: the ImageNet EfficientNet-Lite0),
each operator segments the map. Operators: THR, TTT4AS, TopoTTA (paper preset, PCES on, default
settings), TopoTTA without PCES, and TopoTTA's release preset, whose class encoder is trained once
per class on the features of ``--shots`` nominal training images: its per-image cost is the
amortised one, the (cold) training of the class's encoder divided over the class's test images
plus the image's own segmentation.

Timing, made for a shared machine:

* everything runs in this one process with one thread per library (BLAS, OpenMP, torch; set
  before they load), as the notebooks compute their results;
* the operators are interleaved image by image, in an order that rotates, and each (operator,
  image) is timed ``--repeat`` times; the fastest call is kept, with the CPU time of the process
  (``time.process_time``: what a busy machine's other jobs do not add to) and the wall time;
* the printed numbers are medians over the images of the per-image times and of the per-image
  ratios to TTT4AS (the ratio of two operators timed on the same image within a few
  milliseconds), so a change of load touches both sides of a ratio alike.

The table gives the stage times of each operator (pseudo-labels, adaptation), its mean F1 and IoU
against the ground truth, and with ``--memory`` its peak memory, each operator again in a fresh
child process (``VmHWM - VmRSS`` after a warm-up image, with the ``tracemalloc`` peak beside it).
The last lines compare the ratios with the goals (TopoTTA at most 1.0x TTT4AS; the release preset
at most 2x) and name the machine and its load. If the data or scorer modules are missing,
synthetic maps with random features are used instead and the output says so.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy / torch / numba load their thread pools

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from topotta_lite.operators import THR, TTT4AS, TopoTTA  # noqa: E402

PAPER_2D = {"TTT4AS": (0.047, 0.099, 0.146), "TopoTTA": (0.061, 0.102, 0.163)}
GOALS = {"TopoTTA": 1.0, "TopoTTA-release": 2.0}


def _pin_threads() -> None:
    """One thread per library, whatever loaded them first."""
    import torch
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    torch.set_num_threads(1)


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
        "TopoTTA-hidden32": lambda: TopoTTA(device="cpu", hidden=32),
        "TTT4AS-full": lambda: TTT4AS(resolution="full"),
        "TopoTTA-full": lambda: TopoTTA(device="cpu", resolution="full"),
    }[name]()


def _fit_cold(op, support) -> tuple[float, float]:
    """Train the release preset's class encoder from scratch: (CPU s, wall s)."""
    from topotta_lite.method import nominal as nominal_module

    nominal_module._FITTED.clear()  # no memoised encoder: the training is part of the cost
    c0, w0 = time.process_time(), time.perf_counter()
    op.fit(support)
    return time.process_time() - c0, time.perf_counter() - w0


def _operators(names, maps, nominal):
    """One operator per (name, class); THR is fitted on the class's nominal maps, the release
    preset's encoder on the class's support (timed: returned per class)."""
    ops, fit = {}, {}
    for name in names:
        per_class = {}
        for cls in dict.fromkeys(c for c, _ in maps):
            op = _make(name)
            if isinstance(op, THR):
                op.fit(nominal[cls]["maps"])
            elif isinstance(op, TopoTTA) and op.adaptation == "class":
                fit[cls] = _fit_cold(op, nominal[cls]["support"])
            per_class[cls] = op
        ops[name] = per_class
    return ops, fit


def _time(names, maps, feats, nominal, repeat: int):
    """Interleaved timing: per operator an (n_images, 5) array of the fastest call's CPU s,
    wall s, pseudo-label s, adaptation s (the operator's own stage timings) and its mask."""
    ops, fit = _operators(names, maps, nominal)
    for name in names:  # warm-up: imports, numba compilation (or its cache), torch start-up
        cls, psi = maps[0]
        ops[name][cls].segment(psi, feats[0], support=_support(name, cls, nominal))
    n = len(maps)
    best = {name: np.full((n, 4), np.inf) for name in names}
    masks = {name: [None] * n for name in names}
    for i, (cls, psi) in enumerate(maps):
        for r in range(repeat):
            k = (i * repeat + r) % len(names)
            for name in names[k:] + names[:k]:
                op = ops[name][cls]
                c0, w0 = time.process_time(), time.perf_counter()
                mask = op.segment(psi, feats[i], support=_support(name, cls, nominal))
                cpu, wall = time.process_time() - c0, time.perf_counter() - w0
                if cpu < best[name][i, 0]:
                    t = dict(getattr(op, "timings_", {}) or {})
                    best[name][i] = (cpu, wall, t.get("pseudo_labels", 0.0),
                                     t.get("adaptation", 0.0))
                    masks[name][i] = mask
    return best, masks, fit


def _support(name: str, cls: str, nominal) -> list | None:
    return nominal[cls]["support"] if name == "TopoTTA-release" else None


def _amortised(best, maps, fit) -> np.ndarray:
    """The release preset's per-image (CPU, wall) seconds with its class's training spread
    over the class's test images."""
    counts = {}
    for cls, _ in maps:
        counts[cls] = counts.get(cls, 0) + 1
    out = best[:, :2].copy()
    for i, (cls, _) in enumerate(maps):
        out[i] += np.asarray(fit[cls]) / counts[cls]
    return out


def _memory(name, maps, feats, nominal, queue):
    """Peak memory of one operator over the images, in a fresh process (after a warm-up image)."""
    _pin_threads()
    ops, _ = _operators([name], maps, nominal)
    cls, psi = maps[0]
    ops[name][cls].segment(psi, feats[0], support=_support(name, cls, nominal))
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        pass
    rss0 = _status("VmRSS")
    tracemalloc.start()
    for (cls, psi), f in zip(maps, feats):
        ops[name][cls].segment(psi, f, support=_support(name, cls, nominal))
    _, py_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    queue.put((_status("VmHWM") - rss0, py_peak))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="smoke", choices=("smoke", "quick", "full"))
    ap.add_argument("--categories", default=None, help="comma-separated subset of classes")
    ap.add_argument("--repeat", type=int, default=5,
                    help="timed calls per operator and image (the fastest is kept)")
    ap.add_argument("--full", action="store_true",
                    help="also run TTT4AS / TopoTTA with features upsampled to the map")
    ap.add_argument("--backbones", default="efficientnet_lite0",
                    help="comma-separated feature backbones, one table each")
    ap.add_argument("--shots", type=int, default=10,
                    help="nominal training images of the release preset's encoder")
    ap.add_argument("--no-release", action="store_true", help="leave the release preset out")
    ap.add_argument("--hidden32", action="store_true",
                    help="also time TopoTTA with PCES's earlier, wider network (hidden 32)")
    ap.add_argument("--memory", action="store_true",
                    help="also measure each operator's peak memory in a fresh process")
    args = ap.parse_args(argv)
    _pin_threads()
    cats = args.categories.split(",") if args.categories else None
    load0 = os.getloadavg()[0]
    for backbone_name in args.backbones.split(","):
        _bench(backbone_name, args, cats)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, one "
          f"thread per library; load average {load0:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end (times on a shared machine are noisy: read the "
          "ratios)")
    return 0


def _bench(backbone_name: str, args, cats) -> None:
    t0 = time.perf_counter()
    note, maps, gts, feats, nominal = load_inputs(args.size, cats, backbone_name=backbone_name,
                                                  shots=args.shots)
    print(f"\n## {backbone_name}\n\ninputs: {note} (prepared in {time.perf_counter() - t0:.1f} s)",
          flush=True)
    from topotta_lite.metrics import segmentation_scores

    names = ["THR", "TTT4AS", "TopoTTA", "TopoTTA-noPCES"]
    names += [] if args.no_release else ["TopoTTA-release"]
    names += ["TopoTTA-hidden32"] if args.hidden32 else []
    names += ["TTT4AS-full", "TopoTTA-full"] if args.full else []
    best, masks, fit = _time(names, maps, feats, nominal, args.repeat)
    per_image = {name: best[name][:, :2] for name in names}
    if "TopoTTA-release" in names:
        per_image["TopoTTA-release"] = _amortised(best["TopoTTA-release"], maps, fit)
    memory = {}
    if args.memory:  # spawn, not fork: a child forked after torch started its threads can hang
        ctx = mp.get_context("spawn")
        for name in names:
            q = ctx.Queue()
            p = ctx.Process(target=_memory, args=(name, maps, feats, nominal, q))
            p.start()
            memory[name] = q.get()
            p.join()
    base = per_image["TTT4AS"]
    print()
    print("| operator | P.L. wall ms | TTT wall ms | CPU ms / image | wall ms / image | CPU / TTT4AS "
          "| wall / TTT4AS | F1 | IoU |" + (" peak mem (MB) | numpy/py peak (MB) |" if memory
                                             else ""))
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
          + (" ---: | ---: |" if memory else ""))
    ratios = {}
    for name in names:
        cpu, wall = np.median(per_image[name], axis=0)
        rc = float(np.median(per_image[name][:, 0] / base[:, 0]))
        rw = float(np.median(per_image[name][:, 1] / base[:, 1]))
        ratios[name] = (rc, rw)
        pl, ad = np.median(best[name][:, 2:], axis=0)
        scores = [segmentation_scores(m, g) for m, g in zip(masks[name], gts)]
        f1 = np.mean([s["f1"] for s in scores])
        iou = np.mean([s["iou"] for s in scores])
        mem = (f" {memory[name][0] / 2**20:.1f} | {memory[name][1] / 2**20:.1f} |" if memory
               else "")
        print(f"| {name} | {pl * 1e3:.2f} | {ad * 1e3:.2f} | {cpu * 1e3:.2f} | {wall * 1e3:.2f} "
              f"| {rc:.2f} | {rw:.2f} | {f1:.3f} | {iou:.3f} |{mem}")
    print()
    if fit:
        fits = np.array(list(fit.values()))
        print(f"release preset: class encoder trained in {np.median(fits[:, 0]):.2f} s CPU "
              f"(median over {len(fit)} classes), spread over each class's test images above")
    paper = PAPER_2D["TopoTTA"][2] / PAPER_2D["TTT4AS"][2]
    print(f"paper Table X (2D, GPU): TopoTTA / TTT4AS {paper:.2f}x")
    for name, goal in GOALS.items():
        if name in ratios:
            rc, rw = ratios[name]
            print(f"goal {name} / TTT4AS <= {goal:.1f}x per image: {rc:.2f}x CPU time, "
                  f"{rw:.2f}x wall time -> {'met' if max(rc, rw) <= goal else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())
