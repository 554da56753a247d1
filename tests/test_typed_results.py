"""No measured result typed by hand in the package's docstrings and comments.

The notebooks' rule (tests/test_notebook_text.py) for the library: a number a docstring or a
comment states about our results goes stale the moment a default or the data change, and a
reader cannot tell it from a rendered one. Results belong in tables, notebooks and tests, which
regenerate them; a docstring says where to find them.

What counts as a measured number here: an interval (``[+0.005, +0.020]``), a signed difference
(``+0.013``), a ratio (``1.85x``), a time, size or share with a unit (``8.3 ms``, ``0.9 GB``,
``12.5%``), a metric followed by its value (``F1 0.287``, ``AUPRO 0.873``), and a bare decimal
with three or more decimals and two significant digits (``0.357``). Allowed: doctest examples
(``>>>`` lines and their expected output, which the test suite checks), inline literals
(````...````: code, formats), and quotes of the paper written ``(paper, Table ...: ...)`` or
``Sec. ...: "..."``.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "topotta_lite"

ALLOW_FILES: dict[str, str] = {}
"""Files temporarily exempt (relative path -> why); empty: every file is checked."""

MEASURED = re.compile(r"""
    (?P<interval>\[\s*[+-]?\d*\.\d+\s*,\s*[+-]?\d*\.\d+\s*\])
  | (?P<signed>(?<![\w.])[+-]\d*\.\d{2,}(?!\d|\.\d))
  | (?P<ratio>(?<![\w.])\d+\.\d+\s*(?:x|×)(?![\w]))
  | (?P<unit>(?<![\w.])\d+(?:\.\d+)?\s*(?:ms|µs|us|min|GB|MB|GiB|MiB|kB)\b
              |(?<![\w.])\d+\.\d+\s*(?:s|%)(?![\w]))
  | (?P<metric>\b(?:F1|IoU|AUPRO|AUROC|PRO|AP|precision|recall)\b\s*(?:of|=|:|is)?\s*
                 \d*\.\d+)
  | (?P<decimal>(?<![\w.+-])\d*\.(?=\d*[1-9]\d*[1-9])\d{3,}(?!\d|\.\d))
""", re.X)
ALLOWED_SPANS = re.compile(r"""
    ``[^`]+``                                              # inline literals: code, formats
  | \(paper,?\s+(?:Tables?|Figs?\.|Sec\.|Eqs?\.)[^()]*(?:\([^()]*\)[^()]*)*\)  # (paper, ...)
  | Sec\.\s+[IVX]+-[A-Z]\d*:\s*"[^"]*"                     # Sec. V-H: "a quoted sentence"
""", re.X | re.S)


def _without_doctests(text: str) -> str:
    out, in_example = [], False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith(">>>") or (in_example and s.startswith("...")):
            in_example = True
            out.append("")
        elif in_example and s:
            out.append("")  # expected output of an example
        else:
            in_example = False
            out.append(line)
    return "\n".join(out)


def _texts(path: Path):
    """``(line, text)`` of every docstring (doctests removed) and comment of a module."""
    src = path.read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc is not None:
                yield node.body[0].lineno, doc
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            yield tok.start[0], tok.string


def typed_results(text: str) -> list[str]:
    """The measured numbers ``text`` states outside allowed spans.

    >>> typed_results("PCES adds +0.013 [+0.005, +0.020] F1, 1.85x slower; F1 0.287")
    ['+0.013', '[+0.005, +0.020]', '1.85x', 'F1 0.287']
    >>> typed_results("alpha = 0.5, tolerance 0.001, ``+0.000 [+0.000, +0.000]``, 95% interval")
    []
    >>> typed_results('(paper, Table VIII: 0.526 at n = 16) and Sec. V-H: "peak at 0.357"')
    []
    """
    stripped = ALLOWED_SPANS.sub(lambda m: " " * len(m.group(0)), _without_doctests(text))
    return [re.sub(r"\s+", " ", m.group(0)) for m in MEASURED.finditer(stripped)]


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py"))


def test_the_rule_catches_typed_results_and_allows_the_rest():
    assert typed_results("AUPRO 0.873 / 0.885 for the taps")
    assert typed_results("TTT4AS 3.8 ms and TopoTTA 8.3 ms per image")
    assert typed_results("the ratio is 0.92x")
    assert not typed_results("n_boot = 20000, level 0.95, seed 0, K = 1..5, 2.5D, 64^3")
    assert not typed_results(">>> f(0.357)\n0.357\n")  # doctests are checked by running them
    assert _without_doctests(">>> x\n0.357\n\nF1 0.357").strip() == "F1 0.357"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_measured_number_in_docstrings_or_comments(path):
    rel = str(path.relative_to(PACKAGE))
    found = [f"{rel}:{line}: {hit}" for line, text in _texts(path)
             for hit in typed_results(text)]
    if rel in ALLOW_FILES:
        pytest.skip(f"allowed until the {ALLOW_FILES[rel]} cleans it ({len(found)} numbers)")
    assert not found, ("a docstring or comment states a measured result; say where it is "
                       "measured (a table, a notebook, a test) instead:\n" + "\n".join(found))


def test_the_allow_list_names_existing_files():
    assert all((PACKAGE / rel).is_file() for rel in ALLOW_FILES)
