"""The course's answerable exercises and its bibliography.

Every registered exercise accepts its right answer, rejects each wrong answer it declares (and
an unrelated one), and says "not answered" for ``None``; every citation key a notebook uses is in
``references.bib``.
"""

import re
from pathlib import Path

import pytest

from topotta_lite.teaching import check, exercises
from topotta_lite.teaching.references import bibliography, references

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.mark.parametrize("ex", exercises(), ids=lambda ex: ex.key)
def test_check_accepts_the_right_answer_and_rejects_wrong_ones(ex):
    assert check(ex.key, ex.answer()).correct
    assert not check(ex.key, None).answered
    for bad in ex.wrong:
        res = check(ex.key, bad)
        assert res.answered and not res.correct, (ex.key, bad)
        assert ex.wrong[bad] in res.text
    assert not check(ex.key, "certainly not the answer").correct


def test_check_never_reveals_the_answer():
    for ex in exercises():
        text = check(ex.key, "certainly not the answer").text
        assert repr(ex.answer()) not in text or len(repr(ex.answer())) < 3


def test_unknown_exercise_is_an_error():
    with pytest.raises(KeyError, match="no exercise"):
        check("99.9", 1)


def test_every_cited_key_exists():
    bib = bibliography()
    cited = set()
    for nb in NOTEBOOKS.glob("[0-9][0-9]_*.py"):
        text = nb.read_text(encoding="utf-8")
        for call in re.findall(r"\b(?:references|cite)\(([^)]*)\)", text):
            cited |= set(re.findall(r"[\"']([a-z]+\d{4}[a-z0-9]*|gudhi)[\"']", call))
    assert cited <= set(bib), sorted(cited - set(bib))


def test_references_render_every_entry():
    text = references(*bibliography())
    assert text.count("\n1. ") == 1 and len(text.splitlines()) == len(bibliography()) + 2
    with pytest.raises(KeyError):
        references("nobody2099")
