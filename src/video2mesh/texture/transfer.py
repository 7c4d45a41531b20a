"""Texture transfer: a textured mesh re-decimated and re-baked from its own texture.

For the report's viewer, which shows every mesh with a bounded number of faces: the decimated
mesh gets a fresh atlas, and each of its texels takes the colour of the nearest texel (in 3-D)
of the source atlas. Both surfaces are within the decimation error of each other, far below a
texel of a display-sized texture.
"""

from __future__ import annotations

import numpy as np


def _fit_image(image: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    if max(image.shape[:2]) <= size:
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.LANCZOS))


def display_atlas(
    vertices: np.ndarray,
    faces: np.ndarray,
    uv: np.ndarray,
    image: np.ndarray,
    max_faces: int,
    size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(vertices, faces, uv, image ≤ size²) with at most about ``max_faces`` faces."""
    import torch
    from scipy.spatial import cKDTree

    from video2mesh.texture.bake import atlas_texels, texture_image
    from video2mesh.texture.cli import unit_normals
    from video2mesh.texture.decimate import decimate
    from video2mesh.texture.unwrap import unwrap

    if len(faces) <= max_faces:
        return vertices, faces, uv, _fit_image(image, size)
    cpu = torch.device("cpu")
    src = atlas_texels(vertices, faces, uv, unit_normals(vertices, faces), image.shape[0], cpu)
    src_rgb = image.reshape(-1, 3)[src.index.numpy()]
    # weld the copies a UV atlas makes along its seams first: decimated apart, they would crack
    welded, inverse = np.unique(vertices, axis=0, return_inverse=True)
    v, f = decimate(welded, inverse.reshape(-1)[faces], max_faces)
    atlas = unwrap(v, f, size)
    normals = unit_normals(v, f)[atlas.source_vertex]
    dst = atlas_texels(atlas.vertices, atlas.faces, atlas.uv, normals, size, cpu)
    nearest = cKDTree(src.position.numpy()).query(dst.position.numpy())[1]
    rgb = torch.as_tensor(src_rgb[nearest], dtype=torch.float32) / 255.0
    known = torch.ones(len(rgb), dtype=torch.bool)
    return atlas.vertices, atlas.faces, atlas.uv, texture_image(dst, rgb, known, None)
