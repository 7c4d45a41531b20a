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

import numpy as np

from video2mesh.photo_colours import Photo, Pinhole, colours, same_colour
from video2mesh.support import Plane

LOW_LAYER = 0.15  # of the object's height above its lowest points: its bottom layer
RIM = 0.6  # of the bottom layer's horizontal reach: points this far out see past the object
FACING = 0.7  # cos of the largest angle between a point's outward direction and a camera's
MAX_ELEVATION_DEG = 60.0  # cameras looking more steeply down see the object over the column
COLUMN = (0.3, 0.55, 0.8)  # where on the way down to the support the column is sampled
STANDS_SHARE = 0.6
MIN_VOTES = 30
MAX_POINTS = 300


def stands_share(
    points: np.ndarray,
    support: Plane,
    c2w: np.ndarray,
    k: Pinhole,
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
        own, ok_own = colours(low[facing], w2c, k, img)
        ground, ok_ground = colours(table[facing], w2c, k, img)
        for x in column:
            col, ok_col = colours(x[facing], w2c, k, img)
            ok = ok_own & ok_ground & ok_col
            like_own, like_ground = same_colour(col, own), same_colour(col, ground)
            stands += int((ok & like_own & ~like_ground).sum())
            floats += int((ok & ~like_own).sum())
    votes = stands + floats
    return (stands / votes if votes else 0.0), votes
