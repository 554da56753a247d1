"""Procedural object classes of the embedded 2D benchmark: bottle, nut, pcb (seen from above).

Each class is drawn analytically on a coordinate grid (so pose jitter is exact), with colour
jitter and material texture. Defects are composited inside an exact mask; "missing part"
defects replace the object by the background, and their GT is the removed part of the object.
"""

from __future__ import annotations

import numpy as np

from . import _shapes as sh

SIZE = 224

DEFECTS: dict[str, tuple[str, ...]] = {
    "bottle": ("broken", "crack", "contamination", "spots", "ring"),
    "nut": ("scratch", "missing_part", "crack", "spots"),
    "pcb": ("missing_component", "short", "scratch", "ring", "spots"),
}


def _background(rng, shape, base=0.12):
    n = sh.smooth_noise(rng, shape, 6.0)
    g = base + 0.015 * n
    return np.stack([g, g * 1.02, g * 1.05], axis=-1)


def _pose_grid(rng, shape, shift=5.0, max_rot_deg=180.0):
    """Canonical coordinates (y, x) centred on the object for a jittered pose."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    cy = (shape[0] - 1) / 2 + rng.normal(0, shift / 2)
    cx = (shape[1] - 1) / 2 + rng.normal(0, shift / 2)
    a = np.deg2rad(rng.uniform(-max_rot_deg, max_rot_deg))
    y, x = yy - cy, xx - cx
    return np.cos(a) * y + np.sin(a) * x, -np.sin(a) * y + np.cos(a) * x


def _bottle(rng, shape):
    y, x = _pose_grid(rng, shape, shift=6.0, max_rot_deg=180)
    rad = np.hypot(y, x)
    ang = np.arctan2(y, x)
    R = 92 * (1 + rng.normal(0, 0.015))
    rim_w = 11 * (1 + rng.normal(0, 0.05))
    r_open = 33 * (1 + rng.normal(0, 0.03))
    glass = np.array([0.42, 0.26, 0.10]) * (1 + rng.normal(0, 0.05, 3))
    noise = sh.smooth_noise(rng, shape, 3.0)
    body = (rad <= R)[..., None]
    shade = 0.55 + 0.35 * (rad / R) ** 2 + 0.04 * noise
    rim = ((rad > R - rim_w) & (rad <= R))[..., None]
    rimshade = 1.2 + 0.25 * np.cos(ang - rng.uniform(0, 2 * np.pi))
    opening = rad <= r_open
    open_shade = 0.12 + 0.5 * np.exp(-(((rad - r_open * 0.8) / 3.0) ** 2))
    img = glass * shade[..., None]
    img = np.where(rim, glass * rimshade[..., None] * 0.9, img)
    img = np.where(opening[..., None], glass * open_shade[..., None], img)
    bg = _background(rng, shape)
    support = rad <= R
    body_zone = (rad > r_open + 4) & (rad < R - rim_w - 3)
    return np.where(body, img, bg), bg, support, body_zone, {"rad": rad, "R": R, "y": y, "x": x}


def _nut(rng, shape):
    y, x = _pose_grid(rng, shape, shift=6.0, max_rot_deg=180)
    rad = np.hypot(y, x)
    ang = np.arctan2(y, x)
    apo = 72 * (1 + rng.normal(0, 0.015))
    hexd = (
        np.max([np.abs(np.cos(ang - k * np.pi / 3)) for k in range(3)], axis=0) * rad
    )  # hexagon "radius" as max projection on the 3 face normals
    r_hole = 30 * (1 + rng.normal(0, 0.03))
    support = (hexd <= apo) & (rad > r_hole)
    metal = np.array([0.62, 0.62, 0.60]) * (1 + rng.normal(0, 0.04, 3))
    brushed = 0.06 * np.sin(rad * 0.9 + rng.uniform(0, 6.3)) + 0.03 * sh.smooth_noise(
        rng, shape, 1.5
    )
    spec = 0.18 * np.cos(2 * (ang - rng.uniform(0, np.pi)))
    chamfer = np.clip(1 - (rad - r_hole) / 8, 0, 1) * 0.25
    shade = 0.8 + brushed + spec - chamfer
    img = metal * shade[..., None]
    bg = _background(rng, shape)
    zone = (hexd <= apo - 6) & (rad > r_hole + 6)
    return (
        np.where(support[..., None], img, bg),
        bg,
        support,
        zone,
        {"ang": ang, "rad": rad, "apo": apo, "hexd": hexd, "y": y, "x": x},
    )


# fixed PCB design (canonical frame centred at 0): the same board for every seed
_PCB = {
    "chips": [(-60, -45, 26, 40), (25, -62, 34, 22), (10, 40, 40, 28)],  # (cy, cx, h, w)
    "pads": [(-80, 70), (-80, 40), (80, -80), (60, -20), (-20, 85), (90, 60), (-5, -90), (50, 90)],
    "traces": [  # axis-aligned segments (y0, x0, y1, x1)
        (-80, 40, -80, 70),
        (-80, 70, -20, 70),
        (-20, 70, -20, 85),
        (80, -80, 60, -80),
        (60, -80, 60, -20),
        (-5, -90, -5, -60),
        (50, 90, 50, 30),
        (90, 60, 90, 10),
        (-62, 8, -62, -32),
        (-40, -20, 20, -20),
        (40, -5, 40, 20),
        (10, 60, 10, 100),
    ],
}


def _in_rect(y, x, cy, cx, h, w):
    return (np.abs(y - cy) <= h / 2) & (np.abs(x - cx) <= w / 2)


def _pcb(rng, shape, drop_chip=None):
    y, x = _pose_grid(rng, shape, shift=4.0, max_rot_deg=1.5)
    board = np.array([0.07, 0.36, 0.17]) * (1 + rng.normal(0, 0.05, 3))
    copper = np.array([0.80, 0.60, 0.26]) * (1 + rng.normal(0, 0.04, 3))
    silver = np.array([0.78, 0.78, 0.76])
    tex = 1 + 0.05 * sh.smooth_noise(rng, shape, 1.2) + 0.03 * sh.smooth_noise(rng, shape, 12)
    img = board * tex[..., None]
    cu = np.zeros(shape, bool)
    for y0, x0, y1, x1 in _PCB["traces"]:
        cu |= _in_rect(y, x, (y0 + y1) / 2, (x0 + x1) / 2, abs(y1 - y0) + 3, abs(x1 - x0) + 3)
    pad_rings = np.zeros(shape, bool)
    holes = np.zeros(shape, bool)
    for py, px in _PCB["pads"]:
        d = np.hypot(y - py, x - px)
        pad_rings |= (d <= 6) & (d > 2.5)
        holes |= d <= 2.5
    img = np.where(cu[..., None], copper * tex[..., None], img)
    img = np.where(pad_rings[..., None], silver * tex[..., None], img)
    img = np.where(holes[..., None], np.array([0.05, 0.05, 0.05]), img)
    chips = []
    for i, (cy, cx, h, w) in enumerate(_PCB["chips"]):
        body = _in_rect(y, x, cy, cx, h, w)
        pins = np.zeros(shape, bool)
        for k in np.linspace(-w / 2 + 4, w / 2 - 4, max(2, int(w // 7))):
            pins |= _in_rect(y, x, cy - h / 2 - 2, cx + k, 5, 3)
            pins |= _in_rect(y, x, cy + h / 2 + 2, cx + k, 5, 3)
        img = np.where(pins[..., None], silver * tex[..., None], img)
        shade = 1 + 0.15 * sh.smooth_noise(rng, shape, 4)  # drawn for every chip: same stream
        if i != drop_chip:
            dark = np.array([0.10, 0.10, 0.12]) * shade[..., None]
            img = np.where(body[..., None], dark, img)
        chips.append(body)
    support = np.ones(shape, bool)
    support[:6] = support[-6:] = False
    support[:, :6] = support[:, -6:] = False
    return img, chips, cu | pad_rings | holes, support


def render(category: str, defect: str, rng_base, rng_defect, size: int = SIZE):
    """Render one object image (before lighting/noise) and its exact GT mask.

    ``rng_base`` fixes the nominal object (pose, colour, texture); ``rng_defect`` the defect.

    Examples
    --------
    >>> img, m = render("nut", "good", np.random.default_rng(0), np.random.default_rng(1))
    >>> img.shape, int(m.sum())
    ((224, 224, 3), 0)
    """
    if category not in DEFECTS:
        raise ValueError(f"unknown object category {category!r}; choose from {sorted(DEFECTS)}")
    if defect != "good" and defect not in DEFECTS[category]:
        raise ValueError(
            f"unknown defect {defect!r} for {category!r}; choose from {DEFECTS[category]}"
        )
    shape = (size, size)
    r = rng_defect
    if category == "pcb":
        state = rng_base.bit_generator.state
        img, chips, metal, support = _pcb(rng_base, shape)
        mask = np.zeros(shape, bool)
        if defect == "good":
            return img, mask
        if defect == "missing_component":
            k = int(r.integers(len(chips)))
            rng_base.bit_generator.state = state  # same board, chip k left out
            img2, _, _, _ = _pcb(rng_base, shape, drop_chip=k)
            return img2, chips[k]
        zone = support & ~np.any(chips, axis=0)
        if defect == "short":
            mask = sh.crack(r, shape, zone, length=(16, 40), width=(2.5, 3.5), branch_p=0.0)
            mask &= ~metal
            target, alpha = np.array([0.82, 0.80, 0.74]), 0.95
        elif defect == "scratch":
            mask = sh.scratch(r, shape, support, width=(1.5, 2.5))
            target, alpha = np.array([0.55, 0.72, 0.55]), 0.75
        elif defect == "ring":
            mask = sh.ring(r, shape, zone, radius=(6, 11), width=(2.5, 3.5))
            target, alpha = np.array([0.80, 0.80, 0.78]), 0.9
        else:  # spots
            mask = sh.spots(r, shape, zone, radius=(1.8, 3.5))
            target, alpha = np.array([0.90, 0.88, 0.70]), 0.8
        return _blend(r, img, mask, target, alpha), mask

    img, bg, support, zone, geo = (_bottle if category == "bottle" else _nut)(rng_base, shape)
    mask = np.zeros(shape, bool)
    if defect == "good":
        return img, mask
    if defect in ("broken", "missing_part"):
        if category == "bottle":
            a = r.uniform(0, 2 * np.pi)
            c = geo["R"] * np.array([np.sin(a), np.cos(a)])
            rr = r.uniform(14, 24)
            erase = np.hypot(geo["y"] - c[0], geo["x"] - c[1]) <= rr
        else:  # cut one corner of the hexagon off along a chord
            k = int(r.integers(6))
            a = np.pi / 6 + k * np.pi / 3 + r.normal(0, 0.1)
            proj = geo["y"] * np.sin(a) + geo["x"] * np.cos(a)
            erase = proj >= geo["apo"] / np.cos(np.pi / 6) - r.uniform(14, 24)
        mask = erase & support
        return np.where(mask[..., None], bg, img), mask
    if defect == "crack":
        mask = sh.crack(r, shape, zone, width=(1.8, 3.0))
        if category == "bottle":  # glass cracks catch the light
            target, alpha = np.array([0.92, 0.80, 0.60]), 0.7
        else:
            target, alpha = img * 0.25, 0.95
    elif defect == "scratch":
        mask = sh.scratch(r, shape, zone, length=(40, 90), width=(1.5, 2.5))
        target, alpha = np.array([0.97, 0.96, 0.92]), 0.7
    elif defect == "contamination":
        mask = sh.blob(r, shape, zone, radius=(8, 16))
        target, alpha = np.array([0.75, 0.72, 0.55]), 0.8
    elif defect == "spots":
        mask = sh.spots(r, shape, zone, radius=(1.8, 3.5), spread=30)
        col = [0.55, 0.25, 0.08] if category == "nut" else [0.85, 0.82, 0.70]
        target, alpha = np.array(col), 0.85
    else:  # ring
        mask = sh.ring(r, shape, zone, radius=(7, 12), width=(2.5, 3.5))
        target, alpha = np.array([0.80, 0.75, 0.60]), 0.75
    return _blend(r, img, mask, target, alpha), mask


def _blend(rng, img, mask, target, alpha):
    jitter = 0.85 + 0.15 * sh.smooth_noise(rng, mask.shape, 2.0).clip(-1, 1)
    a = (alpha * jitter * mask)[..., None]
    return img * (1 - a) + np.asarray(target) * a
