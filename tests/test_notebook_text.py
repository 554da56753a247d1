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
def test_teaching_notebooks_have_answerable_exercises_with_collapsed_checked_solutions(notebook):
    """Each exercise: its statement, a cell where the student answers (``answer = None`` and
    ``check("NN.k", answer)``), then a collapsed solution that asserts ``check`` accepts it.
    Every key a notebook checks is registered, and every registered one is in its notebook."""
    from topotta_lite.teaching import exercises as registered

    cells = jupytext.read(notebook).cells
    nn = notebook.stem[:2]
    found = [i for i, c in enumerate(cells)
             if c.cell_type == "markdown" and re.search(r"^#+\s*Exercise\b", c.source, re.M)]
    assert len(found) >= 3, f"{notebook.name}: {len(found)} exercises, at least 3 expected"
    keys = []
    for i in found:
        number = re.search(r"^#+\s*Exercise\s+(\d+)", cells[i].source, re.M)
        assert number, f"{notebook.name}: the exercise in cell {i} has no number"
        key = f"{nn}.{number.group(1)}"
        keys.append(key)
        student, solution = cells[i + 1], cells[i + 2]
        assert student.cell_type == "code" and "solution" not in student.metadata.get("tags", []), \
            f"{notebook.name}: exercise {key} is not followed by a cell for the student's answer"
        call = re.search(rf"^check\(\s*[\"']{re.escape(key)}[\"']\s*,\s*(\w+)\s*\)\s*$",
                         student.source, re.M)
        assert call, f"{notebook.name}: the answer cell of {key} does not end with check({key!r}, ...)"
        assert re.search(rf"^{call.group(1)}\s*=\s*None\b", student.source, re.M), \
            f"{notebook.name}: the answer cell of {key} has no `{call.group(1)} = None` placeholder"
        meta = solution.metadata
        assert solution.cell_type == "code" and "solution" in meta.get("tags", []), \
            f"{notebook.name}: exercise {key} has no solution cell after its answer cell"
        assert meta.get("jupyter", {}).get("source_hidden") is True, \
            f"{notebook.name}: the solution of {key} is not collapsed"
        assert re.search(r"^\s*assert ", solution.source, re.M), \
            f"{notebook.name}: the solution of {key} checks nothing"
        assert re.search(rf"\bcheck\(\s*[\"']{re.escape(key)}[\"']", solution.source), \
            f"{notebook.name}: the solution of {key} does not call check({key!r}, ...)"
    assert len(set(keys)) == len(keys), f"{notebook.name}: exercise numbers repeat: {keys}"
    assert set(keys) == {ex.key for ex in registered(nn)}, \
        (f"{notebook.name}: exercises in the notebook {sorted(keys)}, registered "
         f"{sorted(ex.key for ex in registered(nn))}")


# ---------------------------------------------------------------- one definition of persistence
COURSE = [p for p in NOTEBOOKS if "00" <= p.stem[:2] <= "05"]
TEACHING_MODULES = sorted((ROOT / "topotta_lite" / "teaching").glob("*.py"))

_DB = r"\|\s*\\?(?:text\{)?d(?:eath)?\}?\s*-\s*\\?(?:text\{)?b(?:irth)?\}?\s*\|"  # |d - b|
_HALF = r"\s*(?:/\s*2|\\over\s*2)"
_PERSISTENCE_PHRASINGS = [
    # "its distance to the diagonal, |death - birth|, is its persistence" (a distance to the
    # diagonal is half the persistence)
    (rf"distance (?:of a point )?(?:to|from) the diagonal\s*(?:,|is|=|:)?\s*\$?{_DB}\$?(?!{_HALF})",
     "the distance to the diagonal is (d - b) / 2, not |d - b|"),
    (r"distance (?:of a point )?(?:to|from) the diagonal (?:is|equals|=) (?:its|the) persistence",
     "the distance to the diagonal is half the persistence"),
    (r"(?<!vertical )(?<!twice the )(?<!twice its )\bpersistence\b,?\s*(?:is|=|equals)\s*(?:the |its )?"
     r"(?:L[_-]?\\?(?:infty|∞|infinity)\s*)?distance (?:to|from) the diagonal",
     "the persistence is d - b; the L-infinity distance to the diagonal is half of it"),
    # a point moved to the diagonal travels (d - b) / 2, not |d - b|
    (rf"(?:to|onto) the diagonal[^.;]{{0,40}}?(?:mov|travel|cost)\w*\s*(?:by\s*)?\$?{_DB}\$?(?!{_HALF})",
     "a point sent to the diagonal moves by (d - b) / 2"),
]


def _plain_text(path: Path) -> list[tuple[int, str]]:
    """Each cell of a notebook (Markdown, and code with its string escapes read) or the whole of a
    module, whitespace collapsed, so that a phrase split over lines is still one phrase."""
    if path.parent.name == "notebooks":
        texts = [c.source for c in jupytext.read(path).cells]
    else:
        texts = [path.read_text(encoding="utf-8")]
    return [(i, re.sub(r"\s+", " ", t.replace("\\\\", "\\"))) for i, t in enumerate(texts)]


def persistence_phrasing_problems(text: str) -> list[str]:
    """Snippets of ``text`` that define persistence or the distance to the diagonal otherwise
    than the course does: persistence ``d - b``, L-infinity distance to the diagonal
    ``(d - b) / 2``, and "within epsilon of the diagonal" only beside "persistence at most
    2 epsilon".

    >>> found = persistence_phrasing_problems("its distance to the diagonal, $|d - b|$, is its persistence")
    >>> found[0].split(": ")[1]
    'the distance to the diagonal is (d - b) / 2, not |d - b|'
    >>> persistence_phrasing_problems("its L-infinity distance to the diagonal is $|d - b| / 2$")
    []
    """
    text = re.sub(r"\s+", " ", text)
    found = []
    for pattern, why in _PERSISTENCE_PHRASINGS:
        for m in re.finditer(pattern, text, re.I):
            found.append(f"{text[max(m.start() - 20, 0):m.end() + 20].strip()}: {why}")
    if re.search(r"within\s+\$?[^$]{0,30}\$?\s+of the diagonal", text, re.I) and not re.search(
            r"(?:2|two)\s*(?:\*|\\,|\\cdot|\s)*(?:\\varepsilon|\\epsilon|ε|eps)", text):
        m = re.search(r"within\s+\$?[^$]{0,30}\$?\s+of the diagonal", text, re.I)
        found.append(f"{m.group(0)}: say what it means (persistence at most 2 epsilon) in the same "
                     "cell")
    return found


def test_the_persistence_phrasing_check_catches_the_old_definitions():
    bad = [
        "its distance to the diagonal, $|\\text{death} - \\text{birth}|$, is its **persistence**",
        "The distance of a point from the diagonal is its persistence.",
        "a point sent to the diagonal moves $|d - b|$ in the matching",
        "persistence = distance to the diagonal",
        "points within $\\varepsilon$ of the diagonal may vanish",
    ]
    for text in bad:
        assert persistence_phrasing_problems(text), text
    good = [
        "its persistence is $d - b$; its $L_\\infty$ distance to the diagonal is $(d - b) / 2$",
        "a point sent to the diagonal moves $|\\text{death} - \\text{birth}| / 2$",
        "points within $\\varepsilon$ of the diagonal (persistence at most $2\\varepsilon$) may vanish",
        "persistence = vertical distance to the diagonal",
    ]
    for text in good:
        assert not persistence_phrasing_problems(text), text


@pytest.mark.parametrize("path", COURSE + TEACHING_MODULES, ids=lambda p: p.name)
def test_one_definition_of_persistence(path):
    bad = [f"cell {i}: {snippet}" for i, text in _plain_text(path)
           for snippet in persistence_phrasing_problems(text)]
    assert not bad, f"{path.name}:\n" + "\n".join(bad)


# ---------------------------------------------------------------- phrasings the course review found
_WRONG_PHRASES = [
    (r"hundreds of other features", "count them, and say which features are far from the diagonal"),
    (r"each tent is a hole", "a landscape layer is the k-th highest tent, not a feature"),
    (r"passes the lowest point", "a calm piece merges at the lowest *pass* of what surrounds it"),
    (r"(?:sent|moved) to the essential class", "pieces touching the border *die into* the "
                                              "essential class"),
    (r"(?<![A-Za-z])(?<!sub)(?<!super)level sets?\b", "say sublevel set or superlevel set"),
    (r"finally everything merges into one piece", "render the counts the panels print"),
    (r"uses the whole allowance", "render what the output shows"),
    (r"the only summary with Lemma", "landscapes share the constant"),
    (r"\bW_?1\b is not bounded", "state the L^p bound (with its conditions) instead"),
    (r"returns exactly \d", "a library's result is printed by the code, not typed"),
]
_HISTORY = [r"\bfirst version\b", r"\bwe wrote\b", r"\blost from the text\b",
            r"\b(?:an )?earlier version of (?:this|the) notebook\b", r"\bprevious version\b"]


@pytest.mark.parametrize("notebook", COURSE, ids=[p.stem for p in COURSE])
def test_course_notebooks_avoid_the_phrasings_the_review_found(notebook):
    bad = [f"cell {i}: ...{text[max(m.start() - 30, 0):m.end() + 30]}... ({why})"
           for i, text in _plain_text(notebook) for pattern, why in _WRONG_PHRASES
           for m in re.finditer(pattern, text, re.I)]
    assert not bad, f"{notebook.name}:\n" + "\n".join(bad)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_development_history_in_the_notebooks(notebook):
    """A notebook teaches what the code does now, not how it came to be."""
    bad = [f"cell {i}: ...{text[max(m.start() - 40, 0):m.end() + 40]}..."
           for i, text in _plain_text(notebook) for pattern in _HISTORY
           for m in re.finditer(pattern, text, re.I)]
    assert not bad, f"{notebook.name} tells the development history:\n" + "\n".join(bad)


def test_the_history_check_catches_the_phrases():
    for text in ("The first version of this notebook computed", "the first version we wrote",
                 "(lost from the text we have)"):
        assert any(re.search(p, text, re.I) for p in _HISTORY), text


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
