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

Connectivity alone misses a hollow the SDF left open by a crack: on the validation set a house
filmed close up (CPU preset) came out hollow under its roof, the hollow joined to the outside
by a gap where a wall meets the table, and its inner walls were 12-17 % of the mesh's area
(Chamfer 1.8-2.0 % of the diagonal instead of 0.45 %; benchmarks/realworld/RESULTS.md, session
20). With the cameras at hand (`hollows`), empty space that cameras look toward but whose every
ray the surface stops first is hidden; a connected hidden region is a pocket too when it
borders space that some ray reaches (or outside the sphere) on less than ``OPEN_SHARE`` of its
boundary. That hollow borders reached space on 0.0-2.5 % of its boundary; the hidden space
under a cup's bowl, between its legs (an unseen but open surface, which stays), on 45-49 %.
Session 25 found wider cracks: hollows under the close house's roof and inside the vase filmed
half round, 12.6 and 11.7 % open, 26 and 25 % of their meshes' area unseen and far (CPU preset,
training seed 5; Chamfer 1.83 and 1.56 % of the diagonal with them, 0.53 and 0.61 % without):
hence 0.25, between those and the cup's legs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

CELLS = 128  # lattice cells across [-1, 1]: pockets smaller than ~1/64 of the sphere stay
EXTERIOR, SOLID, POCKET = 0, 1, 2
OPEN_SHARE = 0.25  # of a hidden region's boundary, bordering reached space, under which it is shut


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


def hollows(labels: np.ndarray, hidden: np.ndarray, below: np.ndarray | None = None) -> np.ndarray:
    """``labels`` with the shut hidden regions of empty space turned into pockets.

    ``hidden``: per lattice point, whether the cameras look toward it and the surface hides it
    from all of them (`visibility.hidden_points`); ``below``: points under the support plane,
    which no camera sees and which count as a wall (without them the space under a table would
    join every hollow standing on it)."""
    from scipy import ndimage

    below = np.zeros(labels.shape, bool) if below is None else below
    shut = (labels == EXTERIOR) & hidden & ~below
    parts, count = ndimage.label(shut)  # 6-connected
    if count == 0:
        return labels
    open_space = (labels == EXTERIOR) & ~shut & ~below
    opening = np.zeros(count + 1)
    border = np.zeros(count + 1)
    n = labels.shape[0]
    for axis in range(3):
        for a, b in ((slice(0, n - 1), slice(1, n)), (slice(1, n), slice(0, n - 1))):
            here = [slice(None)] * 3
            there = [slice(None)] * 3
            here[axis], there[axis] = a, b
            part, beyond = parts[tuple(here)], parts[tuple(there)]
            edge = (part > 0) & (beyond != part)  # a face of a region's boundary
            border += np.bincount(part[edge], minlength=count + 1)
            opening += np.bincount(part[edge & open_space[tuple(there)]], minlength=count + 1)
    closed = opening < OPEN_SHARE * np.maximum(border, 1)
    closed[0] = False
    out = labels.copy()
    out[closed[parts]] = POCKET
    return out


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


def hidden_space(
    sdf: np.ndarray, meta: dict[str, Any], device: Any = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """For `hollows`: per point of an SDF lattice over [-1, 1]³ (in the sphere of transforms.json
    ``meta``), whether it is empty space hidden from every camera that looks toward it, by the
    lattice's own surface; and which points lie under the support plane (None without one)."""
    import trimesh

    from video2mesh.recon.extract import marching_cubes
    from video2mesh.support import Plane
    from video2mesh.visibility import hidden_points, read_cameras

    views = read_cameras(meta)
    n = sdf.shape[0]
    axis = np.linspace(-1.0, 1.0, n)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    world = grid * views.radius + views.center
    hidden = np.zeros(len(grid), bool)
    empty = (sdf.reshape(-1) > 0) & ((grid**2).sum(1) <= 1.0)
    v, f = marching_cubes(sdf)
    if len(f):
        v = v * (2.0 / (n - 1)) - 1.0
        f = f[np.linalg.norm(v[f].mean(1), axis=1) <= 1.0]  # untrained outside: not a surface
        surface = trimesh.Trimesh(v * views.radius + views.center, f, process=False)
        hidden[empty] = hidden_points(surface, world[empty], views, device)
    plane = meta.get("support_plane")
    below = Plane.from_json(plane).height(world) < 0 if plane else None
    return hidden.reshape(sdf.shape), None if below is None else below.reshape(sdf.shape)
