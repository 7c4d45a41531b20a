"""Background masks for captures in front of a plain backdrop (a studio sweep, a black cloth).

Why: behind a textured room, a surface in the wrong place cannot paint the room's colours from
every view, so photometric loss carves it away. In front of a uniform backdrop it can: a shell
of backdrop colour explains those pixels as well as empty space does, and NeuS keeps it (the
"temple inside a black shell" of real captures). Where the frames' borders are plain, the
backdrop is flood-filled from the border (pixels close to the border colour, in smooth regions,
connected to the border) and training pushes the object's opacity to zero on those pixels.
Textured backgrounds are left alone: no masks, no loss.

Which backgrounds are textured is first asked of the SfM points (the scene stage writes
``background_points``): a background that SfM can triangulate is one that photometric loss can
carve as well, and masking it only risks masking the table and the object where their colours
match one of its patches (the sample's wall of smooth colour blobs matched its planks and a
patch inside the cup). Plain captures put ≤ 0.6 % of their points beyond the object and its
support, the sample's room 1.8 %. The frames' borders decide when that share is not known.
Pixels whose ray meets the support plane before it leaves the bounding sphere are never masked:
inside the sphere they see the table the object stands on, which is geometry to reconstruct;
in front of it, the rest of the ray's way through the sphere lies under the floor, where the
photo says nothing (masking those emptied the generated vase's tiled floor around its foot).
"""

from __future__ import annotations

import numpy as np

from video2mesh.support import Plane

BORDER = 0.02  # band width, share of the short side
# levels (L∞) from the border colour: the widest a backdrop's vignetting and folds may span
COLOR_TOL = 40
# ... but a backdrop takes only the tolerance its own border shows: the 99th percentile of its
# border pixels' distance from the border colour, plus a margin, at least TOL_MIN. A uniform
# backdrop (a studio sweep, a render) gets TOL_MIN, so the object's shadows and dark patches
# that touch the silhouette stay object: at 40 they were flood-filled with the backdrop, and
# training carved the generated figurine on black apart at its hips (3 components). The
# Middlebury temple's cloth (99th percentile 37) and DTU scan 65's (31) keep 40.
TOL_MIN = 12
TOL_MARGIN = 10
GRAD_TOL = 6.0  # levels per pixel after a 3×3 blur: a backdrop is smooth, objects have edges
# share of border pixels that must be backdrop for an image to count: a plain backdrop behind
# an object on a textured table fills the top and the sides of the frame, not the bottom
PLAIN_BORDER = 0.35
PLAIN_IMAGES = 0.7  # share of images with a plain border for the capture to count
MAX_SHARE = 0.97  # a mask over nearly the whole image saw no object: ignored
# A backdrop is one colour, lit unevenly: its brightness varies, its hue does not. The 90th
# percentile of the masked pixels' distance from their median in opponent colour per unit of
# brightness (hue_spread) is 0–14 on every plain capture of the validation set (the Middlebury
# temple's black cloth 0, DTU scan 65's black 12–14, the generated studios 0) and 58–60 on the
# held-out house filmed low in a room of smooth colour blobs, whose few SfM points on the walls
# passed it for plain: the fill ran over the walls and into the roof, and training carved the
# roof (benchmarks/realworld/RESULTS.md, session 19); in one view of DTU scan 65 (106) the fill
# ran into the brown table. A mask of many hues is no backdrop (backdrop_masks).
MAX_HUE_SPREAD = 30.0
DARK = 32.0  # brightness below which a pixel's hue is noise: counted as none
# sphere radii: SfM points farther from the centre are background (or support); nearer, a glossy
# object's highlights and a table's edge scatter points on plain captures too
BEYOND = 2.0
# ... unless within this slope of the support plane, seen from the centre: a table's far points
# drift off the plane fitted near the object (1–2° of tilt on the generated house's table)
OFF_SUPPORT = 0.15
# share of the SfM points on the background above which it is textured: ≤ 0.61 % on the plain
# captures of the validation set (Middlebury temple, DTU scans 24 and 65, generated figurines on
# black, house on white), 1.8–2.9 % on the generated rooms, whose walls of smooth colour blobs
# are poorer in features than real rooms, 4.8 % outdoors (benchmarks/realworld/RESULTS.md)
TEXTURED_POINTS = 0.01
# The masks are found on a copy whose long side is at most this many pixels, then scaled up.
# Why: smoothness (GRAD_TOL) is measured per pixel, and at a finer size the same shading or
# blur spreads over more pixels and passes for smooth backdrop. At the GPU preset's 479 × 359
# the fill ran into the dark phone cup's shaded bowl and motion-blurred rim: 2.0 % of the
# object's true pixels masked, 49 % in the worst frame, over 5 % in 8 of 100 (training carved
# holes in its wall); at 240 px 0.13 % (one frame over 5 %), DTU scan 65's 1.1 % → 0.5 %, the
# backdrop covered alike (benchmarks/realworld/RESULTS.md, session 32: mask_check.py).
WORK_SIDE = 240


def _border(h: int, w: int) -> np.ndarray:
    b = max(2, round(BORDER * min(h, w)))
    m = np.zeros((h, w), bool)
    m[:b], m[-b:], m[:, :b], m[:, -b:] = True, True, True, True
    return m


def background_point_share(
    points: np.ndarray, center: np.ndarray, radius: float, support: Plane | None
) -> float:
    """Share of the SfM points that lie on the background: farther than ``BEYOND`` radii from
    the sphere's centre and, where there is a support plane, off it by more than
    ``OFF_SUPPORT`` × that distance (a table reaching out of the sphere is not background)."""
    if not len(points):
        return 0.0
    dist = np.linalg.norm(points - np.asarray(center), axis=1)
    far = dist > BEYOND * radius
    if support is not None:
        far &= np.abs(support.height(points)) > OFF_SUPPORT * dist
    return float(far.mean())


def backdrop_mask(image: np.ndarray, solid: np.ndarray | None = None) -> np.ndarray | None:
    """Backdrop pixels of one uint8 (H, W, 3) image, or None if its border is not plain.

    ``solid``: (H, W) bool, pixels whose ray meets the support plane before it leaves the
    bounding sphere (never masked: Dataset.support_hits). The backdrop colour is the median of
    the border's smooth pixels, so a textured table along the bottom edge does not hide a plain
    backdrop along the others. Found on a copy reduced to ``WORK_SIDE`` (see there), then kept
    off the full-size pixels of another colour."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = WORK_SIDE / max(h, w)
    if scale >= 1:
        found = _backdrop_mask(image, solid)
        return None if found is None else found[0]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    box = Image.Resampling.BOX
    small = np.asarray(Image.fromarray(image).resize(size, box))
    # a reduced pixel is solid where any of its pixels is: the mask scaled up keeps off them
    found = _backdrop_mask(small, None if solid is None else _resized(solid, size, box) > 0)
    if found is None:
        return None
    mask, color = _resized(found[0], (w, h), Image.Resampling.NEAREST) > 127, found[1]
    # ... and off the pixels of another colour: a wire thinner than a reduced pixel, averaged
    # with the backdrop there, keeps its own colour here (the tolerance from this size's border)
    dist = np.abs(image.astype(np.int16) - color).max(axis=-1)
    return mask & (dist <= _tolerance(dist[_border(h, w) & (dist <= COLOR_TOL)]))


def _resized(mask: np.ndarray, size: tuple[int, int], resample: int) -> np.ndarray:
    """A bool mask resized to ``size`` (W, H) with a PIL filter, as uint8 0–255."""
    from PIL import Image

    return np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, resample))


def _tolerance(own: np.ndarray) -> float:
    """The colour tolerance of a backdrop whose border pixels lie ``own`` levels from its colour."""
    if not len(own):
        return float(TOL_MIN)
    return float(np.clip(np.percentile(own, 99) + TOL_MARGIN, TOL_MIN, COLOR_TOL))


def _backdrop_mask(
    image: np.ndarray, solid: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray] | None:
    """backdrop_mask at the image's own size, and the backdrop's colour."""
    from scipy import ndimage

    h, w = image.shape[:2]
    border = _border(h, w)
    img = image.astype(np.int16)
    grey = ndimage.uniform_filter(img.mean(axis=-1, dtype=np.float32), 3)
    smooth = np.hypot(ndimage.sobel(grey, 0), ndimage.sobel(grey, 1)) / 8.0 <= GRAD_TOL
    if (smooth & border).sum() < PLAIN_BORDER * border.sum():
        return None
    color = np.median(img[smooth & border], axis=0)
    dist = np.abs(img - color).max(axis=-1)
    own = dist[smooth & border & (dist <= COLOR_TOL)]
    if len(own) < PLAIN_BORDER * border.sum():  # the median colour is no backdrop's (a pattern)
        return None
    candidate = smooth & (dist <= _tolerance(own))
    if solid is not None:
        candidate &= ~solid
    labels, n = ndimage.label(candidate)
    on_border = np.bincount(labels[border & candidate], minlength=n + 1)
    on_border[0] = 0
    # one backdrop, not a pattern: the largest piece alone must hold the share (a checkered
    # floor's tiles of the border colour hold 50–70 % of the border together, 8 % each)
    if on_border.max() < PLAIN_BORDER * border.sum():
        return None
    mask = np.isin(labels, np.nonzero(on_border)[0])
    return (mask, color) if mask.mean() < MAX_SHARE else None


def hue_spread(pixels: np.ndarray) -> float:
    """90th percentile of (K, 3) uint8 pixels' distance from their median in opponent colour
    (R − G, (R + G)/2 − B) per unit of brightness (scaled to a mid-grey of 128), with pixels
    darker than DARK counted as hueless: ~0 for one hue lit unevenly, a saturated sweep's as a
    grey one's, and for black cloth whose hue is sensor and JPEG noise."""
    if not len(pixels):
        return 0.0
    px = pixels.astype(np.float32)
    opp = np.stack([px[:, 0] - px[:, 1], (px[:, 0] + px[:, 1]) / 2 - px[:, 2]], axis=1)
    luma = px.mean(axis=1, keepdims=True)
    opp = np.where(luma >= DARK, opp * 128.0 / np.maximum(luma, 1.0), 0.0)
    return float(np.percentile(np.linalg.norm(opp - np.median(opp, axis=0), axis=1), 90))


def backdrop_masks(images: np.ndarray, solid: np.ndarray | None = None) -> np.ndarray | None:
    """(N, H, W) bool backdrop masks, or None when the capture has no plain backdrop.

    ``solid``: (N, H, W) bool or None, as in :func:`backdrop_mask`."""
    masks = [backdrop_mask(im, None if solid is None else solid[i]) for i, im in enumerate(images)]
    found = [i for i, m in enumerate(masks) if m is not None]
    if len(found) < PLAIN_IMAGES * len(masks):
        return None
    # a mask of many hues is no backdrop: in one image the fill ran into a table or an object
    # of the backdrop's brightness (dropped, that image gets none); in most, the capture's
    # background is a smooth wall of colours, not a backdrop at all
    many_hues = {i for i in found if hue_spread(images[i][masks[i]]) > MAX_HUE_SPREAD}
    if len(many_hues) > len(found) / 2:
        return None
    empty = np.zeros(images.shape[1:3], bool)
    return np.stack([empty if m is None or i in many_hues else m for i, m in enumerate(masks)])
