"""A synthetic capture for the texture tests and benchmark: a patterned sphere and a box.

The colour is a function of the 3-D point (stripes finer than the decimated mesh's vertex
spacing), evaluated per pixel, so a texture can reproduce the photos and vertex colours cannot.
Photos are rendered with the project's rasteriser (depth-tested) over a green background and
written as the pipeline's transforms.json (OpenGL camera-to-world) + uncompressed images.tar.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np

WIDTH, HEIGHT, FOCAL = 160, 120, 150.0  # the test's size; the benchmark scales all three
BACKGROUND = (0.1, 0.6, 0.2)


def colour(p: np.ndarray) -> np.ndarray:
    """RGB in 0..1 at points (N, 3): stripes of about 0.1 units (7 pixels in the photos)."""
    return np.stack(
        [
            0.5 + 0.4 * np.sin(60 * p[:, 0] + 2 * p[:, 2]),
            0.5 + 0.4 * np.sin(55 * p[:, 1] - 3 * p[:, 0]),
            0.5 + 0.3 * np.cos(45 * p[:, 2]),
        ],
        -1,
    )


def scene_mesh(subdivisions: int = 5):  # -> trimesh.Trimesh with vertex colours
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=0.45)
    box = trimesh.creation.box(extents=(0.3, 0.3, 0.3))
    box.apply_translation((0.55, 0.0, -0.2))
    box = box.subdivide().subdivide().subdivide()
    mesh = trimesh.util.concatenate([sphere, box])
    rgb = (colour(np.asarray(mesh.vertices)) * 255 + 0.5).astype(np.uint8)
    mesh.visual.vertex_colors = np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], 1)
    return mesh


def orbit_c2w(n: int) -> list[np.ndarray]:
    """OpenCV camera-to-world matrices on a wavy orbit of radius 2.2 looking at the origin."""
    out = []
    for i in range(n):
        a = 2 * np.pi * i / n
        eye = np.array([2.2 * np.cos(a), 2.2 * np.sin(a), 0.8 * np.sin(3 * a)])
        fwd = -eye / np.linalg.norm(eye)
        right = np.cross(fwd, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        m = np.eye(4)
        m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = right, down, fwd, eye
        out.append(m)
    return out


def photograph(mesh, c2w: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """(H, W, 3) uint8 photo of the scene's true colour function."""
    import torch

    from video2mesh.texture.raster import rasterize

    w, h, focal = round(WIDTH * scale), round(HEIGHT * scale), FOCAL * scale
    v = np.asarray(mesh.vertices)
    cam = (v - c2w[:3, 3]) @ c2w[:3, :3]
    x = focal * cam[:, 0] / cam[:, 2] + w / 2
    y = focal * cam[:, 1] / cam[:, 2] + h / 2
    f = torch.as_tensor(np.asarray(mesh.faces))
    xy = torch.as_tensor(np.stack([x, y], -1), dtype=torch.float32)[f]
    r = rasterize(xy, h, w, depth=torch.as_tensor(cam[:, 2], dtype=torch.float32)[f])
    img = np.tile(np.asarray(BACKGROUND), (h, w, 1))
    mask = (r.face >= 0).numpy()
    corners = np.asarray(mesh.faces)[r.face.numpy()[mask]]
    p = (r.bary.numpy()[mask][..., None] * v[corners]).sum(1)
    img[mask] = colour(p)
    return (img * 255 + 0.5).astype(np.uint8)


def write_capture(
    folder: Path, views: int = 24, scale: float = 1.0, subdivisions: int = 5
) -> dict[str, Path]:
    """mesh.ply (vertex colours), transforms.json and images.tar in ``folder``."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    mesh = scene_mesh(subdivisions)
    frames = []
    with tarfile.open(folder / "images.tar", "w") as tar:
        for i, c2w in enumerate(orbit_c2w(views)):
            buf = io.BytesIO()
            Image.fromarray(photograph(mesh, c2w, scale)).save(buf, format="PNG")
            info = tarfile.TarInfo(f"images/{i:03d}.png")
            info.size = len(buf.getvalue())
            tar.addfile(info, io.BytesIO(buf.getvalue()))
            gl = c2w @ np.diag([1.0, -1.0, -1.0, 1.0])
            frames.append({"file_path": f"images/{i:03d}.png", "transform_matrix": gl.tolist()})
    meta = {
        "fl_x": FOCAL * scale,
        "fl_y": FOCAL * scale,
        "cx": round(WIDTH * scale) / 2,
        "cy": round(HEIGHT * scale) / 2,
        "w": round(WIDTH * scale),
        "h": round(HEIGHT * scale),
        "sphere_center": [0.0, 0.0, 0.0],
        "sphere_radius": 1.0,
        "frames": frames,
    }
    (folder / "transforms.json").write_text(json.dumps(meta))
    mesh.export(folder / "mesh.ply")
    return {
        "mesh": folder / "mesh.ply",
        "transforms": folder / "transforms.json",
        "images": folder / "images.tar",
    }
