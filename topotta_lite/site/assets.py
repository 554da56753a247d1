"""The files every site carries, so that it opens from disk with no network.

* ``site.css`` and ``site.js`` (this package's ``assets/``);
* ``plotly.min.js`` from the installed plotly package, once per site, when a page needs it;
* MathJax 2 from the installed ``jupyter-server-mathjax`` package (MathJax: Apache-2.0; the
  package: BSD-3-Clause), the parts its TeX, HTML-CSS output set-up loads, with the site's
  configuration ``mathjax/config/local/topotta.js``.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

ASSETS = Path(__file__).resolve().parent / "assets"
#: The parts of MathJax 2 that its combined TeX configuration with HTML-CSS output and the
#: STIX-Web fonts loads (the package ships no SVG output; the accessibility add-ons stay out).
MATHJAX_PARTS = ("MathJax.js", "LICENSE", "config/TeX-AMS-MML_HTMLorMML-full.js",
                 "extensions/tex2jax.js", "extensions/Safe.js", "extensions/MathEvents.js",
                 "extensions/MathZoom.js", "extensions/MathMenu.js", "extensions/TeX",
                 "extensions/HTML-CSS", "extensions/MathML", "extensions/toMathML.js",
                 "extensions/AssistiveMML.js", "extensions/FontWarnings.js", "jax/input",
                 "jax/element", "jax/output/HTML-CSS", "fonts/HTML-CSS", "localization/en")
MATHJAX_CONFIG = "config/local/topotta.js"


def mathjax_source() -> Path:
    """The MathJax 2 folder shipped by ``jupyter-server-mathjax`` (found without importing it).

    Raises
    ------
    FileNotFoundError
        The package is not installed (``pip install jupyter-server-mathjax``).

    Examples
    --------
    >>> (mathjax_source() / "MathJax.js").is_file()
    True
    """
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        static = Path(folder) / "static"
        if (static / "MathJax.js").is_file():
            return static
    raise FileNotFoundError("MathJax is not installed: pip install jupyter-server-mathjax "
                            "(the report typesets formulas with a local copy)")


def copy_mathjax(site: Path) -> Path:
    """Copy MathJax and the site's configuration into ``site/mathjax``; return that folder."""
    source, target = mathjax_source(), Path(site) / "mathjax"
    for part in MATHJAX_PARTS:
        src, dst = source / part, target / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)
    config = target / MATHJAX_CONFIG
    config.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ASSETS / "mathjax-config.js", config)
    return target


def write_plotly_js(site: Path) -> Path:
    """Write the installed plotly's ``plotly.min.js`` beside the pages (once per site)."""
    import plotly.offline

    path = Path(site) / "plotly.min.js"
    path.write_text(plotly.offline.get_plotlyjs(), encoding="utf-8")
    return path


def copy_site_files(site: Path) -> None:
    """Copy ``site.css``, ``site.js`` and MathJax into ``site``."""
    for name in ("site.css", "site.js"):
        shutil.copyfile(ASSETS / name, Path(site) / name)
    copy_mathjax(site)
