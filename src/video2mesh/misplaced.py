"""Frames that SfM put in the wrong place, told by the silhouettes of cut-out photos.

A symmetric part can lead SfM to register a group of frames half an orbit away: NeRF's Lego
plate, whose studs look alike from opposite sides, took 6 of its 100 renders there, turned 180°
about the up axis, consistent among themselves and with fine reprojection errors; no check of
their matches against the model's geometry told them (benchmarks/realworld/RESULTS.md, session
41). Where the photos carry their alpha (frames' ``alpha/``), their silhouettes do. The voxels
round the sphere (REACH) that fall inside the silhouettes of most of the views that see them
(AGREE: the visual hull of the majority, which a few wrong views cannot carve) project onto
nearly all of each right frame's silhouette, and onto much less of a misplaced frame's, which
shows the object where the hull is not (the Lego: 97–100 % for the 94 right ones, 69–81 % for
the 6). Those frames are left out of training and texturing (``transforms.json``'s frames),
with a warning that names them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from video2mesh.sphere import Cameras

GRID = 64  # voxels across the diameter of the carved ball
# the ball carved: the sphere grown by this factor (cameras kept outside), so that an object
# the sphere cuts (its ends beyond the fit) still has its hull where the photos see it: with
# the sphere itself, 2 right frames of a generated orbit whose sphere cut the object's post
# fell to 0.86 and were left out
REACH = 1.5
# share of the views that see a voxel whose silhouettes must hold it: 0.9 let 3 wrong frames
# of 24 (a generated orbit) carve the hull, and every frame lost a quarter of its silhouette;
# at 0.8 the right frames' lowest share rose (the Lego 0.963 → 0.979, the Duplo brick's
# segmented masks 0.896 → 0.951) while the misplaced ones' stayed at 0.67–0.82
AGREE = 0.8
MIN_VIEWS = 5  # a voxel fewer views see is no part of the hull
CELL_VOXELS = 1.5  # the masks are reduced so that a voxel spans about this many cells
# a frame is misplaced when the hull covers less of its silhouette than RECALL_MIN and the
# frames' median less RECALL_GAP (right frames: 0.96 or more on the Lego, DTU 65, the temple,
# the dino, the Duplo brick and the generated orbit; misplaced ones 0.82 at most)
RECALL_MIN = 0.9
RECALL_GAP = 0.1
# ... and only while they are a few: where more disagree, the sphere or the masks are off, not
# the poses, and nothing is left out
MAX_SHARE = 0.25


@dataclass
class PoseCheck:
    recall: dict[str, float]  # per frame, the share of its silhouette the hull covers
    misplaced: list[str]  # frames to leave out
    note: str | None = None  # why none were left out where some disagreed


def _project(points: np.ndarray, w2c: np.ndarray, cams: Cameras) -> tuple[np.ndarray, ...]:
    p = points @ w2c[:3, :3].T + w2c[:3, 3]
    z = np.maximum(p[:, 2], 1e-9)
    return cams.fx * p[:, 0] / z + cams.cx, cams.fy * p[:, 1] / z + cams.cy, p[:, 2] > 0


def _sees_sphere(
    c2w: np.ndarray, cams: Cameras, shape: tuple[int, int], cell: int, center, radius: float
) -> np.ndarray:
    """(h, w) of the reduced grid: the cells whose centre's ray meets the sphere."""
    v, u = (np.mgrid[0 : shape[0], 0 : shape[1]] + 0.5) * cell
    d = np.stack([(u - cams.cx) / cams.fx, (v - cams.cy) / cams.fy, np.ones_like(u)], -1)
    d = d @ c2w[:3, :3].T
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    to_center = np.asarray(center) - c2w[:3, 3]
    along = d @ to_center
    return (to_center @ to_center - along**2 <= radius**2) & (along > 0)


def _reduce(mask: np.ndarray, cell: int) -> np.ndarray:
    """A silhouette at 1/cell of its size: cells at least half covered."""
    h, w = mask.shape[0] // cell, mask.shape[1] // cell
    img = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(img.resize((max(w, 1), max(h, 1)), Image.Resampling.BOX)) >= 128


def check_poses(
    cams: Cameras, names: list[str], masks: list[np.ndarray], center: np.ndarray, radius: float
) -> PoseCheck:
    """The frames whose silhouette (``masks``: bool, at the cameras' size, in ``names``
    order) the majority's visual hull inside the sphere leaves uncovered (module doc)."""
    g = (np.arange(GRID) + 0.5) / GRID * 2 - 1
    unit = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    nearest = float(np.linalg.norm(cams.centers - center, axis=1).min())
    ball = min(radius * REACH, 0.9 * nearest)  # the cameras stay outside it
    voxels = unit[np.linalg.norm(unit, axis=1) <= 1] * ball + np.asarray(center)
    w2c = np.linalg.inv(cams.c2w)
    seen = np.zeros(len(voxels), int)
    inside = np.zeros(len(voxels), int)
    for m, mask in zip(w2c, masks, strict=True):
        u, v, front = _project(voxels, m, cams)
        ok = front & (u >= 0) & (v >= 0) & (u < mask.shape[1]) & (v < mask.shape[0])
        seen += ok
        inside[ok] += mask[v[ok].astype(int), u[ok].astype(int)]
    hull = voxels[(seen >= MIN_VIEWS) & (inside >= AGREE * seen)]
    distance = float(np.median(np.linalg.norm(cams.centers - center, axis=1)))
    voxel_px = max(cams.fx, cams.fy) * (2 * ball / GRID) / max(distance - radius / 2, 1e-9)
    cell = max(1, int(voxel_px / CELL_VOXELS))
    recall: dict[str, float] = {}
    for name, m, c2w, mask in zip(names, w2c, cams.c2w, masks, strict=True):
        # the silhouette where it could hold hull: a sphere that cuts the object's ends off
        # leaves them uncovered in the views that see them, and the poses are not to blame
        small = _reduce(mask, cell)
        # (two voxels in from its rim, where a ray's chord holds too few voxel centres)
        small &= _sees_sphere(c2w, cams, small.shape, cell, center, ball * (1 - 4 / GRID))
        h, w = small.shape
        u, v, front = _project(hull, m, cams)
        u, v = u / cell, v / cell
        ok = front & (u >= 0) & (v >= 0) & (u < w) & (v < h)
        covered = np.zeros((h, w), bool)
        covered[v[ok].astype(int), u[ok].astype(int)] = True
        covered |= ndimage.binary_closing(covered, iterations=2)
        recall[name] = float((small & covered).sum() / max(small.sum(), 1))
    median = float(np.median(list(recall.values()))) if recall else 1.0
    low = [n for n, r in recall.items() if r < min(RECALL_MIN, median - RECALL_GAP)]
    if len(low) > MAX_SHARE * len(names):
        note = (
            f"the cut-out silhouettes of {len(low)} of {len(names)} frames disagree with the "
            "others' (the sphere may cut the object, or the masks are not the object's): "
            "none is left out"
        )
        return PoseCheck(recall, [], note)
    return PoseCheck(recall, low)
