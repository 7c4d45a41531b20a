"""A reference mesh without cameras of its own, registered onto the SfM points.

A scan of the object (a turntable scanner's, a phone's depth sensor's, a CAD model) comes in its
own frame and units. The SfM model holds points on the object's textured surface, and every such
point lies on the reference's surface, not the other way round (a scan has parts with no texture
SfM could match). The registration therefore minimises the trimmed distance from the points to
the reference (the closest ``KEEP`` of them: SfM's stray points and what is left of the table do
not count) over similarities (scale, rotation, translation), in two steps:

1. A search: turns (the identity, for a reference already in the SfM frame; the 24 that match
   the two point sets' principal axes; 24 spread over all orientations; and, with the SfM
   frame's up known, each of the reference's six axis directions stood up and turned about it
   every ``AZIMUTH_STEP_DEG``°: scans and CAD models keep an axis up), each at a few scales
   around the ratio of the two spreads and a few shifts around the centres, scored on a grid
   of the distance to the reference. ICP alone from the axis matches missed on the figurine
   seen from above, whose points cover its top only (a local minimum 4 % of the diagonal off).
2. Trimmed ICP with scale from the ``TOP`` best of the search (one per turn); the lowest
   trimmed distance wins.

The runner-up with another orientation is reported beside it: a symmetric object leaves its
turn about its axis open, which the metrics barely see, but a reference that fits two ways
almost equally well is flagged (``ambiguous``) and logged.

Points: SfM's clean points (tracks of 3 or more, error ≤ 2 px) inside the bounding sphere and,
for objects on a support, above the support's band (no scan has the table).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from video2mesh.refine_alignment import apply, rotation_between, scale_of, similarity

KEEP = 0.9  # share of the closest points each ICP round
ROUNDS = 40
SCREEN_POINTS = 500  # of the SfM points, for the grid search
# starts besides the axis matches: turns spread over all orientations (the axes of a few
# hundred points on one side of an object are not always its own)
SPREAD_STARTS = 24
# with the SfM frame's up known: each of the reference's six axis directions stood up, turned
# about it in steps of this many degrees (scans and CAD models keep an axis up; ICP's basin is
# narrower than the PCA starts' spacing)
AZIMUTH_STEP_DEG = 10
GRID = 64  # cells per side of the reference's distance grid
SCALES = (0.85, 0.92, 1.0, 1.08, 1.17)  # × the spreads' ratio
OFFSETS = (-0.1, 0.0, 0.1)  # × the reference's size, along each axis
TOP = 16  # candidates of the grid search refined by ICP
REFERENCE_SAMPLES = 40_000
MIN_POINTS = 50
# a runner-up within this factor of the best distance, turned by more than AMBIGUOUS_DEG from it
AMBIGUOUS_RATIO = 1.1
AMBIGUOUS_DEG = 10.0


def object_points(points: np.ndarray, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    """The SfM ``points`` on the object: inside the sphere of transforms.json (``meta``) and,
    with a support plane, above its band (the scene stage's ``TABLE_BAND``); and the frame's up:
    the support's normal, else the cameras' mean up (an orbit is filmed upright)."""
    from video2mesh.sphere import TABLE_BAND
    from video2mesh.support import Plane

    center, radius = np.asarray(meta["sphere_center"], float), float(meta["sphere_radius"])
    keep = np.linalg.norm(points - center, axis=1) < radius
    poses = np.array([np.asarray(f["transform_matrix"], float) for f in meta["frames"]])
    up = poses[:, :3, 1].mean(axis=0)  # transforms.json is OpenGL: +y is the camera's up
    if meta.get("support_plane"):
        plane = Plane.from_json(meta["support_plane"])
        band = TABLE_BAND * float(np.median(np.linalg.norm(poses[:, :3, 3] - center, axis=1)))
        keep &= plane.height(points) > max(2 * plane.tolerance, band)
        up = plane.normal
    return points[keep], up / np.linalg.norm(up)


def _axes(points: np.ndarray) -> np.ndarray:
    """Principal axes as columns, largest spread first, a right-handed basis."""
    _, vectors = np.linalg.eigh(np.cov((points - points.mean(axis=0)).T))
    axes = vectors[:, ::-1].copy()
    if np.linalg.det(axes) < 0:
        axes[:, 2] *= -1
    return axes


def _spread(points: np.ndarray) -> float:
    return float(np.sqrt(((points - points.mean(axis=0)) ** 2).sum(axis=1).mean()))


def _axis_rotations() -> list[np.ndarray]:
    """The 24 proper signed permutation matrices."""
    out = []
    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1, -1), repeat=3):
            m = np.zeros((3, 3))
            m[range(3), perm] = signs
            if np.linalg.det(m) > 0:
                out.append(m)
    return out


def _spread_rotations(n: int) -> np.ndarray:
    """``n`` rotation matrices spread over all orientations (seeded: the same every run)."""
    from scipy.spatial.transform import Rotation

    return Rotation.random(n, random_state=0).as_matrix()


def _trimmed(distances: np.ndarray) -> float:
    return float(np.sort(distances)[: max(1, int(KEEP * len(distances)))].mean())


def _icp(
    tree: Any, reference: np.ndarray, points: np.ndarray, start: np.ndarray, rounds: int
) -> tuple:
    """Trimmed ICP with scale moving the ``reference`` samples (``tree``: their KD-tree) onto
    ``points``; (matrix, trimmed distance in the points' units)."""
    matrix = start
    for _ in range(rounds):
        inverse = np.linalg.inv(matrix)
        dist, nearest = tree.query(apply(inverse, points))  # in the reference's frame
        keep = dist <= np.quantile(dist, KEEP)
        step = similarity(apply(matrix, reference[nearest[keep]]), points[keep])
        matrix = step @ matrix
        if np.abs(step - np.eye(4)).max() < 1e-7:
            break
    dist, _ = tree.query(apply(np.linalg.inv(matrix), points))
    return matrix, _trimmed(dist) * scale_of(matrix)


def _grid_search(tree: Any, reference: np.ndarray, points: np.ndarray, starts: list) -> list:
    """Every start turned, scaled by ``SCALES`` and shifted by ``OFFSETS``, scored by the
    trimmed distance of ``points`` (taken into the reference's frame) looked up in a grid of
    the distance to the reference; the ``TOP`` best, at most one per start."""
    lo, hi = reference.min(axis=0), reference.max(axis=0)
    size = float(np.linalg.norm(hi - lo))
    lo, hi = lo - 0.3 * size, hi + 0.3 * size
    axes = [np.linspace(lo[i], hi[i], GRID) for i in range(3)]
    cells = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    field = tree.query(cells)[0].reshape(GRID, GRID, GRID)
    step = (hi - lo) / (GRID - 1)
    offsets = np.array(list(itertools.product(OFFSETS, repeat=3))) * size
    scored = []
    for k, start in enumerate(starts):
        for factor in SCALES:
            m = start.copy()
            m[:3, :3] *= factor
            s = scale_of(m)
            turn = m[:3, :3] / s
            # points in the reference's frame, for every offset of the reference's position
            base = (points - m[:3, 3]) @ turn / s  # (n, 3)
            local = base[None] - offsets[:, None]  # the reference shifted by +offset
            idx = np.clip(np.rint((local - lo) / step).astype(int), 0, GRID - 1)
            d = field[idx[..., 0], idx[..., 1], idx[..., 2]]
            outside = ((local < lo) | (local > hi)).any(axis=-1)
            d = np.where(outside, 0.3 * size, d)
            # in the points' units, so that scales compare
            cost = s * np.sort(d, axis=1)[:, : max(1, int(KEEP * d.shape[1]))].mean(axis=1)
            j = int(cost.argmin())
            shifted = m.copy()
            shifted[:3, 3] = m[:3, 3] + s * turn @ offsets[j]
            scored.append((float(cost[j]), k, shifted))
    scored.sort(key=lambda x: x[0])
    out, used = [], set()
    for _, k, m in scored:
        if k not in used:
            out.append(m)
            used.add(k)
        if len(out) == TOP:
            break
    return out


def _up_turns(up: np.ndarray) -> list[np.ndarray]:
    """Rotations taking each of the six axis directions onto ``up``, then about ``up`` in
    ``AZIMUTH_STEP_DEG`` steps."""
    from scipy.spatial.transform import Rotation

    up = up / np.linalg.norm(up)
    out = []
    for axis in np.vstack([np.eye(3), -np.eye(3)]):
        tilt, _ = Rotation.align_vectors(up[None], axis[None])
        for deg in range(0, 360, AZIMUTH_STEP_DEG):
            out.append((Rotation.from_rotvec(np.radians(deg) * up) * tilt).as_matrix())
    return out


def register(
    reference_samples: np.ndarray, points: np.ndarray, up: np.ndarray | None = None
) -> dict[str, Any]:
    """The similarity taking the reference (its surface samples) onto the SfM ``points``;
    ``up``: the SfM frame's vertical, when known (adds the upright starts).

    Returns the alignment in `scene.align_to_truth`'s form (``scale``, ``rotation``,
    ``translation``: x_sfm = scale · rotation · x_ref + translation) with the registration's
    trimmed distance (as a share of the registered reference's bounding diagonal), the share of
    points within 1 % of that diagonal, and the runner-up."""
    from video2mesh.errors import UserError

    if len(points) < MIN_POINTS:
        raise UserError(
            f"only {len(points)} SfM points lie on the object: too few to register the reference",
            "give the reference's own cameras (reference_cameras: in the config) so that it is "
            "aligned by them",
        )
    ref_c, pts_c = reference_samples.mean(axis=0), points.mean(axis=0)
    scale0 = _spread(points) / max(_spread(reference_samples), 1e-12)
    starts = [np.eye(4)]
    ref_axes, pts_axes = _axes(reference_samples), _axes(points)
    turns = [pts_axes @ flip @ ref_axes.T for flip in _axis_rotations()]
    turns += list(_spread_rotations(SPREAD_STARTS))
    if up is not None:
        turns += _up_turns(np.asarray(up, float))
    for turn in turns:
        m = np.eye(4)
        m[:3, :3] = scale0 * turn
        m[:3, 3] = pts_c - m[:3, :3] @ ref_c
        starts.append(m)
    from scipy.spatial import cKDTree

    tree = cKDTree(reference_samples)
    rng = np.random.default_rng(0)
    few = points[rng.permutation(len(points))[:SCREEN_POINTS]]
    candidates = _grid_search(tree, reference_samples, few, starts)
    results = [_icp(tree, reference_samples, points, c, ROUNDS) for c in candidates]
    order = sorted(range(len(results)), key=lambda i: results[i][1])
    best_m, best_d = results[order[0]]
    runner = next(
        (results[i] for i in order[1:] if rotation_between(results[i][0], best_m) > AMBIGUOUS_DEG),
        None,
    )
    moved = apply(best_m, reference_samples)
    diagonal = float(np.linalg.norm(moved.max(axis=0) - moved.min(axis=0)))
    dist, _ = cKDTree(moved).query(points)
    scale = scale_of(best_m)
    out: dict[str, Any] = {
        "method": "registered onto the SfM points (no reference cameras)",
        "points": len(points),
        "scale": scale,
        "rotation": (best_m[:3, :3] / scale).tolist(),
        "translation": best_m[:3, 3].tolist(),
        "registration_distance_pct": 100 * best_d / diagonal,
        "points_within_1pct": float((dist < 0.01 * diagonal).mean()),
    }
    if runner is not None:
        out["runner_up_distance_pct"] = 100 * runner[1] / diagonal
        out["runner_up_rotation_deg"] = rotation_between(runner[0], best_m)
        out["ambiguous"] = runner[1] < AMBIGUOUS_RATIO * best_d
    return out
