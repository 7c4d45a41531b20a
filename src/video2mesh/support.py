"""The support surface (table, floor) under an object, found in the SfM points.

People film an object standing on something. That surface is the densest, flattest structure in
the sparse model, it lies below the object, its normal points to where the cameras are, and
the cameras are above it. We look for it with RANSAC among planes whose normal is within
``MAX_TILT_DEG`` of the cameras' up direction, score each by the points it holds near the
object, and refit the winner by least squares. When nothing qualifies (a floating object, a
plain untextured table, a turntable seen from the side) there is no support: callers then
behave as before the support existed.

A plane can also be a slice of the object itself: the ring of points round the bottom of a
floating cup's body, a chair's seat on a plain floor. A support is opaque and the cameras are
above it, so no point can be seen deep under it inside the footprint of its own points; a plane
with more points deep under it than half of those on it is refused
(``_hides_points_below``), and the next candidate tried.

A plane can also be the object's own base (a Lego model's studded plate): its points end where
the object ends, where a table's go on round it (``_own_base``); it is passed over, with the
plate's slightly tilted copies through the same points.

A support with few points (a stool's plain top) takes the level of a floor far below it that
holds many (``_levelled``): supports stand level, and a plane through a few dozen points can
tilt to take in the top's rim.

All in the world units of the SfM model; ``scale`` is the median camera distance to the point
the cameras look at, so thresholds are relative to the capture, not to SfM's arbitrary units.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

MAX_TILT_DEG = 30.0  # a table seen by an orbit: the cameras' up is within a few degrees of it
INLIER_FRACTION = 0.006  # of scale: SfM points on a textured table lie within ~0.2 % of it
MIN_INLIERS = 30
MIN_SHARE = 0.05  # of the points near the object: a few stray coplanar points are no table
CAMERAS_ABOVE = 0.9  # share of cameras that must be on the normal's side
# points deeper than this many inlier tolerances under a plane, inside its inliers' footprint,
# cannot be seen through a support: on the tables and floors of 12 captures they number 0–16 %
# of the plane's inliers (SfM's outliers; at the high end most likely the floor beside a table
# under a footprint stretched by stray coplanar points); under the rim of a floating cup's or
# vase's body (no support) 136–145 %: their legs and foot. The line sits between, a factor ~3
# from each.
DEEP_BELOW = 10.0
# a support reaches out from under the object: the 90th percentile of its points' distance from
# the look-at point's foot is 0.37–0.75 of scale on the 16 tables and floors of the validation
# set (DTU 65 the least), 0.08 on the Middlebury temple's plinth, the top of the object's own base
MIN_SPREAD = 0.2
MAX_BELOW_SHARE = 0.5  # of the plane's inliers
# A table reaches out beyond the object; the object's own base (a Lego model's plate, a plinth)
# ends where the object ends. The share of the plane's points further than BASE_GAP (across the
# plane) from every point that stands BASE_ABOVE over it within BASE_REACH of the look-at
# point's foot: 0.78–1.0 on the 10 tables, sheets and floors of the validation set that have a
# support (DTU 65 and the generated sample the least), 0.08 on NeRF's Lego plate. All of scale.
# But a plain table holds points only along the object's foot (DTU 24's white one: 0.01 beyond,
# as the plate), so its end is not seen: only a plane holding BASE_POINTS × as many points as
# stand on it is judged (the Lego's studded plate 0.31; DTU 24's table 0.10, DTU 65's 0.48).
BASE_GAP = 0.05
BASE_ABOVE = 0.04  # the scene stage's TABLE_BAND
BASE_REACH = 0.3
BASE_BEYOND = 0.3
BASE_POINTS = 0.2
# The point the cameras look at lies above the support, but not by much where the object is
# flat, and the axes of hand-held photos meet a little off: under an ArUco sheet by 6.1 % of the
# camera distance (a flat stone) and 8.7 % (a flat case). A plane further above it (a table top
# beside an object on the floor) is not its support.
LOOK_BELOW = 0.1  # of scale
# A small plain support (a stool's top) holds few SfM points, and the plane through them can tilt
# to take in a few more on its rim: on the generated stool 16° off the level (51 points), where
# the room's floor below held 1005 points on a plane 0.8° from the truth. Supports stand level,
# so where a floor under the support holds LEVEL_RATIO times its points and their normals part
# by LEVEL_MIN_DEG or more (within MAX_TILT_DEG), the support takes the floor's normal. A table's
# top, with hundreds of points, is its own best level.
LEVEL_RATIO = 5.0
LEVEL_MIN_DEG = 3.0


@dataclass
class Plane:
    """``normal · x + offset = 0``; ``normal`` has unit length and points up (to the cameras)."""

    normal: np.ndarray
    offset: float
    inliers: int
    tolerance: float  # the RANSAC inlier distance, world units

    def height(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, float) @ self.normal + self.offset

    def project(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, float)
        return x - self.height(x)[..., None] * self.normal

    def normalised(self, center: np.ndarray, radius: float) -> Plane:
        """The plane in the frame where the sphere (center, radius) is the unit sphere:
        n · (c + r x) + b = 0  →  n · x + (n · c + b) / r = 0."""
        offset = (float(self.normal @ np.asarray(center, float)) + self.offset) / radius
        return Plane(self.normal, offset, self.inliers, self.tolerance / radius)

    def as_json(self) -> dict:
        return {
            "normal": [round(float(v), 6) for v in self.normal],
            "offset": round(float(self.offset), 6),
            "inliers": int(self.inliers),
            "tolerance": round(float(self.tolerance), 6),
        }

    @classmethod
    def from_json(cls, data: dict) -> Plane:
        return cls(
            np.asarray(data["normal"], float),
            float(data["offset"]),
            int(data.get("inliers", 0)),
            float(data.get("tolerance", 0.0)),
        )


LEVEL_LOOK = 0.05  # |mean view direction · up| under which cameras look level (3°)
UPRIGHT_SHARE = 0.9  # of cameras whose −y is within 60° of the mean: held upright


def up_frame(normal: np.ndarray) -> np.ndarray:
    """Rows: two unit vectors in the plane and the normal (a right-handed basis)."""
    helper = np.array([1.0, 0, 0]) if abs(normal[0]) < 0.9 else np.array([0, 1.0, 0])
    e1 = np.cross(normal, helper)
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(normal, e1), normal])


def facing_frame(up: np.ndarray, towards: np.ndarray) -> np.ndarray:
    """Rows: ``towards`` across ``up``, the direction across both, and ``up`` (right-handed):
    a frame that turns with the scene, where ``up_frame``'s sides follow the world's axes."""
    up = up / np.linalg.norm(up)
    across = towards - (towards @ up) * up
    if np.linalg.norm(across) < 1e-9 * max(1.0, np.linalg.norm(towards)):
        return up_frame(up)  # towards is up itself: any side will do
    across = across / np.linalg.norm(across)
    return np.stack([across, np.cross(up, across), up])


def principal_frame(points: np.ndarray, up: np.ndarray) -> np.ndarray:
    """``facing_frame`` along the points' widest spread across ``up``. A box in this frame
    follows the object, not the axes SfM happened to give its world (DTU 65's sphere was 0.219
    to 0.242 of the camera distance as its SfM model was turned; RESULTS.md, session 45)."""
    up = up / np.linalg.norm(up)
    flat = points - points.mean(axis=0)
    flat = flat - np.outer(flat @ up, up)
    return facing_frame(up, np.linalg.eigh(flat.T @ flat)[1][:, -1])


def camera_up(c2w: np.ndarray) -> np.ndarray:
    """The cameras' shared up direction (world), from OpenCV camera-to-world matrices.

    People hold a camera upright, so the mean of the cameras' −y axes points up, and each
    camera's −y within 60° of it. When the cameras are rolled (the mean too short, or many
    cameras' −y far from it: the Middlebury temple's ring holds photos turned a quarter one way
    and the other), the normal of the plane through the camera centres (an orbit's plane) is up,
    signed so that the cameras look down on what they film, as people do, or, when they look
    level, towards that mean; and where some cameras are held on their side, their sideways
    axes are read as their ups (`_held_on_their_side`).
    """
    ups = -c2w[:, :3, 1]
    mean = ups.mean(axis=0)
    unit = mean / max(np.linalg.norm(mean), 1e-12)
    upright = np.mean(ups @ unit > 0.5) >= UPRIGHT_SHARE
    if (np.linalg.norm(mean) >= 0.5 and upright) or len(c2w) < 3:
        return unit
    centers = c2w[:, :3, 3]
    normal = np.linalg.eigh(np.cov((centers - centers.mean(axis=0)).T))[1][:, 0]
    look = float(c2w[:, :3, 2].mean(axis=0) @ normal)  # OpenCV: +z looks into the scene
    if abs(look) > LEVEL_LOOK:
        orbit = -normal if look > 0 else normal
    else:
        orbit = normal if normal @ mean >= 0 else -normal
    return _held_on_their_side(c2w, orbit, unit)


def _held_on_their_side(c2w: np.ndarray, orbit: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """The up of cameras some of which were held on their side (photos the frames stage turned
    a quarter, or cameras rolled on a rig): each camera's up is taken as its −y, x or −x,
    whichever lies nearest the shared up, and the shared up refined from two starts, the
    orbit's normal and the mean −y. A refined up counts where UPRIGHT_SHARE of the cameras agree
    with it within 60°; of two that count (a frontal cap of cameras, whose sideways axes are as
    alike as their ups) the one that more cameras hold upright; where none counts, the orbit's
    normal (right for a ring of cameras, not for a frontal cap, whose plane leans)."""
    sides = np.stack([-c2w[:, :3, 1], c2w[:, :3, 0], -c2w[:, :3, 0]], axis=1)  # (n, 3, 3)
    best, best_upright = orbit, -1
    for up in (orbit, mean):
        for _ in range(20):
            pick = np.argmax(sides @ up, axis=1)
            picked = sides[np.arange(len(sides)), pick].mean(axis=0)
            new = picked / max(np.linalg.norm(picked), 1e-12)
            if np.allclose(new, up, atol=1e-9):
                break
            up = new
        agree = float(np.mean((sides @ up).max(axis=1) > 0.5)) >= UPRIGHT_SHARE
        if agree and int(np.sum(pick == 0)) > best_upright:
            best, best_upright = up, int(np.sum(pick == 0))
    return best


# of the sphere's radius: how far under the sphere's bottom a point must lie to show that the world
# goes on below what the sphere holds (SfM's noise at a floor the sphere ends on stays above)
BELOW_MARGIN = 0.2
# share of the SfM points under the sphere's bottom (transforms.json's points_below_sphere) from
# which `support: remove` also looks for the support on the mesh (isolate.mesh_support): the
# object then stands on something that goes on down out of the sphere, a stool, a box, a
# plinth on the floor (the miku's stool: 0.16; a trunk outdoors 0.05, no plane on its mesh);
# under an object filmed on black (temple, Viking, dino) or in a dark room (skull) nothing: 0
MESH_SUPPORT_BELOW = 0.03


def below_sphere_share(
    points: np.ndarray, center: np.ndarray, radius: float, up: np.ndarray
) -> float:
    """Share of ``points`` lower than the sphere's bottom by more than ``BELOW_MARGIN`` radii
    along ``up``: the floor and room under a small support that the sphere cuts through (a
    stool under a figurine: 16 %), none under an object filmed on black (0 on the temple,
    the Viking)."""
    if not len(points):
        return 0.0
    heights = (np.asarray(points, float) - np.asarray(center, float)) @ np.asarray(up, float)
    return float(np.mean(heights < -(1.0 + BELOW_MARGIN) * radius))


def camera_poses(meta: dict) -> np.ndarray:
    """(N, 4, 4) OpenGL camera-to-world matrices of transforms.json content ``meta``."""
    return np.array([f["transform_matrix"] for f in meta.get("frames", [])], float).reshape(
        -1, 4, 4
    )


def scene_up(meta: dict, default: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> np.ndarray:
    """The scene's one up (renders, GLB, capture coverage, sizes), from transforms.json's
    content: the support plane's normal where the scene stage found one, else `camera_up`;
    ``default`` when there are no cameras either."""
    if meta.get("support_plane"):
        n = np.asarray(meta["support_plane"]["normal"], float)
        return n / np.linalg.norm(n)
    gl = camera_poses(meta)
    if not len(gl):
        return np.asarray(default, float)
    # transforms.json holds OpenGL camera-to-world matrices; camera_up takes OpenCV ones
    return camera_up(gl @ np.diag([1.0, -1.0, -1.0, 1.0]))


def _plane_through(p: np.ndarray) -> tuple[np.ndarray, float] | None:
    n = np.cross(p[1] - p[0], p[2] - p[0])
    length = np.linalg.norm(n)
    if length < 1e-12:
        return None
    n = n / length
    return n, -float(n @ p[0])


def refit_plane(points: np.ndarray) -> tuple[np.ndarray, float]:
    mean = points.mean(axis=0)
    _, vecs = np.linalg.eigh(np.cov((points - mean).T))
    n = vecs[:, 0]  # the direction of least spread
    return n, -float(n @ mean)


def find_support(
    points: np.ndarray,
    c2w: np.ndarray,
    look: np.ndarray,
    *,
    iterations: int = 600,
    seed: int = 0,
    min_spread: float = MIN_SPREAD,
    facing_up: np.ndarray | None = None,
    level: bool = True,
) -> Plane | None:
    """The support plane under the object the cameras look at, or None if there is none.

    ``min_spread`` (of scale): how far out from under the object the plane's points must reach
    (0: no test, for points on a mesh that the bounding sphere clips). ``facing_up``: which
    points may be drawn for the candidate planes (points on a mesh whose face looks up: a
    support of a few % of the area is then drawn at all). ``level``: a support with few points
    takes the normal of a floor far below it that holds many (`_levelled`)."""
    centers = c2w[:, :3, 3]
    up = camera_up(c2w)
    scale = float(np.median(np.linalg.norm(centers - look, axis=1)))
    tol = INLIER_FRACTION * scale
    close = np.linalg.norm(points - look, axis=1) < 1.2 * scale
    near = points[close]
    drawn = near if facing_up is None else points[close & facing_up]
    if len(near) < MIN_INLIERS or len(drawn) < 3:
        return None
    min_inliers = max(MIN_INLIERS, int(MIN_SHARE * len(near)))
    rng = np.random.default_rng(seed)
    found = [
        c
        for c in _candidates(near, drawn, centers, up, tol, rng, iterations, look, scale)
        if c[0] >= min_inliers
    ]
    base = np.zeros(len(near), bool)  # on planes refused as the object's own base
    while found:
        # A table and the floor under it both qualify: the object stands on the highest of the
        # well-supported planes below it (a far floor can hold more points than a small table).
        top = max(c for c, _, _ in found)
        _, n, d = min((f for f in found if f[0] >= 0.5 * top), key=lambda f: f[1] @ look + f[2])
        plane = _refined(near, n, d, up, tol, min_inliers)
        if (
            plane is not None
            and _reaches_beyond(near, plane, look, min_spread * scale)
            and not _hides_points_below(near, plane)
        ):
            on = np.abs(plane.height(near)) < plane.tolerance
            # a plane through the base's points again (tilted a little) is that base
            if not (
                min_spread
                and (base[on].mean() > 0.5 or _own_base(near, plane, on, look, scale, base))
            ):
                if level:
                    return _levelled(plane, points, near, centers, up, rng, iterations)
                return plane
            base |= on
        # that plane and the candidates that are the same plane go; the next one is tried
        found = [f for f in found if not _same_plane(f[1], f[2], n, d, look, tol)]
    return None


def _candidates(
    points: np.ndarray,
    drawn: np.ndarray,
    centers: np.ndarray,
    up: np.ndarray,
    tol: float,
    rng: np.random.Generator,
    iterations: int,
    look: np.ndarray | None = None,
    scale: float = 0.0,
) -> Iterator[tuple[int, np.ndarray, float]]:
    """RANSAC planes through three of ``drawn``, as (inliers among ``points``, normal, offset),
    the normal towards the cameras' ``up`` within ``MAX_TILT_DEG``, the cameras above (and
    ``look``, where the object stands on it, not under it by more than ``LOOK_BELOW`` ×
    ``scale``)."""
    cos_tilt = np.cos(np.radians(MAX_TILT_DEG))
    for _ in range(iterations):
        fit = _plane_through(drawn[rng.choice(len(drawn), 3, replace=False)])
        if fit is None:
            continue
        n, d = fit
        if n @ up < 0:
            n, d = -n, -d
        if n @ up < cos_tilt:
            continue
        if look is not None and n @ look + d < -max(2 * tol, LOOK_BELOW * scale):
            continue
        if np.mean(centers @ n + d > 0) < CAMERAS_ABOVE:
            continue
        yield int((np.abs(points @ n + d) < tol).sum()), n, d


def _levelled(
    plane: Plane,
    points: np.ndarray,
    near: np.ndarray,
    centers: np.ndarray,
    up: np.ndarray,
    rng: np.random.Generator,
    iterations: int,
) -> Plane:
    """``plane`` with the normal of the floor under it where that floor holds ``LEVEL_RATIO``
    times its points and parts from it by ``LEVEL_MIN_DEG`` or more; at the height, along that
    normal, that holds the most of the points near the object among those on ``plane``."""
    tol = plane.tolerance
    low = points[plane.height(points) < -DEEP_BELOW * tol]
    need = LEVEL_RATIO * plane.inliers
    if len(low) < need:
        return plane
    best = max(
        _candidates(low, low, centers, up, tol, rng, iterations),
        key=lambda c: c[0],
        default=None,
    )
    if best is None or best[0] < need:
        return plane
    floor = _refined(low, best[1], best[2], up, tol, int(need))
    if floor is None:
        return plane
    part = np.degrees(np.arccos(np.clip(floor.normal @ plane.normal, -1.0, 1.0)))
    if not LEVEL_MIN_DEG <= part <= MAX_TILT_DEG:
        return plane
    n = floor.normal
    heights = near @ n
    on = heights[np.abs(plane.height(near)) < tol]
    counts = [(int((np.abs(heights - h) < tol).sum()), h) for h in on]
    count, h = max(counts)
    return Plane(n, -float(h), count, tol)


def _refined(
    near: np.ndarray, n: np.ndarray, d: float, up: np.ndarray, tol: float, min_inliers: int
) -> Plane | None:
    """Least squares on a candidate's inliers, then on the inliers of that (three times)."""
    for _ in range(3):
        inl = near[np.abs(near @ n + d) < tol]
        if len(inl) < 3:
            return None
        n, d = refit_plane(inl)
        if n @ up < 0:
            n, d = -n, -d
    count = int((np.abs(near @ n + d) < tol).sum())
    return Plane(n, d, count, tol) if count >= min_inliers else None


def _same_plane(
    n: np.ndarray, d: float, n0: np.ndarray, d0: float, look: np.ndarray, tol: float
) -> bool:
    """Within 5° of each other and 2 tolerances apart under the look-at point."""
    return bool(n @ n0 > np.cos(np.radians(5.0)) and abs((n - n0) @ look + d - d0) < 2 * tol)


def _reaches_beyond(near: np.ndarray, plane: Plane, look: np.ndarray, spread: float) -> bool:
    """Whether the plane's points spread out from under the object as a table or floor does
    (their 90th-percentile distance from the look-at point's foot over ``spread``), not only
    under it as the top of an object's own plinth."""
    inl = near[np.abs(plane.height(near)) < plane.tolerance]
    across = (inl - plane.project(look)) @ up_frame(plane.normal)[:2].T
    return float(np.quantile(np.linalg.norm(across, axis=1), 0.9)) > spread


def _own_base(
    near: np.ndarray,
    plane: Plane,
    on: np.ndarray,
    look: np.ndarray,
    scale: float,
    base: np.ndarray,
) -> bool:
    """Whether the plane's points lie under the object all but BASE_BEYOND of them, as on the
    object's own base rather than on a table that goes on round it, and are many enough to
    show where it ends (BASE_POINTS). ``base``: the points of planes already refused as that
    base (its top and its studs' tops) count as the object; ``on``: the plane's points."""
    from scipy.spatial import cKDTree

    heights = plane.height(near)
    across = (near - plane.project(look)) @ up_frame(plane.normal)[:2].T
    within = np.linalg.norm(across, axis=1) < BASE_REACH * scale
    standing = within & (heights > BASE_ABOVE * scale)
    if on.sum() < BASE_POINTS * standing.sum() or not standing.any():
        return False
    gap, _ = cKDTree(across[standing | (within & base)]).query(across[on])
    return float(np.mean(gap > BASE_GAP * scale)) < BASE_BEYOND


def _hides_points_below(near: np.ndarray, plane: Plane) -> bool:
    """Whether the plane has points deep under it, inside its inliers' footprint, numbering
    more than MAX_BELOW_SHARE of its inliers: what an opaque support would hide."""
    from scipy.spatial import Delaunay, QhullError

    heights = plane.height(near)
    inl = np.abs(heights) < plane.tolerance
    deep = heights < -DEEP_BELOW * plane.tolerance
    if deep.sum() <= MAX_BELOW_SHARE * inl.sum():
        return False
    uv = near @ up_frame(plane.normal)[:2].T  # coordinates in the plane
    try:
        footprint = Delaunay(uv[inl])
    except QhullError:  # inliers on a line: no footprint to speak of
        return False
    under = int((footprint.find_simplex(uv[deep]) >= 0).sum())
    return under > MAX_BELOW_SHARE * inl.sum()
