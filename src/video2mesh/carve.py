"""The shape of a plain object that SfM found (almost) no points on, carved from the photos.

A plain glossy case on a sheet of markers gives SfM thousands of points on the sheet and none on
itself: the sphere fit then has nothing to hold but the sheet. The cameras still look at the
object, and it is one colour: the colour under the point they look at, the same in most photos.
In each photo the pixels of that colour connected to that point are the object's silhouette
(its highlights filled in); the voxels above the support that fall inside the silhouettes of
most photos that see them (``INSIDE``) are its visual hull, which stands in for its SfM points.
A hull from an orbit overshoots the object (a 1 × 1 brick's footprint came out 1.6 wide), so
the sphere is looser than SfM's points would make it.

Only where the support was found (the hull stands on it) and the photos agree on one colour
under the look-at point; otherwise nothing is carved and the fit goes on as before.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from video2mesh.photo_colours import Photo, Pinhole, pixels, same_colour
from video2mesh.support import Plane, facing_frame

SEED_HEIGHT = 0.01  # of the camera distance above the support: where the colour is sampled
SEED_AGREE = 0.6  # share of the photos whose colour there is the object's
MAX_SIDE = 320  # photos are carved at this long side
REACH = 0.4  # of the camera distance: half the side of the carved square round the seed
TALL = 0.6  # of the camera distance: the carved height
GRID = (48, 48, 24)
# share of the photos that see a voxel whose silhouette must hold it: the silhouettes' edges
# miss a dark rim or a highlight, and the poses are not exact (a red case: 0.8 kept its middle)
INSIDE = 0.6
MIN_VOXELS = 20
# the table round the seed, sampled at this share of REACH: where over RING_SAME of it is of the
# seed's colour, the seed lies on the table (a plain cloth), not on an object
RING = 0.75
RING_SAME = 0.3


def _patch_colour(img: np.ndarray, u: float, v: float, half: int = 2) -> np.ndarray | None:
    h, w = img.shape[:2]
    ui, vi = round(u), round(v)
    if not (half <= ui < w - half and half <= vi < h - half):
        return None
    patch = img[vi - half : vi + half + 1, ui - half : ui + half + 1].reshape(-1, 3)
    return np.median(patch.astype(float), axis=0)


def _silhouette(img: np.ndarray, colour: np.ndarray, seed: tuple[int, int]) -> np.ndarray | None:
    """The pixels of ``colour`` connected to ``seed`` (u, v), holes filled, grown by a pixel;
    None if the seed's pixel is not of that colour."""
    mask = same_colour(img.astype(float), colour)
    labels, _ = ndimage.label(mask)
    label = labels[seed[1], seed[0]]
    if label == 0:
        return None
    return ndimage.binary_dilation(ndimage.binary_fill_holes(labels == label))


def carve_plain_object(
    support: Plane,
    c2w: np.ndarray,
    k: Pinhole,
    photo: Photo,
    look: np.ndarray,
    scale: float,
) -> np.ndarray | None:
    """Points filling the visual hull of the one-coloured object standing on ``support``
    under the point the cameras look at (``scale``: their median distance to it), or None."""
    foot = support.project(look)
    # rows: two horizontal axes (the first towards the first camera, so that the grid does not
    # follow the axes SfM happened to give its world), then up
    basis = facing_frame(support.normal, c2w[0, :3, 3] - foot)
    seed = foot + SEED_HEIGHT * scale * support.normal
    a = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    ring = foot + RING * REACH * scale * (np.c_[np.cos(a), np.sin(a)] @ basis[:2])
    views, ring_colours = [], []
    for i, m in enumerate(c2w):
        img = photo(i)
        step = max(1, int(np.ceil(max(img.shape[:2]) / MAX_SIDE)))
        small = img[::step, ::step]
        w2c = np.linalg.inv(m)
        u, v, ok = pixels(seed[None], w2c, k, small.shape, step)
        colour = _patch_colour(small, u[0], v[0]) if ok[0] else None
        if colour is None:
            continue
        views.append((w2c, step, small, (round(u[0]), round(v[0])), colour))
        u, v, ok = pixels(ring, w2c, k, small.shape, step)
        ring_colours += [small[round(y), round(x)] for x, y in zip(u[ok], v[ok], strict=True)]
    if len(views) < 3:
        return None
    colour = np.median([v[4] for v in views], axis=0)
    agree = same_colour(np.array([v[4] for v in views]), colour)
    if agree.mean() < SEED_AGREE:
        return None
    if ring_colours and same_colour(np.array(ring_colours, float), colour).mean() > RING_SAME:
        return None  # the table round it is of that colour too: the seed is on the table
    axes = [np.linspace(-REACH, REACH, GRID[0]), np.linspace(-REACH, REACH, GRID[1])]
    axes.append(np.linspace(0.5 * TALL / GRID[2], TALL, GRID[2]))
    local = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3) * scale
    voxels = foot + local @ basis
    inside = np.zeros(len(voxels))
    seen = np.zeros(len(voxels))
    for (w2c, step, small, pix, _), ok in zip(views, agree, strict=True):
        if not ok:
            continue
        sil = _silhouette(small, colour, pix)
        if sil is None:
            continue
        u, v, ok_pix = pixels(voxels, w2c, k, sil.shape, step)
        ui, vi = (
            np.where(ok_pix, u, 0).round().astype(int),
            np.where(ok_pix, v, 0).round().astype(int),
        )
        seen += ok_pix
        inside += ok_pix & sil[vi, ui]
    used = int(agree.sum())
    kept = (seen >= max(3, used // 2)) & (inside >= INSIDE * np.maximum(seen, 1))
    # the piece standing round the seed's column (stray voxels few photos constrain go)
    labels, _ = ndimage.label(kept.reshape(GRID))
    column = labels[GRID[0] // 2 - 1 : GRID[0] // 2 + 1, GRID[1] // 2 - 1 : GRID[1] // 2 + 1, :2]
    ids = np.bincount(column[column > 0])
    if not len(ids):
        return None
    piece = labels == ids.argmax()
    if piece.sum() < MIN_VOXELS or piece[[0, -1]].any() or piece[:, [0, -1]].any():
        return None  # nothing, or the colour runs on beyond the carved square (a red table)
    return voxels[piece.ravel()]
