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
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = ['CLASS_NAMES', 'MAX_OCCLUSION', 'Scene', 'generate_scene']

CLASS_NAMES = ('traffic_cone', 'box', 'ball', 'pallet', 'barrel')
"""Class names, indexed by class id."""

MAX_OCCLUSION = 0.6
"""Objects with a larger hidden fraction of their area get no label."""

_MIN_BOX_SIDE = 4.0
_Sprite = tuple[NDArray[Any], NDArray[Any]]


@dataclass(frozen=True)
class Scene:
    """One rendered scene and its labels.

    Attributes:
        image: (H, W, 3) uint8, BGR.
        boxes: (N, 4) float32, visible extent ``x1 y1 x2 y2`` in pixels.
        class_ids: (N,) int32 indices into :data:`CLASS_NAMES`.
    """

    image: NDArray[Any]
    boxes: NDArray[Any]
    class_ids: NDArray[Any]


# ---------------------------------------------------------------------------------------------
# Small helpers. numpy broadcasting over a trailing colour axis of 3 is slow, so colour images are
# built from 2-D fields with cv2.merge and combined with OpenCV arithmetic.


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> NDArray[Any]:
    """Return low-frequency noise in [0, 1] of shape (h, w), cheap because it is upsampled."""
    ch = max(2, round(cells * h / max(h, w)))
    cw = max(2, round(cells * w / max(h, w)))
    small = rng.random((ch, cw), dtype=np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _tint(field: NDArray[Any], colour: NDArray[Any]) -> NDArray[Any]:
    """Colour image (h, w, 3) float32 equal to ``field[..., None] * colour``."""
    f = np.asarray(field, np.float32)
    return cv2.merge([f * np.float32(c) for c in colour])


def _colour(rng: np.random.Generator, base: tuple[float, float, float],
            jitter: float) -> NDArray[Any]:
    """Return a BGR colour jittered around ``base`` (0..255), clipped."""
    c = np.asarray(base, np.float32) * rng.uniform(1 - jitter, 1 + jitter)
    c += rng.uniform(-jitter, jitter, 3).astype(np.float32) * 60
    return np.clip(c, 0, 255)


def _cylinder_shade(rng: np.random.Generator, w: int) -> NDArray[Any]:
    """Horizontal shading profile (w,) of a lit cylinder, light from a random side."""
    x = np.linspace(-1.0, 1.0, w, dtype=np.float32)
    light = rng.uniform(-0.6, 0.6)
    shade: NDArray[Any] = (0.55 + 0.55 * np.clip(np.cos((x - light) * 1.4), 0, 1))
    return shade.astype(np.float32)


def _poly_mask(h: int, w: int, pts: NDArray[Any]) -> NDArray[Any]:
    """Anti-aliased filled polygon mask (h, w) float32 in [0, 1]."""
    m = np.zeros((h, w), np.uint8)
    cv2.fillPoly(m, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    return m.astype(np.float32) * np.float32(1 / 255)


# ---------------------------------------------------------------------------------------------
# Object sprites: (colour (h, w, 3) float32 BGR, alpha (h, w) float32) at roughly final size.
# Each is drawn as a material-index map, a palette and a shading field.


def _render(mat: NDArray[Any], palette: NDArray[Any], shade: NDArray[Any],
            add: NDArray[Any] | None = None) -> NDArray[Any]:
    """Colour image ``palette[mat] * shade (+ add)`` built channel by channel."""
    chans = []
    for c in range(3):
        ch = palette[:, c].astype(np.float32)[mat] * shade
        if add is not None:
            ch += add
        chans.append(ch)
    img: NDArray[Any] = cv2.merge(chans)
    return img


def _cone(rng: np.random.Generator, h: int) -> _Sprite:
    """Traffic cone: orange tapered body, white reflective bands, square base."""
    w = max(6, round(h * rng.uniform(0.62, 0.8)))
    base_h = h * rng.uniform(0.08, 0.14)
    body = [(0, 100, 255), (10, 70, 240), (0, 140, 255), (30, 40, 220)][int(rng.integers(4))]
    base = (20, 40, 60) if rng.random() < 0.5 else body
    palette = np.stack([_colour(rng, body, 0.1), _colour(rng, (235, 235, 235), 0.08),
                        _colour(rng, base, 0.1) * 0.6])
    top_w, bot_w, yb = w * rng.uniform(0.1, 0.18), w * rng.uniform(0.7, 0.82), h - base_h
    rows = np.zeros(h, np.intp)
    for i in range(int(rng.integers(1, 3))):
        y0 = yb * (0.24 + 0.3 * i)
        rows[int(y0):int(np.ceil(y0 + yb * rng.uniform(0.1, 0.16)))] = 1
    rows[int(yb):] = 2
    mat = np.broadcast_to(rows[:, None], (h, w))
    shade = np.outer(np.ones(h, np.float32), _cylinder_shade(rng, w))
    cx, half_b = w / 2, bot_w / 2
    pts = np.array([[cx - top_w / 2, 0], [cx + top_w / 2, 0], [cx + half_b, yb], [w, yb],
                    [w, h], [0, h], [0, yb], [cx - half_b, yb]], np.float32)
    return _render(mat, palette, shade), _poly_mask(h, w, pts)


def _box(rng: np.random.Generator, h: int) -> _Sprite:
    """Cardboard box in three-quarter view: front, top and side faces, tape and maybe a label."""
    w = max(6, round(h * rng.uniform(0.8, 1.6)))
    d = rng.uniform(0.15, 0.35)  # depth offset as a fraction of the sprite height
    dx, dy = w * d * rng.uniform(0.6, 1.0), h * d
    sx = dx if rng.random() < 0.5 else -dx  # top and side recede right (+) or left (-)
    card = _colour(rng, (70, 130, 180), 0.15)
    tape = _colour(rng, (110, 170, 200), 0.1) if rng.random() < 0.8 else card * 0.6
    palette = np.stack([card, card * 1.25, card * 0.7, tape, _colour(rng, (235, 235, 235), 0.05)])
    fx0, fx1 = (0.0, w - dx) if sx > 0 else (dx, float(w))
    top = np.array([[fx0, dy], [fx1, dy], [fx1 + sx, 0], [fx0 + sx, 0]], np.float32)
    side_x = fx1 if sx > 0 else fx0
    side = np.array([[side_x, dy], [side_x + sx, 0], [side_x + sx, h - dy], [side_x, h]],
                    np.float32)
    mat = np.zeros((h, w), np.intp)
    mat[_poly_mask(h, w, top) > 0.5] = 1
    mat[_poly_mask(h, w, side) > 0.5] = 2
    tw = (fx1 - fx0) * rng.uniform(0.08, 0.16)
    mid = (fx0 + fx1) / 2
    strip = np.array([[mid - tw / 2, dy], [mid + tw / 2, dy], [mid + tw / 2 + sx, 0],
                      [mid - tw / 2 + sx, 0]], np.float32)
    mat[_poly_mask(h, w, strip) > 0.5] = 3
    mat[int(dy):int(dy + (h - dy) * rng.uniform(0.15, 0.3)),
        int(mid - tw / 2):int(np.ceil(mid + tw / 2))] = 3
    if rng.random() < 0.5:
        lx0 = int(fx0 + (fx1 - fx0) * rng.uniform(0.1, 0.5))
        ly0 = int(dy + (h - dy) * rng.uniform(0.45, 0.65))
        mat[ly0:ly0 + max(2, int(h * 0.15)), lx0:lx0 + max(2, int(w * 0.2))] = 4
    shade = 0.9 + 0.15 * _smooth_noise(rng, h, w, 6)
    far = fx0 if sx > 0 else fx1
    outline = np.array([[far, dy], [far + sx, 0], [side_x + sx, 0], [side_x + sx, h - dy],
                        [side_x, h], [far, h]], np.float32)
    return _render(mat, palette, shade), _poly_mask(h, w, outline)


_BALL_COLOURS = ((40, 40, 220), (200, 90, 20), (30, 210, 230), (60, 170, 40), (235, 235, 235),
                 (20, 130, 250), (160, 50, 140), (200, 200, 60))


def _ball(rng: np.random.Generator, h: int) -> _Sprite:
    """Ball: shaded sphere in a bright colour, sometimes two-tone or with a seam."""
    k = len(_BALL_COLOURS)
    c1 = _colour(rng, _BALL_COLOURS[int(rng.integers(k))], 0.1)
    c2 = _colour(rng, _BALL_COLOURS[int(rng.integers(k))], 0.1)
    palette = np.stack([c1, c2, c1 * 0.4])
    r = h / 2
    t = (np.arange(h, dtype=np.float32) + 0.5 - r) / r
    u, v = t[None, :], t[:, None]
    mat = np.zeros((h, h), np.intp)
    style = rng.random()
    if style < 0.4:
        ang = rng.uniform(0, np.pi)
        mat[(np.cos(ang) * u + np.sin(ang) * v) > rng.uniform(-0.3, 0.3)] = 1
    elif style < 0.6:
        mat[np.abs(u * u * 0.8 + v - rng.uniform(-0.3, 0.3)) < 0.07] = 2
    rr = u * u + v * v
    nz = np.sqrt(np.clip(1 - rr, 0, 1))
    lx, ly = rng.uniform(-0.5, 0.5), rng.uniform(-0.7, -0.1)
    lam = np.clip((-lx * u - ly * v + 0.8 * nz) / 1.2, 0, 1).astype(np.float32)
    spec = (np.clip(lam, 0.9, 1.0) - 0.9) * 1500
    alpha = np.clip((1 - np.sqrt(rr)) * r + 0.5, 0, 1).astype(np.float32)
    return _render(mat, palette, 0.3 + 0.8 * lam, spec), alpha


def _pallet(rng: np.random.Generator, h: int) -> _Sprite:
    """Wooden pallet, side view: top deck, three blocks with see-through gaps, bottom boards."""
    w = max(10, round(h * rng.uniform(2.4, 4.0)))
    wood = [(110, 170, 205), (90, 150, 190), (170, 110, 40), (130, 140, 150)][int(rng.integers(4))]
    col = _colour(rng, wood, 0.12)
    palette = np.stack([col, col * 0.8, col * 0.5])
    deck = max(1.0, h * rng.uniform(0.2, 0.3))
    bottom = max(1.0, h * rng.uniform(0.15, 0.25))
    bw = w * rng.uniform(0.1, 0.16)
    gy0, gy1 = int(round(deck)), int(round(h - bottom))
    rows = np.zeros(h, np.intp)
    rows[gy0:gy1] = 1
    rows[max(0, gy0 - 1):gy0 + 1] = 2
    rows[max(0, gy1 - 1):gy1 + 1] = 2
    mat = np.broadcast_to(rows[:, None], (h, w))
    shade = 0.85 + 0.3 * _smooth_noise(rng, h, w, 24) ** 2
    alpha = np.ones((h, w), np.float32)
    for x0, x1 in ((bw, w / 2 - bw / 2), (w / 2 + bw / 2, w - bw)):
        alpha[gy0:gy1, int(round(x0)):int(round(x1))] = 0.0
    return _render(mat, palette, shade), alpha


_BARREL_COLOURS = ((160, 80, 20), (30, 30, 180), (40, 120, 40), (40, 40, 40), (170, 170, 170),
                   (20, 160, 220))


def _barrel(rng: np.random.Generator, h: int) -> _Sprite:
    """Steel drum: shaded cylinder with rolling hoops and an elliptical lid."""
    w = max(6, round(h * rng.uniform(0.55, 0.75)))
    col = _colour(rng, _BARREL_COLOURS[int(rng.integers(len(_BARREL_COLOURS)))], 0.12)
    palette = np.stack([col, col * 0.6, np.clip(col * 1.25, 0, 255)])
    lid = h * rng.uniform(0.06, 0.14)
    rows = np.zeros(h, np.intp)
    t = max(1, int(h * 0.025))
    for f in (0.33, 0.66):
        y = int(lid + (h - lid) * f)
        rows[y - t:y + t] = 1
    yy = np.arange(h, dtype=np.float32)[:, None] + 0.5
    ex = (np.arange(w, dtype=np.float32)[None, :] + 0.5 - w / 2) / (w / 2)
    top_e = ((yy - lid) / lid) ** 2 + ex ** 2 < 1
    mat = np.where(top_e, 2, rows[:, None])
    shade = np.outer(np.ones(h, np.float32), _cylinder_shade(rng, w))
    cap = (yy < lid) & ~top_e
    bot = (yy > h - lid) & ((((yy - (h - lid)) / lid) ** 2 + ex ** 2) > 1)
    alpha = np.where(cap | bot, 0.0, 1.0).astype(np.float32)
    return _render(mat, palette, shade), alpha


_SPRITES: tuple[Callable[[np.random.Generator, int], _Sprite], ...] = (
    _cone, _box, _ball, _pallet, _barrel)
# Per class: allowed in-plane rotation (deg) in the common case, and relative size.
_MAX_TILT = (15.0, 12.0, 180.0, 8.0, 10.0)
_REL_SIZE = (1.0, 0.9, 0.75, 0.45, 1.0)


# ---------------------------------------------------------------------------------------------
# Backgrounds


def _texture(rng: np.random.Generator, h: int, w: int) -> NDArray[Any]:
    """One floor or wall texture (h, w, 3) float32 BGR."""
    kind = int(rng.integers(6))
    c1 = rng.uniform(30, 220, 3).astype(np.float32)
    if kind == 0:  # concrete / plain noisy
        base = _smooth_noise(rng, h, w, int(rng.integers(3, 12)))
        return _tint(0.7 + 0.5 * base, c1 * rng.uniform(0.6, 1.0))
    if kind == 1:  # tiles with dark grout
        n = int(rng.integers(4, 16))
        ty, tx = np.arange(h) * n // h, np.arange(w) * n // h
        f = np.where((ty[:, None] + tx[None, :]) % 2 == 1, rng.uniform(0.6, 0.9), 1.0)
        f[(np.arange(h) * n % h) < n] *= 0.5
        f[:, (np.arange(w) * n % h) < n] *= 0.5
        return _tint(f, c1)
    if kind == 2:  # wooden planks
        n = int(rng.integers(5, 14))
        shades = rng.uniform(0.75, 1.15, n + 1).astype(np.float32)
        f = shades[np.arange(h) * n // h][:, None] * (0.85 + 0.3 * _smooth_noise(rng, h, w, 40))
        f[(np.arange(h) * n % h) < n] *= 0.5
        return _tint(f, np.asarray((60, 110, 160), np.float32) * rng.uniform(0.6, 1.2))
    if kind == 3:  # linear gradient between two colours
        c2 = rng.uniform(30, 220, 3).astype(np.float32)
        a = rng.uniform(0, 2 * np.pi)
        t = (np.float32(np.cos(a)) * np.linspace(0, 1, w, dtype=np.float32)[None, :]
             + np.float32(np.sin(a)) * np.linspace(0, 1, h, dtype=np.float32)[:, None])
        t = (t - t.min()) / max(1e-6, float(t.max() - t.min()))
        blend: NDArray[Any] = _tint(1 - t, c1) + _tint(t, c2)
        return blend
    if kind == 4:  # asphalt / speckled
        f = 1 + (rng.random((h, w), dtype=np.float32) - 0.5) * rng.uniform(0.2, 0.6)
        img = _tint(f, rng.uniform(40, 110) * rng.uniform(0.9, 1.1, 3))
        if rng.random() < 0.5:  # painted lane line
            x0 = int(rng.integers(0, w))
            img[:, x0:x0 + max(2, w // 40)] = (240, 240, 240) if rng.random() < 0.5 else (
                0, 210, 240)
        return img
    # grass / outdoor
    g = np.asarray((40, 140, 70), np.float32) * rng.uniform(0.6, 1.2)
    return _tint(0.6 + 0.7 * _smooth_noise(rng, h, w, 60), g)


def _background(rng: np.random.Generator, h: int, w: int) -> NDArray[Any]:
    """Floor, or wall above a floor in perspective, as uint8 BGR (h, w, 3)."""
    th, tw = max(8, h // 2), max(8, w // 2)
    floor = cv2.convertScaleAbs(_texture(rng, th, tw))
    if rng.random() < 0.4:
        return cv2.resize(floor, (w, h), interpolation=cv2.INTER_LINEAR)
    horizon = rng.uniform(0.1, 0.5) * h
    spread = rng.uniform(0.0, 0.45) * w
    src = np.array([[0, 0], [tw, 0], [tw, th], [0, th]], np.float32)
    dst = np.array([[spread, horizon], [w - spread, horizon], [w, h], [0, h]], np.float32)
    hm = cv2.getPerspectiveTransform(src, dst)
    wall = cv2.resize(cv2.convertScaleAbs(_texture(rng, th // 2, tw // 2)), (w, h),
                      interpolation=cv2.INTER_LINEAR)
    cv2.warpPerspective(floor, hm, (w, h), dst=wall, flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_TRANSPARENT)
    return wall


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


def _paste(img: NDArray[Any], owner: NDArray[Any], sprite: _Sprite, quad: NDArray[Any],
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
    warped = cv2.warpPerspective(cv2.merge([colour, alpha]), hm, (x1 - x0, y1 - y0),
                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    b, g, r, a = cv2.split(warped)
    _blend(img[y0:y1, x0:x1], cv2.convertScaleAbs(cv2.merge([b, g, r])), a)
    owner[y0:y1, x0:x1][a > 0.5] = tag
    qx, qy = quad[:, 0], quad[:, 1]
    quad_area = 0.5 * abs(float(np.dot(qx, np.roll(qy, 1)) - np.dot(qy, np.roll(qx, 1))))
    return x0, y0, x1, y1, quad_area * float(np.count_nonzero(alpha > 0.5)) / alpha.size


def _blend(roi: NDArray[Any], colour: NDArray[Any], alpha: NDArray[Any]) -> None:
    """Alpha-blend uint8 ``colour`` over uint8 ``roi`` in place (alpha is 2-D in [0, 1])."""
    roi[:] = cv2.blendLinear(roi, colour, 1.0 - alpha, alpha)


def _quad(rng: np.random.Generator, cx: float, cy: float, sw: float, sh: float,
          tilt_deg: float, persp: float) -> NDArray[Any]:
    """Corners (4, 2) of a rotated, perspective-jittered rectangle centred at (cx, cy)."""
    half = np.array([[-sw, -sh], [sw, -sh], [sw, sh], [-sw, sh]], np.float32) / 2
    half += rng.uniform(-persp, persp, (4, 2)).astype(np.float32) * (sw, sh)
    t = np.deg2rad(tilt_deg)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]], np.float32)
    return half @ rot.T + np.array([cx, cy], np.float32)


def _clutter(rng: np.random.Generator, img: NDArray[Any], owner: NDArray[Any],
             scale: float) -> None:
    """Draw one non-class distractor (pole, slab, irregular polygon or cable)."""
    ih, iw = owner.shape
    kind = int(rng.integers(4))
    thick = 0
    if kind == 0:  # pole
        x, pw = rng.uniform(0, iw), scale * rng.uniform(0.03, 0.08)
        y0, y1 = np.sort(rng.uniform(-0.2, 1.2, 2)) * ih
        pts = np.array([[x, y0], [x + pw, y0], [x + pw, y1], [x, y1]])
    elif kind == 1:  # slab / shelf
        pts = _quad(rng, rng.uniform(0, iw), rng.uniform(0, ih), scale * rng.uniform(0.2, 0.7),
                    scale * rng.uniform(0.05, 0.3), rng.uniform(-10, 10), 0.05)
    elif kind == 2:  # irregular blob
        n = int(rng.integers(5, 9))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = scale * rng.uniform(0.04, 0.18) * rng.uniform(0.5, 1.0, n)
        cx, cy = rng.uniform(0, iw), rng.uniform(0, ih)
        pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1)
    else:  # cable
        pts = rng.uniform(0, 1, (int(rng.integers(3, 6)), 2)) * (iw, ih)
        thick = max(1, int(scale * rng.uniform(0.005, 0.015)))
    colour = tuple(int(c) for c in rng.integers(20, 236, 3))
    x0, y0 = np.maximum(np.floor(pts.min(0)).astype(int) - thick, 0)
    x1, y1 = np.minimum(np.ceil(pts.max(0)).astype(int) + thick + 1, (iw, ih))
    if x1 - x0 < 1 or y1 - y0 < 1:
        return
    roi = img[y0:y1, x0:x1]
    m = np.zeros(roi.shape[:2], np.uint8)
    local = [np.round((pts - (x0, y0)) * 16).astype(np.int32)]
    if thick:
        cv2.polylines(roi, local, False, colour, thick, cv2.LINE_AA, 4)
        cv2.polylines(m, local, False, 1, thick, cv2.LINE_8, 4)
    else:
        cv2.fillPoly(roi, local, colour, cv2.LINE_AA, 4)
        cv2.fillPoly(m, local, 1, cv2.LINE_8, 4)
    owner[y0:y1, x0:x1][m > 0] = -2


def _shadow(img: NDArray[Any], quad: NDArray[Any], strength: float) -> None:
    """Darken a soft ellipse under the bottom edge of ``quad`` (cheap contact shadow)."""
    ih, iw = img.shape[:2]
    bx, by = quad[2:4].mean(0)
    rx = max(2.0, float(np.ptp(quad[:, 0])) * 0.6)
    ry = max(1.0, rx * 0.25)
    x0, x1 = int(max(0, bx - rx * 1.5)), int(min(iw, bx + rx * 1.5))
    y0, y1 = int(max(0, by - ry * 2)), int(min(ih, by + ry * 2))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    dx = ((np.arange(x0, x1, dtype=np.float32) - bx) / rx) ** 2
    dy = ((np.arange(y0, y1, dtype=np.float32) - by) / ry) ** 2
    dark = strength * np.exp(-2 * (dy[:, None] + dx[None, :]))
    roi = img[y0:y1, x0:x1]
    _blend(roi, np.zeros_like(roi), dark)


def _lighting(rng: np.random.Generator, h: int, w: int) -> NDArray[Any]:
    """An uneven, tinted illumination field (h, w, 3) uint8 where 128 means unchanged."""
    field = 0.55 + 0.7 * rng.random((3, 4), dtype=np.float32) * rng.uniform(0.2, 1.0)
    gain = rng.uniform(0.55, 1.25) * rng.uniform(0.9, 1.1, 3)
    return cv2.resize(cv2.convertScaleAbs(_tint(field, gain * 128)), (w, h),
                      interpolation=cv2.INTER_LINEAR)


def _finish(rng: np.random.Generator, img: NDArray[Any],
            light: NDArray[Any] | None = None) -> NDArray[Any]:
    """Apply lighting, colour cast, blur and sensor noise to a uint8 BGR image.

    ``light`` (from :func:`_lighting`) keeps one illumination across the frames of a sequence;
    by default each image gets its own.
    """
    h, w = img.shape[:2]
    if light is None:
        light = _lighting(rng, h, w)
    r = rng.random()  # OpenCV filters below work in place: fewer large temporaries
    if r < 0.3:
        cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.6), dst=img)
    elif r < 0.45:
        k = int(rng.integers(3, 10))
        kern = np.zeros((k, k), np.float32)
        cv2.line(kern, (0, int(rng.integers(k))), (k - 1, int(rng.integers(k))), 1.0, 1)
        cv2.filter2D(img, -1, kern / kern.sum(), dst=img)
    cv2.multiply(img, light, dst=img, scale=1 / 128)  # uint8 in and out: saturating and fast
    sigma = rng.uniform(0, 12)
    if sigma > 2:
        noise = np.frombuffer(rng.bytes(h * w), np.uint8).reshape(h, w)  # luminance noise
        amp = sigma / 73.6  # std of uniform bytes is 73.6
        cv2.addWeighted(img, 1.0, cv2.merge([noise, noise, noise]), amp, -127.5 * amp, dst=img)
    return img


def _visible_boxes(owner: NDArray[Any],
                   placed: list[_Placed]) -> tuple[list[tuple[int, int, int, int]], list[int]]:
    """Visible-extent boxes of the placed objects that are labelled, and their indices.

    ``owner`` holds, per pixel, the index into ``placed`` of the object seen there; an object
    hidden by more than :data:`MAX_OCCLUSION` of its area, or thinner than a few pixels, is left
    out.
    """
    boxes, kept = [], []
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
        kept.append(i)
    return boxes, kept


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
    boxes, kept = _visible_boxes(owner, placed)
    return Scene(_finish(rng, img),
                 np.asarray(boxes, np.float32).reshape(-1, 4),
                 np.asarray([placed[i].cls for i in kept], np.int32))
