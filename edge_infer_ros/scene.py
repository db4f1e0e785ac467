"""Procedural robotics scenes with exact ground truth, for the demo detector and synthetic camera.

The same generator feeds the synthetic camera node at run time and the training of the shipped
demo model, so what the camera shows is exactly what the model learnt. It depends only on numpy
and OpenCV, is deterministic for a given ``numpy.random.Generator`` state, and renders a 640x480
scene in a few milliseconds (all drawing is vectorised or done by OpenCV).

Images are **BGR** (OpenCV order, ROS encoding ``bgr8``). Boxes are the visible extent of each
object in pixels, ``x1 y1 x2 y2`` with pixel ``i`` covering ``[i, i + 1)``; objects hidden by more
than :data:`MAX_OCCLUSION` (by other objects, clutter or the image border) are drawn but not
labelled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ['CLASS_NAMES', 'MAX_OCCLUSION', 'Scene', 'generate_scene']

CLASS_NAMES = ('traffic_cone', 'box', 'ball', 'pallet', 'barrel')
"""Class names, indexed by class id."""

MAX_OCCLUSION = 0.6
"""Objects with a larger hidden fraction of their area get no label."""

_MIN_BOX_SIDE = 4.0
_Sprite = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Scene:
    """One rendered scene and its labels.

    Attributes:
        image: (H, W, 3) uint8, BGR.
        boxes: (N, 4) float32, visible extent ``x1 y1 x2 y2`` in pixels.
        class_ids: (N,) int32 indices into :data:`CLASS_NAMES`.
    """

    image: np.ndarray
    boxes: np.ndarray
    class_ids: np.ndarray


# ---------------------------------------------------------------------------------------------
# Small helpers


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """Return low-frequency noise in [0, 1] of shape (h, w), cheap because it is upsampled."""
    ch = max(2, round(cells * h / max(h, w)))
    cw = max(2, round(cells * w / max(h, w)))
    small = rng.random((ch, cw), dtype=np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _colour(rng: np.random.Generator, base: tuple[float, float, float], jitter: float) -> np.ndarray:
    """Return a BGR colour jittered around ``base`` (0..255), clipped."""
    c = np.asarray(base, np.float32) * rng.uniform(1 - jitter, 1 + jitter)
    c += rng.uniform(-jitter, jitter, 3).astype(np.float32) * 60
    return np.clip(c, 0, 255)


def _cylinder_shade(rng: np.random.Generator, w: int) -> np.ndarray:
    """Horizontal shading profile (1, w, 1) of a lit cylinder, light from a random side."""
    x = np.linspace(-1.0, 1.0, w, dtype=np.float32)
    light = rng.uniform(-0.6, 0.6)
    prof = 0.55 + 0.55 * np.clip(np.cos((x - light) * 1.4), 0, 1)
    return prof[None, :, None]


def _poly_mask(h: int, w: int, pts: np.ndarray) -> np.ndarray:
    """Anti-aliased filled polygon mask (h, w) float32 in [0, 1]."""
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return m.astype(np.float32) * (1 / 255)


# ---------------------------------------------------------------------------------------------
# Object sprites: (colour (h, w, 3) float32 BGR, alpha (h, w) float32) at roughly final size


def _cone(rng: np.random.Generator, h: int) -> _Sprite:
    """Traffic cone: orange tapered body, white reflective bands, square base."""
    w = max(6, round(h * rng.uniform(0.62, 0.8)))
    base_h = h * rng.uniform(0.08, 0.14)
    body = rng.choice([(0, 100, 255), (10, 70, 240), (0, 140, 255), (30, 40, 220)])
    orange = _colour(rng, body, 0.1)
    white = _colour(rng, (235, 235, 235), 0.08)
    top_w, bot_w, yb = w * rng.uniform(0.1, 0.18), w * rng.uniform(0.7, 0.82), h - base_h
    cx = w / 2

    def edge(y: float) -> float:
        return top_w / 2 + (bot_w - top_w) / 2 * y / yb

    img = np.empty((h, w, 3), np.float32)
    img[:] = orange
    n_bands = int(rng.integers(1, 3))
    for i in range(n_bands):
        y0 = yb * (0.3 + 0.3 * i) - 0.5 * yb * 0.12
        y1 = y0 + yb * rng.uniform(0.1, 0.16)
        img[int(y0):int(np.ceil(y1))] = white
    img *= _cylinder_shade(rng, w)
    img[int(yb):] = _colour(rng, (20, 40, 60) if rng.random() < 0.5 else body, 0.1) * 0.6
    pts = np.array([[cx - top_w / 2, 0], [cx + top_w / 2, 0], [cx + edge(yb), yb],
                    [w, yb], [w, h], [0, h], [0, yb], [cx - edge(yb), yb]], np.float32)
    return img, _poly_mask(h, w, pts)


def _box(rng: np.random.Generator, h: int) -> _Sprite:
    """Cardboard box in three-quarter view: front, top and side faces, tape and maybe a label."""
    w = max(6, round(h * rng.uniform(0.8, 1.6)))
    d = rng.uniform(0.15, 0.35)  # depth offset as a fraction of the sprite height
    dx, dy = w * d * rng.uniform(0.6, 1.0), h * d
    left = rng.random() < 0.5
    card = _colour(rng, (70, 130, 180), 0.15)
    img = np.empty((h, w, 3), np.float32)
    img[:] = card
    # Front face occupies the lower-left (or lower-right) rectangle.
    fx0, fx1 = (0.0, w - dx) if left else (dx, float(w))
    top = np.array([[fx0, dy], [fx1, dy], [fx1 + (dx if left else -dx), 0],
                    [fx0 + (dx if left else -dx), 0]], np.float32)
    side_x = fx1 if left else fx0
    side = np.array([[side_x, dy], [side_x + (dx if left else -dx), 0],
                     [side_x + (dx if left else -dx), h - dy], [side_x, h]], np.float32)
    tm, sm = _poly_mask(h, w, top), _poly_mask(h, w, side)
    img += (tm[..., None] * 0.25 - sm[..., None] * 0.3) * card
    # Tape strip across the top and down the front.
    tape = _colour(rng, (110, 170, 200), 0.1) if rng.random() < 0.8 else card * 0.6
    tw = (fx1 - fx0) * rng.uniform(0.08, 0.16)
    mid = (fx0 + fx1) / 2
    strip = np.array([[mid - tw / 2, dy], [mid + tw / 2, dy],
                      [mid + tw / 2 + (dx if left else -dx), 0],
                      [mid - tw / 2 + (dx if left else -dx), 0]], np.float32)
    tape_m = np.maximum(_poly_mask(h, w, strip), 0)
    x0, x1 = int(mid - tw / 2), int(np.ceil(mid + tw / 2))
    y1 = int(dy + (h - dy) * rng.uniform(0.15, 0.3))
    tape_m[int(dy):y1, x0:x1] = 1.0
    img += tape_m[..., None] * (tape - img) * 0.8
    if rng.random() < 0.5:
        lx0 = int(fx0 + (fx1 - fx0) * rng.uniform(0.1, 0.5))
        ly0 = int(dy + (h - dy) * rng.uniform(0.45, 0.65))
        img[ly0:ly0 + max(2, int(h * 0.15)), lx0:lx0 + max(2, int(w * 0.2))] = (
            _colour(rng, (235, 235, 235), 0.05))
    img *= rng.uniform(0.9, 1.05, (1, w, 1)).astype(np.float32) ** 0.5
    outline = np.array([[fx0, dy], top[3], top[2], side[2], [side_x, h],
                        [fx0 if left else fx1, h]], np.float32)
    if not left:
        outline = np.array([[fx1, dy], top[2], top[3], side[2], [side_x, h], [fx1, h]],
                           np.float32)
    return img, _poly_mask(h, w, outline)


def _ball(rng: np.random.Generator, h: int) -> _Sprite:
    """Ball: shaded sphere in a bright colour, sometimes two-tone or with a seam."""
    palette = [(40, 40, 220), (200, 90, 20), (30, 210, 230), (60, 170, 40), (235, 235, 235),
               (20, 130, 250), (160, 50, 140), (200, 200, 60)]
    c1 = _colour(rng, palette[int(rng.integers(len(palette)))], 0.1)
    yy, xx = np.mgrid[0:h, 0:h].astype(np.float32)
    r = h / 2
    u, v = (xx + 0.5 - r) / r, (yy + 0.5 - r) / r
    img = np.empty((h, h, 3), np.float32)
    img[:] = c1
    style = rng.random()
    if style < 0.4:
        c2 = _colour(rng, palette[int(rng.integers(len(palette)))], 0.1)
        ang = rng.uniform(0, np.pi)
        img[(np.cos(ang) * u + np.sin(ang) * v) > rng.uniform(-0.3, 0.3)] = c2
    elif style < 0.6:
        seam = np.abs(u * u * 0.8 + v - rng.uniform(-0.3, 0.3)) < 0.07
        img[seam] = c1 * 0.4
    lx, ly = rng.uniform(-0.5, 0.5), rng.uniform(-0.7, -0.1)
    rr = np.clip(u * u + v * v, 0, 1)
    nz = np.sqrt(1 - rr)
    lam = np.clip((-lx * u - ly * v + 0.8 * nz) / 1.2, 0, 1)
    img *= (0.3 + 0.8 * lam)[..., None]
    img += (np.clip(lam, 0.9, 1.0) - 0.9)[..., None] * 1500
    alpha = np.clip((1 - np.sqrt(u * u + v * v)) * r + 0.5, 0, 1)
    return img, alpha


def _pallet(rng: np.random.Generator, h: int) -> _Sprite:
    """Wooden pallet, side view: top deck, three blocks with see-through gaps, bottom boards."""
    w = max(10, round(h * rng.uniform(2.4, 4.0)))
    wood = rng.choice([(110, 170, 205), (90, 150, 190), (170, 110, 40), (130, 140, 150)])
    col = _colour(rng, wood, 0.12)
    grain = 0.85 + 0.3 * _smooth_noise(rng, h, w, 24)[:, :, None] ** 2
    img = np.empty((h, w, 3), np.float32)
    img[:] = col
    img *= grain
    deck = max(1.0, h * rng.uniform(0.2, 0.3))
    bottom = max(1.0, h * rng.uniform(0.15, 0.25))
    bw = w * rng.uniform(0.1, 0.16)
    alpha = np.ones((h, w), np.float32)
    gap_y0, gap_y1 = int(round(deck)), int(round(h - bottom))
    gaps = [(bw, w / 2 - bw / 2), (w / 2 + bw / 2, w - bw)]
    for x0, x1 in gaps:
        alpha[gap_y0:gap_y1, int(round(x0)):int(round(x1))] = 0.0
    img[gap_y0:gap_y1] *= 0.8
    for y in (gap_y0, gap_y1):
        img[max(0, y - 1):y + 1] *= 0.6
    return img, alpha


def _barrel(rng: np.random.Generator, h: int) -> _Sprite:
    """Steel drum: shaded cylinder with rolling hoops and an elliptical lid."""
    w = max(6, round(h * rng.uniform(0.55, 0.75)))
    palette = [(160, 80, 20), (30, 30, 180), (40, 120, 40), (40, 40, 40), (170, 170, 170),
               (20, 160, 220)]
    col = _colour(rng, palette[int(rng.integers(len(palette)))], 0.12)
    img = np.empty((h, w, 3), np.float32)
    img[:] = col
    lid = h * rng.uniform(0.06, 0.14)
    for f in (0.33, 0.66):
        y = int(lid + (h - lid) * f)
        t = max(1, int(h * 0.025))
        img[y - t:y + t] *= 0.6
    img *= _cylinder_shade(rng, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ex = (xx + 0.5 - w / 2) / (w / 2)
    top_e = ((yy + 0.5 - lid) / lid) ** 2 + ex ** 2 < 1
    img[top_e & (yy < 2 * lid)] = col * 1.25
    alpha = np.ones((h, w), np.float32)
    cap = (yy + 0.5 < lid) & ~top_e
    bot = (yy + 0.5 > h - lid) & ((((yy + 0.5 - (h - lid)) / lid) ** 2 + ex ** 2) > 1)
    alpha[cap | bot] = 0.0
    return img, alpha


_SPRITES: tuple[Callable[[np.random.Generator, int], _Sprite], ...] = (
    _cone, _box, _ball, _pallet, _barrel)
# Per class: allowed in-plane rotation (deg) in the common case, and relative size.
_MAX_TILT = (15.0, 12.0, 180.0, 8.0, 10.0)
_REL_SIZE = (1.0, 0.9, 0.75, 0.45, 1.0)


# ---------------------------------------------------------------------------------------------
# Backgrounds


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """One floor or wall texture (h, w, 3) float32 BGR."""
    return np.ascontiguousarray(_texture_any(rng, h, w), np.float32)


def _texture_any(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Draw one texture of a random kind; the dtype may be float64."""
    kind = int(rng.integers(6))
    c1 = rng.uniform(30, 220, 3).astype(np.float32)
    if kind == 0:  # concrete / plain noisy
        base = _smooth_noise(rng, h, w, int(rng.integers(3, 12)))[..., None]
        return c1 * (0.7 + 0.5 * base) * rng.uniform(0.6, 1.0)
    if kind == 1:  # tiles
        c2 = c1 * rng.uniform(0.6, 0.9)
        n = int(rng.integers(4, 16))
        yy, xx = np.ogrid[0:h, 0:w]
        chk = ((yy * n // h + xx * n // max(h, 1)) % 2).astype(np.float32)[..., None]
        img = c1 + (c2 - c1) * chk
        grout = (((yy * n) % h) < 2) | (((xx * n) % h) < 2)
        img[np.broadcast_to(grout, (h, w))] *= 0.5
        return img
    if kind == 2:  # wooden planks
        n = int(rng.integers(5, 14))
        shades = rng.uniform(0.75, 1.15, n + 1).astype(np.float32)
        yy = np.arange(h) * n // h
        wood = np.asarray((60, 110, 160), np.float32) * rng.uniform(0.6, 1.2)
        img = wood * shades[yy][:, None, None] * np.ones((1, w, 1), np.float32)
        img *= 0.85 + 0.3 * _smooth_noise(rng, h, w, 40)[..., None]
        img[(np.arange(h) * n % h) < 2] *= 0.5
        return img
    if kind == 3:  # linear gradient
        c2 = rng.uniform(30, 220, 3).astype(np.float32)
        a = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        t = (np.cos(a) * xx / w + np.sin(a) * yy / h)
        t = ((t - t.min()) / max(1e-6, float(t.max() - t.min())))[..., None]
        return c1 + (c2 - c1) * t
    if kind == 4:  # asphalt / speckled
        grey = rng.uniform(40, 110)
        img = np.empty((h, w, 3), np.float32)
        img[:] = grey * rng.uniform(0.9, 1.1, 3).astype(np.float32)
        img += (rng.random((h, w, 1), dtype=np.float32) - 0.5) * rng.uniform(20, 60)
        if rng.random() < 0.5:  # painted lane line
            x0 = int(rng.integers(0, w))
            img[:, x0:x0 + max(2, w // 40)] = rng.choice([(240, 240, 240), (0, 210, 240)])
        return img
    # grass / outdoor
    g = np.asarray((40, 140, 70), np.float32) * rng.uniform(0.6, 1.2)
    noise = _smooth_noise(rng, h, w, 60)[..., None]
    return g * (0.6 + 0.7 * noise)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Floor, or wall above a floor in perspective, as float32 BGR (h, w, 3)."""
    th, tw = max(8, h // 2), max(8, w // 2)
    floor = _texture(rng, th, tw)
    if rng.random() < 0.4:
        return cv2.resize(floor, (w, h), interpolation=cv2.INTER_LINEAR)
    horizon = rng.uniform(0.1, 0.5) * h
    spread = rng.uniform(0.0, 0.45) * w
    src = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], np.float32)
    dst = np.array([[spread, horizon], [w - spread, horizon], [w, h], [0, h]], np.float32)
    hm = cv2.getPerspectiveTransform(src, dst)
    wall = cv2.resize(_texture(rng, th, tw), (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.warpPerspective(floor, hm, (w, h), dst=wall, flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_TRANSPARENT)


# ---------------------------------------------------------------------------------------------
# Composition


@dataclass
class _Placed:
    """An object pasted into the scene: its class, ROI and full (unoccluded) area."""

    cls: int
    x0: int
    y0: int
    x1: int
    y1: int
    area: float


def _paste(img: np.ndarray, owner: np.ndarray, sprite: _Sprite, quad: np.ndarray,
           tag: int) -> tuple[int, int, int, int, float] | None:
    """Warp a sprite onto ``quad`` and alpha-blend it; mark covered pixels in ``owner``.

    Returns the clipped ROI and the full area of the sprite's mask (before clipping), or None
    when the quad falls outside the image.
    """
    colour, alpha = sprite
    h, w = alpha.shape
    ih, iw = owner.shape
    x0, y0 = np.floor(quad.min(0)).astype(int)
    x1, y1 = np.ceil(quad.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, iw), min(y1, ih)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    hm = cv2.getPerspectiveTransform(src, (quad - (x0, y0)).astype(np.float32))
    rgba = np.concatenate([colour, alpha[..., None]], axis=2)
    warped = cv2.warpPerspective(rgba, hm, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    a = warped[..., 3:4]
    roi = img[y0:y1, x0:x1]
    roi += a * (warped[..., :3] - roi)
    owner[y0:y1, x0:x1][a[..., 0] > 0.5] = tag
    quad_area = 0.5 * abs(float(np.dot(quad[:, 0], np.roll(quad[:, 1], 1))
                                - np.dot(quad[:, 1], np.roll(quad[:, 0], 1))))
    return x0, y0, x1, y1, quad_area * float((alpha > 0.5).mean())


def _quad(rng: np.random.Generator, cx: float, cy: float, sw: float, sh: float,
          tilt_deg: float, persp: float) -> np.ndarray:
    """Corners (4, 2) of a rotated, perspective-jittered rectangle centred at (cx, cy)."""
    half = np.array([[-sw, -sh], [sw, -sh], [sw, sh], [-sw, sh]], np.float32) / 2
    half += rng.uniform(-persp, persp, (4, 2)).astype(np.float32) * (sw, sh)
    t = np.deg2rad(tilt_deg)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]], np.float32)
    return half @ rot.T + np.array([cx, cy], np.float32)


def _clutter(rng: np.random.Generator, img: np.ndarray, owner: np.ndarray, scale: float) -> None:
    """Draw one non-class distractor (pole, slab, irregular polygon or cable)."""
    ih, iw = owner.shape
    kind = int(rng.integers(4))
    colour = tuple(float(c) for c in rng.uniform(20, 235, 3))
    m = np.zeros((ih, iw), np.uint8)
    if kind == 0:  # pole
        x = rng.uniform(0, iw)
        pw = scale * rng.uniform(0.03, 0.08)
        y0, y1 = sorted(rng.uniform(-0.2, 1.2, 2) * ih)
        pts = np.array([[x, y0], [x + pw, y0], [x + pw, y1], [x, y1]])
    elif kind == 1:  # slab / shelf
        cx, cy = rng.uniform(0, iw), rng.uniform(0, ih)
        pts = _quad(rng, cx, cy, scale * rng.uniform(0.2, 0.7), scale * rng.uniform(0.05, 0.3),
                    rng.uniform(-10, 10), 0.05)
    elif kind == 2:  # irregular blob
        n = int(rng.integers(5, 9))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = scale * rng.uniform(0.04, 0.18) * rng.uniform(0.5, 1.0, n)
        cx, cy = rng.uniform(0, iw), rng.uniform(0, ih)
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)
    else:  # cable
        pts = rng.uniform(0, 1, (int(rng.integers(3, 6)), 2)) * (iw, ih)
        cv2.polylines(m, [np.round(pts * 16).astype(np.int32)], False, 255,
                      max(1, int(scale * rng.uniform(0.005, 0.015))), cv2.LINE_AA, 4)
        pts = None
    if pts is not None:
        cv2.fillPoly(m, [np.round(np.asarray(pts) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    ys, xs = np.nonzero(m)
    if ys.size == 0:
        return
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    a = m[y0:y1, x0:x1].astype(np.float32)[..., None] * (1 / 255)
    roi = img[y0:y1, x0:x1]
    roi += a * (np.asarray(colour, np.float32) * rng.uniform(0.8, 1.1) - roi)
    owner[y0:y1, x0:x1][a[..., 0] > 0.5] = -2


def _shadow(img: np.ndarray, quad: np.ndarray, strength: float) -> None:
    """Darken a soft ellipse under the bottom edge of ``quad`` (cheap contact shadow)."""
    ih, iw = img.shape[:2]
    bottom = quad[2:4].mean(0)
    rx = max(2.0, float(np.ptp(quad[:, 0])) * 0.6)
    ry = max(1.0, rx * 0.25)
    x0, x1 = int(max(0, bottom[0] - rx * 1.5)), int(min(iw, bottom[0] + rx * 1.5))
    y0, y1 = int(max(0, bottom[1] - ry * 2)), int(min(ih, bottom[1] + ry * 2))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    yy, xx = np.ogrid[y0:y1, x0:x1]
    d = ((xx - bottom[0]) / rx) ** 2 + ((yy - bottom[1]) / ry) ** 2
    img[y0:y1, x0:x1] *= (1 - strength * np.exp(-2 * d).astype(np.float32))[..., None]


def _finish(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Apply lighting, colour cast, blur and sensor noise; return uint8 BGR."""
    h, w = img.shape[:2]
    light = 0.55 + 0.7 * _smooth_noise(rng, h, w, 3) * rng.uniform(0.2, 1.0)
    gain = rng.uniform(0.55, 1.25) * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    img *= light[..., None] * gain
    r = rng.random()
    if r < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.6))
    elif r < 0.45:
        k = int(rng.integers(3, 10))
        kern = np.zeros((k, k), np.float32)
        cv2.line(kern, (0, int(rng.integers(k))), (k - 1, int(rng.integers(k))), 1.0, 1)
        img = cv2.filter2D(img, -1, kern / kern.sum())
    sigma = rng.uniform(0, 12)
    if sigma > 2:
        noise = np.frombuffer(rng.bytes(h * w), np.uint8).reshape(h, w, 1)
        img += (noise.astype(np.float32) - 127.5) * (sigma / 73.6)
    return np.clip(img, 0, 255).astype(np.uint8)


def generate_scene(rng: np.random.Generator, width: int = 640, height: int = 480, *,
                   max_objects: int = 8) -> Scene:
    """Render one random scene with exact visible-extent labels.

    Args:
        rng: Source of all randomness; the same generator state gives the same scene.
        width: Image width (px).
        height: Image height (px).
        max_objects: Upper bound on class objects drawn (labelled ones may be fewer).

    Returns:
        The BGR image with boxes of the objects that are at least 40 % visible.

    Raises:
        ValueError: If the image is smaller than 16 px on a side or ``max_objects`` < 0.
    """
    if width < 16 or height < 16:
        msg = f'Scene size must be at least 16x16 px, got {width!r}x{height!r}.'
        raise ValueError(msg)
    if max_objects < 0:
        msg = f'max_objects must be >= 0, got {max_objects!r}.'
        raise ValueError(msg)
    img = _background(rng, height, width)
    owner = np.full((height, width), -1, np.int16)
    scale = float(min(width, height))
    for _ in range(int(rng.integers(0, 4))):
        _clutter(rng, img, owner, scale)
    n = int(min(max_objects, rng.choice(9, p=[.04, .16, .16, .15, .14, .12, .09, .08, .06])))
    specs = []
    for _ in range(n):
        cls = int(rng.integers(len(CLASS_NAMES)))
        size = scale * float(np.exp(rng.uniform(np.log(0.06), np.log(0.5)))) * _REL_SIZE[cls]
        cy = rng.uniform(-0.05, 1.05) * height
        specs.append((cy + size / 2, cls, size, rng.uniform(-0.05, 1.05) * width, cy))
    specs.sort(key=lambda s: s[0])  # lower objects are closer: draw them last
    placed: list[_Placed] = []
    for _, cls, size, cx, cy in specs:
        colour, alpha = _SPRITES[cls](rng, max(6, int(round(size))))
        sh, sw = alpha.shape
        tilt = _MAX_TILT[cls] if rng.random() < 0.9 else 90.0
        quad = _quad(rng, cx, cy, sw, sh, rng.uniform(-tilt, tilt), rng.uniform(0, 0.1))
        if rng.random() < 0.6:
            _shadow(img, quad, rng.uniform(0.2, 0.5))
        res = _paste(img, owner, (colour, alpha), quad, len(placed))
        if res is not None:
            placed.append(_Placed(cls, *res))
    for _ in range(int(rng.choice(3, p=[0.6, 0.3, 0.1]))):
        _clutter(rng, img, owner, scale)
    boxes, ids = [], []
    for i, p in enumerate(placed):
        vis = owner[p.y0:p.y1, p.x0:p.x1] == i
        count = int(np.count_nonzero(vis))
        if count == 0 or count < (1 - MAX_OCCLUSION) * p.area:
            continue
        cols, rows = np.flatnonzero(vis.any(0)), np.flatnonzero(vis.any(1))
        box = (p.x0 + cols[0], p.y0 + rows[0], p.x0 + cols[-1] + 1, p.y0 + rows[-1] + 1)
        if min(box[2] - box[0], box[3] - box[1]) < _MIN_BOX_SIDE:
            continue
        boxes.append(box)
        ids.append(p.cls)
    return Scene(_finish(rng, img),
                 np.asarray(boxes, np.float32).reshape(-1, 4),
                 np.asarray(ids, np.int32))
