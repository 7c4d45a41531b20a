"""Whether an object stands on the support found under it although SfM saw no point near it.

A plain-sided object (a glossy brick whose studs alone hold SfM points, a white mug with a
printed rim) has its lowest SfM points well above the table it stands on; by the points alone
it looks like an object floating over a floor, or standing on a plain stool on that floor. The
photos tell them apart: seen from the side, the column under the object's lowest points shows
the object's own colour down to the table when the object stands there, and shows something
else (the floor or the room behind a floating object, a stool's plain top) otherwise.

For each of the object's lowest points near its rim and each camera on that side of it (not
looking steeply down, so that the column is seen past the object), the pixels of the column
under the point are compared with the point's own pixel and with the pixel of the table just
outside it. A column pixel that matches the point but not the table votes "stands"; one that
matches neither, or the table alone, votes "floats"; one that matches both (a white mug on
white paper) abstains. The object stands on the support where ``STANDS_SHARE`` of the votes say
so.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from video2mesh.support import Plane

LOW_LAYER = 0.15  # of the object's height above its lowest points: its bottom layer
RIM = 0.6  # of the bottom layer's horizontal reach: points this far out see past the object
FACING = 0.7  # cos of the largest angle between a point's outward direction and a camera's
MAX_ELEVATION_DEG = 60.0  # cameras looking more steeply down see the object over the column
COLUMN = (0.3, 0.55, 0.8)  # where on the way down to the support the column is sampled
HUE_DEG = 8.0  # the largest angle between the RGB vectors of one colour
DARK = 10.0  # grey added to both colours (of 255) before the angle is taken
BRIGHTNESS = 2.5  # the largest brightness ratio of one colour (shading of a side vs its top)
STANDS_SHARE = 0.6
MIN_VOTES = 30
MAX_POINTS = 300

Photo = Callable[[int], np.ndarray]  # camera index -> its undistorted photo, (h, w, 3) uint8


def same_colour(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether two arrays of RGB colours are one colour under different shading: their RGB
    directions within ``HUE_DEG`` (a little grey added steadies dark pixels' directions) and
    their brightness within a factor ``BRIGHTNESS``."""
    a, b = a + DARK, b + DARK
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    cos = (a * b).sum(-1) / (na * nb)
    return (cos > np.cos(np.radians(HUE_DEG))) & (np.abs(np.log(na / nb)) < np.log(BRIGHTNESS))


def _colours(
    x: np.ndarray, w2c: np.ndarray, k: tuple[float, float, float, float], img: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The mean colour of the 3×3 pixels where each point lies in the photo, and whether it
    lies in it (in front of the camera, inside the frame)."""
    fx, fy, cx, cy = k
    hgt, wid = img.shape[:2]
    c = x @ w2c[:3, :3].T + w2c[:3, 3]
    z = np.where(c[:, 2] > 1e-9, c[:, 2], np.nan)
    u, v = fx * c[:, 0] / z + cx, fy * c[:, 1] / z + cy
    ok = np.isfinite(u) & (u >= 1) & (u < wid - 2) & (v >= 1) & (v < hgt - 2)
    ui, vi = np.where(ok, u, 1).astype(int), np.where(ok, v, 1).astype(int)
    patch = sum(img[vi + dv, ui + du].astype(float) for dv in (-1, 0, 1) for du in (-1, 0, 1))
    return patch / 9.0, ok


def stands_share(
    points: np.ndarray,
    support: Plane,
    c2w: np.ndarray,
    k: tuple[float, float, float, float],
    photo: Photo,
    seed: int = 0,
) -> tuple[float, int]:
    """The share of votes for "stands on ``support``" and their number (see the module)."""
    n = support.normal
    h = support.height(points)
    foot, top = np.quantile(h, [0.005, 0.995])
    low = points[h < foot + LOW_LAYER * (top - foot)]
    base = support.project(low)
    middle = support.project(points).mean(axis=0)
    out = base - middle
    reach = np.linalg.norm(out, axis=1)
    rim = (reach >= RIM * reach.max()) & (reach > 0) if len(reach) else reach.astype(bool)
    low, out, base = low[rim], out[rim] / reach[rim, None], base[rim]
    if len(low) > MAX_POINTS:
        pick = np.random.default_rng(seed).choice(len(low), MAX_POINTS, replace=False)
        low, out, base = low[pick], out[pick], base[pick]
    gap = support.height(low)
    # the table just outside the point's foot, half as far out as the point is high over it
    table = base + out * gap[:, None] * 0.5
    column = [low - t * gap[:, None] * n for t in COLUMN]
    stands = floats = 0
    max_tan = np.tan(np.radians(MAX_ELEVATION_DEG))
    for i, m in enumerate(c2w):
        centre = m[:3, 3]
        to_cam = centre - middle
        up = float(to_cam @ n)
        side = to_cam - up * n
        if up <= 0 or up > max_tan * np.linalg.norm(side):
            continue
        facing = out @ (side / np.linalg.norm(side)) >= FACING
        if not facing.any():
            continue
        img, w2c = photo(i), np.linalg.inv(m)
        own, ok_own = _colours(low[facing], w2c, k, img)
        ground, ok_ground = _colours(table[facing], w2c, k, img)
        for x in column:
            col, ok_col = _colours(x[facing], w2c, k, img)
            ok = ok_own & ok_ground & ok_col
            like_own, like_ground = same_colour(col, own), same_colour(col, ground)
            stands += int((ok & like_own & ~like_ground).sum())
            floats += int((ok & ~like_own).sum())
    votes = stands + floats
    return (stands / votes if votes else 0.0), votes
