"""The verdict dashboard (the front page's first section) and the claims' settings page.

Reads ``claims.csv`` (one row per claim and preset) and ``claims_settings.csv`` (one row per
claim, preset and setting) as interfaces I3 describes them: ``claim, preset, origin, verdict,
statement, paper_value, estimate, low, high, n_images, n_settings, reason``. A missing column is
shown as empty, so older tables (no ``preset``, no interval; the paper's values in ``paper``)
still render. Each line gets a badge, the paper's value and ours, a small forest plot of the
intervals of its settings (an inline SVG made here) and a link to its settings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from topotta_lite.site.markup import anchor, badge, esc, html_table, long_text, verdict_class

_COLOURS = {"v-holds": "#1a7f37", "v-fails": "#cf222e", "v-inconclusive": "#9a6700",
            "v-borderline": "#bc4c00", "v-vacuous": "#8250df"}
LEGEND = ("holds", "does not hold", "inconclusive", "borderline", "vacuous (mechanism inactive)",
          "not testable here")


def number(text) -> float | None:
    """A finite float from a table cell, else ``None``.

    Examples
    --------
    >>> number("0.25"), number(""), number("nan"), number("<b>")
    (0.25, None, None, None)
    """
    try:
        value = float(str(text).strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def fmt(value: float | None, signed: bool = True) -> str:
    """A number for a cell: three decimals (signed), or ``-`` when missing.

    Examples
    --------
    >>> fmt(0.0536), fmt(-0.01, signed=False), fmt(None)
    ('+0.054', '-0.010', '-')
    """
    if value is None:
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def settings_of(claim_row: dict, settings: Sequence[dict]) -> list[dict]:
    """Our settings rows of one (claim, preset) line (by claim only when a table lacks presets).

    Rows of the paper's side (older tables list the paper's values as ``side = paper``) are left
    out: the forest plot shows our intervals.
    """
    claim, preset = claim_row.get("claim", ""), claim_row.get("preset")
    return [s for s in settings if s.get("claim", "") == claim and s.get("side") != "paper"
            and (preset is None or s.get("preset") is None or s.get("preset") == preset)]


def intervals(claim_row: dict, settings: Sequence[dict]) -> list[tuple[str, float, float | None,
                                                                      float | None, str]]:
    """(label, estimate, low, high, verdict) of each setting; the line's own interval if none.

    Examples
    --------
    >>> intervals({"claim": "c", "estimate": "0.1", "low": "0", "high": "0.2"}, [])
    [('decisive setting', 0.1, 0.0, 0.2, '')]
    """
    found = []
    for s in settings_of(claim_row, settings):
        est = number(s.get("estimate"))
        if est is not None:
            found.append((s.get("setting", ""), est, number(s.get("low")), number(s.get("high")),
                          s.get("verdict", "")))
    est = number(claim_row.get("estimate"))
    if not found and est is not None:
        found.append(("decisive setting", est, number(claim_row.get("low")),
                      number(claim_row.get("high")), claim_row.get("verdict", "")))
    return found


def forest_svg(items, *, width: int = 240, row: int = 13, max_rows: int = 12) -> str:
    """A small forest plot: one line per interval, a dot at the estimate, a dashed line at 0.

    Examples
    --------
    >>> svg = forest_svg([("a<b", 0.1, 0.0, 0.2, "holds")])
    >>> svg.startswith("<svg") and "a&lt;b" in svg and "<script" not in svg
    True
    >>> forest_svg([])
    '<span class="muted">no interval</span>'
    """
    items = list(items)[:max_rows]
    if not items:
        return '<span class="muted">no interval</span>'
    values = [0.0] + [v for it in items for v in it[1:4] if v is not None]
    lo, hi = min(values), max(values)
    pad = 0.06 * (hi - lo) or 0.1
    lo, hi = lo - pad, hi + pad
    left, right = 6, width - 6
    height = 8 + row * len(items) + 14

    def x(v: float) -> float:
        return round(left + (v - lo) / (hi - lo) * (right - left), 1)

    parts = [f'<svg class="forest" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="intervals of {len(items)} setting(s)">',
             f'<line x1="{x(0)}" y1="2" x2="{x(0)}" y2="{height - 14}" stroke="#8c959f" '
             'stroke-dasharray="3,2"/>']
    for i, (label, est, low, high, verdict) in enumerate(items):
        y = 8 + row * i + row / 2 - 2
        colour = _COLOURS.get(verdict_class(verdict), "#6e7781")
        tip = f"{label}: {fmt(est)} [{fmt(low)}, {fmt(high)}] {verdict}"
        parts.append(f"<g><title>{esc(tip)}</title>")
        if low is not None and high is not None:
            parts.append(f'<line x1="{x(low)}" y1="{y}" x2="{x(high)}" y2="{y}" stroke="{colour}" '
                         'stroke-width="2"/>')
        parts.append(f'<circle cx="{x(est)}" cy="{y}" r="3" fill="{colour}"/></g>')
    axis_y = height - 3
    parts.append(f'<text x="{left}" y="{axis_y}" font-size="9" fill="#59636e">{fmt(lo)}</text>')
    parts.append(f'<text x="{right}" y="{axis_y}" font-size="9" fill="#59636e" '
                 f'text-anchor="end">{fmt(hi)}</text></svg>')
    return "".join(parts)


def _ours(row: dict) -> str:
    est = number(row.get("estimate"))
    n = str(row.get("n_images") or "").strip().strip("-")
    text = ""
    if est is not None:
        text = (f"{esc(fmt(est))} <span class=\"muted\">[{esc(fmt(number(row.get('low'))))}, "
                f"{esc(fmt(number(row.get('high'))))}]</span>")
    elif row.get("ours"):
        text = long_text(row["ours"], limit=60)
    n_settings = str(row.get("n_settings") or row.get("settings") or "").strip()
    n_settings = "" if n_settings in ("0", "-") else n_settings
    counts = ", ".join(p for p in (f"n = {esc(n)} images" if n else "",
                                   f"{esc(n_settings)} setting(s)" if n_settings else "") if p)
    return text + (f'<div class="muted">{counts}</div>' if counts else "")


def _line(row: dict, settings: Sequence[dict], settings_page: str, presets: bool) -> str:
    claim, preset = row.get("claim", ""), row.get("preset", "")
    link = anchor("claim", claim, preset if row.get("preset") is not None
                  and any(s.get("preset") is not None for s in settings) else "")
    origin = ' <span class="badge v-other">ours</span>' if row.get("origin") == "ours" else ""
    reason = f'<div class="muted">{long_text(row.get("reason", ""))}</div>' if row.get("reason") else ""
    paper = row.get("paper_value") if row.get("paper_value") is not None else row.get("paper", "")
    return (f'<tr><td class="claim"><strong>{esc(claim)}</strong>{origin}'
            f'<div class="statement">{long_text(row.get("statement", ""), limit=220)}</div></td>'
            + (f"<td>{esc(preset)}</td>" if presets else "")
            + f"<td>{badge(row.get('verdict', ''))}{reason}</td>"
            f"<td>{long_text(paper, limit=60)}</td><td class=\"num\">{_ours(row)}</td>"
            f"<td class=\"forest\">{forest_svg(intervals(row, settings))}</td>"
            + (f'<td><a href="{esc(settings_page)}#{link}">settings</a></td></tr>'
               if any(s.get("claim", "") == claim and (row.get("preset") is None
                      or s.get("preset") is None or s.get("preset") == preset) for s in settings)
               else '<td class="muted">no settings</td></tr>'))


def dashboard_html(claims: Sequence[dict] | None, settings: Sequence[dict],
                   settings_page: str = "settings.html") -> str:
    """The verdict dashboard: a legend and one line per (claim, preset); a note when no claims.

    Examples
    --------
    >>> text = dashboard_html([{"claim": "x<y", "verdict": "holds"}], [])
    >>> "x&lt;y" in text and "v-holds" in text
    True
    """
    if not claims:
        return '<p class="muted">No claims table: notebook 14 did not run for this figures folder.</p>'
    legend = " ".join(badge(v) for v in LEGEND)
    presets = any(row.get("preset") for row in claims)
    head = ('<thead><tr><th>claim</th>' + ('<th class="c-preset">preset</th>' if presets else "")
            + '<th class="c-verdict">verdict</th><th class="c-paper">paper</th>'
            '<th class="c-ours">ours (estimate [95% interval])</th>'
            '<th class="c-forest">intervals (dashed: 0)</th><th>&nbsp;</th></tr></thead>')
    lines = "".join(_line(row, settings, settings_page, presets) for row in claims)
    return (f'<p class="legend">{legend}</p><div class="table-box">'
            f'<table class="data dashboard">{head}<tbody>{lines}</tbody></table></div>')


def settings_html(settings: Sequence[dict] | None, columns: Sequence[str]) -> str:
    """The settings page's body: one section per (claim, preset), anchored as the dashboard links."""
    if not settings:
        return '<p class="muted">No claims_settings table for this figures folder.</p>'
    has_preset = "preset" in columns
    groups: dict[tuple[str, str], list[dict]] = {}
    for s in settings:
        groups.setdefault((s.get("claim", ""), s.get("preset", "") if has_preset else ""),
                          []).append(s)
    shown = [c for c in columns if c not in ("claim", "preset")]
    parts, seen = [], set()
    for (claim, preset), rows in groups.items():
        if preset and claim not in seen:  # the claim's own anchor, for a claims table without presets
            parts.append(f'<span id="{anchor("claim", claim)}"></span>')
        seen.add(claim)
        title = esc(claim) + (f" <span class=\"muted\">({esc(preset)})</span>" if preset else "")
        parts.append(f'<h2 id="{anchor("claim", claim, preset)}">{title}</h2>'
                     + html_table(shown, rows))
    return "".join(parts)
