"""The site's own pages: the index (dashboard, "Reproduced?", links), tables, settings, views.

Every function returns HTML text built with :mod:`topotta_lite.site.markup`, which escapes each
string it is given; tables come from their CSV (escaped cell by cell) or, without one, from their
Markdown through the sanitiser.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from topotta_lite.site.markup import anchor, esc, html_table, long_text, url
from topotta_lite.site.sanitize import markdown_html, plotly_view

_STATUS_CLASSES = {"same": "v-holds", "within": "v-holds", "moved": "v-fails",
                   "missing": "v-borderline", "timing": "v-other"}


@dataclass
class Table:
    """One table of the run: its CSV (columns, rows) and/or its Markdown text."""

    stem: str
    columns: list[str] = field(default_factory=list)
    rows: list[dict] | None = None
    markdown: str | None = None
    files: list[str] = field(default_factory=list)

    def html(self, max_rows: int = 300) -> str:
        """The table as HTML: from the CSV when there is one, else the sanitised Markdown."""
        if self.rows is not None:
            return html_table(self.columns, self.rows, max_rows=max_rows)
        if self.markdown is not None:
            return f'<div class="table-box">{markdown_html(self.markdown)}</div>'
        return '<p class="muted">Unreadable.</p>'


def plotly_figure_from_page(text: str) -> dict | None:
    """The figure of a page written by plotly's ``write_html`` (data, layout, frames), or ``None``.

    Only the JSON arguments of ``Plotly.newPlot`` / ``Plotly.addFrames`` are read; the page's own
    scripts are never copied.

    Examples
    --------
    >>> page = 'Plotly.newPlot("v", [{"type": "bar"}], {"title": "t"}, {})'
    >>> plotly_figure_from_page(page)
    {'data': [{'type': 'bar'}], 'layout': {'title': 't'}, 'frames': []}
    >>> plotly_figure_from_page("<script>alert(1)</script>") is None
    True
    """
    decoder = json.JSONDecoder()

    def json_after(start: int):
        while start < len(text) and text[start] in " \t\r\n,":
            start += 1
        return decoder.raw_decode(text, start)

    start = text.find("Plotly.newPlot(")
    if start < 0:
        return None
    try:
        plot, pos = [], start + len("Plotly.newPlot(")
        for _ in range(3):  # the div's id, data, layout
            value, pos = json_after(pos)
            plot.append(value)
        frames = []
        call = text.find("Plotly.addFrames(", pos)
        if call >= 0:  # plotly writes the id in single quotes: read from the comma after it
            frames, _ = json_after(text.find(",", call))
    except ValueError:
        return None
    if not isinstance(plot[1], list) or not isinstance(plot[2], dict):
        return None
    frames = frames if isinstance(frames, list) else []
    return {"data": plot[1], "layout": plot[2], "frames": frames}


def view_body(name: str, figure: dict) -> str:
    """The body of an interactive view's page (drawn by site.js from an inert JSON block)."""
    return (f"<h1>{esc(name)}</h1>\n<p class=\"lead\">An interactive figure of the run; "
            "drag the slider or hover for values.</p>\n"
            f'<div class="topotta-view">{plotly_view(figure, "plotly-view-0")}</div>')


def _status_badge(status: str) -> str:
    return f'<span class="badge {_STATUS_CLASSES.get(status, "v-other")}">{esc(status)}</span>'


def _moved_entries(entry: dict, limit: int = 20) -> str:
    moved = [m for m in entry.get("moved") or [] if isinstance(m, dict)]
    if not moved:
        return ""
    rows = [{k: m.get(k, "") for k in ("row", "column", "committed", "fresh")} for m in moved]
    return (f"<details><summary>{len(moved)} entr{'y' if len(moved) == 1 else 'ies'} moved"
            f"</summary>{html_table(['row', 'column', 'committed', 'fresh'], rows, max_rows=limit)}"
            "</details>")


def verify_html(report) -> str:
    """The "Reproduced?" section from ``verify.json`` (interfaces I4); timing tables apart."""
    tables = report.get("tables") if isinstance(report, dict) else None
    if not isinstance(tables, list):
        return '<p class="muted">verify.json has no list of tables; nothing to show.</p>'
    tables = [t for t in tables if isinstance(t, dict)]
    timing = [t for t in tables if t.get("status") == "timing"]
    checked = [t for t in tables if t.get("status") != "timing"]
    counts = {}
    for t in checked:
        counts[str(t.get("status"))] = counts.get(str(t.get("status")), 0) + 1
    summary = ", ".join(f"{n} {esc(s)}" for s, n in sorted(counts.items())) or "no table"
    lines = [f'<p>Profile <code>{esc(report.get("profile", "?"))}</code>, tolerance '
             f'{esc(report.get("tolerance", "?"))} per entry: {summary}.</p>']
    rows = "".join(
        f"<tr><td>{esc(t.get('table', ''))}</td><td>{_status_badge(str(t.get('status', '')))}</td>"
        f"<td>{esc(t.get('max_abs_diff', ''))}</td><td>{_moved_entries(t)}</td></tr>"
        for t in sorted(checked, key=lambda t: (t.get("status") in ("same", "within"),
                                                str(t.get("table", "")))))
    if rows:
        lines.append('<div class="table-box"><table class="data"><thead><tr><th>table</th>'
                     "<th>status</th><th>largest difference</th><th>what moved</th></tr></thead>"
                     f"<tbody>{rows}</tbody></table></div>")
    if timing:
        lines.append("<h3>Wall-clock tables (they differ from run to run)</h3><ul>" + "".join(
            f"<li>{esc(t.get('table', ''))}: largest difference {esc(t.get('max_abs_diff', ''))}"
            "</li>" for t in timing) + "</ul>")
    return "\n".join(lines)


def notebooks_html(pages: Sequence) -> str:
    """The table of notebook pages with whether each ran (its first error, escaped, if not)."""
    rows = "".join(
        f'<tr><td><a href="{url(p.page)}">{esc(p.stem)}</a></td><td>'
        + ("ran" if p.ok else f"<strong>failed</strong>: {long_text(p.error)}") + "</td></tr>"
        for p in pages)
    return ('<div class="table-box"><table class="data"><thead><tr><th>notebook</th>'
            f"<th>status</th></tr></thead><tbody>{rows}</tbody></table></div>")


def figures_html(figures: Sequence[Path], pdfs: set[str], made_by: dict, pages: set[str]) -> str:
    """Figure cards: a thumbnail, the PNG and PDF links and the notebook that made each."""
    if not figures:
        return '<p class="muted">No figures in this run\'s figures folder.</p>'
    cards = []
    for p in figures:
        links = [f'<a href="{url("figures", p.name)}">PNG</a>']
        if p.with_suffix(".pdf").name in pdfs:
            links.append(f'<a href="{url("figures", p.with_suffix(".pdf").name)}">PDF</a>')
        nb = made_by.get(p.name)
        if nb in pages:
            links.append(f'made by <a href="{url(nb + ".html")}">{esc(nb)}</a>')
        elif nb:
            links.append(f"made by {esc(nb)}")
        cards.append(f'<figure><a href="{url("figures", p.name)}"><img src="{url("figures", p.name)}"'
                     f' alt="{esc(p.stem)}"></a><figcaption><strong>{esc(p.stem)}'
                     f"</strong><br>{' · '.join(links)}</figcaption></figure>")
    return f'<div class="figures">{"".join(cards)}</div>'


def tables_list_html(tables: Sequence[Table]) -> str:
    """Links to each table on the tables page and to its files."""
    if not tables:
        return '<p class="muted">No tables.</p>'
    items = "".join(
        f'<li><a href="tables.html#{anchor("table", t.stem)}">{esc(t.stem)}</a> ('
        + ", ".join(f'<a href="{url("tables", f)}">{esc(Path(f).suffix[1:].upper())}</a>'
                    for f in t.files) + ")</li>" for t in tables)
    return f'<ul class="links">{items}</ul>'


def tables_page_body(tables: Sequence[Table], profile: str) -> str:
    """Every table of the run, one section each."""
    parts = [f"<h1>Tables of the <code>{esc(profile)}</code> run</h1>",
             '<p class="lead">Every table the notebooks wrote, rendered from its CSV.</p>']
    for t in tables:
        files = ", ".join(f'<a href="{url("tables", f)}">{esc(f)}</a>' for f in t.files)
        parts.append(f'<h2 id="{anchor("table", t.stem)}">{esc(t.stem)}</h2><p class="muted">'
                     f"{files}</p>{t.html()}")
    return "\n".join(parts)


def views_html(views: Sequence[tuple[str, str, str]]) -> str:
    """Links to the interactive views: (page, name, notebook that made it)."""
    items = "".join(f'<li><a href="{url(*page.split("/"))}">{esc(name)}</a>'
                    + (f" (from {esc(nb)})" if nb else "") + "</li>" for page, name, nb in views)
    return f'<ul class="links">{items}</ul>'
