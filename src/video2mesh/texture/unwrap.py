"""UV atlas with xatlas (PyPI), piece by piece, packed into one square image.

xatlas (0.0.10 and 0.0.11 alike) crashes with a segmentation fault on closed meshes of some 80k
faces and more (an icosphere of 82k faces does; 20k-face pieces never did here; the same crash
is reported by several projects on its tracker), and its chart search grows faster than linearly.
So the mesh is cut by recursive halving along the longest side of its face centroids' box into
pieces of at most ``PIECE_FACES`` faces, each piece is unwrapped at one shared texel density, and
the pieces' rectangles are shelf-packed into the square. The cuts add seams, which the baker
handles like any other chart border (dilated gutters).

xatlas holds the GIL, so the pieces are unwrapped in worker processes (spawned: a forked child of
a process whose torch has started its threads can hang): 14.1 → 11.1 s on 2 cores for make
run's 100k-face mesh (8 pieces), the same atlas (benchmarks/texture/RESULTS.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

PIECE_FACES = 15_000
FILL = 0.55  # share of the square that the pieces' rectangles are sized to fill at first


@dataclass
class Atlas:
    vertices: np.ndarray  # (V', 3) float64: the input vertices, split along chart seams
    faces: np.ndarray  # (F, 3) int64 into vertices (the input faces, in a new order)
    uv: np.ndarray  # (V', 2) float64 in [0, 1], OBJ convention (v up: v = 1 is image row 0)
    source_vertex: np.ndarray  # (V',) int64: the input vertex each atlas vertex copies


def split_faces(vertices: np.ndarray, faces: np.ndarray, limit: int) -> list[np.ndarray]:
    """Face index sets of at most ``limit`` faces: halve along the longest axis at the median."""
    centroids = vertices[faces].mean(axis=1)
    todo, out = [np.arange(len(faces))], []
    while todo:
        ids = todo.pop()
        if len(ids) <= limit:
            out.append(ids)
            continue
        c = centroids[ids]
        axis = int(np.argmax(c.max(axis=0) - c.min(axis=0)))
        order = ids[np.argsort(c[:, axis], kind="stable")]
        half = len(order) // 2
        todo += [order[:half], order[half:]]
    return out


def _unwrap_piece(
    vertices: np.ndarray, faces: np.ndarray, texels_per_unit: float, padding: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[int, int]]:
    """xatlas on one piece: (vmapping, indices, uv in texels, (width, height))."""
    import xatlas

    atlas = xatlas.Atlas()
    atlas.add_mesh(
        np.ascontiguousarray(vertices, dtype=np.float32),
        np.ascontiguousarray(faces, dtype=np.uint32),
    )
    pack = xatlas.PackOptions()
    pack.texels_per_unit = float(texels_per_unit)
    pack.padding = int(padding)
    pack.bilinear = True
    pack.blockAlign = True  # faster packing, a little more space
    atlas.generate(xatlas.ChartOptions(), pack)
    vmapping, indices, uvs = atlas[0]
    size = (int(atlas.width), int(atlas.height))
    uv_texels = np.asarray(uvs, dtype=np.float64) * np.asarray(size, dtype=np.float64)
    return np.asarray(vmapping, np.int64), np.asarray(indices, np.int64), uv_texels, size


def shelf_pack(
    sizes: list[tuple[int, int]], side: float, gap: float
) -> list[tuple[float, float]] | None:
    """Lower-left corners of rectangles on shelves (tallest first), or None if they overflow."""
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i][1])
    corners: list[tuple[float, float]] = [(0.0, 0.0)] * len(sizes)
    x = y = shelf = 0.0
    for i in order:
        w, h = sizes[i]
        if x + w > side:
            x, y, shelf = 0.0, y + shelf + gap, 0.0
        if w > side or y + h > side:
            return None
        corners[i] = (x, y)
        x += w + gap
        shelf = max(shelf, h)
    return corners


def _unwrap_pieces(jobs: list[tuple], workers: int) -> list[tuple]:
    """``_unwrap_piece`` on every job, in up to ``workers`` spawned processes when it pays."""
    workers = min(workers, len(jobs))
    if workers < 2:
        return [_unwrap_piece(*job) for job in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(_unwrap_piece, *zip(*jobs, strict=True)))


def unwrap(
    vertices: np.ndarray, faces: np.ndarray, size: int, padding: int = 4, workers: int = 0
) -> Atlas:
    """Charts packed for a ``size``² texture with about ``padding`` texels between them.

    The padding leaves room for the seam dilation: bilinear and mip-mapped lookups near a chart
    border read texels outside it, which the baker fills with the border's colours. ``workers``:
    processes for the pieces (0: one per core; 1: none).
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    tri = vertices[faces]
    area = 0.5 * float(
        np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum()
    )
    density = float(np.sqrt(FILL * size * size / max(area, 1e-12)))
    jobs, used_sets = [], []
    for ids in split_faces(vertices, faces, PIECE_FACES):
        used, local = np.unique(faces[ids], return_inverse=True)
        jobs.append((vertices[used], local.reshape(-1, 3), density, padding))
        used_sets.append(used)
    workers = workers or os.cpu_count() or 1
    pieces = [
        (used[vmap], idx, uv, rect)
        for used, (vmap, idx, uv, rect) in zip(
            used_sets, _unwrap_pieces(jobs, workers), strict=True
        )
    ]
    # shrink the rectangles (not the unwrap) until they fit: the padding shrinks alike
    scale = 1.0
    while True:
        rects = [(p[3][0] * scale, p[3][1] * scale) for p in pieces]
        corners = shelf_pack(rects, float(size), gap=padding * scale)
        if corners is not None:
            break
        scale *= 0.95
    out_f, out_uv, out_src = [], [], []
    base = 0
    for (src, idx, uv, _), (x0, y0) in zip(pieces, corners, strict=True):
        out_src.append(src)
        out_f.append(idx + base)
        out_uv.append((uv * scale + (x0, y0)) / size)
        base += len(src)
    src_all = np.concatenate(out_src)
    return Atlas(
        vertices=vertices[src_all],
        faces=np.concatenate(out_f),
        uv=np.concatenate(out_uv),
        source_vertex=src_all,
    )
