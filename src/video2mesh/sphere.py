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

from video2mesh.carve import carve_plain_object
from video2mesh.coverage import MAX_AZIMUTH_GAP_DEG, widest_gap
from video2mesh.errors import UserError
from video2mesh.photo_colours import Photo, Pinhole
from video2mesh.standing import MIN_VOTES, STANDS_SHARE, stands_share
from video2mesh.support import Plane, camera_up, principal_frame

OBJECT_QUANTILE = 0.99
OBJECT_MARGIN = 1.15  # sparse points under-sample thin parts (legs, handles): leave room
SCENE_QUANTILE = 0.9
# A side of the object that no camera stands on (DTU's front-only hemisphere leaves 240-260°
# of the way round) has no SfM points: the fit ends at the seen surface and can cut the back
# off. ``unseen_growth`` > 0 moves the centre that share of the radius towards the unseen side
# and grows the radius by it (the seen side's bound stays). Off by default: at 0.25 the model
# house's silhouette IoU rose 0.979 -> 0.989 under one training seed, but under three of five
# seeds (none of four without it) the CPU preset's background settled on the white of its
# table within 60 iterations, and the house came out shelled (IoU 0.81; the background guard's
# restart collapsed the same way): benchmarks/realworld/RESULTS.md, sessions 28-29.
UNSEEN_GROWTH = 0.0


@dataclass
class ObjectBox:
    """The object's robust box: ``lo``/``hi`` in the frame whose rows are ``basis``."""

    basis: np.ndarray  # (3, 3); the last row is up: the support's normal, else the cameras'
    lo: np.ndarray
    hi: np.ndarray

    def corners(self) -> np.ndarray:
        idx = np.array([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)])
        return np.where(idx, self.hi, self.lo) @ self.basis

    def as_json(self) -> dict:
        return {
            "basis": np.round(self.basis, 6).tolist(),
            "lo": np.round(self.lo, 6).tolist(),
            "hi": np.round(self.hi, 6).tolist(),
        }

    @classmethod
    def from_json(cls, data: dict) -> ObjectBox:
        return cls(*(np.asarray(data[k], float) for k in ("basis", "lo", "hi")))

    def local(self, x: np.ndarray) -> np.ndarray:
        """Points in the box's own frame (the coordinates ``lo`` and ``hi`` bound)."""
        return np.asarray(x, float) @ self.basis.T

    def contains(self, x: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Which points lie inside the box grown by ``margin`` (world units) on every side."""
        local = self.local(x)
        return np.all((local >= self.lo - margin) & (local <= self.hi + margin), axis=-1)


@dataclass
class Sphere:
    center: np.ndarray
    radius: float
    method: str
    notes: list[str] = field(default_factory=list)
    support: Plane | None = None
    box: ObjectBox | None = None

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


@dataclass
class Cameras:
    """Registered cameras: OpenCV camera-to-world matrices and one shared pinhole model."""

    c2w: np.ndarray  # (n, 4, 4)
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def centers(self) -> np.ndarray:
        return self.c2w[:, :3, 3]

    @property
    def axes(self) -> np.ndarray:
        return self.c2w[:, :3, 2]

    @property
    def k(self) -> Pinhole:
        return self.fx, self.fy, self.cx, self.cy


def in_view_share(points: np.ndarray, cams: Cameras, border: float = 0.02) -> np.ndarray:
    """Per point, the share of cameras that see it in front of them and inside their image."""
    w2c = np.linalg.inv(cams.c2w)
    seen = np.zeros(len(points))
    lo_u, hi_u = border * cams.width, (1 - border) * cams.width
    lo_v, hi_v = border * cams.height, (1 - border) * cams.height
    for m in w2c:
        x = points @ m[:3, :3].T + m[:3, 3]
        z = x[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = cams.fx * x[:, 0] / z + cams.cx
            v = cams.fy * x[:, 1] / z + cams.cy
        seen += (z > 0) & (u > lo_u) & (u < hi_u) & (v > lo_v) & (v < hi_v)
    return seen / len(w2c)


TABLE_BAND = 0.04  # of the median camera distance: points this close above the support are its
# A table's points lie as thick as SfM's noise on it makes them: planks, cloth and grazing views
# spread the sample's over ±4 % of the camera distance, but on a sheet of paper 90 % of them lie
# within 0.2 % of the plane, and a flat stone 6.6 % high on it held 8 points above 4 % (48
# above 1 %). The band is BAND_SPREAD × the 90th percentile of the table's points' heights (a
# ring round the object, within TABLE_BAND), between 2 RANSAC tolerances and TABLE_BAND.
BAND_SPREAD = 2.5
BAND_RING = (0.1, 0.5)  # of the median camera distance from the look-at point's foot


def table_band(points: np.ndarray, support: Plane, look: np.ndarray, scale: float) -> float:
    """How high above ``support`` its own SfM points reach (see BAND_SPREAD), world units."""
    lo, hi = 2 * support.tolerance, TABLE_BAND * scale
    h = support.height(points)
    r = np.linalg.norm(support.project(points) - support.project(look), axis=1) / scale
    ring = (np.abs(h) < hi) & (r > BAND_RING[0]) & (r < BAND_RING[1])
    if ring.sum() < 50:
        return max(lo, hi)
    return float(np.clip(BAND_SPREAD * np.quantile(np.abs(h[ring]), 0.9), lo, max(lo, hi)))


# A point of the object is in the images of most cameras of an orbit; the room behind it is in
# the images of the few cameras on the other side only. 0.5 keeps an object that leaves the
# frame now and then, and drops walls, shelves and the far end of the table.
MIN_IN_VIEW = 0.5


def object_sphere(
    points: np.ndarray,
    cams: Cameras,
    support: Plane | None = None,
    unseen_growth: float = UNSEEN_GROWTH,
    photo: Photo | None = None,
) -> Sphere:
    """The sphere around the object the cameras look at, standing on ``support`` if given
    (grown by ``unseen_growth`` towards a side no camera sees, see UNSEEN_GROWTH).

    Points on or below the support, and points few cameras see (the room), are not the object.
    Of the rest, the cluster around the look-at point is found by the robust box iteration; the
    box then reaches down to the support, so the object's foot is inside.
    """
    centers, dirs = cams.centers, cams.axes
    look = look_at_point(centers, dirs)
    cam_dist = np.linalg.norm(centers - look, axis=1)
    scale = float(np.median(cam_dist))
    notes: list[str] = []
    candidates = points[in_view_share(points, cams) >= MIN_IN_VIEW]
    if len(candidates) < 20:
        candidates = points
    # the box's up: the support's normal, else the cameras' (its sides follow the points)
    cameras_up = camera_up(cams.c2w)
    up, band, hull = cameras_up, 0.0, None
    if support is not None:
        # Not the table: SfM's table points spread over a band thicker than the RANSAC
        # tolerance (planks, cloth, noise at grazing angles: ±4 % of the camera distance on
        # the sample); the object's lowest part is given back by the box reaching the plane.
        band = table_band(points, support, look, scale)
        above = candidates[support.height(candidates) > band]
        if len(above) < 20 and photo is not None:
            hull = carve_plain_object(support, cams.c2w, cams.k, photo, look, scale)
            if hull is not None:
                notes.append(
                    f"{len(above)} SfM points stand on the support surface: the object is "
                    "plain, its shape was carved from the photos by its colour"
                )
                above = hull
        if len(above) >= 20:
            candidates = above
            up = support.normal
            if support.height(look) < 0:
                look = look - support.height(look) * support.normal
        else:
            notes.append("too few points above the support surface: it is ignored")
            support = None
    center, radius = look, 0.6 * scale
    inliers = candidates
    # a carved hull is the object already (and the isolated-point removal would erode the
    # grid's outer layer each round)
    for _ in range(0 if hull is not None else 8):
        near = candidates[np.linalg.norm(candidates - center, axis=1) < radius]
        if len(near) < 20:
            break
        inliers = remove_isolated(near)
        new_center, new_radius = _fit(inliers, up, None)
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
    if support is not None:
        heights = support.height(inliers)
        foot, top = np.quantile(heights, [0.005, 0.995])
        # a gap above the band left out as the table's, that the photos do not fill
        # measured above the widest band (TABLE_BAND) whatever this table's: a round bottom
        # (an apple's) ends well above a thin one
        floor = max(band, TABLE_BAND * scale)
        if foot - floor > FLOAT_GAP * top and not _stands(inliers, support, cams, photo, notes):
            notes.append(
                f"the object's lowest points are {foot:.3g} above the support plane found "
                f"({foot / top:.0%} of its top's): it is not standing on it, so "
                "nothing is cut"
            )
            support, up = None, cameras_up
        else:  # reach down to the support, so that the object's foot is inside
            center, radius = _fit(inliers, up, support)
    grown = ""
    if unseen_growth > 0:
        up = support.normal if support is not None else cameras_up
        gap, unseen = widest_gap(centers, center, up)
        if gap > MAX_AZIMUTH_GAP_DEG:
            center = center + unseen_growth * radius * unseen
            radius *= 1 + unseen_growth
            grown = ", grown towards the unseen side"
    nearest_cam = float(np.linalg.norm(centers - center, axis=1).min())
    if radius > 0.9 * nearest_cam:
        notes.append(
            f"radius {radius:.3f} reached the nearest camera ({nearest_cam:.3f}); "
            "shrunk to 0.9× that distance"
        )
        radius = 0.9 * nearest_cam
    if np.linalg.norm(look - center) > radius:
        notes.append("the cameras' look-at point lies outside the sphere: check sphere.png")
    basis = principal_frame(inliers, up)
    lo, hi = _box(inliers, basis, support)
    on = " on the support" if support else ""
    method = f"object: look-at seeded robust cluster{on}{grown}"
    return Sphere(center, radius, method, notes, support=support, box=ObjectBox(basis, lo, hi))


# An object whose lowest points float higher than this share of its height above the plane
# found does not stand on it (a floor far below a floating object, a table beside it).
FLOAT_GAP = 0.15


def _stands(
    points: np.ndarray, support: Plane, cams: Cameras, photo: Photo | None, notes: list[str]
) -> bool:
    """Whether the photos show the object's plain sides reaching down to ``support``."""
    if photo is None:
        return False
    share, votes = stands_share(points, support, cams.c2w, cams.k, photo)
    if votes < MIN_VOTES or share < STANDS_SHARE:
        return False
    notes.append(
        f"the object's lowest SfM points lie well above the support plane found, but the "
        f"photos show its sides reaching down to it ({share:.0%} of {votes} samples): it "
        "stands on it"
    )
    return True


def _box(points: np.ndarray, basis: np.ndarray, support: Plane | None) -> tuple:
    """Robust box of the points in the frame ``basis``; down to the support when given."""
    lo, hi = np.quantile(points @ basis.T, [0.005, 0.995], axis=0)
    if support is not None:
        lo[2] = -support.offset  # height 0: basis[2] is the support's normal
    return lo, hi


def _fit(points: np.ndarray, up: np.ndarray, support: Plane | None) -> tuple[np.ndarray, float]:
    """Centre = middle of the robust box (the median leans to dense parts) in the points'
    ``principal_frame``; radius = a high quantile of the distances × margin. With a support,
    the object's lowest tenth dropped onto the plane (its foot) counts too."""
    basis = principal_frame(points, up)
    lo, hi = _box(points, basis, support)
    center = ((lo + hi) / 2) @ basis
    ends = points
    if support is not None:
        h = support.height(points)
        low = points[h < h.min() + 0.1 * (h.max() - h.min())]
        ends = np.vstack([points, support.project(low)])
    d = np.linalg.norm(ends - center, axis=1)
    return center, float(np.quantile(d, OBJECT_QUANTILE)) * OBJECT_MARGIN


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
    method = sphere.method + (" + overrides" if overrides else "")
    # the box is what the automatic fit took for the object: a sphere set by hand may mean more
    box = None if overrides else sphere.box
    return Sphere(center, radius, method, notes, support=sphere.support, box=box)
