"""Notebook pages: an executed notebook as a page of the site, made by nbconvert.

The template is JupyterLab's (nbconvert ``lab``) with the site's head: the Content-Security-Policy
first, then the local MathJax, ``site.js`` and (when the page has a plotly view) the shared
``plotly.min.js``, never a script from the network. nbconvert's own sanitising hook
(``sanitize_html``) runs our nh3 sanitiser on every Markdown cell, HTML and Markdown output and
highlighted code; JavaScript outputs are not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from topotta_lite.site.sanitize import CSP_META, MATHJAX_SRC, VIEW_MIME, clean_html, prepare_notebook

SITE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head -%}
@CSP_META@
{{ super() }}
{%- endblock html_head -%}
{%- block html_head_js -%}
{%- if resources.site_plotly %}<script src="plotly.min.js"></script>{% endif %}
<script src="site.js"></script>
{%- endblock html_head_js -%}
{%- block html_head_js_mathjax -%}
<script src="@MATHJAX_SRC@"></script>
{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{% block extra_css %}
<link rel="icon" href="data:,">
<link rel="stylesheet" href="site.css">
{% endblock extra_css %}
{%- block body_header -%}
{{ super() }}
{{ resources.site_nav }}
{%- endblock body_header -%}
{%- block data_priority scoped -%}
{%- if '@VIEW_MIME@' in output.data -%}
<div class="jp-OutputArea-output topotta-view">{{ output.data['@VIEW_MIME@'] }}</div>
{%- else -%}
{{ super() }}
{%- endif -%}
{%- endblock data_priority -%}
""".replace("@CSP_META@", CSP_META).replace("@VIEW_MIME@", VIEW_MIME).replace(
    "@MATHJAX_SRC@", MATHJAX_SRC)


@dataclass
class NotebookPage:
    """One executed notebook and the page made from it (``error``: its first error, if any)."""

    stem: str
    page: str
    ok: bool
    error: str = ""


def exporter():
    """nbconvert's HTML exporter with the site template and the nh3 sanitiser."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exp = HTMLExporter(template_name="lab", sanitize_html=True, extra_loaders=[DictLoader({
        "topotta_site.html.j2": SITE_TEMPLATE})])
    exp.template_file = "topotta_site.html.j2"
    exp.register_filter("clean_html", clean_html)
    return exp


def first_error(nb) -> str:
    """The first error output of ``nb`` as ``"Name: message"`` (at most 300 characters), or ``""``.

    Examples
    --------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook()
    >>> nb.cells.append(nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
    ...     "error", ename="ValueError", evalue="bad", traceback=[])]))
    >>> first_error(nb)
    'ValueError: bad'
    """
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return f"{out.get('ename', 'Error')}: {out.get('evalue', '')}"[:300]
    return ""


def render_notebook(exp, nb, path: Path, *, title: str, nav: str) -> bool:
    """Write ``nb`` as the page ``path``; return whether it holds a plotly view."""
    n_views = prepare_notebook(nb)
    nb.metadata["title"] = title
    body, _ = exp.from_notebook_node(nb, resources={"site_nav": nav, "site_plotly": n_views > 0})
    path.write_text(body, encoding="utf-8")
    return n_views > 0
