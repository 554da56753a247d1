"""The ``topotta-lite`` command line: ``reproduce``, ``segment``."""

from topotta_lite.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
