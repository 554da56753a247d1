"""Everything the report did not write is made inert: sanitised HTML, a strict CSP, audited pages.

* :func:`clean_html`: an allow-list sanitiser (nh3) for HTML from notebooks and Markdown tables;
  ids get a ``user-`` prefix so that no name from a notebook can shadow a global of the page;
* :data:`CSP`: the Content-Security-Policy of every page: scripts only from the site's own files,
  nothing from the network;
* :func:`prepare_notebook`: a notebook reduced to the outputs the report shows, plotly figures
  turned into inert JSON blocks that the site's ``site.js`` draws;
* :func:`audit_html`: the check run on every page written (no event-handler attribute, no script
  but the site's, no ``javascript:`` link).
"""

from __future__ import annotations

import html
import json
import math
import re
from html.parser import HTMLParser

PLOTLY_MIME = "application/vnd.plotly.v1+json"
#: The output type of a plotly view once the report has made it (inert JSON, drawn by site.js).
VIEW_MIME = "application/x.topotta-plotly-view+html"
#: The scripts a page may load, relative to the site's root.
SITE_SCRIPTS = ("site.js", "plotly.min.js", "mathjax/MathJax.js")
#: MathJax with its combined TeX configuration and the site's own (``assets/mathjax-config.js``).
MATHJAX_SRC = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,local/topotta"

CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; connect-src 'none'; object-src 'none'; "
       "base-uri 'none'; form-action 'none'")
CSP_META = f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'

_TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
         "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5",
         "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "samp",
         "small", "span", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th",
         "thead", "tr", "tt", "u", "ul", "var", "wbr"}
_ATTRIBUTES = {"*": {"class", "id", "title", "lang"}, "a": {"href"}, "img": {"src", "alt", "width",
               "height"}, "td": {"colspan", "rowspan", "align"}, "th": {"colspan", "rowspan",
               "align", "scope"}, "ol": {"start"}}
_KEPT_MIMES = ("text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg",
               "image/svg+xml", PLOTLY_MIME)
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
_SAFE_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HAS_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.-]*:|//)")


def _filter_attribute(tag: str, name: str, value: str) -> str | None:
    if tag == "img" and name == "src" and _HAS_SCHEME.match(value):
        return None  # images of the site only: nothing is fetched from elsewhere
    if name == "id":
        return "user-" + value
    if name == "href" and value.startswith("#"):
        return "#user-" + value[1:]
    return value


def clean_html(text) -> str:
    """Sanitise an HTML fragment with an allow-list (nh3): no script, style, event or form.

    Examples
    --------
    >>> clean_html('<b id="x">a</b><img src=x onerror=alert(1)><script>bad()</script>')
    '<b id="user-x">a</b><img src="x">'
    >>> clean_html('<a href="javascript:alert(1)">t</a><img src="http://example.org/x.png">')
    '<a rel="noopener noreferrer">t</a><img>'
    """
    import nh3

    text = text.decode("utf-8", errors="replace") if isinstance(text, bytes) else str(text)
    return nh3.clean(text, tags=_TAGS, attributes=_ATTRIBUTES, attribute_filter=_filter_attribute,
                     url_schemes={"http", "https", "mailto"})


def markdown_html(text: str) -> str:
    """Markdown (tables included) as sanitised HTML.

    Examples
    --------
    >>> cell = markdown_html("| a |\\n| --- |\\n| <img src=x onerror=alert(1)> |")
    >>> "<table>" in cell, '<td><img src="x"></td>' in cell
    (True, True)
    """
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return clean_html(markdown2html_mistune(text))


def _finite(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def script_json(obj) -> str:
    """JSON that can sit inside a ``<script type="application/json">`` element.

    Examples
    --------
    >>> script_json({"t": "</script><b>", "x": float("nan")})
    '{"t":"\\\\u003c/script\\\\u003e\\\\u003cb\\\\u003e","x":null}'
    """
    text = json.dumps(_finite(obj), separators=(",", ":"), allow_nan=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                       ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text


def plotly_view(figure: dict, div_id: str) -> str:
    """An empty ``div`` and the figure as an inert JSON block; ``site.js`` draws it with plotly.

    Examples
    --------
    >>> plotly_view({"data": [], "layout": {"title": {"text": "<i>"}}}, "plotly-view-0")[:57]
    '<div class="topotta-plotly" id="plotly-view-0"></div><scr'
    """
    figure = {key: figure.get(key) for key in ("data", "layout", "frames") if key in figure}
    return (f'<div class="topotta-plotly" id="{html.escape(div_id)}"></div>'
            f'<script type="application/json" class="topotta-plotly-figure" '
            f'data-target="{html.escape(div_id)}">{script_json(figure)}</script>')


def _clean_output(out, n_views: int) -> int:
    data = out.get("data")
    if data is None:
        return 0
    kept = {k: v for k, v in data.items() if k in _KEPT_MIMES}
    for key in ("image/png", "image/jpeg"):
        if key in kept and not (isinstance(kept[key], str) and _BASE64.fullmatch(kept[key])):
            del kept[key]
    made = 0
    if isinstance(kept.get(PLOTLY_MIME), dict):
        kept = {VIEW_MIME: plotly_view(kept[PLOTLY_MIME], f"plotly-view-{n_views}")}
        made = 1
    kept.pop(PLOTLY_MIME, None)
    out["data"] = kept
    meta = out.get("metadata", {})
    out["metadata"] = {key: {k: v for k, v in meta.get(key, {}).items()
                             if k in ("width", "height") and type(v) is int}
                       for key in ("image/png", "image/jpeg") if isinstance(meta.get(key), dict)}
    return made


def prepare_notebook(nb) -> int:
    """Reduce ``nb`` (in place) to what the report shows; return the number of plotly views.

    Outputs keep only text, HTML and Markdown (sanitised when rendered), LaTeX, base64 images and
    plotly figures (turned into :func:`plotly_view` blocks); JavaScript, widgets, mermaid and
    file links go. Cell tags and ids that are not plain tokens go too.

    Examples
    --------
    >>> import nbformat
    >>> nb = nbformat.v4.new_notebook()
    >>> out = nbformat.v4.new_output("display_data", data={
    ...     "application/javascript": "alert(1)", PLOTLY_MIME: {"data": [], "layout": {}}})
    >>> nb.cells.append(nbformat.v4.new_code_cell(outputs=[out]))
    >>> prepare_notebook(nb), list(nb.cells[0].outputs[0].data)
    (1, ['application/x.topotta-plotly-view+html'])
    """
    nb.metadata.pop("widgets", None)
    n_views = 0
    for i, cell in enumerate(nb.cells):
        tags = cell.get("metadata", {}).get("tags", [])
        cell.setdefault("metadata", {})["tags"] = [t for t in tags if isinstance(t, str)
                                                   and _SAFE_TOKEN.fullmatch(t)]
        if "id" in cell and not (isinstance(cell["id"], str) and _SAFE_TOKEN.fullmatch(cell["id"])):
            cell["id"] = f"cell-{i}"
        if "outputs" in cell:
            for out in cell.outputs:
                n_views += _clean_output(out, n_views)
            cell.outputs = [out for out in cell.outputs if out.get("data", True)]
    return n_views


class _Auditor(HTMLParser):
    _URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}
    _BANNED = {"iframe", "object", "embed", "form", "base", "frame", "frameset", "applet"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = [(name.lower(), value or "") for name, value in attrs]
        if tag in self._BANNED:
            self.problems.append(f"<{tag}> element")
        for name, value in attrs:
            url = re.sub(r"[\s\x00-\x1f]", "", value).lower()
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...> event handler")
            elif name in self._URL_ATTRS and url.startswith(("javascript:", "vbscript:")):
                self.problems.append(f"<{tag} {name}={value[:40]!r}>")
            elif name in self._URL_ATTRS and url.startswith("data:") and tag not in ("img", "link"):
                self.problems.append(f"<{tag} {name}=data:...>")
        if tag == "meta" and any(n == "http-equiv" and v.lower() == "refresh" for n, v in attrs):
            self.problems.append("<meta http-equiv=refresh>")
        if tag == "script":
            self._check_script(dict(attrs))

    handle_startendtag = handle_starttag

    def _check_script(self, attrs: dict) -> None:
        src = attrs.get("src", "").split("?")[0]
        while src.startswith("../"):
            src = src[3:]
        inert = (attrs.get("type") == "application/json"
                 and attrs.get("class") == "topotta-plotly-figure" and "src" not in attrs)
        if not (inert or src in SITE_SCRIPTS):
            self.problems.append(f"<script src={attrs.get('src', '')[:40]!r}>")


def audit_html(text: str) -> list[str]:
    """What in a page could run code: event handlers, foreign scripts, script URLs; ``[]`` if none.

    Examples
    --------
    >>> audit_html('<script src="site.js"></script><p>ok</p>')
    []
    >>> audit_html('<img src=x onerror=alert(1)><a href=" javascript:x">a</a><script>1</script>')
    ['<img onerror=...> event handler', "<a href=' javascript:x'>", "<script src=''>"]
    """
    auditor = _Auditor()
    auditor.feed(text)
    auditor.close()
    return auditor.problems
