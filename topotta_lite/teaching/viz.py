"""Drawing helpers for the teaching notebooks: diagrams, barcodes, masks, small cubical complexes.

Everything here draws; nothing computes topology. Functions take a matplotlib ``Axes`` (or create
one) and return it, so notebooks can compose panels freely and save them with
:func:`topotta_lite.outputs.savefig`.

A *diagram* is anything with the attributes of :class:`topotta_lite.topology.persistence.PersistenceDiagram`:
``dims``, ``births``, ``deaths``, ``essential`` (bool) and ``filtration``. Essential classes are drawn
at the end of the filtration range (their stored death) with a distinct marker, and the legend says so.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np

from topotta_lite.vocabulary import FILTRATIONS, check_choice

__all__ = [
    "DIM_COLORS",
    "complex_geometry",
    "draw_boundary_matrix",
    "draw_complex",
    "draw_elementary_cube",
    "filtration_slider_figure",
    "filtration_strip",
    "overlay_mask",
    "plot_barcode",
    "plot_diagram",
    "plot_signal",
    "show_interactive",
    "show_map",
    "show_values",
    "write_html",
]


DIM_COLORS = {0: "#1f77b4", 1: "#ff7f0e", 2: "#2ca02c", 3: "#9467bd"}
"""One colour per homology dimension, used by every diagram and barcode."""

_ESSENTIAL_NOTE = "essential (death = end of range)"


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4, 4))
    return ax


def _dims_to_draw(diagram, dims: Iterable[int] | None) -> list[int]:
    present = sorted({int(d) for d in np.asarray(diagram.dims)})
    if dims is None:
        return present
    return [int(d) for d in dims]


def plot_diagram(
    diagram,
    ax=None,
    *,
    dims: Iterable[int] | None = None,
    value_range: tuple[float, float] | None = None,
    band: float | None = None,
    title: str | None = None,
    label_prefix: str = "",
    marker: str = "o",
    size: float = 22.0,
    alpha: float = 0.8,
    legend: bool = True,
):
    """Draw a persistence diagram: one point (birth, death) per feature, coloured by dimension.

    Sublevel features lie above the diagonal (death > birth); superlevel features lie below it
    (birth >= death, in the map's units). A point's persistence is death - birth in the sweep's
    own order (birth - death for a superlevel point), its vertical distance to the diagonal; its
    L-infinity distance to the diagonal is half of that. Essential classes are drawn as triangles
    at their stored (end-of-range) death.

    Parameters
    ----------
    diagram : PersistenceDiagram
        Object with ``dims``, ``births``, ``deaths``, ``essential``, ``filtration``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new 4x4 inch figure when omitted.
    dims : iterable of int, optional
        Homology dimensions to draw (default: all present).
    value_range : (float, float), optional
        Axis limits for both axes; default: the range of the diagram's values with a margin.
    band : float, optional
        If given, shade the strip of points whose persistence |death - birth| is below ``band``
        (e.g. ``2 * eps`` for noise of size ``eps``: the points within ``eps`` of the diagonal in
        the L-infinity distance, which the stability lemma cannot vouch for).
    title : str, optional
        Axes title.
    label_prefix : str
        Prepended to legend labels (useful when overlaying two diagrams).
    marker, size, alpha : matplotlib scatter options for finite points.
    legend : bool
        Draw a legend.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> d = SimpleNamespace(dims=np.array([0, 1]), births=np.array([0.0, 0.2]),
    ...                     deaths=np.array([1.0, 0.6]), essential=np.array([True, False]),
    ...                     filtration="sublevel")
    >>> ax = plot_diagram(d)
    >>> ax.get_xlabel()
    'birth (score)'
    """
    ax = _axes(ax)
    dims_all = np.asarray(diagram.dims)
    births = np.asarray(diagram.births, dtype=float)
    deaths = np.asarray(diagram.deaths, dtype=float)
    ess = np.asarray(diagram.essential, dtype=bool)
    if value_range is None:
        vals = np.concatenate([births, deaths]) if births.size else np.array([0.0, 1.0])
        lo, hi = float(vals.min()), float(vals.max())
        pad = 0.05 * (hi - lo if hi > lo else 1.0)
        value_range = (lo - pad, hi + pad)
    lo, hi = value_range
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=1, ls="--", zorder=1)
    if band is not None and band > 0:
        xs = np.array([lo, hi])
        ax.fill_between(xs, xs - band, xs + band, color="0.85", zorder=0,
                        label=f"persistence < {band:.3g}")
    for d in _dims_to_draw(diagram, dims):
        sel = dims_all == d
        fin = sel & ~ess
        color = DIM_COLORS.get(d, "k")
        if fin.any():
            edge = {} if marker in ("x", "+", "1", "2", "3", "4", "|", "_") else \
                {"edgecolors": "k", "linewidths": 0.3}
            ax.scatter(births[fin], deaths[fin], s=size, c=color, marker=marker, alpha=alpha,
                       label=f"{label_prefix}H{d}", zorder=3, **edge)
        if (sel & ess).any():
            ax.scatter(births[sel & ess], deaths[sel & ess], s=size * 2.5, c=color, marker="^",
                       edgecolors="k", linewidths=0.6,
                       label=f"{label_prefix}H{d} {_ESSENTIAL_NOTE}", zorder=4)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("birth (score)")
    ax.set_ylabel("death (score)")
    if title is not None:
        ax.set_title(title)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", frameon=True)
    return ax


def plot_barcode(
    diagram,
    ax=None,
    *,
    dims: Iterable[int] | None = None,
    max_bars: int | None = None,
    title: str | None = None,
    highlight: Sequence[int] = (),
    legend: bool = True,
):
    """Draw a persistence barcode: one horizontal bar per feature, from birth to death.

    Bars are grouped by dimension and, inside a dimension, sorted by persistence (longest on top).
    The x axis is the score (filtration value); for a superlevel filtration it runs from high to
    low (the axis is inverted) so that time always flows left to right. Essential bars end in an
    arrow at the end of the filtration range.

    Parameters
    ----------
    diagram : PersistenceDiagram
    ax : matplotlib.axes.Axes, optional
    dims : iterable of int, optional
        Dimensions to draw (default all present).
    max_bars : int, optional
        Keep only the ``max_bars`` longest bars per dimension.
    title : str, optional
    highlight : sequence of int
        Indices (into the diagram) of features to draw thicker with a black edge (e.g. Top-K).
    legend : bool

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> d = SimpleNamespace(dims=np.array([0, 0]), births=np.array([0.0, 0.2]),
    ...                     deaths=np.array([1.0, 0.6]), essential=np.array([True, False]),
    ...                     filtration="sublevel")
    >>> len(plot_barcode(d).patches) >= 0
    True
    """
    ax = _axes(ax)
    dims_all = np.asarray(diagram.dims)
    births = np.asarray(diagram.births, dtype=float)
    deaths = np.asarray(diagram.deaths, dtype=float)
    ess = np.asarray(diagram.essential, dtype=bool)
    pers = np.abs(births - deaths)
    highlight = {int(i) for i in highlight}
    superlevel = str(getattr(diagram, "filtration", "sublevel")) == "superlevel"
    y = 0
    yticks, ylabels = [], []
    for d in sorted(_dims_to_draw(diagram, dims), reverse=True):
        idx = np.flatnonzero(dims_all == d)
        idx = idx[np.argsort(-pers[idx], kind="stable")]
        if max_bars is not None:
            idx = idx[:max_bars]
        if idx.size == 0:
            continue
        color = DIM_COLORS.get(d, "k")
        start = y
        for i in idx[::-1]:
            lw = 4.0 if i in highlight else 2.0
            ax.plot([births[i], deaths[i]], [y, y], color=color, lw=lw, solid_capstyle="butt",
                    zorder=3 if i in highlight else 2)
            if i in highlight:
                ax.plot([births[i], deaths[i]], [y, y], color="k", lw=lw + 2, zorder=1)
            if ess[i]:
                # the superlevel axis is inverted, so ">" points along the sweep in both cases
                ax.plot(deaths[i], y, marker=">", color=color, ms=8, zorder=6,
                        markeredgecolor="k")
            y += 1
        yticks.append((start + y - 1) / 2)
        ylabels.append(f"H{d}")
        ax.plot([], [], color=color, lw=2, label=f"H{d} ({idx.size} bars)")
        y += 1  # gap between dimensions
    ax.set_yticks(yticks, ylabels)
    ax.set_xlabel("score (filtration value)" + ("  (high to low)" if superlevel else ""))
    if superlevel and not ax.xaxis_inverted():
        ax.invert_xaxis()
    if ess.any():
        ax.plot([], [], marker=">", ls="", color="0.3", label="arrow: " + _ESSENTIAL_NOTE)
    if title is not None:
        ax.set_title(title)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", frameon=True)
    return ax


def show_map(ax, score_map: np.ndarray, *, title: str | None = None, cmap: str = "magma",
             vmin: float | None = None, vmax: float | None = None, colorbar: bool = True,
             cbar_label: str = "anomaly score"):
    """Show a 2D map with a labelled colourbar and no ticks (pixel axes carry no meaning here).

    Returns the ``AxesImage``.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> im = show_map(ax, np.eye(3), title="identity")
    >>> ax.get_title()
    'identity'
    """
    im = ax.imshow(np.asarray(score_map), cmap=cmap, vmin=vmin, vmax=vmax,
                   interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(title)
    if colorbar:
        cb = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        cb.set_label(cbar_label)
    return im


def show_values(ax, values: np.ndarray, *, title: str | None = None, cmap: str = "magma",
                fmt: str = "{:g}", highlight=None):
    """Show a small 2D array as coloured cells with each value written in its cell.

    For images small enough to work with by hand (a 3 x 3 image, a 5 x 5 mask). Rows and
    columns are labelled with their indices.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    values : (H, W) array
    title : str, optional
    cmap : str
    fmt : str
        Format of the written values.
    highlight : (H, W) bool array, optional
        Cells to outline (e.g. the pixels of the set at some threshold).

    Returns
    -------
    matplotlib.image.AxesImage

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> _ = show_values(ax, np.arange(9).reshape(3, 3))
    >>> sorted(t.get_text() for t in ax.texts)[:3]
    ['0', '1', '2']
    """
    from matplotlib.patches import Rectangle

    v = np.asarray(values, dtype=float)
    if v.ndim != 2:
        raise ValueError(f"values must be a 2D array, got shape {v.shape}")
    im = ax.imshow(v, cmap=cmap, interpolation="nearest")
    lo, hi = float(np.nanmin(v)), float(np.nanmax(v))
    for (r, c), x in np.ndenumerate(v):
        light = hi == lo or (x - lo) / (hi - lo) < 0.55
        ax.text(c, r, fmt.format(x), ha="center", va="center", fontsize=12,
                color="white" if light else "black")
    if highlight is not None:
        for r, c in np.argwhere(np.asarray(highlight, dtype=bool)):
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, lw=2.5,
                                   edgecolor="#00e5ff"))
    ax.set_xticks(range(v.shape[1]))
    ax.set_yticks(range(v.shape[0]))
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    if title is not None:
        ax.set_title(title)
    return im


def plot_signal(ax, signal, *, threshold: float | None = None, births=(), deaths=(),
                title: str | None = None):
    """Draw a 1D signal as bars with their values, optionally with a threshold and events.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    signal : (N,) array
    threshold : float, optional
        Draw the level t as a dashed line and colour the bars of the sublevel set {x <= t}.
    births, deaths : sequences of int
        Positions marked as births (circles) and deaths (crosses) of H0 classes.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> _ = plot_signal(ax, [3, 1, 4], threshold=3, births=[1], deaths=[2])
    >>> len(ax.patches)
    3
    """
    x = np.asarray(signal, dtype=float).ravel()
    pos = np.arange(x.size)
    inside = x <= threshold if threshold is not None else np.zeros(x.size, bool)
    ax.bar(pos, x, width=0.8, color=np.where(inside, "#1f77b4", "#c7c7c7"), edgecolor="0.3")
    for i, v in enumerate(x):
        ax.text(i, v, f"{v:g}", ha="center", va="bottom", fontsize=10)
    if threshold is not None:
        ax.axhline(threshold, color="#d62728", ls="--", lw=1.2, label=f"t = {threshold:g}")
    if len(births):
        ax.scatter(list(births), x[list(births)] / 2, marker="o", s=70, facecolors="none",
                   edgecolors="k", lw=1.5, zorder=5, label="a piece is born")
    if len(deaths):
        ax.scatter(list(deaths), x[list(deaths)] / 2, marker="x", s=70, color="k", zorder=5,
                   label="a piece dies (merge)")
    ax.set_xticks(pos)
    ax.set_xlabel("position")
    ax.set_ylabel("value")
    ax.set_ylim(0, 1.18 * max(float(x.max()), 1e-9))
    if title is not None:
        ax.set_title(title)
    if threshold is not None or len(births) or len(deaths):
        ax.legend(loc="upper left", fontsize=8)
    return ax


def overlay_mask(ax, mask: np.ndarray, *, background: np.ndarray | None = None,
                 color: str = "#00e5ff", alpha: float = 0.45, outline: bool = True,
                 label: str | None = None, cmap: str = "gray"):
    """Draw a boolean mask as a translucent colour layer (and its outline) over a background.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    mask : (H, W) bool array
    background : (H, W) or (H, W, 3) array, optional
        Drawn first (grey colormap for 2D arrays).
    color : str
        Colour of the mask layer and outline.
    alpha : float
        Opacity of the layer.
    outline : bool
        Draw the mask boundary as a contour.
    label : str, optional
        Legend entry for the mask (a proxy patch is added).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots()
    >>> _ = overlay_mask(ax, np.eye(4, dtype=bool), background=np.zeros((4, 4)), label="diag")
    >>> [t.get_text() for t in ax.get_legend().get_texts()]
    ['diag']
    """
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch

    mask = np.asarray(mask, dtype=bool)
    if background is not None:
        ax.imshow(background, cmap=cmap, interpolation="nearest")
    rgba = np.zeros(mask.shape + (4,))
    rgba[mask] = to_rgba(color, alpha)
    ax.imshow(rgba, interpolation="nearest")
    if outline and mask.any() and not mask.all():
        ax.contour(mask.astype(float), levels=[0.5], colors=[color], linewidths=1.2)
    ax.set_xticks([])
    ax.set_yticks([])
    if label is not None:
        # proxies of earlier overlays on the same axes are kept, so the legend lists them all
        proxies = list(getattr(ax, "_topotta_mask_legend", []))
        proxies.append((Patch(facecolor=color, alpha=max(alpha, 0.6), edgecolor=color), label))
        ax._topotta_mask_legend = proxies
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles + [p for p, _ in proxies], labels + [t for _, t in proxies],
                  loc="lower right", frameon=True)
    return ax


def complex_geometry(cc) -> dict[int, np.ndarray]:
    """Pixel-unit geometry of the cells of a 2D :class:`~topotta_lite.topology.cubical.CubicalComplex`.

    The complex stores cells in doubled coordinates (even = a vertex position, odd = the open
    unit interval between two). In the V construction pixel ``p`` sits at doubled coordinate
    ``2p``; in the T construction pixel ``p`` is the top cell at ``2p + 1``. This converts both to
    (row, col) positions in pixel units, so the two constructions can be drawn over the same image.

    Returns
    -------
    dict
        ``{0: (n0, 2) vertex positions, 1: (n1, 2, 2) edge endpoints, 2: (n2, 2) square centres}``.

    Examples
    --------
    >>> from topotta_lite.topology.cubical import CubicalComplex
    >>> g = complex_geometry(CubicalComplex.from_mask(np.ones((2, 2), bool), "V"))
    >>> [len(g[k]) for k in (0, 1, 2)], g[2].tolist()
    ([4, 4, 1], [[0.5, 0.5]])
    >>> g = complex_geometry(CubicalComplex.from_mask(np.ones((1, 1), bool), "T"))
    >>> [len(g[k]) for k in (0, 1, 2)], g[2].tolist()
    ([4, 4, 1], [[0.0, 0.0]])
    """
    if cc.ndim != 2:
        raise ValueError(f"only 2D complexes can be drawn, got a {cc.ndim}D one")
    offset = 0.0 if cc.construction == "V" else 1.0
    out: dict[int, np.ndarray] = {}
    for k in (0, 1, 2):
        c = np.asarray(cc.cubes(k), dtype=float).reshape(-1, 2)
        pos = (c - offset) / 2.0
        if k == 1:
            odd = (np.asarray(cc.cubes(1)) % 2 == 1).reshape(-1, 2)
            lo, hi = pos.copy(), pos.copy()
            lo[odd] -= 0.5
            hi[odd] += 0.5
            pos = np.stack([lo, hi], axis=1).reshape(-1, 2, 2)
        out[k] = pos
    return out


def draw_complex(ax, cc, *, mask: np.ndarray | None = None, title: str | None = None,
                 color: str = "#1f77b4"):
    """Draw a small 2D cubical complex: black dots (0-cubes), lines (1-cubes), squares (2-cubes).

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    cc : topotta_lite.topology.cubical.CubicalComplex
        A 2D complex (V or T construction), e.g. ``CubicalComplex.from_mask(mask, "V")``.
    mask : (H, W) bool array, optional
        The image it was built from; its on pixels are drawn underneath as light grey unit cells,
        so V and T complexes of the same image can be compared.
    title : str, optional
        Default: the construction and the cube counts.
    color : str
        Colour of the edges and squares.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from topotta_lite.topology.cubical import CubicalComplex
    >>> fig, ax = plt.subplots()
    >>> _ = draw_complex(ax, CubicalComplex.from_mask(np.eye(2, dtype=bool), "T"))
    >>> ax.get_title().splitlines()
    ['T construction', '7 vertices, 8 edges, 2 squares']
    """
    from matplotlib.patches import Rectangle

    geo = complex_geometry(cc)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        for r, c in np.argwhere(m):
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor="0.9", edgecolor="0.75",
                                   lw=0.6, ls=":", zorder=0))
        h, w = m.shape
    else:
        h, w = (np.asarray(cc.cells.shape) + 1) // 2
    for r, c in geo[2]:
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor=color, alpha=0.35, lw=0,
                               zorder=1))
    for (r0, c0), (r1, c1) in geo[1]:
        ax.plot([c0, c1], [r0, r1], color=color, lw=2.2, zorder=2)
    if len(geo[0]):
        ax.scatter(geo[0][:, 1], geo[0][:, 0], s=26, color="k", zorder=3)
    ax.set_xlim(-1, w)
    ax.set_ylim(h, -1)
    ax.set_aspect("equal")
    ax.set_xticks(range(w))
    ax.set_yticks(range(h))
    ax.set_xlabel("pixel column")
    ax.set_ylabel("pixel row")
    n = [len(geo[k]) for k in (0, 1, 2)]
    ax.set_title(title if title is not None else
                 f"{cc.construction} construction\n{n[0]} vertices, {n[1]} edges, {n[2]} squares")
    return ax


def draw_boundary_matrix(ax, matrix, dims, *, low=None, title: str | None = None):
    """Draw a filtered boundary matrix (or its reduction) as a grid of black (1) and white (0).

    The cells' dimensions colour the tick marks (one colour per dimension, as in the diagrams),
    and with ``low`` each column's lowest 1 is framed in red: the pivots the pairs are read from.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    matrix : (n, n) array of 0/1
        Rows and columns in filtration order.
    dims : (n,) int array
        The dimension of each cell.
    low : (n,) int array, optional
        ``low(j)`` of each column, ``-1`` for a zero column.
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> ax = draw_boundary_matrix(plt.figure().gca(), np.array([[0, 1], [0, 0]]), [0, 1], low=[-1, 0])
    >>> len(ax.patches)
    1
    """
    from matplotlib.patches import Rectangle

    m = np.asarray(matrix)
    dims = np.asarray(dims, dtype=int)
    n_rows, n_cols = m.shape
    ax.imshow(m, cmap="Greys", vmin=0, vmax=1.25, interpolation="nearest")
    ax.set_xticks(np.arange(n_cols))
    ax.set_yticks(np.arange(n_rows))
    ax.set_xticklabels([str(j) for j in range(n_cols)], fontsize=6, rotation=90)
    ax.set_yticklabels([str(i) for i in range(n_rows)], fontsize=6)
    for labels, cells in ((ax.get_xticklabels(), dims[:n_cols]), (ax.get_yticklabels(), dims[:n_rows])):
        for label, d in zip(labels, cells):
            label.set_color(DIM_COLORS.get(int(d), "k"))
    ax.set_xticks(np.arange(-0.5, n_cols, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, n_rows, 1), minor=True)
    ax.grid(which="minor", color="0.85", lw=0.4)
    ax.tick_params(which="minor", length=0)
    if low is not None:
        for j, i in enumerate(np.asarray(low, dtype=int)):
            if i >= 0:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="#d62728", lw=1.6))
    ax.set_xlabel("column j: the cell whose boundary it holds (filtration order)")
    ax.set_ylabel("row i: a face")
    if title is not None:
        ax.set_title(title)
    return ax


def draw_elementary_cube(ax, intervals: Sequence[tuple[int, int]], *, color: str = "#1f77b4",
                         alpha: float = 0.25, label: str | None = None):
    """Draw one elementary cube, a product of intervals [a, a] or [a, a + 1], on 3D axes.

    Its dimension is the number of non-degenerate intervals: a point, an edge, a square or a
    solid unit cube. Vertices are drawn as dots, edges as lines, 2-faces as translucent patches.

    Parameters
    ----------
    ax : mpl_toolkits.mplot3d.Axes3D
        A 3D axes (``fig.add_subplot(projection="3d")``).
    intervals : sequence of three (lo, hi) pairs, with hi - lo in {0, 1}
    color, alpha : drawing style
    label : str, optional
        Axes title.

    Returns
    -------
    int
        The dimension of the cube.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> ax = plt.figure().add_subplot(projection="3d")
    >>> draw_elementary_cube(ax, [(0, 1), (0, 0), (0, 1)])
    2
    """
    from mpl_toolkits.mplot3d.art3d import Poly3DCollection

    iv = [tuple(int(v) for v in p) for p in intervals]
    if len(iv) != 3 or any(hi - lo not in (0, 1) for lo, hi in iv):
        raise ValueError(f"intervals must be three pairs (a, a) or (a, a+1), got {intervals!r}")
    corners = np.array(list(itertools.product(*[sorted({lo, hi}) for lo, hi in iv])), float)
    free = [k for k, (lo, hi) in enumerate(iv) if hi > lo]
    dim = len(free)
    # edges: pairs of corners differing in exactly one free coordinate
    for a, b in itertools.combinations(range(len(corners)), 2):
        if np.count_nonzero(corners[a] != corners[b]) == 1:
            ax.plot(*zip(corners[a], corners[b]), color=color, lw=2)
    # 2-faces: fix one free coordinate (or none when dim == 2)
    if dim >= 2:
        for fixed in itertools.combinations(free, dim - 2):
            for vals in itertools.product(*[(iv[k][0], iv[k][1]) for k in fixed]):
                sel = np.all([corners[:, k] == v for k, v in zip(fixed, vals)], axis=0) \
                    if fixed else np.ones(len(corners), bool)
                face = corners[sel]
                pair = [k for k in free if k not in fixed]
                # order the 4 corners around the square
                ang = np.arctan2(face[:, pair[1]] - face[:, pair[1]].mean(),
                                 face[:, pair[0]] - face[:, pair[0]].mean())
                face = face[np.argsort(ang)]
                ax.add_collection3d(Poly3DCollection([face], facecolor=color, alpha=alpha,
                                                     edgecolor="none"))
    ax.scatter(corners[:, 0], corners[:, 1], corners[:, 2], color="k", s=18, depthshade=False)
    for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
        setter(-0.2, 1.2)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_zlabel("z")
    ax.set_xticks([0, 1])
    ax.set_yticks([0, 1])
    ax.set_zticks([0, 1])
    if label is not None:
        ax.set_title(label)
    return dim


def filtration_slider_figure(score_map: np.ndarray, levels: Sequence[float], *,
                             filtration: str = "sublevel", title: str | None = None):
    """An interactive plotly figure with a slider over the filtration level.

    Each slider step shows the score map in grey with the active set at that level in colour:
    ``{psi <= t}`` for a sublevel filtration, ``{psi >= t}`` for a superlevel one.

    Parameters
    ----------
    score_map : (H, W) array
    levels : sequence of float
        Thresholds t, one slider step each (in the map's units).
    filtration : {"sublevel", "superlevel"}
    title : str, optional

    Returns
    -------
    plotly.graph_objects.Figure

    Examples
    --------
    >>> fig = filtration_slider_figure(np.eye(3), [0.0, 1.0])
    >>> len(fig.frames)
    2
    """
    import plotly.graph_objects as go

    check_choice("filtration", filtration, FILTRATIONS)
    psi = np.round(np.asarray(score_map, dtype=float), 4)
    levels = [float(t) for t in levels]
    sym = "<=" if filtration == "sublevel" else ">="
    color = "#1f77b4" if filtration == "sublevel" else "#d62728"

    def layer(t):
        on = psi <= t if filtration == "sublevel" else psi >= t
        # 0/1 bytes with a transparent colour for 0 keep every frame small
        return go.Heatmap(z=on.astype(np.uint8), colorscale=[[0, "rgba(0,0,0,0)"], [1, color]],
                          showscale=False, opacity=0.55, hoverinfo="skip", zmin=0, zmax=1)

    base = go.Heatmap(z=psi, colorscale="gray", showscale=True, zmin=float(psi.min()),
                      zmax=float(psi.max()), colorbar={"title": "score"},
                      hovertemplate="row %{y}, col %{x}<br>score %{z:.3f}<extra></extra>")
    # frames replace only the coloured layer (trace 1), which keeps the page small
    frames = [go.Frame(data=[layer(t)], traces=[1], name=f"{t:.4f}") for t in levels]
    steps = [{"method": "animate", "label": f"{t:.2f}",
                  "args": [[f"{t:.4f}"], {"mode": "immediate", "frame": {"duration": 0, "redraw": True},
                                           "transition": {"duration": 0}}]}
             for t in levels]
    fig = go.Figure(data=[base, layer(levels[0] if levels else 0.0)], frames=frames)
    fig.update_layout(
        title=title or f"{filtration} set {{score {sym} t}} (coloured) as t moves",
        sliders=[{"active": 0, "steps": steps, "currentvalue": {"prefix": "threshold t = "},
                      "pad": {"t": 40}}],
        yaxis={"autorange": "reversed", "scaleanchor": "x", "title": "pixel row"},
        xaxis={"title": "pixel column", "constrain": "domain"},
        width=640, height=680, template="simple_white",
    )
    return fig


PLOTLY_JS = "plotly.min.js"
"""The one plotly.js file that every interactive page of a folder loads from beside it."""


def write_html(fig, name: str, *, div_id: str | None = None) -> str:
    """Write a plotly figure as an HTML page ``<output folder>/<name>.html`` that loads ``plotly.min.js``
    from beside it (written once into the same folder, shared by every interactive page).

    The page opens in any browser without a server or a network connection. A fixed ``div_id``
    (default: ``name``) keeps the file byte-identical across runs. Both files are recorded in
    the run log like figures written by ``savefig``. Returns the page's path as a string.
    Both go to the output folder (:func:`topotta_lite.config.output_dir`), each through a
    temporary file renamed into place.
    """
    import plotly.offline

    from topotta_lite.config import output_dir
    from topotta_lite.outputs import atomic_write, register_output

    folder = output_dir()
    js = folder / PLOTLY_JS
    text = plotly.offline.get_plotlyjs()
    if not js.is_file() or js.stat().st_size != len(text.encode("utf-8")):
        with atomic_write(js) as tmp:
            tmp.write_text(text, encoding="utf-8")
    register_output(js, "html")
    path = folder / f"{name}.html"
    with atomic_write(path) as tmp:
        fig.write_html(tmp, include_plotlyjs=PLOTLY_JS, full_html=True, div_id=div_id or name,
                       auto_play=False)
    register_output(path, "html")
    return str(path)


def show_interactive(fig, static) -> None:
    """Display a plotly figure in a notebook together with a static picture of it.

    The output holds the plotly JSON (interactive in JupyterLab, and on the pages of
    ``topotta-lite report``) and a PNG of the matplotlib figure ``static``, which is what a
    static rendering (GitHub, nbconvert without plotly) shows. plotly.js is not embedded.
    """
    import base64
    import io
    import json

    import plotly.io as pio
    from IPython.display import display

    buf = io.BytesIO()
    static.savefig(buf, format="png", metadata={"Software": None})
    display({"application/vnd.plotly.v1+json": json.loads(pio.to_json(fig, validate=False)),
             "image/png": base64.b64encode(buf.getvalue()).decode("ascii"),
             "text/plain": f"<interactive figure: {fig.layout.title.text or 'plotly'}>"},
            raw=True)


def filtration_strip(score_map: np.ndarray, levels: Sequence[float], *,
                     filtration: str = "sublevel", n: int = 4, title: str | None = None):
    """A static strip of ``n`` frames of :func:`filtration_slider_figure` (matplotlib).

    The same picture as the slider at ``n`` evenly spaced thresholds: the map in grey with the
    active set coloured.

    Examples
    --------
    >>> fig = filtration_strip(np.eye(4), [1.0, 0.5, 0.0], filtration="superlevel", n=3)
    >>> len(fig.axes)
    3
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    check_choice("filtration", filtration, FILTRATIONS)
    psi = np.asarray(score_map, dtype=float)
    levels = [float(t) for t in levels]
    if not levels:
        raise ValueError("levels is empty: give at least one threshold")
    picks = [levels[i] for i in np.unique(np.linspace(0, len(levels) - 1, max(n, 1)).round()
                                          .astype(int))]
    color = "#1f77b4" if filtration == "sublevel" else "#d62728"
    sym = "<=" if filtration == "sublevel" else ">="
    fig, axes = plt.subplots(1, len(picks), figsize=(2.6 * len(picks), 2.8), squeeze=False)
    for ax, t in zip(axes[0], picks):
        on = psi <= t if filtration == "sublevel" else psi >= t
        ax.imshow(psi, cmap="gray")
        ax.imshow(np.ma.masked_where(~on, on), cmap=ListedColormap([color]), alpha=0.55,
                  vmin=0, vmax=1)
        ax.set_title(f"t = {t:.2f}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title or f"{filtration} set {{score {sym} t}} (coloured) at {len(picks)} thresholds")
    fig.tight_layout()
    return fig
