"""Shaded thumbnails of meshes from fixed, scene-derived viewpoints (CPU, headless, numpy only).

Every mesh of a scene is drawn from the same cameras so that thumbnails compare pixel for pixel:
orthographic views around the scene's "up" axis, framed on the reference mesh's bounds when the
scene has one, else on the bounding sphere of transforms.json. "Up" is the support plane's normal
where the scene stage found one, else the cameras' up (`support.scene_up`: people film upright;
a ring of rolled photos: the orbit's normal), else +z. Geometry outside the sphere is dropped
(as in `video2mesh evaluate`) so that background surfaces do not hide the object.

The rasteriser is a vectorised z-buffer: every triangle is expanded into the pixel centres of its
bounding box, barycentric tests keep those inside, ``np.minimum.at`` resolves depth; vertex
normals are interpolated and lit by a headlight plus a key light, two-sided (an extracted surface
may be wound either way). A 200k-face mesh takes about a second per view.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from video2mesh.atomic import atomic_path
from video2mesh.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    import trimesh
    from PIL import Image

BACKGROUND = (255, 255, 255)
BASE_COLOR = (0.72, 0.78, 0.88)
# Azimuths (degrees) at a common elevation; the first one is the grid's view.
DEFAULT_AZIMUTHS = (30.0, 120.0, 210.0, 300.0)
# Cameras on one side of the object (their horizontal directions from it average to at least
# this length; a half orbit: 2/π): the first view looks from their mean direction, at the side
# the photos saw, not at a side no photo saw (a new user's trial: DTU's skull from behind)
ONE_SIDED = 0.5
ELEVATION = 25.0
SUPERSAMPLE = 2
MAX_CANDIDATES = 3_000_000  # pixel candidates per chunk: bounds memory to ~0.5 GB


@dataclass(frozen=True)
class Framing:
    """What every view of a scene looks at: a centre, a half-extent, an up axis; optional crop."""

    center: tuple[float, float, float]
    extent: float
    up: tuple[float, float, float]
    crop_center: tuple[float, float, float] | None = None
    crop_radius: float | None = None
    azimuth_offset: float = 0.0  # degrees added to every view's azimuth (photographed_side)


def _unit(v: np.ndarray) -> np.ndarray:
    import numpy as np

    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def photographed_side(meta: dict, center: np.ndarray, up: np.ndarray) -> float:
    """The azimuth offset (degrees) that turns the first default view towards the cameras of
    transforms.json ``meta`` when they stand on one side of ``center`` (ONE_SIDED), else 0."""
    import numpy as np

    from video2mesh.support import camera_poses

    eyes = camera_poses(meta)[:, :3, 3]
    if not len(eyes):
        return 0.0
    out = eyes - center
    out -= np.outer(out @ up, up)  # horizontal
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    mean = out.mean(axis=0)
    if np.linalg.norm(mean) < ONE_SIDED:
        return 0.0
    e1, e2 = _azimuth_axes(up)
    return math.degrees(math.atan2(mean @ e2, mean @ e1)) - DEFAULT_AZIMUTHS[0]


def _azimuth_axes(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The horizontal axes azimuths 0° and 90° point along, for a unit ``up``."""
    import numpy as np

    helper = np.array([1.0, 0, 0]) if abs(up[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = _unit(np.cross(up, helper))
    return e1, np.cross(up, e1)


def scene_framing(
    transforms: str | Path | None = None, reference: str | Path | None = None
) -> Framing:
    """The scene's framing from its transforms.json and/or reference mesh."""
    import numpy as np

    up = np.array([0.0, 0.0, 1.0])
    sphere_c: tuple[float, float, float] | None = None
    sphere_r: float | None = None
    offset = 0.0
    if transforms:
        from video2mesh.evaluate import read_sphere

        sphere = read_sphere(transforms)
        sphere_c, sphere_r = sphere.center, sphere.radius
        from video2mesh.support import scene_up

        meta = json.loads(Path(transforms).read_text())
        up = scene_up(meta, up)
        offset = photographed_side(meta, np.asarray(sphere_c, float), up)
    if reference:
        from video2mesh.evaluate import load_mesh

        ref = load_mesh(reference)
        if len(ref.faces):
            if sphere_r is not None:
                from video2mesh.evaluate import Sphere, crop_to_sphere

                ref = crop_to_sphere(ref, Sphere(sphere_c, sphere_r))  # type: ignore[arg-type]
            lo, hi = ref.bounds
            center = tuple(float(x) for x in (lo + hi) / 2)
            extent = float(np.linalg.norm(hi - lo) / 2) * 1.02
            return Framing(center, extent, tuple(up), sphere_c, sphere_r, offset)  # type: ignore[arg-type]
    if sphere_r is None:
        raise UserError(
            "no framing for the thumbnails",
            "pass --transforms (the scene's transforms.json) and/or --reference",
        )
    return Framing(sphere_c, sphere_r * 1.02, tuple(up), sphere_c, sphere_r, offset)  # type: ignore[arg-type]


def view_basis(framing: Framing, azimuth: float, elevation: float = ELEVATION) -> np.ndarray:
    """Rows: camera right, camera up, forward (into the scene), for a view around ``up``."""
    import numpy as np

    up = _unit(np.asarray(framing.up, dtype=float))
    e1, e2 = _azimuth_axes(up)
    a, e = math.radians(azimuth + framing.azimuth_offset), math.radians(elevation)
    to_camera = math.cos(e) * (math.cos(a) * e1 + math.sin(a) * e2) + math.sin(e) * up
    forward = -to_camera
    right = _unit(np.cross(forward, up))
    cam_up = np.cross(right, forward)
    return np.stack([right, cam_up, forward])


def rasterize(
    vertices: np.ndarray,
    faces: np.ndarray,
    normals: np.ndarray,
    basis: np.ndarray,
    center: np.ndarray,
    extent: float,
    size: int,
) -> np.ndarray:
    """An RGB uint8 image (size × size) of the mesh, orthographic, z-buffered, shaded."""
    import numpy as np

    cam = (vertices - center) @ basis.T  # x right, y up, z depth (larger = farther)
    px = (cam[:, 0] / extent * 0.5 + 0.5) * size
    py = (0.5 - cam[:, 1] / extent * 0.5) * size
    depth = cam[:, 2]
    zbuf = np.full(size * size, np.inf)
    fid = np.full(size * size, -1, dtype=np.int64)
    bary = np.zeros((size * size, 3))

    x, y = px[faces], py[faces]  # (F, 3)
    x0 = np.clip(np.ceil(x.min(axis=1) - 0.5), 0, size).astype(np.int64)
    x1 = np.clip(np.floor(x.max(axis=1) - 0.5), -1, size - 1).astype(np.int64)
    y0 = np.clip(np.ceil(y.min(axis=1) - 0.5), 0, size).astype(np.int64)
    y1 = np.clip(np.floor(y.max(axis=1) - 0.5), -1, size - 1).astype(np.int64)
    w, h = x1 - x0 + 1, y1 - y0 + 1
    den = (y[:, 1] - y[:, 2]) * (x[:, 0] - x[:, 2]) + (x[:, 2] - x[:, 1]) * (y[:, 0] - y[:, 2])
    live = np.nonzero((w > 0) & (h > 0) & (np.abs(den) > 1e-12))[0]
    counts = (w * h)[live]
    # Split the live faces into chunks of at most MAX_CANDIDATES pixel candidates.
    bounds = np.searchsorted(np.cumsum(counts), np.arange(1, 1 + counts.sum() // MAX_CANDIDATES))
    for chunk in np.split(np.arange(len(live)), np.unique(bounds)):
        if len(chunk) == 0:
            continue
        f = live[chunk]
        n = counts[chunk]
        face = np.repeat(f, n)
        offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        cx = x0[face] + offset % w[face]
        cy = y0[face] + offset // w[face]
        sx, sy = cx + 0.5, cy + 0.5
        fx, fy, d = x[face], y[face], den[face]
        l0 = ((fy[:, 1] - fy[:, 2]) * (sx - fx[:, 2]) + (fx[:, 2] - fx[:, 1]) * (sy - fy[:, 2])) / d
        l1 = ((fy[:, 2] - fy[:, 0]) * (sx - fx[:, 2]) + (fx[:, 0] - fx[:, 2]) * (sy - fy[:, 2])) / d
        l2 = 1 - l0 - l1
        inside = (l0 >= -1e-9) & (l1 >= -1e-9) & (l2 >= -1e-9)
        face, l0, l1, l2 = face[inside], l0[inside], l1[inside], l2[inside]
        pix = cy[inside] * size + cx[inside]
        fd = depth[faces[face]]
        z = l0 * fd[:, 0] + l1 * fd[:, 1] + l2 * fd[:, 2]
        np.minimum.at(zbuf, pix, z)
        win = z <= zbuf[pix]
        fid[pix[win]] = face[win]
        bary[pix[win]] = np.stack([l0[win], l1[win], l2[win]], axis=1)

    img = np.empty((size * size, 3))
    img[:] = np.asarray(BACKGROUND) / 255.0
    hit = fid >= 0
    if hit.any():
        b = bary[hit]
        nv = normals[faces[fid[hit]]]  # (P, 3, 3)
        nrm = np.einsum("pk,pkc->pc", b, nv) @ basis.T  # in camera frame
        nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
        nrm[nrm[:, 2] > 0] *= -1  # two-sided: face the camera (camera looks along +z)
        key = _unit(np.array([-0.5, 0.7, -0.6]))
        head = np.array([0.0, 0.0, -1.0])
        light = 0.18 + 0.5 * np.clip(nrm @ key, 0, None) + 0.4 * np.clip(nrm @ head, 0, None)
        img[hit] = np.clip(light[:, None] * np.asarray(BASE_COLOR), 0, 1)
    return (img.reshape(size, size, 3) * 255 + 0.5).astype(np.uint8)


def render_views(
    mesh: trimesh.Trimesh,
    framing: Framing,
    size: int = 256,
    azimuths: tuple[float, ...] = DEFAULT_AZIMUTHS,
) -> Image.Image:
    """The views side by side, one square tile per azimuth."""
    import numpy as np
    from PIL import Image, ImageDraw

    if framing.crop_radius is not None and len(mesh.faces):
        from video2mesh.evaluate import Sphere, crop_to_sphere

        mesh = crop_to_sphere(mesh, Sphere(framing.crop_center, framing.crop_radius))  # type: ignore[arg-type]
    sheet = Image.new("RGB", (size * len(azimuths), size), BACKGROUND)
    if len(mesh.faces) == 0:
        ImageDraw.Draw(sheet).text((8, 8), "empty mesh", fill=(180, 0, 0))
        return sheet
    vertices = np.asarray(mesh.vertices, dtype=float)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    normals = np.asarray(mesh.vertex_normals, dtype=float)
    center = np.asarray(framing.center, dtype=float)
    for i, az in enumerate(azimuths):
        big = rasterize(
            vertices,
            faces,
            normals,
            view_basis(framing, az),
            center,
            framing.extent,
            size * SUPERSAMPLE,
        )
        tile = Image.fromarray(big).resize((size, size), Image.Resampling.BOX)
        sheet.paste(tile, (i * size, 0))
    return sheet


def render_file(
    mesh_path: str | Path,
    output: str | Path,
    transforms: str | Path | None = None,
    reference: str | Path | None = None,
    size: int = 256,
    views: int = len(DEFAULT_AZIMUTHS),
) -> None:
    from video2mesh.evaluate import load_mesh

    if views < 1 or size < 16:
        raise UserError(
            f"bad thumbnail size {size} or view count {views}", "use size ≥ 16, ≥ 1 view"
        )
    azimuths = tuple(DEFAULT_AZIMUTHS[0] + 360.0 * i / views for i in range(views))
    sheet = render_views(load_mesh(mesh_path), scene_framing(transforms, reference), size, azimuths)
    with atomic_path(output) as tmp:
        sheet.save(tmp)


_NAME = re.compile(r"it(\d+)_res(\d+)")


def grid_image(images: list[Path], title: str = "", tile: int = 200) -> Image.Image:
    """Iterations (rows) × resolutions (columns) of the first view of each thumbnail sheet."""
    from PIL import Image, ImageDraw, ImageFont

    cells: dict[tuple[int, int], Path] = {}
    for path in images:
        m = _NAME.search(Path(path).stem)
        if not m:
            raise UserError(
                f"cannot read iterations/resolution from {path}", "name it it{N}_res{R}"
            )
        cells[int(m[1]), int(m[2])] = Path(path)
    if not cells:
        raise UserError("no thumbnails for the grid", "pass --images")
    its = sorted({k[0] for k in cells})
    ress = sorted({k[1] for k in cells})
    font = ImageFont.load_default(size=14)
    left, top = 110, 56 if title else 30
    grid = Image.new("RGB", (left + tile * len(ress), top + tile * len(its)), BACKGROUND)
    draw = ImageDraw.Draw(grid)
    if title:
        draw.text((8, 6), title, fill=(0, 0, 0), font=ImageFont.load_default(size=18))
    for j, res in enumerate(ress):
        draw.text((left + j * tile + tile // 2 - 30, top - 22), f"res {res}", fill=0, font=font)
    for i, it in enumerate(its):
        draw.text((8, top + i * tile + tile // 2 - 8), f"{it} it", fill=0, font=font)
        for j, res in enumerate(ress):
            path = cells.get((it, res))
            if path is None:
                continue
            with Image.open(path) as sheet:
                h = sheet.height
                first = sheet.crop((0, 0, h, h)).convert("RGB").resize((tile, tile))
            grid.paste(first, (left + j * tile, top + i * tile))
    return grid


def _run(args: argparse.Namespace) -> None:
    render_file(args.mesh, args.output, args.transforms, args.reference, args.size, args.views)


def _run_grid(args: argparse.Namespace) -> None:
    img = grid_image([Path(p) for p in args.images], args.title, args.tile)
    with atomic_path(args.output) as tmp:
        img.save(tmp)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "render",
        help="shaded thumbnails of a mesh from the scene's fixed viewpoints",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--mesh", required=True)
    p.add_argument("--output", required=True, help="PNG: the views side by side")
    p.add_argument("--transforms", help="transforms.json: sphere (framing, crop) and up axis")
    p.add_argument("--reference", help="reference mesh: framing on its bounds")
    p.add_argument("--size", type=int, default=256, help="tile size in pixels")
    p.add_argument("--views", type=int, default=len(DEFAULT_AZIMUTHS), help="azimuths")
    p.set_defaults(func=_run)

    g = subparsers.add_parser(
        "render-grid", help="grid image iterations × resolutions of thumbnails of one run"
    )
    g.add_argument("--images", nargs="+", required=True, help="it{N}_res{R}.png sheets")
    g.add_argument("--output", required=True)
    g.add_argument("--title", default="")
    g.add_argument("--tile", type=int, default=200)
    g.set_defaults(func=_run_grid)
