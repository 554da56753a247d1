"""``topotta-lite report``: the static site, its safety, and the site opened in headless Chromium.

* a real site (notebooks 01, 02 and 14 run with the smoke profile) in Chromium: formulas typeset
  offline, nothing wider than a 1280 px window, no console error, no request leaves the machine;
  screenshots in ``build/report-screens/``;
* hand-made fake runs (fast): a hostile one whose names, cells and outputs hold HTML and script
  (no live element in Chromium), symbolic links to ``/etc/passwd``, and the output folder's guard.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import re
import shutil
import threading
import warnings
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

from topotta_lite import cli
from topotta_lite.site import MARKER, ReportFolderError, ReportWarning, build_site
from topotta_lite.site.pages import plotly_figure_from_page
from topotta_lite.site.sanitize import CSP, PLOTLY_MIME

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install chromium "
    "chromium-driver; .ci/run installs it)")

XSS = "window.__xss=1"
HOSTILE = f'<img src=x onerror="{XSS}">'
HOSTILE_NAMES = [f"<img src=x onerror={XSS}>", f'" onmouseover="{XSS}', f"javascript:{XSS}",
                 f"<script>{XSS}</script>"]
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGA"
                       "WjR9awAAAABJRU5ErkJggg==")

# --------------------------------------------------------------------------------------------
# fake runs, written by hand


def _notebook(cells) -> dict:
    nb = nbformat.v4.new_notebook(cells=cells)
    return json.loads(nbformat.writes(nb, version=4))


def _write_nb(path: Path, nb: dict) -> None:
    path.write_text(json.dumps(nb), encoding="utf-8")


def _hostile_outputs() -> list[dict]:
    out = nbformat.v4.new_output
    return [
        out("execute_result", execution_count=1, data={
            "text/html": f'<table class="dataframe"><tr><th>class</th></tr><tr><td>{HOSTILE}</td>'
                         f'</tr></table><style>body {{display: none}}</style><script>{XSS}</script>',
            "text/plain": HOSTILE}),
        out("display_data", data={"text/markdown": f"**<svg onload=\"{XSS}\"></svg>** "
                                                   f"[link](javascript:{XSS}) $x^2$"}),
        out("display_data", data={"application/javascript": XSS}),
        out("display_data", data={"image/svg+xml": f'<svg onload="{XSS}"><script>{XSS}</script>'
                                                   "</svg>"}),
        out("display_data", data={"image/png": base64.b64encode(PNG).decode()},
            metadata={"image/png": {"width": f"1 onerror={XSS}"},
                      "filenames": {"image/png": "/etc/passwd"}}),
        out("display_data", data={"text/vnd.mermaid": HOSTILE}),
        out("display_data", data={"application/vnd.jupyter.widget-view+json": {
            "model_id": f"</script><script>{XSS}</script>"}}),
        out("display_data", data={PLOTLY_MIME: {
            "data": [{"type": "bar", "x": [HOSTILE], "y": [1]}],
            "layout": {"title": {"text": f"</script><script>{XSS}</script>{HOSTILE}"}}},
            "text/plain": "plotly"}),
        out("stream", name="stdout", text=f"{HOSTILE}\n"),
        out("error", ename=HOSTILE, evalue=f"<script>{XSS}</script>", traceback=[HOSTILE]),
    ]


def _write_csv(path: Path, rows: list[list]) -> None:
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)


def _hostile_tables(tables: Path) -> None:
    tables.mkdir(parents=True)
    _write_csv(tables / f"{HOSTILE_NAMES[0]}.csv", [["class", "f1"]] + [[n, 0.5] for n in HOSTILE_NAMES])
    (tables / "notes.md").write_text(
        f"| class | note |\n| --- | --- |\n| {HOSTILE} | [x](javascript:{XSS}) <script>{XSS}"
        "</script> |\n")
    _write_csv(tables / "claims.csv", [
        ["claim", "preset", "origin", "verdict", "statement", "paper_value", "estimate", "low",
         "high", "n_images", "n_settings", "reason"],
        [HOSTILE, "paper", "paper", "holds", f"<script>{XSS}</script>", 0.1, 0.05, 0.02, 0.08,
         144, 2, HOSTILE_NAMES[1]],
        ["thr_worst", "release", "ours", HOSTILE_NAMES[3], "statement", "", "", "", "", "", "", ""]])
    _write_csv(tables / "claims_settings.csv", [
        ["claim", "preset", "setting", "comparands", "estimate", "low", "high", "n_images",
         "n_classes", "verdict"],
        [HOSTILE, "paper", HOSTILE_NAMES[2], "a vs b", 0.05, 0.02, 0.08, 72, 6, "holds"],
        [HOSTILE, "paper", f"<script>{XSS}</script>", "a vs b", 0.01, -0.02, 0.04, 72, 6,
         "inconclusive"]])


def _hostile_view(figures: Path) -> None:
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=[HOSTILE], y=[1]), layout={"title": {"text": HOSTILE}})
    page = figures / f"<b onmouseover={XSS}>view.html"
    fig.write_html(page, include_plotlyjs="plotly.min.js", full_html=True, div_id="v")
    page.write_text(page.read_text() + f"<script>{XSS}</script><img src=x onerror={XSS}>")
    (figures / "plotly.min.js").write_text(XSS)  # never copied: the site writes its own


def make_run(root: Path, *, hostile: bool = False, profile: str = "smoke") -> tuple[Path, Path]:
    """A tiny executed run written by hand: ``(build_dir, figures)``."""
    build, figures = root / "build", root / "figures"
    runs = build / profile
    runs.mkdir(parents=True)
    figures.mkdir()
    md = nbformat.v4.new_markdown_cell
    cells = [md("# A page\n\nA formula: $\\chi = b_0 - b_1$ and $$\\sum_i x_i$$")]
    name = "01_fake"
    if hostile:
        name = f"01_{HOSTILE_NAMES[0]}"
        cell = nbformat.v4.new_code_cell(f"print('{HOSTILE}')", outputs=_hostile_outputs())
        cells += [md(f"## {HOSTILE}\n\n<script>{XSS}</script> [a](javascript:{XSS}) "
                     f"$\\href{{javascript:{XSS}}}{{x}}$ $\\style{{color:red}}{{y}}$ "
                     f'<a id="__xss" href="#top">clobber</a> <form action="javascript:{XSS}">'
                     f"<button>x</button></form> <iframe src=\"javascript:{XSS}\"></iframe>"),
                  cell]
    nb = _notebook(cells)
    if hostile:
        nb["cells"][-1]["metadata"]["tags"] = [f'x" onmouseover="{XSS}']
        nb["cells"][-1]["id"] = f'"><img src=x onerror={XSS}>'
    _write_nb(runs / f"{name}.ipynb", nb)
    (figures / "fig_a.png").write_bytes(PNG)
    (figures / "MANIFEST.json").write_text(json.dumps({"figures/fig_a.png": {"notebook": name}}))
    if hostile:
        for n in HOSTILE_NAMES[:3]:
            (figures / f"{n}.png").write_bytes(PNG)
        (figures / "MANIFEST.json").write_text(json.dumps(
            {f"figures/{HOSTILE_NAMES[0]}.png": {"notebook": f"<script>{XSS}</script>"}}))
        _hostile_tables(figures / "tables")
        _hostile_view(figures)
        (runs / "verify.json").write_text(json.dumps({
            "profile": HOSTILE, "tolerance": 0.002, "tables": [
                {"table": HOSTILE, "status": "moved", "max_abs_diff": 0.01, "moved": [
                    {"row": HOSTILE, "column": HOSTILE_NAMES[1], "committed": 0.5, "fresh": 0.51}]},
                {"table": "table10_runtime", "status": "timing", "max_abs_diff": 3.0}]}))
    return build, figures


def _report(build: Path, figures: Path, out: Path, *extra: str, profile: str = "smoke") -> int:
    return cli.main(["report", "--profile", profile, "--build-dir", str(build), "--figures-dir",
                     str(figures), "--out", str(out), *extra])


# --------------------------------------------------------------------------------------------
# the output folder is guarded


def test_a_users_folder_survives(tmp_path, capsys):
    build, figures = make_run(tmp_path)
    users = tmp_path / "thesis"
    users.mkdir()
    (users / "thesis.tex").write_text("\\documentclass{article}")
    assert _report(build, figures, users) == 2
    assert "did not make" in capsys.readouterr().err
    assert (users / "thesis.tex").read_text() == "\\documentclass{article}"
    assert sorted(p.name for p in users.iterdir()) == ["thesis.tex"]
    # an empty folder is fine, and --force replaces a foreign one on request
    assert _report(build, figures, tmp_path / "empty") == 0
    assert _report(build, figures, users, "--force") == 0
    assert (users / MARKER).is_file() and not (users / "thesis.tex").exists()


@pytest.mark.parametrize("target", ["figures", "runs", "build", "root", "home"])
def test_folders_the_run_needs_are_refused_even_with_force(tmp_path, monkeypatch, capsys, target):
    build, figures = make_run(tmp_path)
    # matplotlib makes its font cache under $HOME on its first import in a process (whichever
    # test comes first in this worker); that is not the report writing there
    import matplotlib.font_manager  # noqa: F401

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    out = {"figures": figures, "runs": build / "smoke", "build": build, "root": REPO,
           "home": tmp_path / "home"}[target]
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert _report(build, figures, out, "--force") == 2
    assert "refusing --out" in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    with pytest.raises(ReportFolderError, match="lies inside"):
        build_site("smoke", build_dir=build, figures=figures, out=figures / "site", force=True)


def test_out_that_is_a_link_or_a_file_is_refused(tmp_path):
    build, figures = make_run(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "file").write_text("mine")
    for out, why in ((tmp_path / "link", "symbolic link"), (tmp_path / "file", "a file")):
        with pytest.raises(ReportFolderError, match=why):
            build_site("smoke", build_dir=build, figures=figures, out=out)
    assert (tmp_path / "file").read_text() == "mine"


def test_rebuild_replaces_its_own_site_and_a_failure_keeps_the_old_one(tmp_path, monkeypatch):
    build, figures = make_run(tmp_path)
    out = tmp_path / "site"
    assert _report(build, figures, out) == 0
    (out / "stale.txt").write_text("from the previous build")
    assert _report(build, figures, out) == 0  # its own folder: rebuilt
    assert not (out / "stale.txt").exists() and (out / MARKER).is_file()
    index = (out / "index.html").read_text()

    from topotta_lite.site import pages

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    (figures / "fig_b.png").write_bytes(PNG)
    monkeypatch.setattr(pages, "tables_page_body", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        build_site("smoke", build_dir=build, figures=figures, out=out)
    assert (out / "index.html").read_text() == index
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build", "figures", "site"]


def test_corrupt_manifest_and_verify_only_warn(tmp_path):
    build, figures = make_run(tmp_path)
    (figures / "MANIFEST.json").write_text("{not json")
    (build / "smoke" / "verify.json").write_text("[1, 2")
    with pytest.warns(ReportWarning) as caught:
        index = build_site("smoke", build_dir=build, figures=figures, out=tmp_path / "site")
    messages = " ".join(str(w.message) for w in caught)
    assert "MANIFEST.json" in messages and "verify.json" in messages
    assert "fig_a" in index.read_text()


def test_report_without_runs_fails_clearly(tmp_path, capsys):
    rc = cli.main(["report", "--profile", "smoke", "--build-dir", str(tmp_path / "nowhere"),
                   "--out", str(tmp_path / "site")])
    assert rc == 2
    assert "no executed notebooks" in capsys.readouterr().err
    assert not (tmp_path / "site").exists()


# --------------------------------------------------------------------------------------------
# symbolic links are never followed


def test_symlinked_figures_and_tables_are_skipped(tmp_path):
    build, figures = make_run(tmp_path)
    (figures / "passwd.png").symlink_to("/etc/passwd")
    (figures / "passwd.html").symlink_to("/etc/passwd")
    (figures / "tables").mkdir()
    (figures / "tables" / "passwd.md").symlink_to("/etc/passwd")
    (figures / "tables" / "passwd.csv").symlink_to("/etc/passwd")
    (figures / "tables" / "ok.csv").write_text("a,b\n1,2\n")
    with pytest.warns(ReportWarning, match="symbolic link"):
        build_site("smoke", build_dir=build, figures=figures, out=tmp_path / "site")
    site = tmp_path / "site"
    names = {p.name for p in site.rglob("*")}
    assert "passwd.png" not in names and "passwd.md" not in names and "passwd.csv" not in names
    assert "ok.csv" in names
    secret = Path("/etc/passwd").read_text().splitlines()[0]
    for page in site.rglob("*.html"):
        assert secret not in page.read_text(), page
        assert "passwd" not in page.read_text(), page


def test_a_symlinked_tables_folder_is_skipped(tmp_path):
    build, figures = make_run(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "secret.csv").write_text("secret,1\n")
    (figures / "tables").symlink_to(tmp_path / "elsewhere")
    with pytest.warns(ReportWarning, match="symbolic link"):
        build_site("smoke", build_dir=build, figures=figures, out=tmp_path / "site")
    assert not list((tmp_path / "site").rglob("secret*"))
    assert "secret" not in (tmp_path / "site" / "tables.html").read_text()


# --------------------------------------------------------------------------------------------
# hostile names and outputs: escaped, sanitised, audited


def _live_in_source(text: str) -> list[str]:
    """Event-handler attributes, scripts and script URLs in a page's source (BeautifulSoup)."""
    from bs4 import BeautifulSoup

    live = []
    for tag in BeautifulSoup(text, "html.parser").find_all(True):
        for name, value in tag.attrs.items():
            value = " ".join(value) if isinstance(value, list) else value
            if name.lower().startswith("on"):
                live.append(f"{tag.name} {name}")
            if name in ("href", "src", "action") and value.strip().lower().startswith("javascript:"):
                live.append(f"{tag.name} {name}={value[:30]}")
        if tag.name == "script" and not (tag.get("src") or tag.get("type") == "application/json"):
            live.append(f"inline script {tag.text[:30]}")
        if tag.name in ("iframe", "object", "embed", "form", "base"):
            live.append(tag.name)
    return live


def _external_refs(text: str) -> list[str]:
    """Scripts, styles, images and frames a page would load from another host."""
    from bs4 import BeautifulSoup

    refs = []
    for tag in BeautifulSoup(text, "html.parser").find_all(["script", "link", "img", "iframe"]):
        ref = (tag.get("src") or tag.get("href") or "").strip().lower()
        if ref.startswith(("http:", "https:", "//")):
            refs.append(f"{tag.name} {ref[:60]}")
    return refs


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    build, figures = make_run(tmp, hostile=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReportWarning)  # the fake notebook's ids are invalid
        build_site("smoke", build_dir=build, figures=figures, out=tmp / "site")
    return tmp / "site"


def test_hostile_site_pages_are_inert(hostile_site):
    site = hostile_site
    pages = sorted(site.rglob("*.html"))
    assert {"index.html", "tables.html", "settings.html"} <= {p.name for p in pages}
    assert any(p.name.startswith("01_") for p in pages) and list((site / "views").glob("*.html"))
    for page in pages:
        text = page.read_text()
        assert f'content="{CSP}"' in text, page.name
        assert _live_in_source(text) == [], page.name
        assert f"<script>{XSS}" not in text, page.name
        assert 'href="javascript:' not in text.lower(), page.name
    index = (site / "index.html").read_text()
    assert "&lt;img src=x onerror=window.__xss=1&gt;" in index  # the figure's name, escaped
    assert "Reproduced?" in index and "table10_runtime" in index
    assert (site / "plotly.min.js").stat().st_size > 1_000_000  # ours, not the run's


def test_plotly_view_page_is_rebuilt_from_its_json(tmp_path):
    import plotly.graph_objects as go

    page = tmp_path / "v.html"
    frames = [go.Frame(data=[go.Bar(y=[2])], name="f")]
    go.Figure(go.Bar(y=[1]), frames=frames).write_html(page, include_plotlyjs="plotly.min.js",
                                                       div_id="v", auto_play=False)
    figure = plotly_figure_from_page(page.read_text() + f"<script>{XSS}</script>")
    assert figure["data"][0]["type"] == "bar" and len(figure["frames"]) == 1
    assert plotly_figure_from_page(f"<script>{XSS}</script>") is None


# --------------------------------------------------------------------------------------------
# the dashboard


def test_dashboard_reads_the_interface_schema(hostile_site):
    index = (hostile_site / "index.html").read_text()
    settings = (hostile_site / "settings.html").read_text()
    assert 'class="badge v-holds"' in index and "<svg class=\"forest\"" in index
    assert "+0.050" in index and "[+0.020, +0.080]" in index and "n = 144 images" in index
    assert "<td>paper</td>" in index and "<td>release</td>" in index  # the preset column
    assert index.count("<circle") == 2  # one dot per setting of the first claim
    links = re.findall(r'href="settings.html#([^"]+)"', index)
    assert len(links) == 1 and f'id="{links[0]}"' in settings  # thr_worst has no settings
    assert "&lt;script&gt;" in settings  # setting names escaped


def test_dashboard_renders_the_committed_old_claims_table(tmp_path):
    build, figures = make_run(tmp_path)
    shutil.copytree(REPO / "figures" / "tables", figures / "tables")
    index = build_site("smoke", build_dir=build, figures=figures, out=tmp_path / "site")
    text = index.read_text()
    import csv

    claims = list(csv.DictReader((figures / "tables" / "claims.csv").open()))
    settings = list(csv.DictReader((figures / "tables" / "claims_settings.csv").open()))
    assert claims
    for row in claims:
        assert f"<strong>{row['claim']}</strong>" in text
    # one forest plot per line (claim, preset) that has one of our intervals
    with_ours = {(s["claim"], s.get("preset", "")) for s in settings
                 if s.get("side") != "paper" and s["estimate"]}
    lines = {(r["claim"], r.get("preset", "")) for r in claims}
    assert text.count('<svg class="forest"') == len(with_ours & lines)
    page = (tmp_path / "site" / "settings.html").read_text()
    for claim in {s["claim"] for s in settings}:
        assert f'id="claim--{claim}"' in page
        if claim in {r["claim"] for r in claims}:
            assert f'href="settings.html#claim--{claim}' in text  # (then the preset, if any)


def test_dashboard_with_only_two_columns(tmp_path):
    build, figures = make_run(tmp_path)
    (figures / "tables").mkdir()
    (figures / "tables" / "claims.csv").write_text("claim,verdict\nc1,does not hold\n")
    text = build_site("smoke", build_dir=build, figures=figures, out=tmp_path / "s").read_text()
    assert "c1" in text and 'class="badge v-fails"' in text and "no interval" in text


# --------------------------------------------------------------------------------------------
# a real site (smoke run of 01, 02 and 14)


@pytest.fixture(scope="module")
def site(made_once):
    """Notebooks 01 (formulas), 02 (figures, the plotly slider) and 14 (claims) run with the smoke
    profile, rendered by ``topotta-lite report`` (once for the whole run: the tests only read)."""
    from topotta_lite.cli.reproduce import reproduce

    def make(tmp):
        figs, build, out = tmp / "figures", tmp / "build", tmp / "site"
        mp = pytest.MonkeyPatch()
        mp.setenv("TOPOTTA_FIGURES", str(figs))
        try:
            results = reproduce("smoke", ["01", "02", "14"], build_dir=build, progress=False)
        finally:
            mp.undo()
        assert all(r.ok for r in results), [r.error[:500] for r in results]
        assert _report(build, figs, out) == 0

    tmp = made_once("report", make)
    return tmp / "site", tmp / "figures"


@pytest.mark.long
def test_site_files(site):
    out, figs = site
    pages = sorted(p.name for p in out.glob("*.html"))
    assert {"index.html", "tables.html", "settings.html", "01_cubical_complexes.html",
            "02_multilevel_filtration.html", "14_claims_report.html"} <= set(pages)
    assert (out / "views" / "nb02_filtration_slider.html").is_file()
    assert (out / MARKER).is_file() and (out / "mathjax" / "MathJax.js").is_file()
    index = (out / "index.html").read_text()
    assert "Claims of the paper" in index and "verdict" in index
    for page in ("01_cubical_complexes.html", "14_claims_report.html", "tables.html"):
        assert f'href="{page}"' in index
    for png in figs.glob("*.png"):
        assert f"figures/{png.name}" in index and (out / "figures" / png.name).is_file()
    assert 'href="tables.html#table--claims"' in index
    # one plotly.js for the whole site; no page inlines it (the library is ~4.8 MB)
    js = out / "plotly.min.js"
    assert js.is_file() and js.stat().st_size > 1_000_000
    for page in out.rglob("*.html"):
        text = page.read_text()
        assert page.stat().st_size < js.stat().st_size / 2, f"{page.name} inlines plotly.js?"
        assert f'content="{CSP}"' in text, page.name
        assert _external_refs(text) == [], page.name


@pytest.mark.long  # with test_site_files: one worker builds the site, the others never wait for it
def test_interactive_view_has_a_static_png_in_the_notebook(site):
    out, _ = site
    nb = nbformat.read(out.parent / "build" / "smoke" / "02_multilevel_filtration.ipynb", 4)
    bundles = [o.data for c in nb.cells for o in c.get("outputs", [])
               if PLOTLY_MIME in o.get("data", {})]
    assert len(bundles) == 1
    assert "image/png" in bundles[0]
    assert "text/html" not in bundles[0]  # no plotly.js inside the notebook


# --------------------------------------------------------------------------------------------
# Chromium


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


def _serve(folder: Path):
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _make_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic", "--hide-scrollbars",
                "--window-size=1280,1600"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(180)
    return driver


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed")
    if CHROMEDRIVER is None:
        pytest.fail("chromium is installed but chromedriver is not: apt-get install chromium-driver")
    driver = _make_browser()
    yield driver
    driver.quit()


def _open(driver, address: str) -> dict:
    """Load a page, wait until it settled (MathJax done, plotly drawn); return what happened."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get_log("browser")
    driver.get_log("performance")
    driver.get(address)
    wait = WebDriverWait(driver, 120, poll_frequency=0.25)
    wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
    wait.until(lambda d: d.execute_script(
        "return !document.querySelector('script[src*=\"MathJax.js\"]')"
        " || document.documentElement.getAttribute('data-math') === 'done'"))
    wait.until(lambda d: d.execute_script(
        "const n = document.querySelectorAll('.topotta-plotly').length;"
        "return n === 0 || document.querySelectorAll('.topotta-plotly .main-svg').length > 0"))
    requests = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
    urls = [m["params"]["request"]["url"] for m in requests
            if m.get("method") == "Network.requestWillBeSent"]
    return {"errors": [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"],
            "urls": urls}


def _outside(urls: list[str]) -> list[str]:
    """Requests that would leave the machine (anything but loopback, file: and inline data)."""
    bad = []
    for u in urls:
        parsed = urlparse(u)
        if parsed.scheme in ("file", "data", "about", "blob"):
            continue
        if parsed.scheme in ("http", "https") and parsed.hostname in ("127.0.0.1", "localhost"):
            continue
        bad.append(u)
    return bad


_LIVE = """
const ours = ['/site.js', '/plotly.min.js', '/mathjax/MathJax.js'];
const isOurs = (src) => {
  const u = new URL(src, location.href);
  return u.protocol === location.protocol && u.host === location.host
    && (ours.some(o => u.pathname.endsWith(o)) || u.pathname.includes('/mathjax/'));
};
const live = [];
for (const el of document.querySelectorAll('*')) {
  for (const a of el.attributes) {
    if (a.name.toLowerCase().startsWith('on')) live.push(el.tagName + ' ' + a.name);
    if (/^\\s*(javascript|vbscript):/i.test(a.value) && /href|src|action/i.test(a.name))
      live.push(el.tagName + ' ' + a.name + '=' + a.value.slice(0, 40));
  }
}
for (const s of document.scripts) {
  const inert = (s.type === 'application/json' && s.classList.contains('topotta-plotly-figure'))
             || s.type.startsWith('math/tex');
  if (!inert && !(s.src && isOurs(s.src)))
    live.push('script ' + s.outerHTML.slice(0, 80));
}
for (const tag of ['iframe', 'object', 'embed', 'form', 'base'])
  if (document.querySelector(tag)) live.push(tag);
const csp = document.querySelector('meta[http-equiv="Content-Security-Policy"]');
return {live: live, xss: window.__xss === undefined ? null : String(window.__xss),
        csp: csp ? csp.content : null};
"""


@needs_chromium
def test_hostile_site_has_no_live_element_in_chromium(hostile_site, browser):
    server, base = _serve(hostile_site)
    try:
        pages = sorted(p.relative_to(hostile_site).as_posix() for p in hostile_site.rglob("*.html"))
        assert len(pages) >= 5, pages
        for page in pages:
            from urllib.parse import quote

            seen = _open(browser, f"{base}/{quote(page)}")
            found = browser.execute_script(_LIVE)
            assert found["live"] == [], (page, found["live"])
            assert found["xss"] is None, page
            assert found["csp"] and "script-src 'self'" in found["csp"], page
            assert _outside(seen["urls"]) == [], (page, _outside(seen["urls"]))
    finally:
        server.shutdown()
        server.server_close()


def _check_page(driver, address: str, *, math: bool) -> dict:
    seen = _open(driver, address)
    assert seen["errors"] == [], (address, seen["errors"])
    assert _outside(seen["urls"]) == [], (address, _outside(seen["urls"]))
    widths = driver.execute_script("return [document.documentElement.scrollWidth, "
                                   "document.documentElement.clientWidth, window.innerWidth]")
    assert widths[0] <= 1280 and widths[0] <= widths[1], (address, widths)
    images = driver.execute_script(
        "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
    assert all(w > 0 for w in images), (address, images)
    if math:
        typeset = driver.execute_script("return document.querySelectorAll('.MathJax').length")
        raw = driver.execute_script(
            "return Array.from(document.querySelectorAll('.jp-RenderedMarkdown'))"
            ".map(e => e.innerText).join('\\n')")
        assert typeset > 10, (address, typeset)
        assert "$\\" not in raw and "$b_" not in raw, address
    return seen


@pytest.mark.long  # with test_site_files: one worker builds the site, the others never wait for it
@needs_chromium
def test_site_in_chromium(site, browser):
    from selenium.webdriver.common.by import By

    out, _ = site
    shots = REPO / "build" / "report-screens"
    shots.mkdir(parents=True, exist_ok=True)
    server, base = _serve(out)
    try:
        for root in (base, out.as_uri()):  # from a loopback server and from disk
            _check_page(browser, f"{root}/index.html", math=False)
            headers = [th.text.strip() for th in browser.find_elements(By.CSS_SELECTOR, "table th")]
            assert {"claim", "verdict"} <= set(headers), headers
            assert browser.find_elements(By.CSS_SELECTOR, "table.dashboard .badge")
            if root == base:
                browser.save_screenshot(str(shots / "index.png"))
            _check_page(browser, f"{root}/01_cubical_complexes.html", math=True)
            if root == base:
                browser.save_screenshot(str(shots / "01_cubical_complexes.png"))
        _check_page(browser, f"{base}/02_multilevel_filtration.html", math=True)
        assert browser.execute_script("return document.querySelectorAll("
                                      "'script[src=\"plotly.min.js\"]').length") == 1
        for page in ("tables.html", "settings.html", "views/nb02_filtration_slider.html"):
            _check_page(browser, f"{base}/{page}", math=False)
    finally:
        server.shutdown()
        server.server_close()
