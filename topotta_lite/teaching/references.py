"""The course's bibliography: one BibTeX file, read here, rendered as a notebook's References.

``references.bib`` (beside this module) holds every work the notebooks cite. A notebook cites
with :func:`cite` in rendered prose, and ends with ``display(Markdown(references(...)))``,
listing the works it uses, the paper first. Only the handful of BibTeX features the file uses are
read: ``@type{key, field = {value}, ...}`` with braces or quotes, and LaTeX accents written as
``{\\'e}``.

Examples
--------
>>> cite("cohensteiner2007stability")
'Cohen-Steiner, Edelsbrunner and Harer (2007)'
>>> print(references("zia2026topotta", "hadsell2006dimensionality").splitlines()[0])
## References
>>> "zia2026topotta" in bibliography()
True
>>> cite("gudhi")
'The GUDHI Project (2024)'
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

__all__ = ["BIB_PATH", "bibliography", "cite", "reference_entry", "references"]

BIB_PATH = Path(__file__).with_name("references.bib")

_ACCENTS = {"'": "\u0301", "`": "\u0300", '"': "\u0308", "^": "\u0302", "~": "\u0303", "c": "\u0327"}


def _latex_to_text(text: str) -> str:
    """``{\\'e}`` -> ``é``, ``{\\c{c}}`` -> ``ç``, ``\\&`` -> ``&``, TeX quotes -> ``“”``, braces
    dropped."""
    import unicodedata

    def accent(m: re.Match) -> str:
        return unicodedata.normalize("NFC", m.group(2) + _ACCENTS[m.group(1)])

    text = re.sub(r"\{?\\([\'`\"^~c])\{?([A-Za-z])\}?\}?", accent, text)
    text = text.replace("\\&", "&").replace("--", "–").replace("``", "“").replace("''", "”")
    return re.sub(r"[{}]", "", text).strip()


def _split_fields(body: str) -> dict[str, str]:
    fields, i = {}, 0
    while i < len(body):
        m = re.compile(r"\s*,?\s*([A-Za-z]+)\s*=\s*").match(body, i)
        if not m:
            break
        name, i = m.group(1).lower(), m.end()
        if i < len(body) and body[i] == "{":
            depth, j = 0, i
            while j < len(body):
                depth += {"{": 1, "}": -1}.get(body[j], 0)
                if depth == 0:
                    break
                j += 1
            fields[name], i = body[i + 1:j], j + 1
        elif i < len(body) and body[i] == '"':
            j = body.index('"', i + 1)
            fields[name], i = body[i + 1:j], j + 1
        else:
            m2 = re.compile(r"[^,]*").match(body, i)
            fields[name], i = m2.group(0).strip(), m2.end()
    return fields


@cache
def bibliography() -> dict[str, dict[str, str]]:
    """Every entry of ``references.bib``: key -> fields (``type`` included), as plain text."""
    text = "\n".join(line for line in BIB_PATH.read_text(encoding="utf-8").splitlines()
                     if not line.lstrip().startswith("%"))
    entries: dict[str, dict[str, str]] = {}
    for m in re.finditer(r"@(\w+)\s*\{\s*([^,\s]+)\s*,", text):
        start, depth, j = m.end(), 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        raw = _split_fields(text[start:j - 1])
        fields = {k: _latex_to_text(v) for k, v in raw.items()}
        if raw.get("author", "").startswith("{"):  # {{The GUDHI Project}}: a body, not people
            fields["corporate"] = "yes"
        key = m.group(2)
        if key in entries:
            raise ValueError(f"{BIB_PATH.name}: entry {key!r} appears twice")
        entries[key] = {"type": m.group(1).lower(), **fields}
    return entries


def _entry(key: str) -> dict[str, str]:
    bib = bibliography()
    if key not in bib:
        raise KeyError(f"no reference {key!r} in {BIB_PATH.name}; known: {sorted(bib)}")
    return bib[key]


def _surnames(authors: str) -> list[str]:
    return [a.split(",")[0].strip() if "," in a else a.strip().split()[-1]
            for a in authors.split(" and ")]


def cite(key: str) -> str:
    """A short citation for prose: ``"Bubenik (2015)"``, ``"Edelsbrunner and Harer (2010)"``,
    ``"Adams et al. (2017)"``.

    Examples
    --------
    >>> cite("bubenik2015statistical"), cite("adams2017persistence")
    ('Bubenik (2015)', 'Adams et al. (2017)')
    """
    e = _entry(key)
    names = [e["author"]] if e.get("corporate") else _surnames(e.get("author", "Anonymous"))
    if len(names) == 1:
        who = names[0]
    elif len(names) <= 3:
        who = ", ".join(names[:-1]) + " and " + names[-1]
    else:
        who = names[0] + " et al."
    return f"{who} ({e.get('year', 'n.d.')})"


def reference_entry(key: str) -> str:
    """One work as a line of Markdown: authors, year, *title*, where it appeared.

    Examples
    --------
    >>> reference_entry("hadsell2006dimensionality")[:40]
    'R. Hadsell, S. Chopra and Y. LeCun (2006'
    """
    e = _entry(key)
    people = []
    for a in [] if e.get("corporate") else e.get("author", "").split(" and "):
        if "," in a:
            last, first = (s.strip() for s in a.split(",", 1))
            initials = " ".join(p[0] + "." for p in re.split(r"[\s]+", first) if p)
            people.append(f"{initials} {last}".strip())
        else:
            people.append(a.strip())
    if e.get("corporate"):
        people = [e["author"]]
    who = people[0] if len(people) == 1 else ", ".join(people[:-1]) + " and " + people[-1]
    where = e.get("journal") or e.get("booktitle") or e.get("publisher") or e.get("howpublished", "")
    extra = ", ".join(x for x in (f"vol. {e['volume']}" if "volume" in e else "",
                                  f"pp. {e['pages']}" if "pages" in e else "") if x)
    line = f"{who} ({e.get('year', 'n.d.')}). *{e.get('title', '')}*. {where}"
    if extra:
        line += f", {extra}"
    line += "."
    if e.get("note"):
        line += f" ({e['note']})"
    return line


def references(*keys: str, heading: str = "## References") -> str:
    """The References section of a notebook: the given works, in the given order, as Markdown.

    Examples
    --------
    >>> text = references("gudhi", "bubenik2015statistical", heading="**Read more**")
    >>> print(text.splitlines()[2]); text.splitlines()[3][:20]
    1. The GUDHI Project (2024). *GUDHI User and Reference Manual*. GUDHI Editorial Board.
    '2. P. Bubenik (2015)'
    """
    if not keys:
        raise ValueError("references() needs at least one key")
    if len(set(keys)) != len(keys):
        raise ValueError(f"a reference is listed twice: {keys}")
    lines = [heading, ""] + [f"{i}. {reference_entry(k)}" for i, k in enumerate(keys, 1)]
    return "\n".join(lines)
