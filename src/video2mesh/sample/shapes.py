"""The generated objects as signed distance functions (negative inside), and their true mesh.

Each shape lives in its own frame, z up; ``bottom_z`` is its lowest point, where a table or a
floor touches it. The shapes differ in topology and proportions:

- cup: an open bowl (a concavity), a torus handle (a hole) and three thin legs;
- vase: a tall surface of revolution with a narrow neck opening into a hollow;
- figurine: a standing person of capsules and spheres, hands on hips (two loops);
- house: walls with a recessed door and windows, a gable roof and a chimney (sharp edges).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

Sdf = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Shape:
    name: str
    sdf: Sdf  # points (..., 3) -> signed distance (...)
    bounds: tuple[tuple[float, float, float], tuple[float, float, float]]  # contains the solid
    bottom_z: float  # the solid's lowest point
    trace_center: tuple[float, float, float]  # rays are sphere-traced only inside this sphere
    trace_radius: float
    look_at: tuple[float, float, float]  # where the orbit camera aims
    palette: tuple[tuple[float, float, float], tuple[float, float, float]]  # two albedo tones

    def bounds_array(self) -> np.ndarray:
        return np.array(self.bounds, dtype=np.float32)


# ---------------------------------------------------------------------------------------
# Primitives.


def _length(v: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("...i,...i->...", v, v))


def _sd_torus_xz(p: np.ndarray, major: float, minor: float) -> np.ndarray:
    """Torus in the x-z plane (its hole faces the y axis) centred at the origin."""
    q = np.stack([np.hypot(p[..., 0], p[..., 2]) - major, p[..., 1]], axis=-1)
    return _length(q) - minor


def _sd_capsule(p: np.ndarray, a: np.ndarray, b: np.ndarray, r: float) -> np.ndarray:
    pa, ba = p - a, b - a
    h = np.clip((pa @ ba) / max(float(ba @ ba), 1e-12), 0.0, 1.0)  # a == b: a sphere
    return _length(pa - h[..., None] * ba) - r


def _sd_round_cylinder(p: np.ndarray, radius: float, half_h: float, round_r: float) -> np.ndarray:
    d = np.stack(
        [np.hypot(p[..., 0], p[..., 1]) - radius + round_r, np.abs(p[..., 2]) - half_h + round_r],
        axis=-1,
    )
    outside = _length(np.maximum(d, 0.0))
    return np.minimum(np.maximum(d[..., 0], d[..., 1]), 0.0) + outside - round_r


def _sd_box(p: np.ndarray, center: tuple[float, ...], half: tuple[float, ...]) -> np.ndarray:
    q = np.abs(p - np.asarray(center, np.float32)) - np.asarray(half, np.float32)
    return _length(np.maximum(q, 0.0)) + np.minimum(q.max(axis=-1), 0.0)


def _smooth_union(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b * (1 - h) + a * h - k * h * (1 - h)


def _capsules(p: np.ndarray, parts: list[tuple[tuple, tuple, float]], k: float) -> np.ndarray:
    out = None
    for a, b, r in parts:
        d = _sd_capsule(p, np.asarray(a, np.float32), np.asarray(b, np.float32), r)
        out = d if out is None else _smooth_union(out, d, k)
    return out


# ---------------------------------------------------------------------------------------
# Cup (the classic sample object): centred near the origin, about 1.3 units across.

_LEG_ENDS = [
    (
        np.array([0.3 * np.cos(t), 0.3 * np.sin(t), -0.25]),
        np.array([0.42 * np.cos(t), 0.42 * np.sin(t), -0.62]),
    )
    for t in np.radians([90.0, 210.0, 330.0])
]


def cup_sdf(p: np.ndarray) -> np.ndarray:
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


# ---------------------------------------------------------------------------------------
# Vase: 1.6 tall, standing on z = 0.

_VASE_H, _VASE_WALL, _VASE_HOLLOW_FROM = 1.6, 0.045, 0.95


def _vase_radius(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Profile radius r(z) (a belly, a neck, a flared lip) and its slope dr/dz."""
    belly = 0.25 * np.exp(-(((z - 0.5) / 0.36) ** 2))
    lip = 0.07 * np.exp(-(((z - 1.55) / 0.1) ** 2))
    slope = belly * -2 * (z - 0.5) / 0.36**2 + lip * -2 * (z - 1.55) / 0.1**2
    return 0.17 + belly + lip, slope


def vase_sdf(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float32)
    rho, z = np.hypot(p[..., 0], p[..., 1]), p[..., 2]
    r, slope = _vase_radius(z)
    norm = np.sqrt(1 + slope**2)  # distance to the profile along its normal (a close bound)
    solid = np.maximum((rho - r) / norm, np.maximum(-z, z - _VASE_H))
    hollow = np.maximum((rho - (r - _VASE_WALL)) / norm, _VASE_HOLLOW_FROM - z)
    return np.maximum(solid, -hollow).astype(np.float32)


# ---------------------------------------------------------------------------------------
# Figurine: a person 1.45 tall standing on its feet on z = 0, facing -y, hands on hips.


def _figurine_parts() -> list[tuple[tuple, tuple, float]]:
    parts: list[tuple[tuple, tuple, float]] = [
        ((-0.1, 0.0, 0.7), (0.1, 0.0, 0.7), 0.13),  # hips
        ((0.0, 0.0, 0.76), (0.0, 0.0, 1.08), 0.17),  # torso
        ((0.0, 0.0, 1.1), (0.0, 0.0, 1.22), 0.055),  # neck
        ((0.0, -0.01, 1.33), (0.0, -0.01, 1.33), 0.12),  # head
    ]
    for s in (-1.0, 1.0):
        parts += [
            ((s * 0.11, 0.0, 0.1), (s * 0.1, 0.0, 0.66), 0.07),  # leg
            ((s * 0.2, 0.0, 1.1), (s * 0.42, 0.02, 0.9), 0.05),  # upper arm
            ((s * 0.42, 0.02, 0.9), (s * 0.2, 0.0, 0.74), 0.045),  # forearm, hand on the hip
        ]
    return parts


_FIGURINE_BODY = _figurine_parts()
_FIGURINE_FEET = [((s * 0.11, -0.02, 0.045), (s * 0.12, -0.17, 0.045), 0.045) for s in (-1, 1)]


def figurine_sdf(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float32)
    body = _capsules(p, _FIGURINE_BODY, 0.03)
    # The feet join with a smaller blend, so that the join does not bulge below their soles.
    return _smooth_union(body, _capsules(p, _FIGURINE_FEET, 0.01), 0.02)


# ---------------------------------------------------------------------------------------
# House: 1.76 wide, 1.42 tall (chimney), standing on z = 0, door facing -y.

_ROOF_NORMAL = np.array([0.45, 0.65], np.float32) / np.hypot(0.45, 0.65)  # (|y|, z) slope


def house_sdf(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float32)
    walls = _sd_box(p, (0.0, 0.0, 0.4), (0.8, 0.55, 0.4))
    # Gable roof: a prism along x (two slopes meeting at z = 1.25), eaves overhanging the walls.
    slope = np.abs(p[..., 1]) * _ROOF_NORMAL[0] + (p[..., 2] - 1.25) * _ROOF_NORMAL[1]
    roof = np.maximum(np.maximum(slope, 0.75 - p[..., 2]), np.abs(p[..., 0]) - 0.88)
    chimney = _sd_box(p, (0.45, 0.2, 1.2), (0.09, 0.09, 0.22))
    house = np.minimum(np.minimum(walls, roof), chimney)
    # Recesses: a door and two windows at the front, one window on each side.
    for center, half in (
        ((0.25, -0.55, 0.26), (0.13, 0.05, 0.2)),
        ((-0.4, -0.55, 0.45), (0.15, 0.04, 0.11)),
        ((-0.4, 0.55, 0.45), (0.15, 0.04, 0.11)),
        ((0.8, 0.0, 0.45), (0.04, 0.15, 0.11)),
        ((-0.8, 0.0, 0.45), (0.04, 0.15, 0.11)),
    ):
        house = np.maximum(house, -_sd_box(p, center, half))
    return house.astype(np.float32)


SHAPES: dict[str, Shape] = {
    "cup": Shape(
        "cup",
        cup_sdf,
        bounds=((-0.75, -0.75, -0.75), (0.95, 0.75, 0.55)),
        bottom_z=-0.665,  # the legs' rounded tips: capsule ends at z = -0.62, radius 0.045
        trace_center=(0.0, 0.0, 0.0),
        trace_radius=1.05,
        look_at=(0.05, 0.0, -0.05),
        palette=((0.85, 0.55, 0.25), (0.2, 0.35, 0.75)),
    ),
    "vase": Shape(
        "vase",
        vase_sdf,
        bounds=((-0.55, -0.55, -0.08), (0.55, 0.55, 1.68)),
        bottom_z=0.0,
        trace_center=(0.0, 0.0, 0.8),
        trace_radius=0.98,
        look_at=(0.0, 0.0, 0.8),
        palette=((0.2, 0.42, 0.5), (0.85, 0.78, 0.6)),
    ),
    "figurine": Shape(
        "figurine",
        figurine_sdf,
        bounds=((-0.6, -0.35, -0.08), (0.6, 0.3, 1.55)),
        bottom_z=0.0,  # the soles: capsules at z = 0.045, radius 0.045
        trace_center=(0.0, 0.0, 0.72),
        trace_radius=0.86,
        look_at=(0.0, 0.0, 0.72),
        palette=((0.75, 0.28, 0.25), (0.92, 0.82, 0.6)),
    ),
    "house": Shape(
        "house",
        house_sdf,
        bounds=((-0.98, -0.75, -0.08), (0.98, 0.75, 1.5)),
        bottom_z=0.0,
        trace_center=(0.0, 0.0, 0.7),
        trace_radius=1.35,
        look_at=(0.0, 0.0, 0.65),
        palette=((0.72, 0.36, 0.26), (0.88, 0.84, 0.74)),
    ),
}


def ground_truth_mesh(name: str, resolution: int = 160):  # -> trimesh.Trimesh
    """Marching cubes of the shape's SDF over its box: the ground truth (object only)."""
    import trimesh
    from skimage.measure import marching_cubes

    shape = SHAPES[name]
    lo, hi = shape.bounds_array()
    step = float((hi - lo).max()) / resolution
    axes = [np.arange(lo[i], hi[i] + step, step, dtype=np.float32) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
    sdf = shape.sdf(grid.reshape(-1, 3)).reshape(grid.shape[:3])
    verts, faces, _, _ = marching_cubes(sdf, level=0.0, spacing=(step, step, step))
    verts += lo
    # skimage orients faces for increasing values outward; SDF is negative inside, so flip.
    return trimesh.Trimesh(verts, faces[:, ::-1], process=True)


def without_support_contact(mesh, support_z: float):  # -> trimesh.Trimesh
    """The truth a capture can show: ``mesh`` without its faces lying flat on the support plane.

    An object standing on a table has no visible surface where it touches the table (the house's
    floor, the vase's foot: up to a fifth of the house's area). Kept in the reference, that face
    is counted as missing in every reconstruction (completeness) although no photo sees it, as
    scan references of real captures (DTU) leave it out too. The faces removed are those whose
    three vertices lie within a few thousandths of the object's size of the plane and whose
    normal is vertical; the walls meeting the plane keep their bottom row of faces.
    """
    tol = 2e-3 * float(np.ptp(mesh.vertices, axis=0).max())
    on_plane = np.all(np.abs(mesh.vertices[mesh.faces][..., 2] - support_z) < tol, axis=1)
    flat = np.abs(mesh.face_normals[:, 2]) > 0.9
    keep = np.nonzero(~(on_plane & flat))[0]
    return mesh.submesh([keep], append=True, only_watertight=False)


@lru_cache(maxsize=8)
def coarse_vertices(name: str) -> np.ndarray:
    """Vertices of a coarse true mesh (64 samples across): the object's extent to about 1 %."""
    return np.asarray(ground_truth_mesh(name, 64).vertices, np.float64)
