"""The report site: a static, offline HTML site made from a run's executed notebooks and outputs.

``topotta-lite report`` (:mod:`topotta_lite.cli.report`) calls :func:`build_site`. The modules:

* :mod:`~topotta_lite.site.files`: the output folder's guard (a marker file, refused folders, an
  atomic swap) and reading the inputs without following a symlink;
* :mod:`~topotta_lite.site.sanitize`: the HTML sanitiser (nh3), the Content-Security-Policy, the
  notebook clean-up before nbconvert and the audit of every written page;
* :mod:`~topotta_lite.site.assets`: the files every site carries (MathJax, plotly.js, CSS, JS);
* :mod:`~topotta_lite.site.notebooks`: the notebook pages (nbconvert);
* :mod:`~topotta_lite.site.dashboard`: the verdict dashboard and the claims' settings page;
* :mod:`~topotta_lite.site.pages`: the site's own pages (index, tables, interactive views);
* :mod:`~topotta_lite.site.build`: all of it in order.
"""

from topotta_lite.site.build import build_site
from topotta_lite.site.files import MARKER, ReportFolderError, ReportWarning

__all__ = ["MARKER", "ReportFolderError", "ReportWarning", "build_site"]
