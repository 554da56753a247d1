"""``topotta-lite report``: the executed notebooks of a profile as a static HTML site.

``topotta-lite report [--profile quick] [--build-dir build] [--figures-dir figures] [--out DIR]
[--force]``

Reads what ``topotta-lite reproduce`` left behind (the executed notebooks in ``build/<profile>/``,
``verify.json`` there when ``topotta-lite verify`` ran, the figures, tables and ``MANIFEST.json`` in
``figures/``) and writes a folder that any browser opens from disk or a local server, with no
network: the front page is a verdict dashboard of the claims, then every notebook page, figure,
interactive view and table (:mod:`topotta_lite.site`).

Safety: the site folder carries a marker file; a non-empty folder without it is refused unless
``--force``, and the figures folder, the executed notebooks' folder, the repository, the home folder
and ``/`` (and their ancestors) are refused always. A new site replaces the old one only once it is
complete. Everything read from disk is escaped or sanitised, pages carry a strict
Content-Security-Policy, and no symbolic link is followed.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from topotta_lite.site import ReportFolderError, ReportWarning, build_site

__all__ = ["build_site", "configure_parser", "run"]


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``report`` options to ``parser`` (used by :mod:`topotta_lite.cli.main`)."""
    parser.add_argument("--profile", default="quick",
                        help="which run to render: build/<profile>/ (default: quick, as make all)")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="where reproduce kept the executed notebooks (default: build/)")
    parser.add_argument("--figures-dir", type=Path, default=None,
                        help="figures and tables of that run (default: figures/ or $TOPOTTA_FIGURES)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the site folder (default: build/site/<profile>/); replaced only if "
                             "the report made it")
    parser.add_argument("--force", action="store_true",
                        help="replace a non-empty --out that the report did not make (never the "
                             "figures, build, repository or home folder)")
    return parser


def _show(warning: warnings.WarningMessage) -> None:
    print(f"topotta-lite report: warning: {warning.message}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    """Build the site; return the exit code (0 ok, 1 the site could not be written, 2 nothing to
    render or a refused ``--out``)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ReportWarning)
        try:
            index = build_site(args.profile, build_dir=args.build_dir, figures=args.figures_dir,
                               out=args.out, force=getattr(args, "force", False))
        except (FileNotFoundError, ReportFolderError) as exc:
            print(f"topotta-lite report: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # e.g. a read-only or full disk: the previous site is left as it was
            print(f"topotta-lite report: could not write the site: {exc}", file=sys.stderr)
            return 1
        finally:
            for w in caught:
                if issubclass(w.category, ReportWarning):
                    _show(w)
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    print(f"site written: {index} (open it in a browser)")
    return 0
