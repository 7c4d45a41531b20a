"""Sphere-traced frames of a generated scene (numpy, CPU), deterministic from the seed.

The object is sphere-traced inside its bounding sphere; the support and background are
analytic (planes, boxes, a dome). The support receives the object's hard shadow and the
object its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from video2mesh.sample import world as w
from video2mesh.sample.cameras import look_at_c2w, orbit_radius
from video2mesh.sample.materials import LIGHT_DIR, SHADOW_DIM, Textures, shade_object
from video2mesh.sample.shapes import SHAPES, Sdf, Shape, coarse_vertices
from video2mesh.sample.spec import SampleSpec


@dataclass(frozen=True)
class Scene:
    """Everything a frame needs, built once per process from the spec."""

    spec: SampleSpec
    shape: Shape
    world: w.World
    tex: Textures
    shadow_radius: float  # a tight bounding sphere for shadow rays (about the trace centre)
    # turntable scenes: the one camera (c2w) the table, room and light are seen from in every
    # frame
    still_camera: np.ndarray | None = None


def build_scene(spec: SampleSpec) -> Scene:
    shape = SHAPES[spec.object]
    world = w.build_world(spec, shape, orbit_radius(spec))
    reach = np.linalg.norm(coarse_vertices(spec.object) - shape.trace_center, axis=1).max()
    tex = Textures(spec.seed, np.asarray(shape.palette))
    still = None
    if spec.turntable:
        radius, elev = orbit_radius(spec), np.radians(spec.elevation_deg)
        eye = np.asarray(shape.trace_center) + radius * np.array([np.cos(elev), 0, np.sin(elev)])
        still = look_at_c2w(eye, np.asarray(shape.look_at), np.array([0, 0, 1.0]))
    return Scene(spec, shape, world, tex, min(float(reach) + 0.02, shape.trace_radius), still)


def _sphere_trace(
    sdf: Sdf,
    origins: np.ndarray,
    dirs: np.ndarray,
    t0: np.ndarray,
    t1: np.ndarray,
    steps: int = 96,
    eps: float = 5e-4,
    stalled_hit: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """March rays from t0 to t1; returns (hit mask, t). Only unconverged rays are evaluated.

    ``stalled_hit``: rays still marching after ``steps`` (grazing a surface) count as hits.
    """
    t = t0.copy()
    hit = np.zeros(len(t), bool)
    active = np.nonzero(t0 < t1)[0]
    for _ in range(steps):
        if active.size == 0:
            break
        d = sdf(origins[active] + t[active, None] * dirs[active])
        done = d < eps
        hit[active[done]] = True
        t[active] += np.where(done, 0.0, d * 0.95)
        keep = ~done & (t[active] < t1[active])
        active = active[keep]
    if stalled_hit:
        hit[active] = True
    return hit, t


def _sphere_span(
    center: tuple[float, ...], radius: float, origin: np.ndarray, dirs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rays that cross the shape's bounding sphere: their indices and [t0, t1] inside it.

    ``origin`` is one point (a camera: every ray starts there) or one point per ray.
    """
    rel = origin - np.asarray(center, np.float32)
    if rel.ndim == 1:
        oc, bd = float(rel @ rel), dirs @ rel
    else:
        oc, bd = np.einsum("ij,ij->i", rel, rel), np.einsum("ij,ij->i", dirs, rel)
    disc = bd**2 - (oc - radius**2)
    idx = np.nonzero(disc > 0)[0]
    sq = np.sqrt(disc[idx])
    t0 = np.maximum(-bd[idx] - sq, 0.0).astype(np.float32)
    t1 = (-bd[idx] + sq).astype(np.float32)
    return idx, t0, t1


def _normals(sdf: Sdf, p: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    k = np.array([[1, -1, -1], [-1, -1, 1], [-1, 1, -1], [1, 1, 1]], np.float32)
    g = sum(ki * sdf(p + eps * ki)[:, None] for ki in k)
    return g / np.maximum(np.sqrt(np.einsum("ij,ij->i", g, g))[:, None], 1e-9)


def _in_shadow(
    scene: Scene, p: np.ndarray, t_max: float, stalled_hit: bool, light: np.ndarray = LIGHT_DIR
) -> np.ndarray:
    """Whether the object blocks the light from points ``p`` (already offset off their surface).

    ``stalled_hit`` for points on the support: a ray that grazes the object (a leg) until its
    steps run out is in shadow, not a lit speck inside the shadow.
    """
    shape = scene.shape
    d = np.broadcast_to(light, p.shape).astype(np.float32)
    out = np.zeros(len(p), bool)
    idx, t0, t1 = _sphere_span(shape.trace_center, scene.shadow_radius, p, d)
    t0 = np.maximum(t0, 0.01).astype(np.float32)
    t1 = np.minimum(t1, t_max).astype(np.float32)
    hit, _ = _sphere_trace(
        shape.sdf, p[idx], d[idx], t0, t1, steps=40, eps=2e-3, stalled_hit=stalled_hit
    )
    out[idx[hit]] = True
    return out


def render(c2w: np.ndarray, scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """One frame: RGB float (H, W, 3) in [0, 1] and what each pixel shows (world.DOME, ...)."""
    spec, shape = scene.spec, scene.shape
    k = spec.intrinsics()
    u, v = np.meshgrid(np.arange(spec.width) + 0.5, np.arange(spec.height) + 0.5)
    d_cam = np.stack([(u - k["cx"]) / k["fx"], (v - k["cy"]) / k["fy"], np.ones_like(u)], -1)
    dirs = (d_cam.reshape(-1, 3) @ c2w[:3, :3].T).astype(np.float32)
    dirs /= np.linalg.norm(dirs, axis=-1, keepdims=True)
    origin = c2w[:3, 3].astype(np.float32)
    origins = np.broadcast_to(origin, dirs.shape)
    rgb = np.zeros_like(dirs)

    light = LIGHT_DIR
    if scene.still_camera is not None:  # the light stands in the room, which turns with the
        # camera in the object's frame: by the camera's azimuth about the turntable's axis
        pivot = np.asarray(shape.look_at)
        az = np.arctan2(origin[1] - pivot[1], origin[0] - pivot[0])
        c, s = np.cos(az), np.sin(az)
        light = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ LIGHT_DIR
    # The object: trace only rays that enter its bounding sphere.
    idx, t0, t1 = _sphere_span(shape.trace_center, shape.trace_radius, origin, dirs)
    hit, t = _sphere_trace(shape.sdf, origins[idx], dirs[idx], t0, t1)
    hidx = idx[hit]
    p = origins[hidx] + t[hit, None] * dirs[hidx]
    n = _normals(shape.sdf, p)
    lit = ~_in_shadow(scene, p + n * 4e-3, 2.0, stalled_hit=False, light=light)
    albedo = scene.tex.object_albedo(p)
    rgb[hidx] = shade_object(albedo, n, dirs[hidx], lit, spec.material == "glossy", light)

    # Everything else: the support (darkened in the object's shadow) and the background.
    rest = np.ones(len(dirs), bool)
    rest[hidx] = False
    kind = np.full(len(dirs), w.OBJECT, np.int8)
    disc = scene.world.disc
    if disc is not None:  # a turntable's disc turns with the object: traced in its frame
        on_disc = _disc_hits(disc, origin, dirs) & rest
        didx = np.nonzero(on_disc)[0]
        pd = origin + ((disc[2] - origin[2]) / dirs[didx, 2])[:, None] * dirs[didx]
        rgb[didx] = scene.tex.floor(pd * 3.0)  # a tiled platter, unlike the table
        lift = np.array([0, 0, 1e-3], np.float32)
        rgb[didx[_in_shadow(scene, pd + lift, 10.0, True, light)]] *= SHADOW_DIM
        kind[didx] = w.SUPPORT_TOP
        rest &= ~on_disc
    ridx = np.nonzero(rest)[0]
    env_origin, env_dirs = origin, dirs[ridx]
    if scene.still_camera is not None:  # the table and room stand still before the camera
        still = scene.still_camera
        env_origin = still[:3, 3].astype(np.float32)
        env_dirs = d_cam.reshape(-1, 3)[ridx] @ still[:3, :3].T
        env_dirs = (env_dirs / np.linalg.norm(env_dirs, axis=-1, keepdims=True)).astype(np.float32)
    t_env, kind_env = scene.world.intersect(env_origin, env_dirs)
    pe = env_origin + t_env[:, None] * env_dirs
    rgb[ridx] = scene.world.albedo(pe, kind_env, scene.tex)
    if disc is None:  # (a turntable's object casts its shadow on its disc, above)
        top = np.nonzero(kind_env == w.SUPPORT_TOP)[0]
        lift = np.array([0, 0, 1e-3], np.float32)
        rgb[ridx[top[_in_shadow(scene, pe[top] + lift, 10.0, stalled_hit=True)]]] *= SHADOW_DIM
    kind[ridx] = kind_env
    return rgb.reshape(spec.height, spec.width, 3), kind.reshape(spec.height, spec.width)


def _disc_hits(disc: tuple[float, ...], origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Rays that meet the top of a turntable's disc (x, y, top z, radius) from above."""
    cx, cy, z, radius = disc
    down = dirs[:, 2] < -1e-6
    t = np.where(down, (z - origin[2]) / np.where(down, dirs[:, 2], -1.0), -1.0)
    x, y = origin[0] + t * dirs[:, 0] - cx, origin[1] + t * dirs[:, 1] - cy
    return down & (t > 0) & (x * x + y * y <= radius * radius)


def render_frame(c2w: np.ndarray, scene: Scene) -> np.ndarray:
    """Render one RGB uint8 frame (H, W, 3)."""
    rgb, _ = render(c2w, scene)
    return (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
