"""The bounding sphere: robust, automatic, checked against the cameras, overridable.

Neuralangelo maps this sphere to the unit sphere and reconstructs only inside it; the
official auto mode often makes it 2–3× too large (every SfM point counts, or the camera
orbit sets the radius). Here:

- objects: start from where the cameras look (the least-squares point closest to all
  optical axes), keep the SfM points near it, drop isolated points (statistical outlier
  removal), and iterate centre = middle of the robust box, radius = high quantile × margin, so
  the sphere settles on the dense cluster the cameras look at. The cameras must stay
  outside and the look-at point inside; violations are corrected and reported.
- scenes: centre = median of the cleaned points, radius = a quantile of their distances
  (cameras may be inside; the background model handles what lies beyond).

All in the world units of the SfM model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from video2mesh.errors import UserError

OBJECT_QUANTILE = 0.99
OBJECT_MARGIN = 1.15  # sparse points under-sample thin parts (legs, handles): leave room
SCENE_QUANTILE = 0.9


@dataclass
class Sphere:
    center: np.ndarray
    radius: float
    method: str
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "center": [round(float(c), 6) for c in self.center],
            "radius": round(float(self.radius), 6),
            "method": self.method,
            "notes": self.notes,
        }


def look_at_point(centers: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Point minimising the summed squared distance to all optical axes."""
    dirs = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    proj = np.eye(3)[None] - dirs[:, :, None] * dirs[:, None, :]
    a = proj.sum(axis=0)
    b = np.einsum("nij,nj->i", proj, centers)
    return np.linalg.lstsq(a, b, rcond=None)[0]


def remove_isolated(points: np.ndarray, k: int = 8, std_ratio: float = 2.0) -> np.ndarray:
    """Statistical outlier removal: drop points whose mean k-NN distance is unusually large."""
    from scipy.spatial import cKDTree

    if len(points) <= k + 1:
        return points
    dist, _ = cKDTree(points).query(points, k=k + 1)
    mean = dist[:, 1:].mean(axis=1)
    keep = mean <= mean.mean() + std_ratio * mean.std()
    return points[keep]


def object_sphere(points: np.ndarray, centers: np.ndarray, dirs: np.ndarray) -> Sphere:
    look = look_at_point(centers, dirs)
    cam_dist = np.linalg.norm(centers - look, axis=1)
    notes: list[str] = []
    center, radius = look, 0.6 * float(np.median(cam_dist))
    inliers = points
    for _ in range(8):
        near = points[np.linalg.norm(points - center, axis=1) < radius]
        if len(near) < 20:
            break
        inliers = remove_isolated(near)
        lo, hi = np.quantile(inliers, [0.005, 0.995], axis=0)
        new_center = (lo + hi) / 2  # box middle: the median would lean to where points are dense
        d = np.linalg.norm(inliers - new_center, axis=1)
        new_radius = float(np.quantile(d, OBJECT_QUANTILE)) * OBJECT_MARGIN
        converged = abs(new_radius - radius) < 1e-3 * radius
        center, radius = new_center, new_radius
        if converged:
            break
    if len(inliers) < 20:
        raise UserError(
            f"only {len(inliers)} SfM points lie where the cameras look",
            "film the object from all around so that it fills the frame, or set the sphere "
            "by hand under sphere: in the config",
        )
    nearest_cam = float(np.linalg.norm(centers - center, axis=1).min())
    if radius > 0.9 * nearest_cam:
        notes.append(
            f"radius {radius:.3f} reached the nearest camera ({nearest_cam:.3f}); "
            "shrunk to 0.9× that distance"
        )
        radius = 0.9 * nearest_cam
    if np.linalg.norm(look - center) > radius:
        notes.append("the cameras' look-at point lies outside the sphere: check sphere.png")
    return Sphere(center, radius, "object: look-at seeded robust cluster", notes)


def scene_sphere(points: np.ndarray) -> Sphere:
    clean = remove_isolated(points)
    center = np.median(clean, axis=0)
    radius = float(np.quantile(np.linalg.norm(clean - center, axis=1), SCENE_QUANTILE))
    return Sphere(center, radius, f"scene: median centre, {SCENE_QUANTILE:.0%} quantile radius")


OVERRIDE_HINT = (
    "write sphere: {scene: {center: [dx, dy, dz], radius: r, scale: s}} in the config, "
    "radius and scale positive numbers"
)


def parse_overrides(text: str | None) -> dict:
    """The --sphere JSON, checked before any work: keys, types and signs."""
    import json

    if not text:
        return {}
    try:
        overrides = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"sphere overrides are not valid JSON ({exc.msg})", OVERRIDE_HINT) from None
    if not isinstance(overrides, dict):
        raise UserError(f"sphere overrides must be a mapping, not {overrides!r:.80}", OVERRIDE_HINT)
    unknown = sorted(set(overrides) - {"center", "radius", "scale"})
    if unknown:
        raise UserError(f"unknown sphere override key(s): {', '.join(unknown)}", OVERRIDE_HINT)

    def number(value: object) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool)

    center = overrides.get("center", [0.0, 0.0, 0.0])
    if not (isinstance(center, list) and len(center) == 3 and all(map(number, center))):
        raise UserError(f"sphere override center {center!r:.80} is not 3 numbers", OVERRIDE_HINT)
    for key in ("radius", "scale"):
        if key in overrides and not (number(overrides[key]) and overrides[key] > 0):
            raise UserError(
                f"sphere override {key} {overrides[key]!r:.80} is not a positive number",
                OVERRIDE_HINT,
            )
    return overrides


def apply_overrides(sphere: Sphere, overrides: dict, points: np.ndarray) -> Sphere:
    """Config overrides: ``center`` offset (world units), ``radius`` (replaces), ``scale``."""
    center = sphere.center + np.asarray(overrides.get("center", [0.0, 0.0, 0.0]), float)
    radius = float(overrides.get("radius", sphere.radius)) * float(overrides.get("scale", 1.0))
    if not np.isfinite(radius) or radius <= 0:
        raise UserError(
            f"sphere override gives radius {radius}", "radius and scale must be positive numbers"
        )
    inside = int((np.linalg.norm(points - center, axis=1) < radius).sum())
    if inside == 0:
        raise UserError(
            f"the overridden sphere (centre {np.round(center, 3).tolist()}, radius {radius:.3g}) "
            "contains no SfM point",
            "sphere: center is an offset from the automatic centre, in SfM units; check "
            "sphere.png of a run without overrides",
        )
    notes = [*sphere.notes]
    if overrides:
        notes.append(f"overrides applied: {overrides}")
    return Sphere(center, radius, sphere.method + (" + overrides" if overrides else ""), notes)
