"""``topotta-lite report``: the executed notebooks of a profile as a static HTML site.

``topotta-lite report [--profile quick] [--build-dir build] [--figures-dir figures] [--out DIR]``

Reads what ``topotta-lite reproduce`` left behind (the executed notebooks in
``build/<profile>/``, the figures, tables and ``MANIFEST.json`` in ``figures/``) and writes a
folder that any browser opens without a server or a network connection:

* ``index.html``: the claims table (notebook 14), then links to every notebook page, every
  figure (with a thumbnail and the notebook that made it), every interactive view and table;
* ``NN_name.html``: one page per executed notebook, code and outputs, rendered by nbconvert;
* ``tables.html``: every table (CSV and Markdown copies in ``tables/``);
* ``figures/``: the PNG / PDF figures; the interactive plotly views sit beside the pages and
  share **one** ``plotly.min.js`` (written once, never inlined in a page).

Every page is made by nbconvert's HTML exporter (its JupyterLab template, with the scripts it
would fetch from the internet removed): the index and the tables page are notebooks of Markdown
cells built here, then exported like the others. A plotly figure saved in a notebook (its
``application/vnd.plotly.v1+json`` output) becomes an interactive view on the page; the PNG
stored beside it in the notebook is what a static viewer shows instead.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_JS = "plotly.min.js"

#: nbconvert template: JupyterLab's, without require.js, MathJax and mermaid (fetched from a CDN
#: otherwise; the notebooks use none of them), plus a navigation bar.
SITE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block extra_css %}
<link rel="icon" href="data:,">
<style type="text/css">
  nav.site-nav { padding: 8px 16px; border-bottom: 1px solid #ddd; font-family: sans-serif;
                 font-size: 14px; background: #fafafa; }
  nav.site-nav a { margin-right: 14px; }
  .jp-RenderedMarkdown img.thumb { max-width: 360px; border: 1px solid #ddd; }
</style>
{% endblock extra_css %}
{%- block body_header -%}
{{ super() }}
<nav class="site-nav"><a href="index.html">index</a><a href="tables.html">tables</a>
{%- for link in resources.site_links %}<a href="{{ link[0] }}">{{ link[1] }}</a>{% endfor %}</nav>
{%- endblock body_header -%}
"""


@dataclass
class NotebookPage:
    """One executed notebook and the page made from it."""

    stem: str
    source: Path
    page: str
    ok: bool
    error: str = ""


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``report`` options to ``parser`` (used by :mod:`topotta_lite.cli.main`)."""
    parser.add_argument("--profile", default="quick",
                        help="which run to render: build/<profile>/ (default: quick, as make all)")
    parser.add_argument("--build-dir", type=Path, default=None,
                        help="where reproduce kept the executed notebooks (default: build/)")
    parser.add_argument("--figures-dir", type=Path, default=None,
                        help="figures and tables of that run (default: figures/ or $TOPOTTA_FIGURES)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the site folder (default: build/site/<profile>/)")
    return parser


def _exporter():
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({
        "topotta_site.html.j2": SITE_TEMPLATE})])
    exporter.template_file = "topotta_site.html.j2"
    return exporter


def plotly_outputs_to_html(nb) -> int:
    """Give each plotly output of ``nb`` a ``text/html`` view that uses the shared plotly.js.

    The first view loads ``plotly.min.js`` from beside the page; nothing is inlined. Returns the
    number of views made (0: the page needs no plotly.js).

    Examples
    --------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook()
    >>> out = nbformat.v4.new_output("display_data", data={PLOTLY_MIME: {"data": [], "layout": {}}})
    >>> nb.cells.append(nbformat.v4.new_code_cell(outputs=[out]))
    >>> plotly_outputs_to_html(nb), PLOTLY_JS in nb.cells[0].outputs[0].data["text/html"]
    (1, True)
    """
    import plotly.io as pio

    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if PLOTLY_MIME not in data:
                continue
            html = pio.to_html(dict(data[PLOTLY_MIME]), include_plotlyjs=False, full_html=False,
                               div_id=f"plotly-view-{n}", auto_play=False, validate=False)
            if n == 0:
                html = f'<script src="{PLOTLY_JS}"></script>\n' + html
            data["text/html"] = html
            n += 1
    return n


def _first_error(nb) -> str:
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"[:300]
    return ""


def _write_plotly_js(out: Path) -> Path:
    import plotly.offline

    path = out / PLOTLY_JS
    if not path.exists():
        path.write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
    return path


def _export(exporter, nb, path: Path, title: str, links) -> None:
    nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb, resources={"site_links": links})
    path.write_text(body, encoding="utf-8")


def _md_table_or_note(path: Path, note: str) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else note


def build_site(profile: str = "quick", *, build_dir: Path | None = None,
               figures: Path | None = None, out: Path | None = None) -> Path:
    """Render a profile's executed notebooks, figures, tables and claims; return ``index.html``.

    Raises
    ------
    FileNotFoundError
        When ``build/<profile>/`` holds no executed notebook (run ``topotta-lite reproduce``).
    """
    import nbformat

    from topotta_lite.config import figures_dir, repo_root

    build_dir = Path(build_dir or repo_root() / "build")
    runs = build_dir / profile
    figures = Path(figures) if figures is not None else figures_dir()
    out = Path(out or build_dir / "site" / profile)
    sources = sorted(p for p in runs.glob("[0-9][0-9]_*.ipynb")
                     if not p.name.endswith(".input.ipynb")) if runs.is_dir() else []
    if not sources:
        raise FileNotFoundError(f"no executed notebooks in {runs}: run "
                                f"`topotta-lite reproduce --profile {profile}` first")
    if out.exists():
        shutil.rmtree(out)
    (out / "figures").mkdir(parents=True)
    (out / "tables").mkdir()
    exporter = _exporter()
    links = [(f"{p.stem}.html", p.stem.split("_", 1)[0]) for p in sources]

    pages = []
    needs_plotly = False
    for src in sources:
        nb = nbformat.read(src, as_version=4)
        err = _first_error(nb)
        needs_plotly |= plotly_outputs_to_html(nb) > 0
        _export(exporter, nb, out / f"{src.stem}.html", src.stem, links)
        pages.append(NotebookPage(src.stem, src, f"{src.stem}.html", not err, err))

    manifest_path = figures / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8")) if manifest_path.is_file() else {}
    made_by = {Path(k).name: v.get("notebook", "") for k, v in manifest.items()}
    pngs = sorted(figures.glob("*.png"))
    for p in pngs:
        shutil.copy2(p, out / "figures" / p.name)
        if p.with_suffix(".pdf").is_file():
            shutil.copy2(p.with_suffix(".pdf"), out / "figures" / p.with_suffix(".pdf").name)
    views = sorted(figures.glob("*.html"))
    for p in views:  # interactive views beside the pages, sharing plotly.min.js
        shutil.copy2(p, out / p.name)
        needs_plotly |= PLOTLY_JS in p.read_text(encoding="utf-8", errors="replace")[:20000]
    if needs_plotly:
        _write_plotly_js(out)
    tables_src = figures / "tables"
    tables = sorted(tables_src.glob("*.md")) if tables_src.is_dir() else []
    for t in tables:
        shutil.copy2(t, out / "tables" / t.name)
        if t.with_suffix(".csv").is_file():
            shutil.copy2(t.with_suffix(".csv"), out / "tables" / t.with_suffix(".csv").name)

    md = nbformat.v4.new_markdown_cell
    cells = [md(f"# topotta-lite results: `{profile}` profile\n\n"
                f"{len(pages)} executed notebook(s), {len(pngs)} figure(s), {len(views)} "
                f"interactive view(s), {len(tables)} table(s). Made by `topotta-lite report` from "
                f"`{runs.name}/` and the figures folder of the same run; every figure and table "
                "is also listed with the parameters that made it in `MANIFEST.json`.")]
    cells.append(md("## Claims of the paper, with a computed verdict\n\n" + _md_table_or_note(
        tables_src / "claims.md",
        "*No claims table: notebook 14 did not run in this profile.*")))
    rows = ["| notebook | status |", "| --- | --- |"]
    for pg in pages:
        status = "ran" if pg.ok else f"**failed**: {pg.error}".replace("|", "\\|").replace("\n", " ")
        rows.append(f"| [{pg.stem}]({pg.page}) | {status} |")
    cells.append(md("## Notebooks\n\n" + "\n".join(rows)))
    if views:
        cells.append(md("## Interactive views\n\n" + "\n".join(
            f"* [{v.stem}]({v.name}) (from {made_by.get(v.name, 'an earlier run')})"
            for v in views)))
    fig_md = ["## Figures"]
    for p in pngs:
        pdf = f" · [PDF](figures/{p.stem}.pdf)" if p.with_suffix(".pdf").is_file() else ""
        nb_name = made_by.get(p.name)
        origin = f" · made by [{nb_name}]({nb_name}.html)" if nb_name in {pg.stem for pg in pages} \
            else (f" · made by {nb_name}" if nb_name else "")
        fig_md.append(f"### {p.stem}\n\n[![{p.stem}](figures/{p.name})](figures/{p.name})\n\n"
                      f"[PNG](figures/{p.name}){pdf}{origin}")
    if not pngs:
        fig_md.append("*No figures in this run's figures folder.*")
    cells.append(md("\n\n".join(fig_md)))
    cells.append(md("## Tables\n\n" + ("\n".join(
        f"* [{t.stem}](tables.html#{t.stem}) ([CSV](tables/{t.stem}.csv), "
        f"[Markdown](tables/{t.name}))" for t in tables) or "*No tables.*")))
    _export(exporter, nbformat.v4.new_notebook(cells=cells), out / "index.html",
            f"topotta-lite: {profile}", links)

    tcells = [md("# Tables\n\nEvery table of the run, as written by `write_table`.")]
    for t in tables:
        tcells.append(md(f"## {t.stem}\n\n[CSV](tables/{t.stem}.csv)\n\n"
                         + t.read_text(encoding="utf-8")))
    _export(exporter, nbformat.v4.new_notebook(cells=tcells), out / "tables.html",
            f"topotta-lite tables: {profile}", links)
    return out / "index.html"


def run(args: argparse.Namespace) -> int:
    """Build the site; return the exit code (0 ok, 2 nothing to render)."""
    try:
        index = build_site(args.profile, build_dir=args.build_dir, figures=args.figures_dir,
                           out=args.out)
    except FileNotFoundError as exc:
        print(f"topotta-lite report: {exc}", file=sys.stderr)
        return 2
    print(f"site written: {index} (open it in a browser)")
    return 0
