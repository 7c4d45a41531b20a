"""Frame sets that SfM cannot use, told by their look, where the frames are made.

Each decoded frame gets a few numbers (grey levels 0–255): mean, the share of saturated
(>= 250) and of black (<= 10) pixels, and the share of textured tiles (16×16 grid, grey std
above 4 levels: where feature points can be found). A set is refused when its median frame
is nearly all saturated or all black (or its mean grey is within 12 levels of either end:
12-bit data in a 16-bit file has a mean near 8), or has texture in almost no tile; the message names
what was found and its likely cause (16-bit or HDR data read as 8-bit, a lens cap, fog or a
washed-out HDR video), instead of SfM's generic advice after minutes of matching.

Thresholds: the sample scene's frames have 55-91 % textured tiles, no saturated or black
pixel; the limits are far from that, so that dark or bright but usable captures pass.
"""

from __future__ import annotations

import numpy as np

from video2mesh.errors import UserError

SATURATED, BLACK = 250, 10  # grey levels
DARKEST, BRIGHTEST = 12.0, 243.0  # mean grey beyond which a frame is nearly black/white
TILE_STD = 4.0  # a tile with less grey-level spread than this holds no feature
MOSTLY = 0.9  # share of pixels that makes a frame "nearly white/black"
MIN_TEXTURED = 0.05  # share of textured tiles under which SfM finds too few features
GRID = 16


def frame_stats(rgb: np.ndarray) -> dict[str, float]:
    grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    h, w = grey.shape
    th, tw = max(h // GRID, 1), max(w // GRID, 1)
    tiles = grey[: h - h % th, : w - w % tw].reshape(h // th, th, w // tw, tw)
    return {
        "mean": float(grey.mean()),
        "saturated": float((grey >= SATURATED).mean()),
        "black": float((grey <= BLACK).mean()),
        "textured": float((tiles.std(axis=(1, 3)) > TILE_STD).mean()),
    }


def check_frame_set(stats: list[dict[str, float]], kind: str) -> dict[str, float]:
    """The median frame's numbers (for frames.json); raises UserError naming the cause when
    that frame is hopeless for SfM. ``kind`` is "video" or "images" (the hints differ).
    """
    if not stats:
        return {}
    med = {k: round(float(np.median([s[k] for s in stats])), 4) for k in stats[0]}
    what = f"median frame: mean grey {med['mean']:.0f}/255"
    source = (
        "export the photos as 8-bit JPEG or full-range 16-bit TIFF"
        if kind == "images"
        else ("if the video is HDR (HLG/PQ, 10-bit), export it as SDR or record with HDR off")
    )
    if med["saturated"] >= MOSTLY or med["mean"] > BRIGHTEST:
        raise UserError(
            f"frames are nearly white ({what}, {med['saturated']:.0%} of pixels saturated): "
            "16-bit or HDR data read as 8-bit, or heavily overexposed",
            f"look at one photo or frame as it was given; {source}; or lower the exposure",
        )
    if med["black"] >= MOSTLY or med["mean"] < DARKEST:
        raise UserError(
            f"frames are nearly black ({what}, {med['black']:.0%} of pixels black): lens cap "
            "on, far too dark, or 10/12-bit data stored in 16-bit files",
            f"film or photograph the object in good light; {source}",
        )
    if med["textured"] < MIN_TEXTURED:
        raise UserError(
            f"frames have almost no contrast ({what}, texture in {med['textured']:.0%} of "
            f"image tiles, SfM needs features): fog, a misted or covered lens, a blank wall, "
            "or a washed-out HDR video",
            f"clean the lens and film a textured object filling more of the frame; {source}",
        )
    return med
