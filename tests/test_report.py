"""``topotta-lite report``: the static site, and the site opened in a real (headless) Chromium."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import nbformat
import pytest

from topotta_lite import cli
from topotta_lite.cli.report import PLOTLY_JS, PLOTLY_MIME, plotly_outputs_to_html
from topotta_lite.cli.reproduce import reproduce

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Notebooks 02 (figures, the plotly slider) and 13 (claims) run with the smoke profile,
    rendered by ``topotta-lite report``."""
    tmp = tmp_path_factory.mktemp("report")
    figs, build, out = tmp / "figures", tmp / "build", tmp / "site"
    mp = pytest.MonkeyPatch()
    mp.setenv("TOPOTTA_FIGURES", str(figs))
    try:
        results = reproduce("smoke", ["02", "14"], build_dir=build, progress=False)
    finally:
        mp.undo()
    assert all(r.ok for r in results), [r.error[:500] for r in results]
    rc = cli.main(["report", "--profile", "smoke", "--build-dir", str(build),
                   "--figures-dir", str(figs), "--out", str(out)])
    assert rc == 0
    return out, figs


def test_site_files(site):
    out, figs = site
    pages = sorted(p.name for p in out.glob("*.html"))
    assert {"index.html", "tables.html", "02_multilevel_filtration.html",
            "14_claims_report.html", "nb02_filtration_slider.html"} <= set(pages)
    index = (out / "index.html").read_text()
    # the claims table is on the index, and every notebook page, figure and table is linked
    assert "Claims of the paper" in index and "<table" in index and "verdict" in index
    for page in ("02_multilevel_filtration.html", "14_claims_report.html", "tables.html"):
        assert f'href="{page}"' in index
    for png in figs.glob("*.png"):
        assert f"figures/{png.name}" in index and (out / "figures" / png.name).is_file()
    assert 'href="tables.html#claims"' in index
    # one plotly.js for the whole site; no page inlines it (the library is ~4.8 MB)
    js = out / PLOTLY_JS
    assert js.is_file() and js.stat().st_size > 1_000_000
    for page in out.glob("*.html"):
        text = page.read_text()
        assert "Plotly.newPlot" not in text or f'src="{PLOTLY_JS}"' in text, page.name
        assert page.stat().st_size < js.stat().st_size / 2, f"{page.name} inlines plotly.js?"
    # nothing is fetched from the internet
    for page in out.glob("*.html"):
        assert "<script src=\"http" not in page.read_text(), page.name


def test_interactive_view_has_a_static_png_in_the_notebook(site):
    out, _ = site
    nb = nbformat.read(out.parent / "build" / "smoke" / "02_multilevel_filtration.ipynb", 4)
    bundles = [o.data for c in nb.cells for o in c.get("outputs", [])
               if PLOTLY_MIME in o.get("data", {})]
    assert len(bundles) == 1
    assert "image/png" in bundles[0]
    assert "text/html" not in bundles[0]  # no plotly.js inside the notebook
    assert plotly_outputs_to_html(nb) == 1


def test_report_without_runs_fails_clearly(tmp_path, capsys):
    rc = cli.main(["report", "--profile", "smoke", "--build-dir", str(tmp_path / "nowhere"),
                   "--out", str(tmp_path / "site")])
    assert rc == 2
    assert "no executed notebooks" in capsys.readouterr().err
    assert not (tmp_path / "site").exists()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def served(site):
    """The site on a loopback HTTP server (stopped after the test)."""
    out, _ = site
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic",
                "--window-size=1280,1600"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if CHROMEDRIVER is None:
        pytest.fail("chromium is installed but chromedriver is not: apt-get install chromium-driver")
    return webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))


def _errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install "
                    "chromium chromium-driver; .ci/run installs it)")
def test_site_in_chromium(served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    shots = REPO / "build"
    shots.mkdir(exist_ok=True)
    driver = _browser()
    try:
        driver.get(f"{served}/index.html")
        WebDriverWait(driver, 30).until(
            lambda d: d.execute_script("return document.readyState") == "complete")
        headers = [th.text.strip() for th in driver.find_elements(By.CSS_SELECTOR, "table th")]
        assert {"claim", "verdict"} <= set(headers), headers
        widths = driver.execute_script(
            "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
        assert widths and max(widths) > 0, widths
        assert min(widths) > 0, f"some figures did not load: {widths}"
        driver.save_screenshot(str(shots / "report_index.png"))
        assert _errors(driver) == []

        driver.get(f"{served}/02_multilevel_filtration.html")
        WebDriverWait(driver, 60).until(
            lambda d: d.execute_script("return document.querySelectorAll('.plotly .main-svg')"
                                       ".length") > 0)
        widths = driver.execute_script(
            "return Array.from(document.images).map(i => i.complete ? i.naturalWidth : 0)")
        assert widths and min(widths) > 0, widths
        n_js = driver.execute_script(
            f"return document.querySelectorAll('script[src=\"{PLOTLY_JS}\"]').length")
        assert n_js == 1
        driver.execute_script("document.querySelector('.plotly').scrollIntoView()")
        driver.save_screenshot(str(shots / "report_02_multilevel_filtration.png"))
        assert _errors(driver) == []
    finally:
        driver.quit()
