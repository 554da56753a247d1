"""Ranking quality of the anomaly scorers on the embedded benchmark.

Prints I-AUROC, P-AUROC and AUPRO per class and their mean for each scorer, plus the seconds per
image spent fitting (per training image) and scoring (per test image).

Usage::

    python benchmarks/bench_scorers.py                      # 2D, quick size: Lite0 and filter bank
    python benchmarks/bench_scorers.py --size smoke --backbone randconv
    python benchmarks/bench_scorers.py --modality 2.5d      # RGB-D (Lite0 + depth) and depth only
    python benchmarks/bench_scorers.py --modality 3d        # voxel scorer
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from topotta_lite.data import load_embedded
from topotta_lite.metrics import aupro, i_auroc, p_auroc
from topotta_lite.scorers import PaDiMScorer, PatchCoreScorer, VoxelScorer

BACKBONES = {"2d": ("efficientnet_lite0", "filterbank"), "2.5d": ("rgbd", "depth")}
"""Backbones compared by default: the pretrained default first, then the weight-free one."""


def make_scorers(modality: str, backbone: str | None, device: str, seed: int) -> dict:
    if modality == "3d":
        return {
            "VoxelPaDiM": lambda: VoxelScorer("padim", device=device, seed=seed),
            "VoxelPatchCore": lambda: VoxelScorer("patchcore", device=device, seed=seed),
        }
    out = {}
    for bb in (backbone,) if backbone else BACKBONES[modality]:
        out[f"PaDiM[{bb}]"] = lambda bb=bb: PaDiMScorer(bb, device=device, seed=seed)
        out[f"PatchCore[{bb}]"] = lambda bb=bb: PatchCoreScorer(bb, device=device, seed=seed)
    return out


def evaluate(split, make) -> dict:
    t0 = time.perf_counter()
    scorer = make().fit(split.train)
    t1 = time.perf_counter()
    maps = scorer.score(split.test)
    t2 = time.perf_counter()
    gts = [s.mask for s in split.test]
    labels = np.array([s.label for s in split.test])
    return {
        "I-AUROC": i_auroc(maps, labels),
        "P-AUROC": p_auroc(maps, gts),
        "AUPRO": aupro(maps, gts),
        "fit_s_per_img": (t1 - t0) / len(split.train),
        "score_s_per_img": (t2 - t1) / len(split.test),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modality", default="2d", choices=["2d", "2.5d", "3d"])
    ap.add_argument("--size", default="quick", choices=["smoke", "quick", "full"])
    ap.add_argument("--backbone", default=None, help="feature backbone (2D / 2.5D)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    data = load_embedded(args.modality, size=args.size, seed=args.seed)
    keys = ("I-AUROC", "P-AUROC", "AUPRO", "fit_s_per_img", "score_s_per_img")
    for name, make in make_scorers(args.modality, args.backbone, args.device, args.seed).items():
        print(f"\n## {name}  ({args.modality}, size={args.size})")
        print(f"| {'class':10s} | I-AUROC | P-AUROC | AUPRO | fit s/img | score s/img |")
        print("|" + "-" * 12 + "|---------|---------|-------|-----------|-------------|")
        rows = []
        for cat, split in data.items():
            r = evaluate(split, make)
            rows.append(r)
            print(f"| {cat:10s} | {r['I-AUROC']:.3f}   | {r['P-AUROC']:.3f}   | {r['AUPRO']:.3f} "
                  f"| {r['fit_s_per_img']:9.3f} | {r['score_s_per_img']:11.3f} |", flush=True)
        m = {k: float(np.mean([r[k] for r in rows])) for k in keys}
        print(f"| {'mean':10s} | {m['I-AUROC']:.3f}   | {m['P-AUROC']:.3f}   | {m['AUPRO']:.3f} "
              f"| {m['fit_s_per_img']:9.3f} | {m['score_s_per_img']:11.3f} |", flush=True)


if __name__ == "__main__":
    main()
