"""``topotta-lite segment``: binarise a folder of your own score maps with THR, TTT4AS or TopoTTA.

Inputs are matched by file stem: ``maps/<name>.npy`` or ``maps/<name>.tiff`` / ``.tif`` (2D
(H, W) or 3D (D, H, W) float maps; float TIFF is what MVTec AD 2's evaluation reads),
optionally ``images/<name>.png|jpg|...`` (features from ``--backbone``) or
``features/<name>.npy`` (precomputed ``(C, h, w)`` / ``(C, d, h, w)`` features), and
``gt/<name>.png|npy`` ground-truth masks. Writes ``out/<name>.png`` (2D) or ``out/<name>.npy``
(3D) masks and, with ``--gt``, ``out/metrics.csv`` (precision, recall, F1, IoU per image).
A bad file is reported and skipped; the exit code is 0 when every file was processed, 1 when
some failed, 2 when nothing could start (bad folders or options).

Examples
--------
``topotta-lite segment maps/ --out masks/ --images images/ --gt gt/``
``topotta-lite segment maps/ --out masks/ --operator thr --nominal-maps val_maps/``
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

from topotta_lite._validation import as_mask, as_score_map, same_shape
from topotta_lite.vocabulary import SEG_METRICS

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MASK_EXTS = (".png", ".npy", ".bmp", ".tif", ".tiff")


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``segment`` options to ``parser`` (used by :mod:`topotta_lite.cli.main`)."""
    parser.add_argument("maps", type=Path,
                        help="folder of score maps (.npy or float .tif/.tiff, 2D or 3D)")
    parser.add_argument("--out", "-o", type=Path, required=True, help="output folder")
    parser.add_argument("--operator", choices=("thr", "ttt4as", "topotta"), default="topotta")
    parser.add_argument("--images", type=Path, help="folder of images (features via --backbone)")
    parser.add_argument("--features", type=Path,
                        help="folder of precomputed features <name>.npy, (C,h,w) or (C,d,h,w)")
    parser.add_argument("--backbone", default="filterbank",
                        help="feature backbone for --images (topotta_lite.features.get_backbone)")
    parser.add_argument("--gt", type=Path, help="folder of ground-truth masks (.png or .npy)")
    parser.add_argument("--nominal-maps", type=Path,
                        help="folder of nominal validation score maps (.npy or .tiff), "
                             "needed by thr")
    g = parser.add_argument_group("TopoTTA")
    g.add_argument("--k", type=int, default=1, help="Top-K features per filtration (1)")
    g.add_argument("--levels", type=int, default=256, help="filtration levels n (256)")
    g.add_argument("--filtrations", choices=("both", "sublevel", "superlevel"), default="both")
    g.add_argument("--fusion", choices=("eai", "intersection", "union", "iou", "none"),
                   default="eai")
    g.add_argument("--lam", type=float, default=0.01, help="EAI lambda (0.01)")
    g.add_argument("--construction", choices=("V", "T"), default="V")
    g.add_argument("--no-pces", action="store_true", help="return the fused pseudo-label mask")
    g.add_argument("--margin", type=float, default=1.0, help="PCES contrastive margin (1.0)")
    g.add_argument("--epochs", type=int, default=30, help="PCES Adam epochs (30)")
    t = parser.add_argument_group("THR / TTT4AS")
    t.add_argument("--thr-k", type=float, default=3.0, help="THR: mean + k std (3)")
    t.add_argument("--thr-percentile", type=float, default=None,
                   help="THR: use this percentile of nominal scores instead of mean + k std")
    t.add_argument("--peak-percentile", type=float, default=99.0, help="TTT4AS peaks (99)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None,
                        help="PCES device (default: cuda if available)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _error(msg: str) -> None:
    print(f"topotta-lite segment: error: {msg}", file=sys.stderr)


def _find(folder: Path | None, stem: str, exts: tuple[str, ...]) -> Path | None:
    if folder is None:
        return None
    for ext in exts:
        p = folder / f"{stem}{ext}"
        if p.exists():
            return p
    return None


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:  # corrupted / not an .npy file
        raise ValueError(f"{path.name}: cannot read as .npy ({exc})") from None


def _map_files(folder: Path) -> list[Path]:
    """The score-map files of a folder (``.npy``, ``.tif``, ``.tiff``), sorted.

    Raises
    ------
    ValueError
        When two files share a stem (``a.npy`` and ``a.tiff``): their masks would collide.
    """
    from topotta_lite.data import MAP_SUFFIXES

    files = sorted(p for p in Path(folder).iterdir()
                   if p.is_file() and p.suffix.lower() in MAP_SUFFIXES)
    seen: dict[str, Path] = {}
    for p in files:
        if p.stem in seen:
            raise ValueError(f"two score maps named {p.stem!r} in {folder}: {seen[p.stem].name} "
                             f"and {p.name}; keep one")
        seen[p.stem] = p
    return files


def _load_map(path: Path) -> np.ndarray:
    """One score map, ``.npy`` or float TIFF (:func:`topotta_lite.data.read_score_map`)."""
    from topotta_lite.data import read_score_map

    try:
        return read_score_map(path)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from None


def _load_mask(path: Path) -> np.ndarray:
    if path.suffix == ".npy":
        arr = _load_npy(path)
        return as_mask(arr != 0 if arr.dtype != bool else arr, name=f"GT {path.name}")
    from PIL import Image

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L"))
    except (OSError, ValueError) as exc:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"{path.name}: cannot read image ({exc})") from None
    return arr > 0


def _load_image(path: Path) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except (OSError, ValueError) as exc:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"{path.name}: cannot read image ({exc})") from None


def build_operator(args: argparse.Namespace):
    """The operator the options ask for (THR still unfitted)."""
    from topotta_lite.operators import THR, TTT4AS, TopoTTA

    if args.operator == "thr":
        if args.thr_percentile is not None:
            return THR(method="percentile", q=args.thr_percentile, seed=args.seed)
        return THR(k=args.thr_k, seed=args.seed)
    if args.operator == "ttt4as":
        return TTT4AS(peak_percentile=args.peak_percentile, seed=args.seed)
    filtrations = ("sublevel", "superlevel") if args.filtrations == "both" else (args.filtrations,)
    fusion = None if args.fusion == "none" or len(filtrations) == 1 else args.fusion
    return TopoTTA(filtrations=filtrations, k=args.k, levels=args.levels, fusion=fusion,
                   lam=args.lam, construction=args.construction, pces=not args.no_pces,
                   margin=args.margin, epochs=args.epochs, device=args.device, seed=args.seed)


def _write_mask(mask: np.ndarray, out: Path, stem: str) -> Path:
    if mask.ndim == 2:
        from PIL import Image

        path = out / f"{stem}.png"
        Image.fromarray(mask.astype(np.uint8) * 255).save(path)
    else:
        path = out / f"{stem}.npy"
        np.save(path, mask)
    return path


def run(args: argparse.Namespace) -> int:
    """Run the command; return the exit code (0 ok, 1 some files failed, 2 could not start)."""
    for opt in ("maps", "images", "features", "gt", "nominal_maps"):
        folder = getattr(args, opt)
        if folder is not None and not Path(folder).is_dir():
            _error(f"--{opt.replace('_', '-')} folder not found: {folder}"
                   if opt != "maps" else f"score-map folder not found: {folder}")
            return 2
    try:
        files = _map_files(Path(args.maps))
    except ValueError as exc:
        _error(str(exc))
        return 2
    if not files:
        _error(f"no .npy / .tif / .tiff score maps in {args.maps}")
        return 2
    try:
        op = build_operator(args)
    except ValueError as exc:
        _error(str(exc))
        return 2
    if args.operator == "thr":
        if args.nominal_maps is None:
            _error("--operator thr needs --nominal-maps: a folder of score maps of nominal "
                   "validation images, from which the global threshold is derived")
            return 2
        try:
            nominal = _map_files(Path(args.nominal_maps))
        except ValueError as exc:
            _error(str(exc))
            return 2
        if not nominal:
            _error(f"no .npy / .tif / .tiff maps in --nominal-maps {args.nominal_maps}")
            return 2
        try:
            op.fit([_load_map(p) for p in nominal])
        except ValueError as exc:
            _error(f"cannot fit THR on --nominal-maps: {exc}")
            return 2
    backbone = None
    if args.images is not None and args.features is None and args.operator != "thr":
        from topotta_lite.features import get_backbone

        try:
            backbone = get_backbone(args.backbone, device=args.device or "cpu")
        except (ValueError, KeyError, FileNotFoundError, ImportError) as exc:
            _error(f"cannot build backbone {args.backbone!r}: {exc}")
            return 2

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm

    rows, failures, no_gt = [], [], 0
    for path in tqdm(files, desc=f"segment ({args.operator})", unit="map", disable=args.quiet):
        stem = path.stem
        try:
            psi = as_score_map(_load_map(path), name=f"score map {path.name}")
            gt = None
            if args.gt is not None:
                gpath = _find(args.gt, stem, MASK_EXTS)
                if gpath is None:
                    no_gt += 1
                else:
                    gt = _load_mask(gpath)
                    same_shape(psi, gt, (f"score map {path.name}", f"GT {gpath.name}"))
            feats = None
            if args.operator != "thr":
                fpath = _find(args.features, stem, (".npy",))
                if args.features is not None:
                    if fpath is None:
                        raise FileNotFoundError(f"no features {stem}.npy in {args.features}")
                    feats = _load_npy(fpath)
                elif backbone is not None:
                    ipath = _find(args.images, stem, IMAGE_EXTS)
                    if ipath is None:
                        raise FileNotFoundError(f"no image for {stem} in {args.images}")
                    if psi.ndim != 2:
                        raise ValueError(f"{path.name}: --images works with 2D maps only; "
                                         "use --features for 3D maps")
                    feats = backbone(_load_image(ipath)[None])[0]
            mask = op.segment(psi, feats)
            _write_mask(mask, out, stem)
            if gt is not None:
                from topotta_lite.metrics import segmentation_scores

                rows.append({"name": stem, **segmentation_scores(mask, gt)})
        except (ValueError, FileNotFoundError, OSError) as exc:
            failures.append((path.name, str(exc)))
            tqdm.write(f"FAILED {path.name}: {exc}", file=sys.stderr)

    if args.gt is not None:
        with open(out / "metrics.csv", "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=("name", *SEG_METRICS))
            w.writeheader()
            w.writerows(rows)
        if rows:
            means = {k: float(np.mean([r[k] for r in rows])) for k in SEG_METRICS}
            print(f"mean over {len(rows)} image(s): "
                  + "  ".join(f"{k}={v:.3f}" for k, v in means.items()))
        if no_gt:
            print(f"{no_gt} map(s) had no GT mask (no metrics for them)")
    done = len(files) - len(failures)
    print(f"{done}/{len(files)} map(s) segmented with {args.operator}; masks in {out}")
    if failures:
        print(f"{len(failures)} file(s) failed:", file=sys.stderr)
        for name, msg in failures:
            print(f"  {name}: {msg}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m topotta_lite.cli.segment``)."""
    parser = configure_parser(argparse.ArgumentParser(prog="topotta-lite segment",
                                                      description=__doc__))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
