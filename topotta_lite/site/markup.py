"""HTML building blocks for the site's own pages; every string that comes in is escaped here.

Examples
--------
>>> cell = html_table(["name"], [{"name": "<img src=x onerror=alert(1)>"}])
>>> "<td>&lt;img src=x onerror=alert(1)&gt;</td>" in cell
True
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable, Sequence
from urllib.parse import quote

from topotta_lite.site.sanitize import CSP_META, MATHJAX_SRC

_VERDICT_CLASSES = {"holds": "v-holds", "does not hold": "v-fails",
                    "inconclusive": "v-inconclusive", "borderline": "v-borderline",
                    "not testable here": "v-untestable"}


def esc(value) -> str:
    """``value`` as text safe in HTML content and quoted attributes.

    Examples
    --------
    >>> esc('"><script>')
    '&quot;&gt;&lt;script&gt;'
    """
    return html.escape("" if value is None else str(value), quote=True)


def url(*parts: str) -> str:
    """A relative URL from path parts (each percent-encoded), escaped for an attribute.

    Examples
    --------
    >>> url("figures", 'a "b".png')
    'figures/a%20%22b%22.png'
    """
    return esc("/".join(quote(str(p), safe="") for p in parts))


def anchor(*parts: str) -> str:
    """A stable, safe id for a page anchor made from arbitrary text.

    Examples
    --------
    >>> anchor("claim", "beats_thr_f1", "paper")
    'claim--beats_thr_f1--paper'
    >>> anchor("claim", "<b>")[:8]
    'claim---'
    """
    raw = "--".join(str(p) for p in parts if str(p))
    slug = re.sub(r"[^A-Za-z0-9_.-]", "-", raw)[:80]
    if slug != raw:
        slug += "-" + hashlib.sha1(raw.encode("utf-8")).hexdigest()[:6]
    return slug


def verdict_class(verdict: str) -> str:
    """The CSS class of a verdict's badge (``v-other`` for a verdict not in interfaces I3).

    Examples
    --------
    >>> verdict_class("holds"), verdict_class("vacuous (mechanism inactive)"), verdict_class("?")
    ('v-holds', 'v-vacuous', 'v-other')
    """
    verdict = str(verdict).strip().lower()
    if verdict.startswith("vacuous"):
        return "v-vacuous"
    return _VERDICT_CLASSES.get(verdict, "v-other")


def badge(verdict: str) -> str:
    """A coloured badge for a verdict.

    Examples
    --------
    >>> badge("does not hold")
    '<span class="badge v-fails">does not hold</span>'
    """
    return f'<span class="badge {verdict_class(verdict)}">{esc(verdict or "no verdict")}</span>'


def long_text(text: str, limit: int = 140) -> str:
    """Escaped text; past ``limit`` characters, folded into a ``<details>`` element.

    Examples
    --------
    >>> long_text("short")
    'short'
    >>> long_text("x" * 20, limit=10)[:37]
    '<details class="long"><summary>xxxxx…'
    """
    text = "" if text is None else str(text)
    if len(text) <= limit:
        return esc(text)
    return (f'<details class="long"><summary>{esc(text[:limit // 2])}…</summary>'
            f"{esc(text)}</details>")


def html_table(columns: Sequence[str], rows: Iterable[dict], *, badges: Sequence[str] = ("verdict",),
               max_rows: int | None = None) -> str:
    """An escaped HTML table in a box that scrolls sideways on its own (columns ``badges`` as badges)."""
    rows = list(rows)
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for row in rows[:max_rows]:
        cells = "".join(f"<td>{badge(row.get(c, '')) if c in badges else long_text(row.get(c, ''))}"
                        "</td>" for c in columns)
        body.append(f"<tr>{cells}</tr>")
    more = ""
    if max_rows is not None and len(rows) > max_rows:
        more = f'<p class="muted">First {max_rows} of {len(rows)} rows; the CSV has them all.</p>'
    return (f'<div class="table-box"><table class="data"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>{more}")


def nav(links: Sequence[tuple[str, str]], root: str = "") -> str:
    """The navigation bar: ``links`` are (page, label) pairs relative to the site's root."""
    items = [("index.html", "index"), ("tables.html", "tables"), ("settings.html", "settings"),
             *links]
    return '<nav class="site-nav">' + "".join(
        f'<a href="{esc(root)}{url(page)}">{esc(label)}</a>' for page, label in items) + "</nav>"


def page(title: str, body: str, *, nav_html: str, root: str = "", math: bool = False,
         plotly: bool = False) -> str:
    """A whole page of the site: CSP first, then the site's stylesheet and scripts only."""
    scripts = []
    if plotly:
        scripts.append(f'<script src="{root}plotly.min.js"></script>')
    scripts.append(f'<script src="{root}site.js"></script>')
    if math:
        scripts.append(f'<script src="{root}{MATHJAX_SRC}"></script>')
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"{CSP_META}\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{esc(title)}</title>\n<link rel=\"icon\" href=\"data:,\">\n"
            f"<link rel=\"stylesheet\" href=\"{root}site.css\">\n{''.join(scripts)}\n</head>\n"
            f"<body class=\"topotta-site\">\n{nav_html}\n<main>\n{body}\n</main>\n</body>\n</html>\n")
