"""A similarity ICP from a mesh to its reference: Tanks and Temples' refinement step.

The reference is brought into the SfM frame by the similarity that best maps the true camera
centres onto SfM's (`scene.align_to_truth`). Where SfM's cameras are off as a whole, that
alignment leaves a scale and a shift between a good mesh and its reference, and the metrics
count the cameras' error as the mesh's. A focal length f a few % short is the common case on
captures whose only texture is the object's own: the photos fix size / distance = pixels / f,
so the object comes out a few % large against its orbit (the held-out vase on white: focal 3.8 %
short, ICP scale 0.967, Chamfer 1.14 → 0.49 %). Tanks and Temples aligns by the cameras and then
refines with ICP (with scale); the refined metrics say how good the shape is, the unrefined ones
how good shape and cameras are together, and stay the headline. The scale also absorbs a mesh
uniformly too fat or too thin, which is a shape error: read both.

Trimmed point-to-point ICP with scale (the closest ``KEEP`` of the pairs each round, so that
floaters and a left-over table do not pull), from the alignment as it is. The refinement is
kept only when it lowers the symmetric mean distance and stays a refinement (scale within
``MAX_SCALE`` and rotation within ``MAX_ROTATION_DEG``): otherwise the identity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KEEP = 0.9  # share of the closest pairs each round
ROUNDS = 30
MAX_SCALE = 1.25  # a larger change is no refinement but a different registration
MAX_ROTATION_DEG = 10.0


@dataclass(frozen=True)
class Refinement:
    matrix: np.ndarray  # 4×4 similarity applied to the mesh (identity when not kept)
    scale: float
    rotation_deg: float
    shift: float  # how far the mesh's centroid moves, world units
    kept: bool


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 4×4 similarity taking ``src`` onto ``dst`` (paired points): trimesh's Procrustes,
    rotation by SVD, no reflection, scale the ratio of the two sets' RMS spreads (symmetric in
    the two sets, unlike `scene.umeyama`'s least-squares scale, which the camera alignment
    uses)."""
    from trimesh.registration import procrustes

    matrix, _, _ = procrustes(src, dst, reflection=False, translation=True, scale=True)
    return matrix


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 3) points moved by a 4×4 similarity."""
    return points @ matrix[:3, :3].T + matrix[:3, 3]


def scale_of(matrix: np.ndarray) -> float:
    return float(np.cbrt(np.linalg.det(matrix[:3, :3])))


def rotation_between(a: np.ndarray, b: np.ndarray) -> float:
    """Degrees between the rotations of two 4×4 similarities."""
    ra, rb = a[:3, :3] / scale_of(a), b[:3, :3] / scale_of(b)
    cos = (np.trace(ra.T @ rb) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def _symmetric(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.spatial import cKDTree

    return float(cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean()) / 2


def refine(mesh_points: np.ndarray, reference_points: np.ndarray) -> Refinement:
    """The similarity that moves ``mesh_points`` onto ``reference_points`` (see the module)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(reference_points)
    total = np.eye(4)
    moved = mesh_points
    for _ in range(ROUNDS):
        dist, nearest = tree.query(moved)
        keep = dist <= np.quantile(dist, KEEP)
        step = similarity(moved[keep], reference_points[nearest[keep]])
        moved = apply(step, moved)
        total = step @ total
        if np.abs(step - np.eye(4)).max() < 1e-7:
            break
    scale, rotation = scale_of(total), rotation_between(total, np.eye(4))
    centroid = mesh_points.mean(axis=0)
    shift = float(np.linalg.norm(apply(total, centroid[None])[0] - centroid))
    kept = (
        1 / MAX_SCALE <= scale <= MAX_SCALE
        and rotation <= MAX_ROTATION_DEG
        and _symmetric(moved, reference_points) < _symmetric(mesh_points, reference_points)
    )
    if not kept:
        return Refinement(np.eye(4), 1.0, 0.0, 0.0, False)
    return Refinement(total, scale, rotation, shift, True)
