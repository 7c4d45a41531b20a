"""The generated sample scene: a textured object with a known ground-truth mesh.

A cup-like object (an open bowl: a concavity; a torus handle and three legs: thin parts)
is defined as a signed distance function, textured with a 3-D value-noise albedo (so the
texture is the same from every view, as on a real object) and lit by a fixed light. It
floats over a textured floor inside a textured dome, and a camera orbits it with varying
elevation. Frames are sphere-traced on the CPU with numpy, written to an H.264 MP4, and
the exact cameras and the ground-truth mesh (marching cubes of the SDF) are saved beside
it. Everything is deterministic from the seed.

World frame: z up, object centred near the origin, about 1.3 units across.
Camera convention in ``cameras.json``: OpenCV camera-to-world (x right, y down, z forward).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from video2mesh.atomic import atomic_path, write_json

log = logging.getLogger(__name__)

FLOOR_Z = -2.2  # well outside the object's bounding sphere
DOME_RADIUS = 14.0


@dataclass(frozen=True)
class SampleSpec:
    """What the sample video looks like; the defaults are the embedded default scene."""

    seed: int = 0
    frames: int = 120
    width: int = 480
    height: int = 360
    fps: int = 24
    fov_x_deg: float = 55.0
    orbit_radius: float = 3.0
    elevation_deg: float = 22.0  # mean elevation; varies by ±elevation_swing_deg
    elevation_swing_deg: float = 16.0
    turns: float = 1.0
    mesh_resolution: int = 160  # marching-cubes samples across the object's box

    def intrinsics(self) -> dict[str, float]:
        fx = 0.5 * self.width / np.tan(np.radians(self.fov_x_deg) / 2)
        return {
            "fx": fx,
            "fy": fx,
            "cx": self.width / 2,
            "cy": self.height / 2,
            "w": self.width,
            "h": self.height,
        }


# ---------------------------------------------------------------------------------------
# Geometry: signed distance of the object (negative inside).


def _length(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("...i,...i->...", v, v))


def _sd_torus_xz(p: np.ndarray, major: float, minor: float) -> np.ndarray:
    """Torus in the x-z plane (its hole faces the y axis) centred at the origin."""
    q = np.stack([np.hypot(p[..., 0], p[..., 2]) - major, p[..., 1]], axis=-1)
    return _length(q) - minor


def _sd_capsule(p: np.ndarray, a: np.ndarray, b: np.ndarray, r: float) -> np.ndarray:
    pa, ba = p - a, b - a
    h = np.clip((pa @ ba) / (ba @ ba), 0.0, 1.0)
    return _length(pa - h[..., None] * ba) - r


def _sd_round_cylinder(p: np.ndarray, radius: float, half_h: float, round_r: float) -> np.ndarray:
    d = np.stack(
        [np.hypot(p[..., 0], p[..., 1]) - radius + round_r, np.abs(p[..., 2]) - half_h + round_r],
        axis=-1,
    )
    outside = _length(np.maximum(d, 0.0))
    return np.minimum(np.maximum(d[..., 0], d[..., 1]), 0.0) + outside - round_r


def _smooth_union(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


_LEG_ENDS = [
    (
        np.array([0.3 * np.cos(t), 0.3 * np.sin(t), -0.25]),
        np.array([0.42 * np.cos(t), 0.42 * np.sin(t), -0.62]),
    )
    for t in np.radians([90.0, 210.0, 330.0])
]


def object_sdf(p: np.ndarray) -> np.ndarray:
    """Signed distance to the sample object for points ``p`` of shape (..., 3)."""
    p = np.asarray(p, dtype=np.float32)
    body = _sd_round_cylinder(p - np.array([0, 0, 0.05], np.float32), 0.48, 0.32, 0.12)
    # Open bowl: carve a rounded cavity from the top, leaving a 0.07 wall.
    cavity = _sd_round_cylinder(p - np.array([0, 0, 0.3], np.float32), 0.41, 0.33, 0.1)
    cup = np.maximum(body, -cavity)
    # Handle: a thin torus on the +x side, its hole facing the y axis.
    handle = _sd_torus_xz(p - np.array([0.6, 0.0, 0.08], np.float32), 0.19, 0.045)
    shape = _smooth_union(cup, handle, 0.03)
    for a, b in _LEG_ENDS:
        shape = _smooth_union(
            shape, _sd_capsule(p, a.astype(np.float32), b.astype(np.float32), 0.045), 0.04
        )
    # A knob on the rim opposite the handle: a small convex detail.
    knob = _length(p - np.array([-0.47, 0.0, 0.38], np.float32)) - 0.07
    return _smooth_union(shape, knob, 0.02)


OBJECT_BOUNDS = np.array([[-0.75, -0.75, -0.75], [0.95, 0.75, 0.55]], dtype=np.float32)


def ground_truth_mesh(resolution: int = 160):  # -> trimesh.Trimesh
    """Marching cubes of :func:`object_sdf` over the object's box: the ground truth."""
    import trimesh
    from skimage.measure import marching_cubes

    lo, hi = OBJECT_BOUNDS
    step = float((hi - lo).max()) / resolution
    axes = [np.arange(lo[i], hi[i] + step, step, dtype=np.float32) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    sdf = object_sdf(grid.reshape(-1, 3)).reshape(grid.shape[:3])
    verts, faces, _, _ = marching_cubes(sdf, level=0.0, spacing=(step, step, step))
    verts += lo
    # skimage orients faces for increasing values outward; SDF is negative inside, so flip.
    mesh = trimesh.Trimesh(verts, faces[:, ::-1], process=True)
    return mesh


# ---------------------------------------------------------------------------------------
# Texture: 3-D value noise (a fixed random lattice, trilinear, several octaves).


class _Noise:
    def __init__(self, rng: np.random.Generator, size: int = 64) -> None:
        self.size = size
        self.table = rng.random((size, size, size, 3), dtype=np.float32)

    def __call__(self, p: np.ndarray, freq: float) -> np.ndarray:
        q = (p * freq).astype(np.float32)
        i0 = np.floor(q)
        f = q - i0
        f = f * f * (3 - 2 * f)  # smoothstep: no visible lattice creases
        i0 = i0.astype(np.int64)
        n, mask = self.size, self.size - 1  # size is a power of two
        flat = self.table.reshape(-1, 3)
        out = np.zeros((*p.shape[:-1], 3), np.float32)
        for dx in (0, 1):
            ix = ((i0[..., 0] + dx) & mask) * n * n
            wx = f[..., 0] if dx else 1 - f[..., 0]
            for dy in (0, 1):
                ixy = ix + ((i0[..., 1] + dy) & mask) * n
                wxy = wx * (f[..., 1] if dy else 1 - f[..., 1])
                for dz in (0, 1):
                    w = wxy * (f[..., 2] if dz else 1 - f[..., 2])
                    out += w[..., None] * flat[ixy + ((i0[..., 2] + dz) & mask)]
        return out


class _Textures:
    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.noise = _Noise(rng)
        self.palette_obj = np.array([[0.85, 0.55, 0.25], [0.2, 0.35, 0.75]], np.float32)
        self.palette_bg = rng.random((2, 3), dtype=np.float32) * 0.5 + 0.25

    def object_albedo(self, p: np.ndarray) -> np.ndarray:
        n = (
            0.5 * self.noise(p, 5.0)
            + 0.3 * self.noise(p + 17.0, 13.0)
            + 0.2 * self.noise(p + 5.0, 29.0)
        )
        # Two-tone blotches with sharp-ish edges give SIFT corners; the noise adds detail.
        t = np.clip((n[..., :1] - 0.5) * 6.0 + 0.5, 0, 1)
        base = self.palette_obj[0] * (1 - t) + self.palette_obj[1] * t
        return np.clip(base * (0.45 + 1.1 * n), 0, 1)

    def background(self, p: np.ndarray, freq: float) -> np.ndarray:
        n = 0.6 * self.noise(p, freq) + 0.4 * self.noise(p + 31.0, freq * 3.1)
        t = np.clip((n[..., 1:2] - 0.3) * 2.0, 0, 1)
        base = self.palette_bg[0] * (1 - t) + self.palette_bg[1] * t
        return np.clip(base * (0.5 + 0.8 * n), 0, 1)


# ---------------------------------------------------------------------------------------
# Cameras and rendering.


def look_at_c2w(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """OpenCV camera-to-world matrix of a camera at ``eye`` looking at ``target``."""
    z = target - eye
    z = z / np.linalg.norm(z)
    x = np.cross(z, up)
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, eye
    return c2w


def orbit_cameras(spec: SampleSpec) -> list[np.ndarray]:
    """One camera per frame on an orbit whose elevation rises and falls twice."""
    rng = np.random.default_rng(spec.seed + 1)
    jitter = rng.normal(0, 0.03, size=(spec.frames, 3))  # a hand-held wobble of the target
    out = []
    for i in range(spec.frames):
        t = i / spec.frames
        azim = 2 * np.pi * spec.turns * t
        elev = np.radians(spec.elevation_deg + spec.elevation_swing_deg * np.sin(4 * np.pi * t))
        r = spec.orbit_radius * (1 + 0.06 * np.sin(6 * np.pi * t))
        eye = r * np.array([np.cos(elev) * np.cos(azim), np.cos(elev) * np.sin(azim), np.sin(elev)])
        out.append(
            look_at_c2w(eye, np.array([0.05, 0.0, -0.05]) + jitter[i], np.array([0, 0, 1.0]))
        )
    return out


LIGHT_DIR = np.array([0.4, -0.3, 0.87]) / np.linalg.norm([0.4, -0.3, 0.87])


def _sphere_trace(
    origins: np.ndarray,
    dirs: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
    steps: int = 96,
    eps: float = 5e-4,
):
    """March rays from t0 to t1; returns (hit mask, t). Only unconverged rays are evaluated."""
    t = t0.copy()
    hit = np.zeros(len(t), bool)
    active = np.nonzero(t0 < t1)[0]
    for _ in range(steps):
        if active.size == 0:
            break
        d = object_sdf(origins[active] + t[active, None] * dirs[active])
        done = d < eps
        hit[active[done]] = True
        t[active] += np.where(done, 0.0, d * 0.95)
        keep = ~done & (t[active] < t1[active])
        active = active[keep]
    return hit, t


def _normals(p: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    k = np.array([[1, -1, -1], [-1, -1, 1], [-1, 1, -1], [1, 1, 1]], np.float32)
    g = sum(ki * object_sdf(p + eps * ki)[:, None] for ki in k)
    return g / np.maximum(_length(g)[:, None], 1e-9)


def _shadowed(p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Soft-free hard shadow of the object onto itself (cheap, adds realistic shading)."""
    o = p + n * 4e-3
    d = np.broadcast_to(LIGHT_DIR, o.shape).astype(np.float32)
    t0, t1 = np.full(len(o), 0.01, np.float32), np.full(len(o), 2.0, np.float32)
    hit, _ = _sphere_trace(o, d, t0, t1, steps=40, eps=2e-3)
    return hit


def render_frame(c2w: np.ndarray, spec: SampleSpec, tex: _Textures) -> np.ndarray:
    """Render one RGB uint8 frame (H, W, 3)."""
    k = spec.intrinsics()
    u, v = np.meshgrid(np.arange(spec.width) + 0.5, np.arange(spec.height) + 0.5)
    d_cam = np.stack([(u - k["cx"]) / k["fx"], (v - k["cy"]) / k["fy"], np.ones_like(u)], -1)
    dirs = (d_cam.reshape(-1, 3) @ c2w[:3, :3].T).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    origin = c2w[:3, 3].astype(np.float32)
    origins = np.broadcast_to(origin, dirs.shape)
    rgb = np.zeros_like(dirs)

    # Background: floor plane below, dome beyond.
    t_floor = np.where(
        dirs[:, 2] < -1e-6, (FLOOR_Z - origin[2]) / np.minimum(dirs[:, 2], -1e-6), np.inf
    )
    oc = float(origin @ origin)
    bd = dirs @ origin
    t_dome = -bd + np.sqrt(np.maximum(bd**2 - (oc - DOME_RADIUS**2), 0.0))
    on_floor = t_floor < t_dome
    pf = origins[on_floor] + t_floor[on_floor, None] * dirs[on_floor]
    checker = ((np.floor(pf[:, 0] * 1.2) + np.floor(pf[:, 1] * 1.2)) % 2)[:, None]
    rgb[on_floor] = tex.background(pf * 0.5, 2.0) * (0.75 + 0.25 * checker)
    pd = origins[~on_floor] + t_dome[~on_floor, None] * dirs[~on_floor]
    rgb[~on_floor] = tex.background(pd / DOME_RADIUS + 3.0, 5.0) * 0.9

    # Object: trace only rays that enter its bounding sphere (radius 1.05 around the origin).
    disc = bd**2 - (oc - 1.05**2)
    enter = disc > 0
    idx = np.nonzero(enter)[0]
    sq = np.sqrt(disc[idx])
    t0 = np.maximum(-bd[idx] - sq, 0.0).astype(np.float32)
    t1 = (-bd[idx] + sq).astype(np.float32)
    hit, t = _sphere_trace(origins[idx], dirs[idx], t0, t1)
    hidx = idx[hit]
    p = origins[hidx] + t[hit, None] * dirs[hidx]
    n = _normals(p)
    lambert = np.clip(n @ LIGHT_DIR.astype(np.float32), 0, 1)
    lambert = np.where(_shadowed(p, n), 0.0, lambert)
    sky = 0.5 + 0.5 * n[:, 2]  # hemispherical ambient: brighter facing up
    shade = 0.25 + 0.15 * sky + 0.7 * lambert
    rgb[hidx] = tex.object_albedo(p) * shade[:, None]
    return (np.clip(rgb, 0, 1).reshape(spec.height, spec.width, 3) * 255 + 0.5).astype(np.uint8)


# ---------------------------------------------------------------------------------------
# Output.


_WORKER: dict[str, object] = {}


def _worker_init(spec: SampleSpec) -> None:
    _WORKER["spec"], _WORKER["tex"] = spec, _Textures(spec.seed)  # 3 MB of noise: built once


def _worker_render(c2w: np.ndarray) -> np.ndarray:
    return render_frame(c2w, _WORKER["spec"], _WORKER["tex"])  # type: ignore[arg-type]


def _render_frames(cams: list[np.ndarray], spec: SampleSpec, workers: int) -> Iterator[np.ndarray]:
    """Frames in camera order; numpy renders on one core, so frames go to worker processes."""
    if workers <= 1:
        tex = _Textures(spec.seed)
        yield from (render_frame(c2w, spec, tex) for c2w in cams)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, ctx, _worker_init, (spec,)) as pool:
        yield from pool.map(_worker_render, cams)


def generate(
    out_video: Path, out_cameras: Path, out_mesh: Path, spec: SampleSpec, workers: int = 1
) -> None:
    """Write the sample video, its exact cameras and its ground-truth mesh."""
    import imageio_ffmpeg

    started = time.perf_counter()
    cams = orbit_cameras(spec)
    with atomic_path(out_video) as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp),
            (spec.width, spec.height),
            fps=spec.fps,
            codec="libx264",
            macro_block_size=8,
            quality=None,
            output_params=["-crf", "16", "-preset", "medium", "-g", "12"],
        )
        writer.send(None)
        for frame in _render_frames(cams, spec, workers):
            writer.send(np.ascontiguousarray(frame))
        writer.close()
    mesh = ground_truth_mesh(spec.mesh_resolution)
    with atomic_path(out_mesh) as tmp:
        mesh.export(tmp)
    write_json(
        out_cameras,
        {
            "convention": "OpenCV camera-to-world, world z up; frame i of the video is camera i",
            "spec": asdict(spec),
            "intrinsics": spec.intrinsics(),
            "frames": [{"index": i, "c2w": c.tolist()} for i, c in enumerate(cams)],
        },
    )
    log.info("sample: %d frames in %.1f s", spec.frames, time.perf_counter() - started)


def _cmd(args: argparse.Namespace) -> None:
    spec = SampleSpec(seed=args.seed, frames=args.frames, width=args.width, height=args.height)
    generate(Path(args.video), Path(args.cameras), Path(args.mesh), spec, args.workers)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="generate the sample scene (video, exact cameras, true mesh)")
    d = SampleSpec()
    p.add_argument("--video", required=True, help="output .mp4")
    p.add_argument("--cameras", required=True, help="output cameras .json")
    p.add_argument("--mesh", required=True, help="output ground-truth .ply")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--frames", type=int, default=d.frames)
    p.add_argument("--width", type=int, default=d.width)
    p.add_argument("--height", type=int, default=d.height)
    p.add_argument("--workers", type=int, default=1, help="frame-rendering processes")
    p.set_defaults(func=_cmd)
