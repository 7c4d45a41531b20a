"""A tiny analytic test scene: a textured SDF shape seen by known cameras (for tests only).

Writes a Neuralangelo transforms.json and an uncompressed images tar exactly as the pipeline's
scene stage does, so the recon backend can be tested before (and independently of) the sample
scene and SfM.
"""

from __future__ import annotations

import io
import json
import math
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

Sdf = Callable[[np.ndarray], np.ndarray]


def sphere_sdf(radius: float = 0.5) -> Sdf:
    return lambda p: np.linalg.norm(p, axis=-1) - radius


def torus_sdf(major: float = 0.5, minor: float = 0.2) -> Sdf:
    def f(p: np.ndarray) -> np.ndarray:
        q = np.stack([np.linalg.norm(p[..., [0, 1]], axis=-1) - major, p[..., 2]], -1)
        return np.linalg.norm(q, axis=-1) - minor

    return f


def look_at_c2w(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """OpenGL camera-to-world (camera looks down −z, y up): the sample's OpenCV one, flipped."""
    from video2mesh.sample import look_at_c2w as look_at_cv

    return look_at_cv(eye, target, up) @ np.diag([1.0, -1.0, -1.0, 1.0])


def _texture(p: np.ndarray) -> np.ndarray:
    """Smooth, multi-view consistent albedo (0..1) on the surface."""
    r = 0.5 + 0.4 * np.sin(7.0 * p[..., 0] + 1.0) * np.cos(5.0 * p[..., 2])
    g = 0.5 + 0.4 * np.sin(6.0 * p[..., 1] + 2.0)
    b = 0.5 + 0.4 * np.cos(8.0 * p[..., 2] - 1.0) * np.sin(4.0 * p[..., 0])
    return np.stack([r, g, b], -1)


GLOSS_LIGHT = np.array([0.5, -0.4, 0.77]) / np.linalg.norm([0.5, -0.4, 0.77])


def render(
    sdf: Sdf,
    c2w_gl: np.ndarray,
    w: int,
    h: int,
    f: float,
    bg: float = 0.3,
    gloss: float = 0.0,
) -> np.ndarray:
    """Sphere-traced image (h, w, 3) in 0..1.

    ``gloss`` 0: diffuse shading with a head light. ``gloss`` > 0: a fixed light, diffuse plus a
    white Blinn-Phong highlight of that strength (view-dependent colour, as on real glossy objects).
    """
    j, i = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    d_cam = np.stack([(i - w / 2) / f, -(j - h / 2) / f, -np.ones_like(i)], -1)
    d = d_cam @ c2w_gl[:3, :3].T
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    o = np.broadcast_to(c2w_gl[:3, 3], d.shape)
    t = np.zeros(d.shape[:-1])
    for _ in range(200):
        t += sdf(o + t[..., None] * d) * 0.9
    p = o + t[..., None] * d
    hit = np.abs(sdf(p)) < 1e-3
    e = 1e-4
    n = np.stack([sdf(p + e * np.eye(3)[k]) - sdf(p - e * np.eye(3)[k]) for k in range(3)], -1)
    n = n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
    if gloss <= 0:
        shade = 0.35 + 0.65 * np.clip(-(n * d).sum(-1), 0, 1)
        img = _texture(p) * shade[..., None]
    else:
        shade = 0.3 + 0.6 * np.clip(n @ GLOSS_LIGHT, 0, 1)
        half = GLOSS_LIGHT - d
        half /= np.maximum(np.linalg.norm(half, axis=-1, keepdims=True), 1e-9)
        highlight = gloss * np.clip((n * half).sum(-1), 0, 1) ** 48
        img = _texture(p) * shade[..., None] + highlight[..., None]
    return np.where(hit[..., None], img, bg).clip(0, 1)


def write_scene(
    out_dir: Path,
    sdf: Sdf,
    n_views: int = 16,
    size: int = 48,
    world_center: tuple[float, float, float] = (0.3, -0.2, 1.0),
    world_scale: float = 2.0,
    cam_dist: float = 2.2,
    sphere_radius: float = 1.0,
    gloss: float = 0.0,
) -> tuple[Path, Path]:
    """Render the shape (defined in the normalised frame) and write transforms.json + images.tar.

    World = normalised × world_scale + world_center, so the normalisation is exercised.
    """
    from PIL import Image

    out_dir.mkdir(parents=True, exist_ok=True)
    f = size / (2 * math.tan(math.radians(25)))
    frames = []
    tar_path = out_dir / "images.tar"
    center = np.asarray(world_center)
    golden = math.pi * (3 - math.sqrt(5))
    with tarfile.open(tar_path, "w") as tar:
        for k in range(n_views):
            zc = 0.85 - 1.5 * (k + 0.5) / n_views  # elevations from above to below
            rr = math.sqrt(1 - zc * zc)
            eye = cam_dist * np.array([rr * math.cos(golden * k), rr * math.sin(golden * k), zc])
            c2w = look_at_c2w(eye, np.zeros(3), np.array([0.0, 0.0, 1.0]))
            img = render(sdf, c2w, size, size, f, gloss=gloss)
            buf = io.BytesIO()
            Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(buf, format="JPEG", quality=95)
            name = f"images/{k:06d}.jpg"
            info = tarfile.TarInfo(name)
            info.size = buf.tell()
            buf.seek(0)
            tar.addfile(info, buf)
            world = c2w.copy()
            world[:3, 3] = world[:3, 3] * world_scale + center
            frames.append({"file_path": name, "transform_matrix": world.tolist()})
    meta = {
        "camera_angle_x": 2 * math.atan(size / (2 * f)),
        "camera_angle_y": 2 * math.atan(size / (2 * f)),
        "fl_x": f,
        "fl_y": f,
        "cx": size / 2,
        "cy": size / 2,
        "w": size,
        "h": size,
        "sphere_center": center.tolist(),
        "sphere_radius": world_scale * sphere_radius,
        "frames": frames,
    }
    tf = out_dir / "transforms.json"
    tf.write_text(json.dumps(meta, indent=1))
    return tf, tar_path


def write_sample_scene(
    out_dir: Path, frames: int = 60, width: int = 240, height: int = 180, seed: int = 0
) -> tuple[Path, Path, Path]:
    """The pipeline's classic sample (video2mesh.sample) seen from its TRUE cameras.

    Frames are rendered straight to JPEG (no video codec, no SfM); writes transforms.json
    (sphere: centre of the true mesh's box, radius 1.1 × its farthest vertex), images.tar and
    reference.ply (the true mesh, world frame). Returns their paths.
    """
    from PIL import Image

    from video2mesh import sample

    out_dir.mkdir(parents=True, exist_ok=True)
    spec = sample.variant_spec("classic", seed=seed, frames=frames, width=width, height=height)
    scene = sample.build_scene(spec)
    mesh = sample.ground_truth_mesh(spec.object, spec.mesh_resolution)
    ref = out_dir / "reference.ply"
    mesh.export(ref)
    lo, hi = mesh.bounds
    center = (lo + hi) / 2
    radius = 1.1 * float(np.linalg.norm(mesh.vertices - center, axis=1).max())
    k = spec.intrinsics()
    entries = []
    tar_path = out_dir / "images.tar"
    with tarfile.open(tar_path, "w") as tar:
        for i, c2w in enumerate(sample.orbit_cameras(spec)):
            buf = io.BytesIO()
            Image.fromarray(sample.render_frame(c2w, scene)).save(buf, "JPEG", quality=95)
            name = f"images/{i:06d}.jpg"
            info = tarfile.TarInfo(name)
            info.size = buf.tell()
            buf.seek(0)
            tar.addfile(info, buf)
            gl = np.asarray(c2w, dtype=np.float64).copy()
            gl[:3, 1:3] *= -1.0  # OpenCV → OpenGL camera axes
            entries.append({"file_path": name, "transform_matrix": gl.tolist()})
    meta = {
        "camera_angle_x": 2 * math.atan(width / (2 * k["fx"])),
        "camera_angle_y": 2 * math.atan(height / (2 * k["fy"])),
        "fl_x": k["fx"],
        "fl_y": k["fy"],
        "cx": k["cx"],
        "cy": k["cy"],
        "w": width,
        "h": height,
        "sphere_center": center.tolist(),
        "sphere_radius": radius,
        "aabb_range": [[c - radius, c + radius] for c in center.tolist()],
        "frames": entries,
    }
    tf = out_dir / "transforms.json"
    tf.write_text(json.dumps(meta, indent=1))
    return tf, tar_path, ref
