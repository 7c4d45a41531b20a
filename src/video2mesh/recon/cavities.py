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
import torch

CELLS = 128  # lattice cells across [-1, 1]: pockets smaller than ~1/64 of the sphere stay
EXTERIOR, SOLID, POCKET = 0, 1, 2


@torch.no_grad()
def label_lattice(sdf_fn, device: torch.device, cells: int = CELLS, chunk: int = 1 << 18):
    """(cells + 1)³ labels: EXTERIOR, SOLID (SDF ≤ 0) or POCKET; outside the unit sphere is
    exterior whatever the SDF says there (it is not trained)."""
    from scipy import ndimage

    n = cells + 1
    axis = torch.linspace(-1.0, 1.0, n, device=device)
    empty = np.zeros((n, n, n), bool)
    outside = np.zeros((n, n, n), bool)
    for i in range(n):  # one plane at a time
        g = torch.stack(torch.meshgrid(axis[i : i + 1], axis, axis, indexing="ij"), -1)
        g = g.reshape(-1, 3)
        vals = torch.cat([sdf_fn(g[j : j + chunk]).reshape(-1) for j in range(0, len(g), chunk)])
        far = g.norm(dim=-1) > 1.0
        empty[i] = ((vals > 0) | far).view(n, n).cpu().numpy()
        outside[i] = far.view(n, n).cpu().numpy()
    parts, _ = ndimage.label(empty)  # 6-connected empty space
    exterior = np.isin(parts, np.unique(parts[outside & empty]))
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
