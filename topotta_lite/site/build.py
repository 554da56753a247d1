"""Build the site: gather a run's inputs (never through a link), write every page, audit, swap in.

The site (``build/site/<profile>/`` by default):

* ``index.html``: the verdict dashboard, "Reproduced?" (when ``verify.json`` exists), then the
  notebook pages, interactive views, figures and tables;
* ``NN_name.html``: one page per executed notebook (nbconvert, sanitised);
* ``tables.html``, ``settings.html`` (the claims' settings), ``views/*.html`` (plotly views);
* ``figures/``, ``tables/``: copies of the run's files; ``site.css``, ``site.js``, ``mathjax/``
  and (when a page needs it) one ``plotly.min.js``.
"""

from __future__ import annotations

import re
from pathlib import Path

from topotta_lite.site import assets, files, markup, notebooks, pages
from topotta_lite.site.dashboard import dashboard_html, settings_html
from topotta_lite.site.files import ReportWarning, warn
from topotta_lite.site.sanitize import audit_html

__all__ = ["ReportWarning", "build_site"]


def _page_name(stem: str, taken: set[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)[:100] or "page"
    while name in taken or name in ("index", "tables", "settings"):
        name += "_"
    taken.add(name)
    return name


def _sources(runs: Path, build_dir: Path) -> list[Path]:
    return [p for p in files.plain_files(runs, "[0-9][0-9]_*.ipynb", root=build_dir)
            if not p.name.endswith(".input.ipynb")]


def _notebook_pages(site: Path, sources, nav_links) -> tuple[list, bool]:
    import nbformat

    exp, nav = notebooks.exporter(), markup.nav(nav_links)
    made, needs_plotly = [], False
    for src, (page, _) in zip(sources, nav_links):
        invalid: dict = {}
        try:
            nb = nbformat.reads(files.read_text(src), as_version=4, capture_validation_error=invalid)
        except Exception as exc:  # a corrupt notebook is listed as such, the others go on
            warn(f"notebook {src} could not be read ({type(exc).__name__}); listed as failed")
            made.append(notebooks.NotebookPage(src.stem, page, False, "unreadable notebook file"))
            continue
        if invalid:
            warn(f"notebook {src} does not follow the notebook format; shown as far as it can be")
        error = notebooks.first_error(nb)
        needs_plotly |= notebooks.render_notebook(exp, nb, site / page, title=src.stem, nav=nav)
        made.append(notebooks.NotebookPage(src.stem, page, not error, error))
    return made, needs_plotly


def _copy_figures(site: Path, figures: Path) -> tuple[list[Path], set[str]]:
    (site / "figures").mkdir()
    pngs, copied_pdfs = [], set()
    pdfs = {p.name: p for p in files.plain_files(figures, "*.pdf", root=figures)}
    for png in files.plain_files(figures, "*.png", root=figures):
        try:
            files.copy_file(png, site / "figures" / png.name)
            pngs.append(png)
            pdf = pdfs.get(png.with_suffix(".pdf").name)
            if pdf is not None:
                files.copy_file(pdf, site / "figures" / pdf.name)
                copied_pdfs.add(pdf.name)
        except OSError as exc:
            warn(f"figure {png} could not be copied ({exc}); skipped")
    return pngs, copied_pdfs


def _read_tables(site: Path, folder: Path, root: Path) -> list[pages.Table]:
    (site / "tables").mkdir()
    found: dict[str, pages.Table] = {}
    for path in files.plain_files(folder, "*.csv", root=root) + files.plain_files(folder, "*.md",
                                                                                   root=root):
        table = found.setdefault(path.stem, pages.Table(path.stem))
        try:
            files.copy_file(path, site / "tables" / path.name)
        except OSError as exc:
            warn(f"table {path} could not be copied ({exc}); skipped")
            continue
        table.files.append(path.name)
        if path.suffix == ".csv":
            read = files.read_csv(path)
            if read is not None:
                table.columns, table.rows = read
        else:
            table.markdown = files.read_text(path)
    return [found[k] for k in sorted(found) if found[k].files]


def _views(site: Path, figures: Path, made_by: dict, nav_html_root: str) -> list[tuple[str, str, str]]:
    (site / "views").mkdir()
    views, taken = [], set()
    for path in files.plain_files(figures, "*.html", root=figures):
        figure = pages.plotly_figure_from_page(files.read_text(path))
        if figure is None:
            warn(f"interactive view {path} is not a plotly page; skipped")
            continue
        page = f"views/{_page_name(path.stem, taken)}.html"
        (site / page).write_text(markup.page(
            path.stem, pages.view_body(path.stem, figure), nav_html=nav_html_root, root="../",
            plotly=True), encoding="utf-8")
        views.append((page, path.stem, made_by.get(path.name, "")))
    return views


def _made_by(figures: Path) -> dict[str, str]:
    manifest = files.load_json(figures / "MANIFEST.json", "manifest")
    if not isinstance(manifest, dict):
        if manifest is not None:
            warn(f"manifest {figures / 'MANIFEST.json'} is not an object; going on without it")
        return {}
    return {Path(str(k)).name: str(v.get("notebook", "")) for k, v in manifest.items()
            if isinstance(v, dict)}


def _index_body(profile: str, parts: dict) -> str:
    sections = [f"<h1>topotta-lite results: <code>{markup.esc(profile)}</code> profile</h1>",
                f'<p class="lead">{parts["summary"]}</p>',
                '<h2 id="verdicts">Claims of the paper (and ours), with a computed verdict</h2>',
                parts["dashboard"]]
    if parts.get("verify"):
        sections += ['<h2 id="reproduced">Reproduced?</h2>', parts["verify"]]
    sections += ['<h2 id="notebooks">Notebooks</h2>', parts["notebooks"]]
    if parts.get("views"):
        sections += ['<h2 id="views">Interactive views</h2>', parts["views"]]
    sections += ['<h2 id="figures">Figures</h2>', parts["figures"],
                 '<h2 id="tables">Tables</h2>', parts["tables"]]
    return "\n".join(sections)


def _audit(site: Path) -> None:
    for page in sorted(site.rglob("*.html")):
        problems = audit_html(page.read_text(encoding="utf-8"))
        if problems:
            raise RuntimeError(f"report page {page.name} would run foreign code: {problems[:5]} "
                               "(a bug in the report: please report it)")


def _write_site(site: Path, profile: str, runs: Path, build_dir: Path, figures: Path,
                sources: list[Path]) -> None:
    assets.copy_site_files(site)
    taken: set[str] = set()
    nav_links = [(f"{_page_name(p.stem, taken)}.html", p.stem.split("_", 1)[0]) for p in sources]
    nav = markup.nav(nav_links)
    made, needs_plotly = _notebook_pages(site, sources, nav_links)
    made_by = _made_by(figures)
    pngs, pdfs = _copy_figures(site, figures)
    views = _views(site, figures, made_by, markup.nav(nav_links, root="../"))
    tables = _read_tables(site, figures / "tables", figures)
    if views or needs_plotly:
        assets.write_plotly_js(site)
    by_stem = {t.stem: t for t in tables}
    claims, settings = by_stem.get("claims"), by_stem.get("claims_settings")
    settings_rows = (settings.rows or []) if settings else []
    verify = files.load_json(runs / "verify.json", "verify report")
    summary = (f"{len(made)} executed notebook(s), {len(pngs)} figure(s), {len(views)} interactive "
               f"view(s), {len(tables)} table(s), made by <code>topotta-lite report</code> from "
               f"<code>{markup.esc(runs.name)}/</code> and the figures folder of the same run; "
               "<code>figures/MANIFEST.json</code> lists the parameters behind each file.")
    index = _index_body(profile, {
        "summary": summary,
        "dashboard": dashboard_html(claims.rows if claims else None, settings_rows),
        "verify": pages.verify_html(verify) if verify is not None else "",
        "notebooks": pages.notebooks_html(made),
        "views": pages.views_html(views) if views else "",
        "figures": pages.figures_html(pngs, pdfs, made_by, {p.stem for p in made}),
        "tables": pages.tables_list_html(tables)})
    write = [("index.html", f"topotta-lite: {profile}", index, True),
             ("tables.html", f"topotta-lite tables: {profile}",
              pages.tables_page_body(tables, profile), False),
             ("settings.html", f"topotta-lite claims, setting by setting: {profile}",
              "<h1>Claims, setting by setting</h1>" + settings_html(
                  settings_rows, settings.columns if settings else []), True)]
    for name, title, body, math in write:
        (site / name).write_text(markup.page(title, body, nav_html=nav, math=math),
                                 encoding="utf-8")
    _audit(site)


def build_site(profile: str = "quick", *, build_dir: Path | None = None,
               figures: Path | None = None, out: Path | None = None, force: bool = False) -> Path:
    """Render a profile's executed notebooks, figures, tables and claims; return ``index.html``.

    Parameters
    ----------
    profile : str
        The run to render: ``<build_dir>/<profile>/``.
    build_dir, figures, out : path, optional
        Defaults: ``<repo>/build``, the figures folder (``$TOPOTTA_FIGURES`` or ``<repo>/figures``),
        ``<build_dir>/site/<profile>``.
    force : bool
        Replace a non-empty ``out`` that the report did not make (never a protected folder).

    Raises
    ------
    FileNotFoundError
        When ``build/<profile>/`` holds no executed notebook (run ``topotta-lite reproduce``).
    ReportFolderError
        When ``out`` may not be replaced (see :func:`topotta_lite.site.files.check_out_folder`).
    """
    from topotta_lite.config import figures_dir, repo_root

    build_dir = Path(build_dir or repo_root() / "build")
    runs = build_dir / profile
    figures = Path(figures) if figures is not None else figures_dir()
    out = Path(out or build_dir / "site" / profile)
    sources = _sources(runs, build_dir)
    if not sources:
        raise FileNotFoundError(f"no executed notebooks in {runs}: run "
                                f"`topotta-lite reproduce --profile {profile}` first")
    out = files.check_out_folder(out, protected=[figures, runs, repo_root(), Path.home(), Path("/")],
                                 inputs=[figures, runs], force=force)
    with files.staged_folder(out, f"made by topotta-lite report (profile {profile})\n") as site:
        _write_site(site, profile, runs, build_dir, figures, sources)
    return out / "index.html"
