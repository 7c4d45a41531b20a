"""UV atlas with xatlas (PyPI): charts cut along sharp creases, packed into one square image."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Atlas:
    vertices: np.ndarray  # (V', 3) float64: the input vertices, split along chart seams
    faces: np.ndarray  # (F, 3) int64 into vertices (same faces, same order as the input)
    uv: np.ndarray  # (V', 2) float64 in [0, 1], OBJ convention (v up: v = 1 is image row 0)
    source_vertex: np.ndarray  # (V',) int64: the input vertex each atlas vertex copies


def unwrap(vertices: np.ndarray, faces: np.ndarray, size: int, padding: int = 4) -> Atlas:
    """Charts packed for a ``size``² texture with ``padding`` texels between them.

    The padding leaves room for the seam dilation: bilinear and mip-mapped lookups near a chart
    border read texels outside it, which the baker fills with the border's colours.
    """
    import xatlas

    atlas = xatlas.Atlas()
    atlas.add_mesh(
        np.ascontiguousarray(vertices, dtype=np.float32),
        np.ascontiguousarray(faces, dtype=np.uint32),
    )
    pack = xatlas.PackOptions()
    pack.resolution = int(size)
    pack.padding = int(padding)
    pack.bilinear = True
    atlas.generate(xatlas.ChartOptions(), pack)
    vmapping, indices, uvs = atlas[0]
    vmapping = np.asarray(vmapping, dtype=np.int64)
    return Atlas(
        vertices=np.asarray(vertices, dtype=np.float64)[vmapping],
        faces=np.asarray(indices, dtype=np.int64),
        uv=np.asarray(uvs, dtype=np.float64),
        source_vertex=vmapping,
    )
