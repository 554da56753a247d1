"""PCES throughput on the CPU (numba engine) and a GPU (batched torch engine), and its widths.

Throughput (the default): PCES adapts one encoder per image on the anomalous test images of the
embedded 2D benchmark (PaDiM-like maps, EfficientNet-Lite0 features of 224 x 224 images, TopoTTA's
fused pseudo-labels). The script prints, per device, engine and batch size, the median seconds per
image, the images per second, the mean F1 against the ground truth, how many pixels of each mask
agree with the CPU's mask, and the fallbacks; on a GPU it compares the images per second with the
goal (``--goal``, 500 by default). ``--cpu-torch`` also times the torch engine on the CPU, which
is why the CPU uses the numba engine (:func:`topotta_lite.method.pces.adapt_batch` picks numba on
the CPU and torch on CUDA).

Widths (``--widths``): TopoTTA's masks with PCES's default widths against those of the wider
network used before (hidden 32) and of two other seeds, on the quick 2D, 2.5D and 3D sets
(PatchCore bundles): mean F1 per modality and the median per-image IoU with the reference masks.
The tolerance the default widths meet (``method/pces.py``): on each set a mean F1 within 0.01 of
the reference's and a median IoU with its masks above 0.9, as for a change of seed.

Usage::

    python benchmarks/bench_pces.py                       # build the inputs, CPU (+ GPU if any)
    python benchmarks/bench_pces.py --save-inputs x.npz   # build once and save them (float16)
    python benchmarks/bench_pces.py --inputs x.npz        # only numpy / torch / numba needed
    python benchmarks/bench_pces.py --synthetic 256       # Lite0-shaped random inputs, no data
    python benchmarks/bench_pces.py --widths              # the widths comparison (minutes)

``--repeat`` tiles the image list (the same images again) so that a GPU batch can be large.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from topotta_lite.method.pces import PCES  # noqa: E402

LITE0 = {"channels": 64, "grid": (56, 56), "map": (224, 224)}  # 224 x 224 images, stride 4


def build_inputs(size: str) -> dict:
    """Features, fused pseudo-labels, unions and ground truths of the embedded 2D test anomalies.

    The images, maps and features are those of ``bench_operators.py``.
    """
    from bench_operators import load_inputs

    from topotta_lite.operators import TopoTTA

    _, maps, gts, feats, _ = load_inputs(size, None)
    op = TopoTTA(pces=False)
    out: dict[str, list] = {"features": feats, "masks": [], "unions": [], "gts": gts}
    for _, m in maps:
        m_sub, m_sup, fused = op.pseudo_labels(m)
        out["masks"].append(fused)
        out["unions"].append(op._union(m_sub, m_sup, fused))
    return {k: np.stack(v) for k, v in out.items()}


def synthetic_inputs(n: int, seed: int = 0) -> dict:
    """``n`` Lite0-shaped inputs (64 x 56 x 56 features, 224 x 224 masks): a blob per image whose
    cells are shifted in feature space, its dilation as the union. For timing where no data is."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    c, grid, shape = LITE0["channels"], LITE0["grid"], LITE0["map"]
    feats = rng.normal(size=(n, c, *grid)).astype(np.float32)
    masks = np.zeros((n, *shape), bool)
    for i in range(n):
        y, x = rng.integers(20, shape[0] - 60, size=2)
        h, w = rng.integers(12, 48, size=2)
        masks[i, y:y + h, x:x + w] = True
        cells = masks[i, ::4, ::4]
        feats[i][:, cells] += rng.normal(1.5, 0.5, size=(c, 1)).astype(np.float32)
    unions = np.stack([ndimage.binary_dilation(m, iterations=4) for m in masks])
    return {"features": feats, "masks": masks, "unions": unions, "gts": masks.copy()}


def _f1(mask: np.ndarray, gt: np.ndarray) -> float:
    tp = float((mask & gt).sum())
    denom = float(mask.sum() + gt.sum())
    return 2 * tp / denom if denom else 1.0


def run(pces: PCES, data: dict, batch_size: int, repeat: int, engine: str | None = None):
    """Adapt on ``data`` tiled ``repeat`` times; return (results, seconds)."""
    from topotta_lite.method.pces import adapt_batch

    feats = [f for _ in range(repeat) for f in data["features"]]
    masks = [m for _ in range(repeat) for m in data["masks"]]
    unions = [u for _ in range(repeat) for u in data["unions"]]
    cuda = str(pces.device).startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    res = adapt_batch(feats, masks, unions=unions, batch_size=batch_size, seeds=pces.seed,
                      engine=engine, **pces._kwargs())
    if cuda:
        torch.cuda.synchronize()
    return res, time.perf_counter() - t0


def throughput(args, kw: dict) -> int:
    if args.inputs:
        with np.load(args.inputs) as z:
            data = {k: z[k] for k in z.files}
        data["features"] = data["features"].astype(np.float32)
        source = args.inputs
    elif args.synthetic:
        data = synthetic_inputs(args.synthetic)
        source = f"{args.synthetic} synthetic Lite0-shaped images"
    else:
        data = build_inputs(args.size)
        source = f"embedded 2D benchmark, size {args.size}"
    if args.save_inputs:
        np.savez_compressed(args.save_inputs, **{**data, "features": data["features"].astype(
            np.float16)})
        print(f"saved {len(data['masks'])} images to {args.save_inputs}")
        return 0
    n = len(data["masks"])
    print(f"{n} images ({source}), features {data['features'].shape[1:]}, maps "
          f"{data['masks'].shape[1:]}; torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"{torch.get_num_threads()} torch threads; PCES {kw or 'defaults'}", flush=True)

    cpu_n = min(n, args.cpu_images) if args.cpu_images else n
    cpu_data = {k: v[:cpu_n] for k, v in data.items()}
    pces = PCES(device="cpu", **kw)
    run(pces, {k: v[:1] for k, v in data.items()}, 1, 1)  # numba compilation (or its cache)
    cpu, cpu_s = run(pces, cpu_data, 1, 1)
    rows = [("cpu", "numba", 1, cpu_s / cpu_n, cpu, cpu_n)]
    if args.cpu_torch:
        k = min(cpu_n, 8)
        res, sec = run(pces, {kk: v[:k] for kk, v in data.items()}, k, 1, engine="torch")
        rows.append(("cpu", "torch", k, sec / k, res, k))
    goal_met = None
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        gpu = PCES(device="cuda", **kw)
        run(gpu, {k: v[:2] for k, v in data.items()}, 2, 1)  # CUDA context, kernels
        best = 0.0
        for bs in (int(b) for b in args.batch_sizes.split(",")):
            res, sec = run(gpu, data, bs, args.repeat)
            per = sec / (n * args.repeat)
            best = max(best, 1 / per)
            rows.append((f"cuda ({name})", "torch", bs, per, res, n))
        goal_met = best >= args.goal
    else:
        print("no CUDA device: GPU rows skipped (the GPU numbers are not measured here)")

    print()
    print("| device | engine | batch | s / image | images / s | F1 | pixels equal to CPU mask "
          "| fallbacks |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, engine, bs, per, res, k in rows:
        first = res[:min(k, cpu_n)]
        f1 = np.mean([_f1(r.mask, g) for r, g in zip(first, data["gts"])])
        agree = np.mean([(r.mask == c.mask).mean() for r, c in zip(first, cpu)])
        fb = sum(r.fallback is not None for r in res)
        print(f"| {label} | {engine} | {bs} | {per:.5f} | {1 / per:.1f} | {f1:.3f} | "
              f"{agree:.4f} | {fb}/{len(res)} |")
    if goal_met is not None:
        print(f"\nGPU goal: at least {args.goal:g} images / s for 224^2 Lite0 features: "
              f"{'met' if goal_met else 'NOT met'} (best {best:.0f} images / s)")
    return 0


def widths(args) -> int:
    """TopoTTA's masks with other PCES widths and seeds against the wider earlier network."""
    import warnings

    from topotta_lite.experiments.bundles import score_bundle
    from topotta_lite.method.pces import DEFAULT_WIDTHS
    from topotta_lite.metrics import segmentation_scores
    from topotta_lite.operators import TopoTTA

    configs = {"reference (hidden 32, embed 16, seed 0)": {"hidden": 32, "embed_dim": 16},
               "reference, seed 1": {"hidden": 32, "embed_dim": 16, "seed": 1},
               "reference, seed 2": {"hidden": 32, "embed_dim": 16, "seed": 2},
               f"default {DEFAULT_WIDTHS}": {}}
    for extra in args.widths_extra or []:
        h, e = (int(v) for v in extra.split("x"))
        configs[f"hidden {h}, embed {e}"] = {"hidden": h, "embed_dim": e}
    sets = {"2d": ("embedded-2d", ("brick", "grass", "gravel", "bottle", "nut", "pcb")),
            "2.5d": ("embedded-2.5d", ("bagel", "cookie")),
            "3d": ("embedded-3d", ("casting", "composite"))}
    ref_name = next(iter(configs))
    table = {name: {} for name in configs}
    for mod, (ds, cats) in sets.items():
        f1 = {name: [] for name in configs}
        iou = {name: [] for name in configs}
        for cat in cats:
            b = score_bundle(ds, cat, "patchcore", size=args.size)
            for i in np.flatnonzero(b["labels"] == 1):
                masks = {}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for name, kw in configs.items():
                        masks[name] = TopoTTA(device="cpu", **kw).segment(b["maps"][i],
                                                                          b["features"][i])
                for name, m in masks.items():
                    r = masks[ref_name]
                    f1[name].append(segmentation_scores(m, b["gts"][i])["f1"])
                    iou[name].append((m & r).sum() / max(1, (m | r).sum()))
        for name in configs:
            table[name][mod] = (np.mean(f1[name]), np.median(iou[name]), len(f1[name]))
        print(f"{mod}: done", flush=True)
    print()
    print("| PCES | " + " | ".join(f"{m} F1 | {m} IoU with reference" for m in sets) + " |")
    print("| --- | " + " | ".join("---: | ---:" for _ in sets) + " |")
    for name, row in table.items():
        print(f"| {name} | " + " | ".join(f"{row[m][0]:.4f} | {row[m][1]:.3f}" for m in sets)
              + " |")
    print(f"\nimages per set: {', '.join(f'{m} {table[ref_name][m][2]}' for m in sets)} "
          f"(size {args.size}, PatchCore maps, the bundles' features)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="smoke", choices=("smoke", "quick", "full"))
    ap.add_argument("--inputs", help="npz written by --save-inputs (skips building the inputs)")
    ap.add_argument("--save-inputs", help="write the inputs to this npz and stop")
    ap.add_argument("--synthetic", type=int, default=0,
                    help="this many Lite0-shaped synthetic images instead of the benchmark")
    ap.add_argument("--batch-sizes", default="1,32,128,256", help="GPU batch sizes")
    ap.add_argument("--repeat", type=int, default=4, help="tile the images this many times on GPU")
    ap.add_argument("--cpu-images", type=int, default=0,
                    help="time the CPU on the first N images only (0: all)")
    ap.add_argument("--cpu-torch", action="store_true", help="also time the torch engine on CPU")
    ap.add_argument("--goal", type=float, default=500.0, help="GPU images per second to reach")
    ap.add_argument("--n-points", type=int, help="PCES n_points (default: the library's)")
    ap.add_argument("--hidden", type=int, help="PCES hidden width (default: the library's)")
    ap.add_argument("--embed-dim", type=int, help="PCES embedding width (default: the library's)")
    ap.add_argument("--widths", action="store_true",
                    help="compare PCES widths and seeds on the quick 2D / 2.5D / 3D sets")
    ap.add_argument("--widths-extra", nargs="*", help="more widths to compare, as HIDDENxEMBED")
    args = ap.parse_args(argv)
    if args.widths:
        if args.size == "smoke":
            args.size = "quick"
        return widths(args)
    kw = {k: v for k, v in (("n_points", args.n_points), ("hidden", args.hidden),
                            ("embed_dim", args.embed_dim)) if v is not None}
    return throughput(args, kw)


if __name__ == "__main__":
    sys.exit(main())
