"""Quadric edge-collapse decimation to a face budget (fast-simplification, a PyPI wrapper of
Sven Forstmann's Fast-Quadric-Mesh-Simplification)."""

from __future__ import annotations

import numpy as np


def decimate(
    vertices: np.ndarray, faces: np.ndarray, target_faces: int
) -> tuple[np.ndarray, np.ndarray]:
    """The mesh with about ``target_faces`` faces (unchanged when it already has at most that)."""
    import fast_simplification

    if target_faces <= 0 or len(faces) <= target_faces:
        return vertices, faces
    reduction = 1.0 - target_faces / len(faces)
    v, f = fast_simplification.simplify(
        np.ascontiguousarray(vertices, dtype=np.float32),
        np.ascontiguousarray(faces, dtype=np.int32),
        target_reduction=reduction,
    )
    return np.asarray(v, dtype=np.float64), np.asarray(f, dtype=np.int64)
