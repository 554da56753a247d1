"""``topotta-lite segment``: binarise a folder of your own score maps with THR, TTT4AS or TopoTTA.

Inputs are matched by file stem: ``maps/<name>.npy`` or ``maps/<name>.tiff`` / ``.tif`` (2D
(H, W) or 3D (D, H, W) float maps; float TIFF is what MVTec AD 2's evaluation reads),
optionally ``images/<name>.png|jpg|...`` (features from ``--backbone``) or
``features/<name>.npy`` (precomputed ``(C, h, w)`` / ``(C, d, h, w)`` features), and
``gt/<name>.png|npy`` ground-truth masks. Writes ``out/<name>.png`` (2D) or ``out/<name>.npy``
(3D) masks and, with ``--gt``, ``out/metrics.csv``.

What it promises:

- ``--out`` may not be, lie inside or contain an input folder (links resolved), and is created and
  checked writable before anything is computed. Every file is written atomically (a temporary
  file renamed over the target), never through a symbolic link; when the disk fills, the masks
  written before stay intact and the run stops, naming the file.
- A bad file is reported with its reason and skipped: empty, truncated, a lying header, more than
  ``--max-pixels`` pixels (refused from the header, before decoding), several channels.
- Channels are never read as depth (see :mod:`topotta_lite.data.maps`): a map with colour or
  alpha channels is refused unless ``--channels mean`` or ``first`` says how to reduce them. 3D
  maps come from ``.npy`` files or multi-page single-channel TIFFs.
- Images are read with their bit depth's scale (16-bit / 65535) and must have the map's size, or
  its aspect ratio (then interpolated to the map's grid).
- ``metrics.csv`` scores anomalous images only (GT with at least one marked pixel), as the
  library's protocol does; nominal images get a row with ``anomalous = 0`` and empty metrics, and
  the printout says how many of each there were.

Examples
--------
``topotta-lite segment maps/ --out masks/ --images images/ --gt gt/``
``topotta-lite segment maps/ --out masks/ --operator thr --nominal-maps val_maps/``
"""

from __future__ import annotations

import argparse
import csv
import errno
import sys
from pathlib import Path

import numpy as np

from topotta_lite._validation import same_shape
from topotta_lite.cli._segment_io import (
    IMAGE_EXTS,
    MASK_EXTS,
    UsageError,
    check_out_apart,
    index_folder,
    lookup,
    make_out,
    printable,
    read_features,
    read_gt,
    read_image_for,
    remove_empty,
    write_mask,
)
from topotta_lite.data.maps import CHANNEL_RULES, read_score_map
from topotta_lite.data.safe_read import MAX_PIXELS
from topotta_lite.vocabulary import SEG_METRICS

EXIT_CODES = """\
exit codes:
  0  every map was segmented (and scored, with --gt)
  1  some files were skipped; each is listed on stderr with its reason
  2  usage or data error, nothing written: bad options or folders, an --out that is, lies
     inside or contains an input folder, or cannot be written, or no map could be segmented
"""

#: Errors of the output disk after which no further file is attempted.
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EROFS}

#: The input folder options, and how messages call them.
_INPUTS = {"maps": "score-map folder", "gt": "--gt folder", "images": "--images folder",
           "features": "--features folder", "nominal_maps": "--nominal-maps folder"}


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``segment`` options to ``parser`` (used by :mod:`topotta_lite.cli.main`)."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EXIT_CODES
    parser.add_argument("maps", type=Path,
                        help="folder of score maps (.npy or float .tif/.tiff, 2D or 3D)")
    parser.add_argument("--out", "-o", type=Path, required=True,
                        help="output folder (apart from every input folder)")
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
    parser.add_argument("--channels", choices=CHANNEL_RULES, default="refuse",
                        help="a map with several channels (RGB/RGBA/grey+alpha TIFF): refuse it "
                             "(default), take their mean, or the first channel; channels are "
                             "never read as depth")
    parser.add_argument("--max-pixels", type=int, default=MAX_PIXELS,
                        help=f"refuse files of more pixels (voxels), from their header, before "
                             f"decoding (default 2**26 = {MAX_PIXELS:,})")
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
    print(f"topotta-lite segment: error: {printable(msg)}", file=sys.stderr)


def _map_files(folder: Path) -> list[Path]:
    """The score-map files of a folder (``.npy``, ``.tif``, ``.tiff``), sorted.

    Raises
    ------
    UsageError
        When two files share a stem (``a.npy`` and ``a.tiff``): their masks would collide.
    """
    from topotta_lite.data import MAP_SUFFIXES

    files = []
    for stem, paths in index_folder(folder, MAP_SUFFIXES).items():
        if len(paths) > 1:
            raise UsageError(f"two score maps named {stem!r} in {folder}: "
                             f"{' and '.join(p.name for p in paths)}; keep one")
        files.append(paths[0])
    return sorted(files)


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


def _check_options(args: argparse.Namespace) -> list[Path]:
    """Everything that can be checked before computing; returns the map files (UsageError)."""
    if args.max_pixels < 1:
        raise UsageError(f"--max-pixels must be a positive number of pixels, got {args.max_pixels}")
    for opt, what in _INPUTS.items():
        folder = getattr(args, opt)
        if folder is not None and not Path(folder).is_dir():
            raise UsageError(f"{what} not found: {folder}")
    check_out_apart(Path(args.out), {what: getattr(args, opt) for opt, what in _INPUTS.items()})
    files = _map_files(Path(args.maps))
    if not files:
        raise UsageError(f"no .npy / .tif / .tiff score maps in {args.maps}")
    if args.operator == "thr" and args.nominal_maps is None:
        raise UsageError("--operator thr needs --nominal-maps: a folder of score maps of nominal "
                         "validation images, from which the global threshold is derived")
    return files


def _fit_thr(op, args, failures: list) -> None:
    """Fit THR on the readable nominal maps; a bad one is reported and skipped."""
    nominal = _map_files(Path(args.nominal_maps))
    maps = []
    for p in nominal:
        try:
            maps.append(read_score_map(p, channels=args.channels, max_pixels=args.max_pixels))
        except ValueError as exc:
            failures.append((f"--nominal-maps {p.name}", str(exc)))
    if not maps:
        reasons = "; ".join(msg for _, msg in failures[-3:])
        raise UsageError(f"no readable map in --nominal-maps {args.nominal_maps}"
                         + (f" ({reasons})" if reasons else ""))
    try:
        op.fit(maps)
    except ValueError as exc:
        raise UsageError(f"cannot fit THR on --nominal-maps: {exc}") from None


def _segment_one(path: Path, args, op, backbone, indexes) -> tuple[np.ndarray, np.ndarray | None,
                                                                   list[Path | None]]:
    """Read one map and what goes with it, segment it; returns (mask, GT or None, input files)."""
    stem = path.stem
    psi = read_score_map(path, channels=args.channels, max_pixels=args.max_pixels)
    gt, sources = None, [path]
    gpath = lookup(indexes["gt"], stem, "GT mask")
    if gpath is not None:
        gt = read_gt(gpath, args.max_pixels)
        same_shape(psi, gt, (f"score map {path.name}", f"GT {gpath.name}"))
        sources.append(gpath)
    feats = None
    if args.features is not None and _uses_features(args):
        fpath = lookup(indexes["features"], stem, "features")
        if fpath is None:
            raise FileNotFoundError(f"no features {stem}.npy in {args.features}")
        feats = read_features(fpath, args.max_pixels)
        sources.append(fpath)
    elif backbone is not None:
        ipath = lookup(indexes["images"], stem, "image")
        if ipath is None:
            raise FileNotFoundError(f"no image for {stem} in {args.images}")
        if psi.ndim != 2:
            raise ValueError(f"{path.name}: --images works with 2D maps only; "
                             "use --features for 3D maps")
        feats = backbone(read_image_for(ipath, psi.shape, args.max_pixels)[None])[0]
        sources.append(ipath)
    return op.segment(psi, feats), gt, sources


def _uses_features(args) -> bool:
    return args.operator == "ttt4as" or (args.operator == "topotta" and not args.no_pces)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, (ValueError, FileNotFoundError)):
        return str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory while processing this file"
    return f"{type(exc).__name__}: {exc}"


def _write_metrics(rows: list[dict], out: Path) -> None:
    from topotta_lite.safe_io import atomic_write_in

    with atomic_write_in(out, "metrics.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=("name", "anomalous", *SEG_METRICS))
        w.writeheader()
        w.writerows(rows)


def _print_metrics(rows: list[dict], no_gt: int) -> None:
    from topotta_lite.metrics import mean_scores

    scored = [r for r in rows if r["anomalous"]]
    n_nominal = len(rows) - len(scored)
    skipped = (f"; {n_nominal} nominal image(s) (empty GT) not scored, as in the library's "
               "protocol" if n_nominal else "")
    if scored:
        means = mean_scores(scored)
        print(f"mean over {len(scored)} anomalous image(s): "
              + "  ".join(f"{k}={v:.3f}" for k, v in means.items()) + skipped)
    else:
        print(f"no anomalous image (every GT mask is empty): no metrics{skipped}")
    if no_gt:
        print(f"{no_gt} map(s) had no GT mask (no metrics for them)")


def run(args: argparse.Namespace) -> int:
    """Run the command; return the exit code (0 all ok, 1 some files skipped, 2 usage or data
    error with nothing written)."""
    created: list[Path] = []
    try:
        files = _check_options(args)
        op = build_operator(args)
        created = make_out(Path(args.out))  # before anything is computed
        failures: list[tuple[str, str]] = []
        if args.operator == "thr":
            _fit_thr(op, args, failures)
        backbone = None
        if args.images is not None and args.features is None and _uses_features(args):
            from topotta_lite.features import get_backbone

            try:
                backbone = get_backbone(args.backbone, device=args.device or "cpu")
            except (ValueError, KeyError, FileNotFoundError, ImportError) as exc:
                raise UsageError(f"cannot build backbone {args.backbone!r}: {exc}") from None
        elif args.images is not None and args.features is None:
            print("note: --images is not read: neither --operator thr nor --no-pces uses "
                  "features", file=sys.stderr)
    except (UsageError, ValueError) as exc:
        remove_empty(created)
        _error(str(exc))
        return 2
    return _loop(files, args, op, backbone, failures, created)


def _loop(files, args, op, backbone, failures, created) -> int:
    from tqdm import tqdm

    out = Path(args.out)
    indexes = {"gt": index_folder(args.gt, MASK_EXTS), "images": index_folder(args.images, IMAGE_EXTS),
               "features": index_folder(args.features, (".npy",))}
    rows, no_gt, done = [], 0, 0
    bar = tqdm(files, desc=f"segment ({args.operator})", unit="map", disable=args.quiet)
    for k, path in enumerate(bar):
        try:
            mask, gt, sources = _segment_one(path, args, op, backbone, indexes)
        except Exception as exc:  # one bad file never stops the run
            failures.append((path.name, _reason(exc)))
            bar.write(f"FAILED {printable(path.name)}: {printable(_reason(exc))}", file=sys.stderr)
            continue
        try:
            write_mask(mask, out, path.stem, sources)
        except (ValueError, OSError) as exc:
            msg = (f"cannot write {out / path.stem}.{'png' if mask.ndim == 2 else 'npy'}: {exc}")
            failures.append((path.name, msg))
            bar.write(f"FAILED {printable(path.name)}: {printable(msg)}", file=sys.stderr)
            if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
                failures += [(p.name, "not processed: the output disk is full or read-only")
                             for p in files[k + 1:]]
                break
            continue
        done += 1
        if gt is None:
            no_gt += 1 if args.gt is not None else 0
        elif gt.any():
            from topotta_lite.metrics import segmentation_scores

            rows.append({"name": printable(path.stem), "anomalous": 1,
                         **segmentation_scores(mask, gt)})
        else:
            rows.append({"name": printable(path.stem), "anomalous": 0,
                         **{key: "" for key in SEG_METRICS}})
    bar.close()
    if done and args.gt is not None:
        try:
            _write_metrics(rows, out)
        except (ValueError, OSError) as exc:
            failures.append(("metrics.csv", f"cannot write {out / 'metrics.csv'}: {exc}"))
        _print_metrics(rows, no_gt)
    print(f"{done}/{len(files)} map(s) segmented with {args.operator}; masks in "
          f"{printable(str(out))}")
    if failures:
        print(f"{len(failures)} file(s) skipped:", file=sys.stderr)
        for name, msg in failures:
            print(f"  {printable(name)}: {printable(msg)}", file=sys.stderr)
    if not done:
        remove_empty(created)
        _error("no map could be segmented; nothing written")
        return 2
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m topotta_lite.cli.segment``)."""
    parser = configure_parser(argparse.ArgumentParser(prog="topotta-lite segment",
                                                      description=__doc__))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
