"""PCES throughput on the CPU (numba engine) and, when present, a GPU (batched torch engine).

For the anomalous test images of the embedded 2D benchmark (PaDiM-like maps, filterbank features,
TopoTTA's fused pseudo-labels), PCES adapts one encoder per image. The script prints, per device and
batch size, the median seconds per image, the images per second, the mean F1 against the ground
truth, and how many pixels of each mask agree with the CPU's mask.

Usage::

    python benchmarks/bench_pces.py                       # build the inputs, CPU (+ GPU if any)
    python benchmarks/bench_pces.py --save-inputs x.npz   # build once and save them (float16)
    python benchmarks/bench_pces.py --inputs x.npz        # only numpy / torch / numba needed
    python benchmarks/bench_pces.py --inputs x.npz --repeat 8 --batch-sizes 1,32,256

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

from topotta_lite.method import PCES


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


def _f1(mask: np.ndarray, gt: np.ndarray) -> float:
    tp = float((mask & gt).sum())
    denom = float(mask.sum() + gt.sum())
    return 2 * tp / denom if denom else 1.0


def run(pces: PCES, data: dict, batch_size: int, repeat: int) -> tuple[list, float]:
    feats = [f for _ in range(repeat) for f in data["features"]]
    masks = [m for _ in range(repeat) for m in data["masks"]]
    unions = [u for _ in range(repeat) for u in data["unions"]]
    if pces.device and pces.device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    res = pces.adapt_batch(feats, masks, unions=unions, batch_size=batch_size)
    if pces.device and pces.device.startswith("cuda"):
        torch.cuda.synchronize()
    return res, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="smoke", choices=("smoke", "quick", "full"))
    ap.add_argument("--inputs", help="npz written by --save-inputs (skips building the inputs)")
    ap.add_argument("--save-inputs", help="write the inputs to this npz and stop")
    ap.add_argument("--batch-sizes", default="1,8,32,128", help="GPU batch sizes")
    ap.add_argument("--repeat", type=int, default=4, help="tile the images this many times on GPU")
    ap.add_argument("--n-points", type=int, help="PCES n_points (default: the library's)")
    ap.add_argument("--hidden", type=int, help="PCES hidden width (default: the library's)")
    ap.add_argument("--embed-dim", type=int, help="PCES embedding width (default: the library's)")
    args = ap.parse_args(argv)
    kw = {k: v for k, v in (("n_points", args.n_points), ("hidden", args.hidden),
                            ("embed_dim", args.embed_dim)) if v is not None}

    if args.inputs:
        with np.load(args.inputs) as z:
            data = {k: z[k] for k in z.files}
        data["features"] = data["features"].astype(np.float32)
    else:
        data = build_inputs(args.size)
    if args.save_inputs:
        np.savez_compressed(args.save_inputs, **{**data, "features": data["features"].astype(
            np.float16)})
        print(f"saved {len(data['masks'])} images to {args.save_inputs}")
        return 0
    n = len(data["masks"])
    print(f"{n} images, features {data['features'].shape[1:]}, maps {data['masks'].shape[1:]}; "
          f"torch {torch.__version__}, {os.cpu_count()} CPUs; PCES {kw or 'defaults'}")

    pces = PCES(device="cpu", **kw)
    run(pces, {k: v[:1] for k, v in data.items()}, 1, 1)  # numba compilation
    cpu, cpu_s = run(pces, data, 1, 1)
    rows = [("cpu (numba, 1 thread)", 1, cpu_s / n, cpu)]
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name()
        gpu = PCES(device="cuda", **kw)
        run(gpu, {k: v[:2] for k, v in data.items()}, 2, 1)  # CUDA context, kernels
        for bs in (int(b) for b in args.batch_sizes.split(",")):
            res, sec = run(gpu, data, bs, args.repeat)
            rows.append((f"cuda ({name})", bs, sec / (n * args.repeat), res))
    else:
        print("no CUDA device: GPU rows skipped")

    print()
    print("| device | batch | s / image | images / s | F1 | pixels equal to CPU mask | fallbacks |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, bs, per, res in rows:
        first = res[:n]
        f1 = np.mean([_f1(r.mask, g) for r, g in zip(first, data["gts"])])
        agree = np.mean([(r.mask == c.mask).mean() for r, c in zip(first, cpu)])
        fb = sum(r.fallback is not None for r in res)
        print(f"| {label} | {bs} | {per:.4f} | {1 / per:.1f} | {f1:.3f} | {agree:.4f} | "
              f"{fb}/{len(res)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
