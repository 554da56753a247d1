"""The ``topotta-lite`` command: ``reproduce`` (notebooks via papermill), ``segment`` (your maps),
``report`` (the executed notebooks as a static HTML site) and ``verify`` (a run's tables against the
published ones)."""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = {
    "reproduce": ("topotta_lite.cli.reproduce", "re-run the notebooks and regenerate figures/"),
    "segment": ("topotta_lite.cli.segment", "binarise a folder of score maps with THR, TTT4AS or TopoTTA"),
    "report": ("topotta_lite.cli.report", "render the executed notebooks, figures, tables and claims "
               "as a static HTML site"),
    "tune": ("topotta_lite.cli.tune", "choose every default on the development part of the "
             "embedded benchmark (not part of make all)"),
    "verify": ("topotta_lite.cli.verify", "compare the last run's fresh tables with the published "
               "ones, number by number, at the stated tolerance"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="topotta-lite", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).configure_parser(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return importlib.import_module(args._module).run(args)


if __name__ == "__main__":
    sys.exit(main())
