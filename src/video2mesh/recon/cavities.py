"""Surfaces the SDF closed inside the object: pockets of empty space that no ray can reach.

No photo sees the inside of an object, so the SDF is free there, and on the validation set it
sometimes left a pocket of positive SDF inside solid walls (a dome or a bubble inside a house,
pockets in a cup's solid base; benchmarks/realworld/RESULTS.md, session 16). Marching cubes
turns each into a surface facing into the pocket, joined to the object or not, that only adds
wrong area. A pocket is told from the space around the object by connectivity: on a coarse
lattice of the SDF's sign over [-1, 1]³, the empty space (SDF > 0) connected to outside the
unit sphere is the exterior; empty space not connected to it is a pocket. A face lies on a
pocket when a corner of the lattice cell around its centre is in a pocket and none is
exterior (a wall thinner than a cell between the two keeps its faces).
"""

from __future__ import annotations

import numpy as np

CELLS = 128  # lattice cells across [-1, 1]: pockets smaller than ~1/64 of the sphere stay
EXTERIOR, SOLID, POCKET = 0, 1, 2


def label_lattice(sdf: np.ndarray) -> np.ndarray:
    """Labels of an (n, n, n) SDF lattice over [-1, 1]³ (`extract.sdf_lattice`): EXTERIOR,
    SOLID (SDF ≤ 0) or POCKET; outside the unit sphere is exterior whatever the SDF says there
    (it is not trained)."""
    from scipy import ndimage

    n = sdf.shape[0]
    axis = np.linspace(-1.0, 1.0, n)
    r2 = axis[:, None, None] ** 2 + axis[None, :, None] ** 2 + axis[None, None, :] ** 2
    outside = r2 > 1.0
    empty = (sdf > 0) | outside
    parts, _ = ndimage.label(empty)  # 6-connected empty space
    exterior = np.isin(parts, np.unique(parts[outside]))
    labels = np.full((n, n, n), SOLID, np.uint8)
    labels[exterior] = EXTERIOR
    labels[empty & ~exterior] = POCKET
    return labels


def pocket_faces(vertices: np.ndarray, faces: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per face (vertices in the normalised frame), whether it lies on a pocket's surface."""
    cells = labels.shape[0] - 1
    centre = vertices[faces].mean(1)
    lo = np.clip(np.floor((centre + 1.0) * (cells / 2.0)).astype(np.int64), 0, cells - 1)
    pocket = np.zeros(len(faces), bool)
    exterior = np.zeros(len(faces), bool)
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                lab = labels[lo[:, 0] + dx, lo[:, 1] + dy, lo[:, 2] + dz]
                pocket |= lab == POCKET
                exterior |= lab == EXTERIOR
    return pocket & ~exterior
