"""Notebook text that cannot contradict its outputs, checked on the notebook sources.

The convention (README, "How the notebooks state results"):

* a hand-typed Markdown cell never states a number about our results. Numbers about results are
  printed by code, or rendered into sentences from the results (``IPython.display.Markdown``);
  directions ("higher", "monotone") that prose relies on are asserted by a check cell;
* a numeral in a hand-typed Markdown cell may appear only in mathematics (``$...$``: definitions
  and worked examples on hand-made inputs), in code (back-ticks: parameter values, names,
  commands), in a quote of the paper written ``(paper, Table VIII: ...)`` (or ``Fig.``, ``Sec.``,
  ``Eq.``, ``Lemma``), in a reference (``Table I``, ``Fig. 5``, ``Sec. IV-A``, ``notebook 03``), in
  a heading or list number, or in a name (``2D``, ``H1``, ``b0``, ``F1``, ``Top-1``...).

This file also checks the exercises of notebooks 01-05 (a collapsed, self-checking solution after
each) and that every parameter of a notebook is used.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
TEACHING = [p for p in NOTEBOOKS if "01" <= p.stem[:2] <= "05"]

_ALLOWED = [
    r"\$\$.*?\$\$",  # display mathematics
    r"\$[^$]+?\$",  # inline mathematics
    r"```.*?```",  # fenced code
    r"`[^`\n]+`",  # inline code
    r"\]\([^)\s]*\)",  # link and image targets (file names)
    # a quote of the paper: (paper, Table VIII: ...), nested parentheses allowed one level deep
    r"\(paper,?\s+(?:Tables?|Figs?\.|Sec\.|Sections?|Eqs?\.|Lemma)[^()]*(?:\([^()]*\)[^()]*)*\)",
    # references to the paper's tables, figures, sections, equations, lemmas
    r"\b(?:Tables?|Figs?\.|Figure|Sec\.|Sections?|Eqs?\.|Lemma)\s+[IVX\d]+(?:-[A-Z\d]+)?"
    r"(?:\s*(?:,|and|to|-)\s*(?:Fig\.\s*)?[IVX\d]+(?:-[A-Z\d]+)?)*",
    # references inside the companion: notebooks, sections, exercises
    r"(?i:\bnotebooks?|\bsections?|\bexercises?)\s+\d+(?:\s*(?:-|,|and|or)\s*\d+)*",
    r"^#{1,6}\s+\d+(?:\.\d+)?\s*[.·]?",  # heading numbers
    r"^\s*\d+\.\s",  # numbered lists
    r"\b\d(?:\.\d)?D\b",  # 2D, 2.5D, 3D
    r"\b[A-Za-z]+\d+[A-Za-z\d]*\b",  # names with digits: F1, H1, b0, TTT4AS, M3DM, pcb1, Lite0
    r"\b(?:4|6|8|18|26)-connect\w*",  # connectivities
    r"\b\d+\.\d+\.\d+\b", r"pull request \d+",  # software versions, upstream pull requests
    r"\bTop-\d\b", r"\bβ\d\b",
]
_ALLOWED_RE = re.compile("|".join(f"(?:{p})" for p in _ALLOWED), re.DOTALL | re.MULTILINE)


def numerals_outside_allowed_spans(text: str) -> list[str]:
    """The snippets of ``text`` holding a numeral that the convention does not allow.

    >>> numerals_outside_allowed_spans("F1 is 0.357 here (paper, Table VIII: 0.526)")
    ['F1 is 0.357 here (paper']
    >>> numerals_outside_allowed_spans("$b_0 = 2$ in Table VII, notebook 03, `lam = 0.01`")
    []
    """
    stripped = _ALLOWED_RE.sub(lambda m: " " * len(m.group(0)), text)
    return [text[max(m.start() - 12, 0):m.end() + 12].replace("\n", " ")
            for m in re.finditer(r"\d+(?:\.\d+)?", stripped)]


def _markdown_cells(path: Path):
    nb = jupytext.read(path)
    return [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_hand_typed_markdown_states_no_number_about_results(notebook):
    bad = [f"cell {i}: ...{snippet}..." for i, text in _markdown_cells(notebook)
           for snippet in numerals_outside_allowed_spans(text)]
    assert not bad, (f"{notebook.name}: a hand-typed Markdown cell states a number. Render it "
                     "from the results, quote the paper as (paper, Table ...: ...), or write "
                     "mathematics as $...$:\n" + "\n".join(bad))


def test_the_convention_catches_typed_results_and_allows_quotes():
    assert numerals_outside_allowed_spans("TopoTTA takes 0.77x-0.96x the time of TTT4AS")
    assert numerals_outside_allowed_spans("9 hold, 12 do not")
    assert numerals_outside_allowed_spans("the median ratio is 0.87")
    assert not numerals_outside_allowed_spans(
        "(paper, Table VIII: PatchCore 0.526 at n = 16, 0.521 at n = 32)")
    assert not numerals_outside_allowed_spans("Sec. V-B to V-D, Table I (2D rows), Fig. 5")
    assert not numerals_outside_allowed_spans("## 2 · Table VI: filtrations\n1. the grid")


@pytest.mark.parametrize("notebook", TEACHING, ids=[p.stem for p in TEACHING])
def test_teaching_notebooks_have_exercises_with_collapsed_checked_solutions(notebook):
    cells = jupytext.read(notebook).cells
    exercises = [i for i, c in enumerate(cells)
                 if c.cell_type == "markdown" and re.search(r"^#+\s*Exercise\b", c.source, re.M)]
    assert len(exercises) >= 3, f"{notebook.name}: {len(exercises)} exercises, at least 3 expected"
    for i in exercises:
        solution = cells[i + 1]
        meta = solution.metadata
        assert solution.cell_type == "code" and "solution" in meta.get("tags", []), \
            f"{notebook.name}: exercise in cell {i} is not followed by a solution cell"
        assert meta.get("jupyter", {}).get("source_hidden") is True, \
            f"{notebook.name}: the solution in cell {i + 1} is not collapsed"
        assert re.search(r"^\s*assert ", solution.source, re.M), \
            f"{notebook.name}: the solution in cell {i + 1} checks nothing"


def _cells(path: Path):
    return jupytext.read(path).cells


def _parameters(path: Path) -> list[str]:
    (cell,) = [c for c in _cells(path) if "parameters" in c.metadata.get("tags", [])]
    return [t.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
            for t in node.targets if isinstance(t, ast.Name)]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_parameter_is_used(notebook):
    """A parameter nothing reads misleads whoever sets it (``profile`` is the runner's contract)."""
    used = set()
    for cell in _cells(notebook):
        if cell.cell_type == "code" and "parameters" not in cell.metadata.get("tags", []):
            used |= {n.id for n in ast.walk(ast.parse(cell.source)) if isinstance(n, ast.Name)}
    unused = [p for p in _parameters(notebook) if p not in used and p != "profile"]
    assert not unused, f"{notebook.name}: parameters never used: {unused}"


def test_profiles_set_only_declared_parameters():
    import tomllib

    table = tomllib.loads((ROOT / "notebooks" / "profiles.toml").read_text(encoding="utf-8"))
    declared = {p.stem: set(_parameters(p)) for p in NOTEBOOKS}
    bad = [f"{profile}.{stem}.{name}" for profile, sections in table.items()
           for stem, params in sections.items() for name in params
           if name not in declared.get(stem, set())]
    assert not bad, bad


def _readme_results_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## What the companion finds", 1)[1].split("\n## ", 1)[0]
    return section


def test_readme_results_section_types_no_number():
    """Outside the generated block (tests/test_readme.py checks the block), no typed result."""
    from topotta_lite.experiments.readme import README_MARKERS

    begin, end = README_MARKERS
    section = _readme_results_section()
    typed = section.split(begin)[0] + section.split(end)[1]
    assert not numerals_outside_allowed_spans(typed), numerals_outside_allowed_spans(typed)
