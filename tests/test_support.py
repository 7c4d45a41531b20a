"""The object alone: support plane, sphere on it, and the mesh cut, on generated scenes."""

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from video2mesh.isolate import FLOATER_SHARE, isolate
from video2mesh.sample import look_at_c2w
from video2mesh.sphere import (
    TABLE_BAND,
    Cameras,
    in_view_share,
    look_at_point,
    object_sphere,
    table_band,
)
from video2mesh.support import (
    MESH_SUPPORT_BELOW,
    MIN_SPREAD,
    Plane,
    below_sphere_share,
    camera_up,
    find_support,
)

TARGET = np.array([0.1, -0.05, 0.5])  # where the cameras look: the object's middle


def _orbit(
    n: int = 48, radius: float = 2.6, height: float = 1.6, tilt_deg: float = 0.0, target=TARGET
):
    """Cameras on a ring above the support plane z = 0, looking at ``target`` (the object);
    optionally the whole world is tilted (SfM frames are arbitrary)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    eyes = np.stack([radius * np.cos(t), radius * np.sin(t), height + 0.2 * np.sin(3 * t)], 1)
    c2w = np.stack([look_at_c2w(e, np.asarray(target), np.array([0, 0, 1.0])) for e in eyes])
    return Cameras(c2w, 500.0, 500.0, 320.0, 240.0, 640, 480)


def _object(rng, n=3000):
    """A cup-sized blob standing on z = 0: an upright ellipsoid, 1.0 high, 0.8 wide."""
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    return d * [0.4, 0.4, 0.5] + [0.1, -0.05, 0.5]


def _disc(rng, n, radius, z, center=(0.0, 0.0)):
    r = radius * np.sqrt(rng.uniform(size=n))
    a = rng.uniform(0, 2 * np.pi, n)
    pts = np.c_[center[0] + r * np.cos(a), center[1] + r * np.sin(a), np.full(n, z)]
    return pts + rng.normal(0, 0.002, pts.shape)


def _room(rng, n=3000):
    """Walls 5 units away: what a real capture sees behind the object."""
    a = rng.uniform(0, 2 * np.pi, n)
    return np.c_[5 * np.cos(a), 5 * np.sin(a), rng.uniform(-0.8, 2.5, n)]


def _world(rng, *parts, rotate: bool = True):
    """Rotate and scale everything into an arbitrary SfM-like frame."""
    q, _ = np.linalg.qr(np.random.default_rng(7).normal(size=(3, 3)))
    rot = q * np.sign(np.linalg.det(q)) if rotate else np.eye(3)
    return rot, 0.37, np.array([3.0, -1.0, 2.0])


def _moved(cams: Cameras, points: np.ndarray, rot, s, t):
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = rot, t
    c2w = cams.c2w.copy()
    c2w[:, :3, 3] *= s
    c2w = m @ c2w
    return Cameras(c2w, cams.fx, cams.fy, cams.cx, cams.cy, cams.width, cams.height), (
        s * points @ rot.T + t
    )


def _truth_inside(sphere, obj):
    return np.linalg.norm(obj - sphere.center, axis=1).max() / sphere.radius


def test_cameras_up_and_in_view_share():
    cams = _orbit()
    assert camera_up(cams.c2w) @ [0, 0, 1] > 0.95
    # photos turned a quarter, 31 one way and 17 the other (the Middlebury temple's ring): the
    # cameras' image ups disagree, the orbit's normal is up, signed by the cameras looking down
    quarter = np.diag([1.0, 1, 1, 1])
    quarter[:2, :2] = [[0, -1], [1, 0]]  # the camera's x and y axes swapped, about its z
    rolled = cams.c2w @ quarter
    rolled[31:] = cams.c2w[31:] @ quarter.T
    naive = -rolled[:, :3, 1].mean(axis=0)  # 0.58 long, level: the mean alone would lie
    assert np.linalg.norm(naive) > 0.5 and abs(naive[2]) < 0.01
    assert camera_up(rolled) @ [0, 0, 1] > 0.99
    # the world upside down: the same cameras, the up follows the world
    flip = np.diag([1.0, -1, -1, 1])
    assert camera_up(flip @ rolled) @ [0, 0, -1] > 0.99
    # a frontal cap of cameras (a quarter of the way round, 15-45° up: DTU's), every third
    # photo held on its side and turned back a quarter by the frames stage: the cap's plane
    # leans 50° from level, the cameras' own ups, each read on its turned side, do not
    a = np.radians(np.linspace(-45, 45, 30))
    e = np.radians(np.tile([15.0, 30.0, 45.0], 10))
    eyes = 2.6 * np.c_[np.cos(a) * np.cos(e), np.sin(a) * np.cos(e), np.sin(e)] + TARGET
    cap = np.stack([look_at_c2w(p, TARGET, np.array([0, 0, 1.0])) for p in eyes])
    held_upright = camera_up(cap)  # their −y: leaning back from the cap as the cameras look down
    assert held_upright @ [0, 0, 1] > 0.85
    cap[::3] = cap[::3] @ quarter  # −x is the turned photo's up
    assert camera_up(cap) @ held_upright > 0.9999
    assert camera_up(flip @ cap) @ (flip[:3, :3] @ held_upright) > 0.9999
    share = in_view_share(np.array([TARGET, [5.0, 0, 1], [0, 0, 10]]), cams)
    assert share[0] == 1.0  # the object is in every image
    assert share[1] < 0.35  # a wall point: only the cameras on the far side see it
    assert share[2] == 0.0  # straight above: in no image


@pytest.mark.parametrize("rotate", [False, True])
def test_floor_below_is_found_and_the_sphere_stays_on_the_object(rotate):
    rng = np.random.default_rng(0)
    obj = _object(rng)
    pts = np.vstack([obj, _disc(rng, 6000, 4.0, 0.0), _room(rng)])
    cams = _orbit()
    rot, s, t = _world(rng, rotate=rotate)
    cams, pts = _moved(cams, pts, rot, s, t)
    obj_w = s * obj @ rot.T + t
    look = look_at_point(cams.centers, cams.axes)
    plane = find_support(pts, cams.c2w, look)
    assert plane is not None
    assert np.degrees(np.arccos(plane.normal @ rot[:, 2])) < 1.0
    assert abs(plane.height(t)) < 0.003  # z = 0 of the generated world, in SfM units
    sphere = object_sphere(pts, cams, plane)
    assert _truth_inside(sphere, obj_w) < 1.0  # all of the object inside
    # Tight: the object's bounding radius is 0.5 * s; the sphere reaches the floor's contact
    # and keeps a margin, but does not grow into the floor (the old fit went to the cameras).
    assert sphere.radius < 0.75 * s
    assert not sphere.notes
    without = object_sphere(pts, cams, None)
    assert without.radius > 1.5 * sphere.radius


def test_table_touching_the_object_wins_over_the_floor_under_it():
    rng = np.random.default_rng(1)
    obj = _object(rng)
    table = _disc(rng, 4000, 1.1, 0.0)
    floor = _disc(rng, 9000, 4.5, -0.75)
    cams = _orbit()
    pts = np.vstack([obj, table, floor, _room(rng)])
    plane = find_support(pts, cams.c2w, look_at_point(cams.centers, cams.axes))
    assert plane is not None and abs(plane.offset) < 0.003  # the table top, not the floor
    sphere = object_sphere(pts, cams, plane)
    assert _truth_inside(sphere, obj) < 1.0 and sphere.radius < 0.75


def _tilted_top(rng, n: int, radius: float, tilt_deg: float) -> np.ndarray:
    """A round top at z = 0 under the object whose points lie on a plane tilted about x (what
    a fit through a few points of a plain top and its rim can give)."""
    top = _disc(rng, n, radius, 0.0)
    top[:, 2] += np.tan(np.radians(tilt_deg)) * top[:, 1]
    return top


def _floor_under(rng, n: int, z: float, hidden: float) -> np.ndarray:
    """A floor far below, none of it under the top (``hidden`` wide), which hides it."""
    floor = _disc(rng, n, 5.0, z)
    return floor[np.hypot(floor[:, 0], floor[:, 1]) > hidden]


@pytest.mark.parametrize("rotate", [False, True])
def test_a_small_top_with_few_points_takes_the_level_of_the_floor_below(rotate):
    """A stool's plain top holds few SfM points, and the plane through them can tilt (the
    generated stool: 16°, its floor 0.8° from the truth): with a floor below holding many
    more points, the support takes the floor's normal, at the top's height under the object.
    A table with many points keeps its own normal, and so does a top within a few degrees of
    the floor."""
    rng = np.random.default_rng(3)
    obj = _object(rng, 600)
    cams = _orbit()
    rot, s, t = _world(rng, rotate=rotate)
    up = rot[:, 2]
    foot = np.array([0.1, -0.05, 0.0])
    floor = _floor_under(rng, 3000, -3.0, 1.0)
    cases = [(_tilted_top(rng, 70, 0.8, 10.0), True), (_tilted_top(rng, 400, 0.8, 2.0), False)]
    cases.append((_tilted_top(rng, 1200, 0.8, 4.0), False))  # a textured table: its own level
    for top, levelled in cases:
        moved, pts = _moved(cams, np.vstack([obj, top, floor, _room(rng, 300)]), rot, s, t)
        look = look_at_point(moved.centers, moved.axes)
        own = find_support(pts, moved.c2w, look, level=False)
        plane = find_support(pts, moved.c2w, look)
        assert own is not None and plane is not None
        tilt = np.degrees(np.arccos(np.clip(plane.normal @ up, -1, 1)))
        if levelled:
            assert np.degrees(np.arccos(own.normal @ up)) > 5.0
            assert tilt < 1.0
            assert abs(plane.height(s * foot @ rot.T + t)) < 0.05 * s
            assert plane.inliers >= 20
        else:
            assert plane.normal @ own.normal == pytest.approx(1.0, abs=1e-9)


def test_floating_object_has_no_support_and_keeps_the_old_sphere():
    rng = np.random.default_rng(2)
    obj = _object(rng)
    cams = _orbit()
    # the floor 1.7 below the object's foot, as under the old floating sample
    pts = np.vstack([obj, _disc(rng, 6000, 4.0, -1.7), _room(rng)])
    plane = find_support(pts, cams.c2w, look_at_point(cams.centers, cams.axes))
    sphere = object_sphere(pts, cams, plane)
    assert sphere.support is None
    assert plane is None or any("not standing" in n for n in sphere.notes)
    assert _truth_inside(sphere, obj) < 1.0 and sphere.radius < 0.75


def test_plain_background_no_points_but_the_object():
    rng = np.random.default_rng(3)
    obj = _object(rng)
    cams = _orbit()
    plane = find_support(obj, cams.c2w, look_at_point(cams.centers, cams.axes))
    assert plane is None  # an ellipsoid has no flat part to take for a table
    sphere = object_sphere(obj, cams, plane)
    assert _truth_inside(sphere, obj) < 1.0 and sphere.radius < 0.7


def _legged_body(rng, foot: float):
    """A cup-like body on three thin legs reaching down to ``foot``, sampled as sparsely as SfM
    saw the held-out glossy cup on white (495 points, 43 of them on its bottom ring): a wall,
    the flat ring round the body's bottom at foot + 0.3, which looks like a support, and legs."""
    a = rng.uniform(0, 2 * np.pi, 400)
    wall = np.c_[0.4 * np.cos(a), 0.4 * np.sin(a), foot + 0.3 + rng.uniform(0.0, 0.6, 400)]
    b = rng.uniform(0, 2 * np.pi, 60)
    ring = np.c_[0.4 * np.cos(b), 0.4 * np.sin(b), np.full(60, foot + 0.3)]
    legs = [
        np.c_[
            np.full(30, 0.25 * np.cos(t)) + rng.normal(0, 0.01, 30),
            np.full(30, 0.25 * np.sin(t)) + rng.normal(0, 0.01, 30),
            foot + rng.uniform(0.0, 0.28, 30),
        ]
        for t in (0.3, 2.4, 4.5)
    ]
    pts = np.vstack([wall, ring, *legs]) + np.array([0.1, -0.05, 0.0])
    return pts + rng.normal(0, 0.002, pts.shape)


def test_the_flat_bottom_of_a_floating_body_over_its_legs_is_no_support():
    """A floating cup on a plain backdrop (no point but the cup's): the ring round its body's
    bottom is flat and faces up, but its legs are seen under it, which a support would hide
    (the held-out floating cup on white, benchmarks/realworld/RESULTS.md, session 19)."""
    rng = np.random.default_rng(4)
    cup = _legged_body(rng, foot=0.1)
    cams = _orbit()
    look = look_at_point(cams.centers, cams.axes)
    assert find_support(cup, cams.c2w, look) is None
    sphere = object_sphere(cup, cams, None)
    assert _truth_inside(sphere, cup) < 1.0  # the legs stay inside
    # the same cup standing on a table: the table is found, under the legs, not the ring
    table = _disc(rng, 4000, 1.1, 0.1)
    plane = find_support(np.vstack([cup, table]), cams.c2w, look)
    assert plane is not None and abs(plane.height(np.array([0.0, 0.0, 0.1]))) < 0.003


def test_the_top_of_an_objects_own_plinth_is_no_support():
    """An object on its own base, on a plain backdrop (the Middlebury temple on black): the
    base's top is flat, dense and under the object, but it does not reach out from under it
    as a table does; standing on a table, the table is found and the base stays."""
    rng = np.random.default_rng(5)
    body = _object(rng) + np.array([0.0, 0.0, 0.1])
    a = rng.uniform(0, 2 * np.pi, 300)
    side = np.c_[0.35 * np.cos(a), 0.35 * np.sin(a), rng.uniform(0.0, 0.1, 300)]
    base = np.vstack([_disc(rng, 800, 0.35, 0.1, (0.1, -0.05)), side + np.array([0.1, -0.05, 0.0])])
    cams = _orbit()
    look = look_at_point(cams.centers, cams.axes)
    assert find_support(np.vstack([body, base]), cams.c2w, look) is None
    table = _disc(rng, 4000, 1.1, 0.0)
    plane = find_support(np.vstack([body, base, table]), cams.c2w, look)
    assert plane is not None and abs(plane.height(np.zeros(3))) < 0.003


def _on_a_plate(rng):
    """A model on its own wide plate (NeRF's Lego bulldozer): a box body 1.1 × 1.1 × 0.5
    standing on a 1.3 × 1.3 plate whose top and studs' tops are two dense layers 0.03 apart,
    reaching as far out from under the look-at point as a small table does."""
    lo, hi = np.array([-0.45, -0.6, 0.05]), np.array([0.65, 0.5, 0.55])
    box = lo + rng.uniform(size=(4000, 3)) * (hi - lo)
    side = rng.integers(0, 6, len(box))  # each point pushed onto one of the six faces
    axis, far = side % 3, side >= 3
    box[np.arange(len(box)), axis] = np.where(far, hi[axis], lo[axis])
    plate = [
        np.c_[rng.uniform(-0.55, 0.75, (n, 2)) - [0.0, 0.1], np.full(n, z)]
        for n, z in ((1500, 0.0), (900, 0.03))
    ]
    return box, np.vstack(plate) + rng.normal(0, 0.002, (2400, 3))


def test_a_plate_that_ends_where_the_model_ends_is_its_own_base_not_a_support():
    """A plate the model covers is part of it (the Lego's): no support, the plate stays inside
    the sphere; the same model on a table that goes on round it stands on the table."""
    rng = np.random.default_rng(11)
    body, plate = _on_a_plate(rng)
    cams = _orbit()
    look = look_at_point(cams.centers, cams.axes)
    scale = float(np.median(np.linalg.norm(cams.centers - look, axis=1)))
    across = np.linalg.norm(plate[:, :2] - look[:2], axis=1)
    assert np.quantile(across, 0.9) > MIN_SPREAD * scale  # as wide as a small table
    pts = np.vstack([body, plate])
    assert find_support(pts, cams.c2w, look) is None
    sphere = object_sphere(pts, cams, None)
    assert _truth_inside(sphere, plate) < 1.0
    table = _disc(rng, 5000, 2.0, -0.08)  # under a plate 0.08 thick
    plane = find_support(np.vstack([pts, table]), cams.c2w, look)
    assert plane is not None and abs(plane.height(np.zeros(3)) - 0.08) < 0.003


def _scene_mesh():
    """A box on a table disc, a floater beside it, and the table's underside below."""
    body = trimesh.creation.box(extents=[0.6, 0.6, 0.8])
    body.apply_translation([0, 0, 0.4])
    table = trimesh.creation.cylinder(radius=1.0, height=0.02, sections=64)
    table.apply_translation([0, 0, -0.01])
    floater = trimesh.creation.icosphere(subdivisions=2, radius=0.05)
    floater.apply_translation([0.7, 0.3, 0.6])
    # a skirt of table risen around the foot, 5 % of the radius high
    skirt = trimesh.creation.annulus(r_min=0.3, r_max=0.6, height=0.002, sections=64)
    skirt.apply_translation([0, 0, 0.05])
    return body, trimesh.util.concatenate([body, table, floater, skirt])


def test_isolate_cuts_the_support_and_drops_floaters():
    body, mesh = _scene_mesh()
    plane = Plane(np.array([0, 0, 1.0]), 0.0, 100, 0.01)
    out, stats = isolate(mesh, plane, radius=1.0)
    # What is left is the box without its bottom face (it stood on the table).
    assert out.area == pytest.approx(body.area - 0.36, rel=0.02)
    assert trimesh.graph.connected_components(out.face_adjacency).__len__() == 1
    assert stats["support_area_share"] > 0.6
    assert stats["floaters_removed"] >= 1  # the ball (and the skirt's thin rims)
    # the walls' lowest 2 % went with the cut; what faces sideways above it stays
    assert out.bounds[0][2] == pytest.approx(0.0, abs=0.03)
    kept, _ = isolate(mesh, plane, radius=1.0, support="keep", floaters="keep")
    assert len(kept.faces) == len(mesh.faces)
    no_plane, stats = isolate(mesh, None, radius=1.0)
    assert stats["support_found"] is False
    assert no_plane.area < mesh.area  # the floater went
    assert no_plane.area > 0.95 * (mesh.area - 4 * np.pi * 0.05**2)


def test_overrides_keep_the_support_and_the_users_sphere():
    from video2mesh.sphere import apply_overrides

    rng = np.random.default_rng(4)
    obj = _object(rng)
    cams = _orbit()
    pts = np.vstack([obj, _disc(rng, 6000, 4.0, 0.0)])
    plane = find_support(pts, cams.c2w, look_at_point(cams.centers, cams.axes))
    auto = object_sphere(pts, cams, plane)
    mine = apply_overrides(auto, {"radius": 2.0}, pts)  # bigger than the cameras' cap allows
    # the automatic box is dropped with it: nothing the user's sphere holds is cut as outside
    assert mine.radius == 2.0 and mine.support is plane and mine.box is None
    assert auto.box is not None and apply_overrides(auto, {}, pts).box is auto.box


def test_a_thick_band_of_table_points_does_not_widen_the_sphere():
    """SfM's table points spread over a band (planks, grazing views): as on the sample, where
    counting them as the object's made the sphere 2.6x the object's radius."""
    rng = np.random.default_rng(6)
    obj = _object(rng)
    table = _disc(rng, 8000, 3.0, 0.0)
    table[:, 2] += rng.normal(0, 0.03, len(table))  # ±0.09 at 3 sigma, 3 % of the distance
    cams = _orbit()
    pts = np.vstack([obj, table, _room(rng)])
    plane = find_support(pts, cams.c2w, look_at_point(cams.centers, cams.axes))
    assert plane is not None and abs(plane.offset) < 0.04  # within the band
    sphere = object_sphere(pts, cams, plane)
    assert sphere.support is not None and not sphere.notes
    assert _truth_inside(sphere, obj) < 1.0 and sphere.radius < 0.75


def test_table_debris_beside_the_object_goes_a_loose_foot_and_a_tall_piece_stay():
    body, mesh = _scene_mesh()
    plane = Plane(np.array([0, 0, 1.0]), 0.0, 100, 0.01)
    # a tilted patch of table beside the box (as on the glossy vase): 0.05-0.2 high, 40° tilt,
    # 0.75 from the axis, 12 % of the box's area; disconnected from everything
    patch = trimesh.creation.box(extents=[0.4, 0.5, 0.004])
    patch.apply_transform(trimesh.transformations.rotation_matrix(np.radians(40), [0, 1, 0]))
    patch.apply_translation([0.75, 0.0, 0.125])
    # a loose foot under the body (inside its footprint) and a post beside it, as tall as it
    foot = trimesh.creation.box(extents=[0.2, 0.2, 0.15])
    foot.apply_translation([0.15, 0.15, 0.11])
    post = trimesh.creation.box(extents=[0.15, 0.15, 0.7])
    post.apply_translation([-0.75, 0.0, 0.4])
    # a sheet of table curled up beside the box on the -y side, 0.03 to 0.36 high (as on `make
    # run`'s sample in 3 of 5 training seeds)
    curl = trimesh.creation.box(extents=[0.5, 0.45, 0.004])
    curl.apply_transform(trimesh.transformations.rotation_matrix(np.radians(48), [1, 0, 0]))
    curl.apply_translation([0.0, -0.85, 0.195])
    parts = [mesh, patch, foot, post, curl]
    whole = trimesh.util.concatenate(parts)
    assert np.percentile(curl.vertices[:, 2], 95) > 0.3  # above the old limit
    out, stats = isolate(whole, plane, radius=1.0)
    assert stats["debris_removed"] == 2
    assert out.bounds[1][0] < 0.35  # nothing of the patch is left, on the +x side
    assert out.bounds[0][1] > -0.65  # nor of the curled sheet, on the -y side
    left = out.area - (body.area - 0.36)
    # the foot and the post (less their bottoms, which the cut takes) are still there
    assert left == pytest.approx(foot.area - 0.04 + post.area - 0.0225, rel=0.05)
    # without a support plane nothing is debris: the patch stays as an ordinary component
    _, stats = isolate(whole, None, radius=1.0)
    assert "debris_removed" not in stats
    kept, _ = isolate(whole, plane, radius=1.0, floaters="keep")
    assert kept.bounds[1][0] > 0.85  # floaters: keep keeps the debris too


def _transforms_of(c2w_cv: list[np.ndarray], path: Path) -> Path:
    """A transforms.json for OpenCV camera-to-world matrices (320×240, 60° across)."""
    frames = []
    for i, m in enumerate(c2w_cv):
        gl = m.copy()
        gl[:3, 1:3] *= -1.0  # OpenCV → OpenGL axes, as transforms.json holds them
        frames.append({"file_path": f"images/{i:03d}.jpg", "transform_matrix": gl.tolist()})
    focal = 160 / np.tan(np.radians(30))
    meta = {"fl_x": focal, "fl_y": focal, "cx": 160.0, "cy": 120.0, "w": 320, "h": 240,
            "sphere_center": [0.0, 0.0, 0.0], "sphere_radius": 1.0, "frames": frames}  # fmt: skip
    path.write_text(json.dumps(meta))
    return path


def test_a_part_no_photo_sees_goes_whatever_its_size(tmp_path: Path):
    """A dome closed inside the object's walls (as the SDF left in a house of the validation
    set) is not a floater by size, but no camera sees it: it goes, a post beside the object
    that the cameras see stays."""
    from video2mesh.texture.synthetic import orbit_c2w
    from video2mesh.visibility import read_cameras, seen_faces

    _, mesh = _scene_mesh()
    plane = Plane(np.array([0, 0, 1.0]), 0.0, 100, 0.01)
    dome = trimesh.creation.icosphere(subdivisions=3, radius=0.15)
    dome.apply_translation([0.0, 0.0, 0.3])  # inside the box, 30 % of its area
    post = trimesh.creation.box(extents=[0.15, 0.15, 0.7])
    post.apply_translation([-0.75, 0.0, 0.4])
    whole = trimesh.util.concatenate([mesh, dome, post])
    cams = read_cameras(_transforms_of(orbit_c2w(40), tmp_path / "transforms.json"))
    assert cams.cameras.width == 160 and cams.cameras.height == 120 and len(cams.cameras.c2w) == 40
    seen = seen_faces(whole, cams)
    n_mesh, n_dome = len(mesh.faces), len(dome.faces)
    assert not seen[n_mesh : n_mesh + n_dome].any()  # the dome: no camera
    assert seen[n_mesh + n_dome :].mean() > 0.5  # the post's sides: many
    out, stats = isolate(whole, plane, radius=1.0, cameras=cams)
    assert stats["hidden_removed"] == 1
    assert stats["hidden_area_share"] == pytest.approx(dome.area / whole.area, rel=0.01)
    inner = np.linalg.norm(out.triangles_center - [0.0, 0.0, 0.3], axis=1) < 0.2
    assert not inner.any()
    assert out.bounds[0][0] < -0.8  # the post stays
    # without the cameras, or with floaters kept, the dome stays
    for kw in ({}, {"floaters": "keep", "cameras": cams}):
        kept, _ = isolate(whole, plane, radius=1.0, **kw)
        centres = np.linalg.norm(kept.triangles_center - [0.0, 0.0, 0.3], axis=1)
        assert (centres < 0.2).sum() == n_dome


def _sheets_scene():
    """`_scene_mesh` with an upright sheet behind the box (0.25 from its side, as tall as it: a
    third of its area), a tilted sheet above the table beside it (higher than any table
    debris), a handle left loose on the box's side (mostly within the object box's margin),
    its support plane and its object box."""
    from video2mesh.sphere import ObjectBox

    body, mesh = _scene_mesh()
    curtain = trimesh.creation.box(extents=[0.004, 0.6, 0.7])
    curtain.apply_translation([0.55, 0.0, 0.45])
    shelf = trimesh.creation.box(extents=[0.4, 0.3, 0.004])
    shelf.apply_transform(trimesh.transformations.rotation_matrix(np.radians(20), [1, 0, 0]))
    shelf.apply_translation([0.0, -0.7, 0.6])
    handle = trimesh.creation.torus(major_radius=0.12, minor_radius=0.035)
    handle.apply_transform(trimesh.transformations.rotation_matrix(np.radians(90), [1, 0, 0]))
    handle.apply_translation([-0.36, 0.0, 0.45])
    whole = trimesh.util.concatenate([mesh, curtain, shelf, handle])
    plane = Plane(np.array([0, 0, 1.0]), 0.0, 100, 0.01)
    box = ObjectBox(np.eye(3), np.array([-0.3, -0.3, 0.0]), np.array([0.3, 0.3, 0.8]))
    # no floater by their size (under 5 % of the largest one's area): the handle has 7 %
    floater = FLOATER_SHARE * (body.area - 0.36)
    assert curtain.area > 6 * floater and handle.area > 1.4 * floater
    return body, curtain, shelf, handle, whole, plane, box


def test_sheets_beside_the_object_box_go_a_loose_part_inside_it_stays():
    """Backdrop or table sheets beside a small object, each larger than a floater (as two
    training seeds of five left on the held-out small figurine, session 25): outside the
    object box they go, whatever their size; a loose part inside the box stays; no box, no
    test. In a turned and shifted frame, as SfM's is."""
    from video2mesh.sphere import ObjectBox

    body, curtain, shelf, handle, whole, plane, box = _sheets_scene()
    turn = trimesh.transformations.rotation_matrix(np.radians(50), [1.0, 2.0, 3.0])
    turn[:3, 3] = [0.4, -1.3, 2.0]
    rot, shift = turn[:3, :3], turn[:3, 3]
    whole.apply_transform(turn)
    normal = rot @ plane.normal
    plane = Plane(normal, plane.offset - float(normal @ shift), 100, 0.01)
    basis = box.basis @ rot.T  # rows: the box's axes in the turned world
    box = ObjectBox(basis, box.lo + basis @ shift, box.hi + basis @ shift)
    assert box.contains(rot @ [0.0, 0.0, 0.4] + shift)
    assert not box.contains(rot @ [0.55, 0.0, 0.45] + shift)  # the curtain's middle
    out, stats = isolate(whole, plane, radius=1.0, box=box)
    assert stats["outside_removed"] == 2
    assert stats["outside_area_share"] == pytest.approx(
        (curtain.area + shelf.area) / whole.area, rel=0.02
    )
    back = (out.vertices - shift) @ rot  # into the frame the parts were built in
    assert back[:, 0].max() < 0.35 and back[:, 1].min() > -0.35  # neither sheet is left
    assert out.area == pytest.approx(body.area - 0.36 + handle.area, rel=0.02)  # the handle is
    kept, stats = isolate(whole, plane, radius=1.0)  # no box (a sphere set by hand)
    assert "outside_removed" not in stats
    assert ((kept.vertices - shift) @ rot)[:, 0].max() > 0.55
    kept, _ = isolate(whole, plane, radius=1.0, floaters="keep", box=box)
    assert ((kept.vertices - shift) @ rot)[:, 0].max() > 0.55  # floaters: keep keeps them


def test_a_shell_larger_than_the_object_outside_its_box_goes():
    """A shell of backdrop that outgrew the object (the GPU preset's crown over session 39's
    turntable dinosaur, above and round its head): the object is the piece with the most area
    in the object box, not the largest, so the shell goes as a sheet outside the box would;
    without a box the largest piece is the object, as before."""
    body, _curtain, _shelf, handle, whole, plane, box = _sheets_scene()
    crown = trimesh.creation.annulus(r_min=0.6, r_max=0.95, height=0.6)
    crown.apply_translation([0.0, 0.0, 0.75])  # round the box's top, all of it outside
    assert crown.area > 2 * body.area
    scene = trimesh.util.concatenate([whole, crown])
    out, stats = isolate(scene, plane, radius=1.0, box=box)
    assert stats["main_not_largest"] and stats["outside_removed"] == 3
    assert out.area == pytest.approx(body.area - 0.36 + handle.area, rel=0.02)
    kept, stats = isolate(scene, plane, radius=1.0)  # no box: the largest piece stays
    assert not stats["main_not_largest"] and kept.bounds[1][0] > 0.9


def test_the_extraction_reads_the_object_box_from_transforms(tmp_path: Path):
    """What both backends' extraction call: the box and the plane come from transforms.json,
    as the scene stage writes them; without the box (a sphere set by hand) the sheets stay."""
    from video2mesh.isolate import isolate_scene_mesh
    from video2mesh.texture.synthetic import orbit_c2w

    body, _, _, handle, whole, plane, box = _sheets_scene()
    path = _transforms_of(orbit_c2w(40), tmp_path / "transforms.json")
    meta = json.loads(path.read_text())
    meta |= {"support_plane": plane.as_json(), "object_box": box.as_json()}
    out, stats = isolate_scene_mesh(whole, meta, "remove", "remove")
    assert stats["outside_removed"] == 2 and stats["hidden_removed"] == 0
    assert out.area == pytest.approx(body.area - 0.36 + handle.area, rel=0.02)
    meta["object_box"] = None
    kept, stats = isolate_scene_mesh(whole, meta, "remove", "remove")
    assert "outside_removed" not in stats and kept.bounds[1][0] > 0.55


def _bowl_scene(kind: str, pitch: float = 0.02):
    """One connected surface (marching cubes of an occupancy grid): a box 0.6 wide and 0.8
    high standing on z = 0, an arm sticking out of it at 0.7 high, and round its foot either a
    bowl of table, its top rising from 0.15 at 0.25 from the axis (above the support band) to
    0.45 at 1.0 (the shape a CPU seed left round DTU 65's skull, session 30), or the same bowl
    out to 0.42 only ("narrow"), or ("side") a low block on one side, out to 0.9 (as a skull's
    back sticks out of the box of SfM's points, which see its front only)."""
    ax = np.arange(-1.2, 1.2 + pitch / 2, pitch)
    x, y, z = np.meshgrid(ax, ax, np.arange(-0.1, 1.0 + pitch / 2, pitch), indexing="ij")
    body = (np.abs(x) <= 0.3) & (np.abs(y) <= 0.3) & (z >= 0.0) & (z <= 0.8)
    arm = (x >= 0.0) & (x <= 0.7) & (np.abs(y) <= 0.06) & (np.abs(z - 0.7) <= 0.06)
    r = np.hypot(x, y)
    rise = 0.15 + 0.3 * (r - 0.25) / (1.0 - 0.25)
    bowl_to = {"bowl": 1.0, "narrow": 0.42}.get(kind, 0.0)
    foot = (r >= 0.25) & (r <= bowl_to) & (z >= 0.0) & (z <= rise)
    if kind == "side":
        foot = (x >= 0.0) & (x <= 0.9) & (np.abs(y) <= 0.3) & (z >= 0.0) & (z <= 0.35)
    mesh = trimesh.voxel.ops.matrix_to_marching_cubes(body | arm | foot, pitch=pitch)
    mesh.apply_translation([ax[0], ax[0], -0.1])
    return mesh


@pytest.mark.parametrize("kind", ["bowl", "narrow", "side"])
def test_a_bowl_of_table_round_the_foot_is_cut_to_the_boxs_footprint(kind: str):
    """A wide bowl of table joined to the object (two thirds of the area, low, outside the
    object box's footprint and all round it) is cut back to the footprint, the arm high above
    it stays; a narrow one (under FOOTPRINT_SHARE of the area beyond the footprint) and a low
    part on one side (a fifth of the area, a quarter of the way round) are left as they are.
    In a turned frame, as SfM's is."""
    from video2mesh.isolate import (
        FOOTPRINT_MARGIN,
        FOOTPRINT_ROUND,
        FOOTPRINT_SHARE,
        face_components,
    )
    from video2mesh.sphere import ObjectBox

    mesh = _bowl_scene(kind)
    assert len(trimesh.graph.connected_components(mesh.face_adjacency)) == 1
    turn = trimesh.transformations.rotation_matrix(np.radians(40), [2.0, -1.0, 1.0])
    turn[:3, 3] = [1.0, 0.5, -2.0]
    rot, shift = turn[:3, :3], turn[:3, 3]
    mesh.apply_transform(turn)
    normal = rot @ [0.0, 0.0, 1.0]
    plane = Plane(normal, -float(normal @ shift), 100, 0.01)
    basis = rot.T  # rows: the box's axes in the turned world, the last one up
    box = ObjectBox(basis, np.array([-0.3, -0.3, 0.0]) + basis @ shift,
                    np.array([0.3, 0.3, 0.8]) + basis @ shift)  # fmt: skip
    out, stats = isolate(mesh, plane, radius=1.0, box=box)
    back = (out.vertices - shift) @ rot  # into the frame the scene was built in
    arm = back[:, 2] > 0.6
    reach = np.hypot(back[:, 0], back[:, 1])[~arm].max()
    if kind == "bowl":
        assert stats["beyond_footprint_share"] > 5 * FOOTPRINT_SHARE
        assert stats["beyond_footprint_round"] == 1.0 and stats["footprint_cut"]
        footprint = 0.3 + FOOTPRINT_MARGIN + 0.03  # a cell of slack
        assert np.abs(back[~arm][:, :2]).max() < footprint
        assert back[arm][:, 0].max() > 0.65  # the arm, high, stays
        assert len(np.unique(face_components(out.faces, len(out.vertices)))) == 1
    elif kind == "narrow":
        assert stats["beyond_footprint_share"] < FOOTPRINT_SHARE
        assert "footprint_cut" not in stats and reach > 0.41  # the bowl's rim is there
    else:
        assert stats["beyond_footprint_share"] > 1.5 * FOOTPRINT_SHARE
        assert stats["beyond_footprint_round"] < FOOTPRINT_ROUND / 1.5
        assert "footprint_cut" not in stats and back[:, 0].max() > 0.85  # the block stays
    kept, stats = isolate(mesh, plane, radius=1.0, support="keep", box=box)
    assert "beyond_footprint_share" not in stats  # support: keep keeps any table left
    assert len(kept.faces) == len(mesh.faces)


def test_support_mesh_cuts_a_small_plain_top_that_sfm_missed(tmp_path: Path):
    """A box standing on a stool's round top that SfM found no plane on (session 35's figurine
    on a plain plastic stool): `support: mesh` finds the top on the mesh and cuts it, the box
    stays whole; the default (`remove`) does the same where SfM's points go on under the sphere
    (the floor under the stool), and keeps the disc where they do not (filmed on black)."""
    from video2mesh.visibility import read_cameras

    body = trimesh.creation.box(extents=[0.3, 0.3, 0.5])
    body.apply_translation([0.0, 0.0, 0.25])
    top = trimesh.creation.cylinder(radius=0.45, height=0.04, sections=64)
    top.apply_translation([0.0, 0.0, -0.02])
    turn = trimesh.transformations.rotation_matrix(np.radians(35), [1.0, 2.0, 0.5])
    mesh = trimesh.util.concatenate([body, top])
    mesh.apply_transform(turn)
    rot = turn[:3, :3]
    t = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    eyes = np.stack([2.2 * np.cos(t), 2.2 * np.sin(t), 0.9 + 0.2 * np.sin(3 * t)], 1)
    target = np.array([0.0, 0.0, 0.25])
    c2w = [turn @ look_at_c2w(e, target, np.array([0, 0, 1.0])) for e in eyes]
    cams = read_cameras(_transforms_of(c2w, tmp_path / "transforms.json"))

    kept, stats = isolate(mesh, None, radius=1.0, support="remove", cameras=cams)
    assert stats["support_from_mesh"] is None  # the top ends inside the sphere: no table
    assert kept.area == pytest.approx(mesh.area, rel=1e-6)

    out, stats = isolate(mesh, None, radius=1.0, support="mesh", cameras=cams)
    found = Plane.from_json(stats["support_from_mesh"])
    assert found.normal @ (rot @ [0.0, 0.0, 1.0]) > 0.999
    assert abs(found.height(turn[:3, 3])) < 0.01  # through the top, under the box's foot
    back = out.vertices @ rot  # into the frame the scene was built in
    assert np.abs(back[:, :2]).max() < 0.16  # the disc went: nothing beyond the box's side
    assert back[:, 2].max() == pytest.approx(0.5, abs=0.01)  # the box's top stayed
    assert out.area == pytest.approx(body.area - 0.09, rel=0.05)  # all but its bottom
    # the box alone, floating: its bottom faces away from the cameras, its top is above the
    # point they look at; nothing is a support, nothing is cut
    alone = body.copy()
    alone.apply_transform(turn)
    same, stats = isolate(alone, None, radius=1.0, support="mesh", cameras=cams)
    assert stats["support_from_mesh"] is None and len(same.faces) == len(alone.faces)
    with pytest.raises(ValueError, match=r"object\.support"):
        isolate(mesh, None, radius=1.0, support="lowest", cameras=cams)
    # the default, with the miku's share of SfM points under the sphere (0.16), and just under
    # the line: nothing under it but SfM's stray points, and the top ends inside the sphere
    auto, stats = isolate(mesh, None, radius=1.0, cameras=cams, below=0.16)
    assert Plane.from_json(stats["support_from_mesh"]).normal @ found.normal > 0.9999
    assert len(auto.faces) == len(out.faces)
    kept, stats = isolate(mesh, None, radius=1.0, cameras=cams, below=0.9 * MESH_SUPPORT_BELOW)
    assert stats["support_from_mesh"] is None and len(kept.faces) == len(mesh.faces)
    # `keep` keeps it whatever lies under the sphere
    kept, stats = isolate(mesh, None, radius=1.0, support="keep", cameras=cams, below=0.16)
    assert "support_from_mesh" not in stats and len(kept.faces) == len(mesh.faces)


@pytest.mark.parametrize(("plinth", "stool"), [(0.3, 0.45), (0.4, 0.3), (0.5, 0.3)])
def test_a_statue_on_its_plinth_on_a_stool_keeps_its_plinth(tmp_path: Path, plinth, stool):
    """A statue on its own flat plinth, the plinth on a stool's round top in a room (SfM's
    points go on under the sphere): the plane the default finds on the mesh is the stool's top,
    however wide the plinth's top is against the stool's ring showing round it (up to 0.5 wide
    on a stool 0.6 across: the plinth's top then holds more area than the ring), so the plinth
    stays whole; only the stool's top goes."""
    from video2mesh.visibility import read_cameras

    statue = trimesh.creation.box(extents=[0.12, 0.12, 0.4])
    statue.apply_translation([0.0, 0.0, 0.3])
    base = trimesh.creation.box(extents=[plinth, plinth, 0.1])
    base.apply_translation([0.0, 0.0, 0.05])
    top = trimesh.creation.cylinder(radius=stool, height=0.04, sections=64)
    top.apply_translation([0.0, 0.0, -0.02])
    mesh = trimesh.util.concatenate([statue, base, top])
    t = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    eyes = np.stack([2.2 * np.cos(t), 2.2 * np.sin(t), 0.9 + 0.2 * np.sin(3 * t)], 1)
    up = np.array([0, 0, 1.0])
    c2w = [look_at_c2w(e, np.array([0.0, 0.0, 0.25]), up) for e in eyes]
    cams = read_cameras(_transforms_of(c2w, tmp_path / "transforms.json"))

    out, stats = isolate(mesh, None, radius=1.0, cameras=cams, below=0.16)
    found = Plane.from_json(stats["support_from_mesh"])
    assert found.normal @ up > 0.999 and abs(found.height(np.zeros(3))) < 0.01
    assert out.vertices[:, 2].min() == pytest.approx(0.0, abs=0.01)  # the plinth's foot
    assert np.abs(out.vertices[:, :2]).max() == pytest.approx(plinth / 2, abs=0.01)
    # all of the statue and the plinth but the plinth's bottom, none of the stool
    assert out.area == pytest.approx(statue.area + base.area - plinth**2, rel=0.02)


def test_points_below_the_sphere_tell_a_stool_from_a_plinth_on_black():
    """The share of SfM points under the sphere's bottom: a room's floor under a stool that the
    sphere cuts through counts, SfM's noise about a floor the sphere ends on does not."""
    rng = np.random.default_rng(0)
    up = np.array([0.0, 0.0, 1.0])
    center, radius = np.array([0.0, 0.0, 0.5]), 0.5
    figurine = rng.normal([0.0, 0.0, 0.5], 0.15, (800, 3))
    floor = np.c_[rng.uniform(-3, 3, (200, 2)), np.full(200, -1.0)]  # 1.5 radii under the foot
    assert below_sphere_share(np.r_[figurine, floor], center, radius, up) == pytest.approx(0.2)
    # on a floor the sphere ends on: its points scatter ±2 % of the radius about the bottom
    ground = np.c_[rng.uniform(-3, 3, (200, 2)), rng.normal(0.0, 0.01, 200)]
    assert below_sphere_share(np.r_[figurine, ground], center, radius, up) == 0.0
    assert below_sphere_share(figurine, center, radius, up) == 0.0  # on black: nothing below
    assert below_sphere_share(np.empty((0, 3)), center, radius, up) == 0.0


@pytest.mark.parametrize("table", [None, 0.7])
def test_a_plain_table_running_out_to_the_sphere_goes_with_nothing_under_it(tmp_path, table):
    """A box on a plain table that SfM found no plane on and saw nothing under (session 38's toy
    on a white cloth): the table's flat region on the mesh runs out to the sphere, which clips
    it, so the default cuts it; a flat base as wide but ending inside the sphere (a plinth on
    black, ``table`` its radius) is no support and stays, unless SfM found no points on it
    (plain: a cloth the object's shadow made the surface keep)."""
    from scipy.spatial import Delaunay

    from video2mesh.isolate import MESH_SUPPORT_RIM, PLAIN_DENSITY
    from video2mesh.visibility import read_cameras

    body = trimesh.creation.box(extents=[0.3, 0.3, 0.8])
    body.apply_translation([0.0, 0.0, -0.1])  # from the table at z = -0.5 up to 0.3
    g = np.linspace(-1.0, 1.0, 81)
    xy = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    flat = trimesh.Trimesh(np.c_[xy, np.full(len(xy), -0.5)], Delaunay(xy).simplices)
    centres = flat.triangles_center
    edge = np.linalg.norm(centres, axis=1) < 1.0  # extraction drops faces out of the sphere
    if table is not None:
        edge &= np.linalg.norm(centres[:, :2], axis=1) < table
    flat.update_faces(edge)
    flat.fix_normals()
    mesh = trimesh.util.concatenate([body, flat])
    t = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    eyes = np.stack([2.2 * np.cos(t), 2.2 * np.sin(t), 0.6 + 0.2 * np.sin(3 * t)], 1)
    up = np.array([0, 0, 1.0])
    c2w = [look_at_c2w(e, np.array([0.0, 0.0, -0.2]), up) for e in eyes]
    cams = read_cameras(_transforms_of(c2w, tmp_path / "transforms.json"))

    out, stats = isolate(mesh, None, radius=1.0, cameras=cams, below=0.0)
    if table is None:
        assert stats["support_rim_share"] == 1.0
        found = Plane.from_json(stats["support_from_mesh"])
        assert found.normal @ up > 0.999 and abs(found.height(np.array([0, 0, -0.5]))) < 0.01
        assert np.abs(out.vertices[:, :2]).max() < 0.16  # the table went, the box stayed
        assert out.area == pytest.approx(body.area - 0.09, rel=0.05)
    else:
        assert stats["support_rim_share"] < MESH_SUPPORT_RIM
        assert stats["support_from_mesh"] is None and len(out.faces) == len(mesh.faces)
        # SfM's points tell a plain patch (none on it: a white cloth under the object's
        # shadow) from the object's own textured base (as many per area as on the box)
        rng = np.random.default_rng(0)
        on_box = np.asarray(trimesh.sample.sample_surface(body, 600, seed=1)[0])
        on_flat = np.asarray(trimesh.sample.sample_surface(flat, 600, seed=2)[0])
        plain, stats = isolate(mesh, None, 1.0, cameras=cams, below=0.0, points=on_box)
        assert stats["support_point_density"] < PLAIN_DENSITY / 3
        assert np.abs(plain.vertices[:, :2]).max() < 0.16  # the patch went, the box stayed
        both = np.r_[on_box, on_flat + rng.normal(0, 0.002, on_flat.shape)]
        based, stats = isolate(mesh, None, 1.0, cameras=cams, below=0.0, points=both)
        assert stats["support_point_density"] > 1.4 * PLAIN_DENSITY  # textured evenly: ~1
        assert stats["support_from_mesh"] is None and len(based.faces) == len(mesh.faces)
    kept, _ = isolate(mesh, None, radius=1.0, support="keep", cameras=cams, below=0.0)
    assert len(kept.faces) == len(mesh.faces)


@pytest.mark.parametrize("lump_seen", [False, True])
def test_a_lump_under_the_lowest_sfm_points_goes_with_the_plane_they_lie_on(tmp_path, lump_seen):
    """A box on a plain turntable with specks (session 39's dinosaur): SfM found no plane (too
    few points for one), the turntable's flat top ends inside the sphere and holds as many
    points per area as the box, but the surface swelled into a lump under it that SfM saw
    nothing of: the plane through SfM's lowest layer is the support, and the lump goes with
    it. Where SfM's points cover the lower part too (an object's own base), it stays."""
    from scipy.spatial import Delaunay

    from video2mesh.isolate import FLOOR_SHARE, MESH_SUPPORT_RIM, PLAIN_DENSITY
    from video2mesh.visibility import read_cameras

    body = trimesh.creation.box(extents=[0.3, 0.3, 0.8])
    body.apply_translation([0.0, 0.0, -0.1])  # from the turntable at z = -0.5 up to 0.3
    g = np.linspace(-0.45, 0.45, 37)
    xy = np.stack(np.meshgrid(g, g), -1).reshape(-1, 2)
    disc = trimesh.Trimesh(np.c_[xy, np.full(len(xy), -0.5)], Delaunay(xy).simplices)
    disc.update_faces(np.linalg.norm(disc.triangles_center[:, :2], axis=1) < 0.45)
    disc.fix_normals()
    lump = trimesh.creation.icosphere(subdivisions=3, radius=0.2)
    lump.apply_translation([0.05, 0.0, -0.75])  # from 0.05 to 0.45 under the turntable
    mesh = trimesh.util.concatenate([body, disc, lump])
    t = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    # far, as on the turntable (8.8 radii, a long lens): the lump is no deeper under the
    # turntable than SfM's inlier tolerance allows of a support's noise (`find_support`)
    eyes = np.stack([7.0 * np.cos(t), 7.0 * np.sin(t), 2.0 + 0.3 * np.sin(3 * t)], 1)
    c2w = [look_at_c2w(e, np.array([0.0, 0.0, -0.2]), np.array([0, 0, 1.0])) for e in eyes]
    cams = read_cameras(_transforms_of(c2w, tmp_path / "transforms.json"))
    rng = np.random.default_rng(0)
    on_box = np.asarray(trimesh.sample.sample_surface(body, 600, seed=1)[0])
    specks = np.c_[rng.uniform(-0.3, 0.3, (200, 2)), rng.normal(-0.5, 0.003, 200)]
    points = np.r_[on_box, specks[np.abs(specks[:, :2]).max(axis=1) > 0.16]]
    if lump_seen:
        points = np.r_[points, trimesh.sample.sample_surface(lump, 300, seed=3)[0]]

    out, stats = isolate(mesh, None, 1.0, cameras=cams, below=0.0, points=points)
    assert stats["support_rim_share"] < MESH_SUPPORT_RIM  # ends inside the sphere,
    assert stats["support_point_density"] > PLAIN_DENSITY  # and is no plain patch
    if lump_seen:
        assert stats["support_floor_share"] == 0.0
        assert not stats["support_from_floor"] and len(out.faces) == len(mesh.faces)
    else:
        assert stats["support_floor_share"] > FLOOR_SHARE
        assert stats["support_from_floor"]
        floor = Plane.from_json(stats["support_from_mesh"])
        assert floor.normal[2] > 0.999 and abs(floor.height(np.array([0, 0, -0.5]))) < 0.01
        assert out.triangles_center[:, 2].min() > -0.49  # the lump and the turntable went
        assert np.abs(out.vertices[:, :2]).max() < 0.16  # the box stayed
        assert out.area == pytest.approx(body.area - 0.09, rel=0.05)


@pytest.mark.parametrize("noise", [0.0015, 0.03])
def test_a_flat_stone_on_paper_stands_above_the_papers_thin_band(noise):
    """A flat stone, 6 % of the camera distance high, on a sheet of paper whose SfM points lie
    within 0.2 % of it (the held-out stone on an ArUco sheet): above the fixed band of 4 % it
    held too few points, the support was ignored and the sphere spanned the sheet. The band is
    as thick as the table's points lie, so the stone is found on it; on a table whose points
    spread as the sample's do (±3 %) it stays 4 % thick."""
    rng = np.random.default_rng(5)
    cams = _orbit()
    scale = float(np.median(np.linalg.norm(cams.centers - TARGET, axis=1)))
    # 60 points, most of them low on its sides (the real stone's: half under 1.6 %, 8 of 65
    # above 4 %), none on the sheet under it
    a, u = rng.uniform(0, 2 * np.pi, 60), rng.uniform(0, 1, 60)
    r = np.sqrt(1 - u**4)
    stone = np.c_[0.25 * r * np.cos(a) + 0.1, 0.15 * r * np.sin(a) - 0.05, 0.065 * scale * u**2]
    sheet = _disc(rng, 4000, 1.2, 0.0)
    sheet[:, 2] = rng.normal(0, noise * scale, len(sheet))
    sheet = sheet[np.hypot(sheet[:, 0] - 0.1, sheet[:, 1] + 0.05) > 0.3]
    pts = np.vstack([stone, sheet])
    look = look_at_point(cams.centers, cams.axes)
    plane = find_support(pts, cams.c2w, look)
    assert plane is not None
    band = table_band(pts, plane, look, scale) / scale
    if noise > 0.01:
        assert band == pytest.approx(TABLE_BAND)
        return
    assert 0.005 < band < 0.015  # 2.5 × its 90th percentile (0.25 %), or 2 RANSAC tolerances
    sphere = object_sphere(pts, cams, plane)
    assert sphere.support is not None
    # 60 sparse points: the farthest may stand a little out of the 99 % quantile's sphere
    assert _truth_inside(sphere, stone) < 1.05 and sphere.radius < 0.5


@pytest.mark.parametrize("aim", [-0.06, -0.09])
def test_a_sheet_is_found_where_the_cameras_aim_a_little_under_it(aim):
    """Hand-held photos of a flat object aim at points whose least-squares meeting point can
    lie under the sheet it lies on (6.1 and 8.7 % of the camera distance on the held-out stone
    and case, whose sheet then went unfound in one SfM run of two): still its support. A table
    top a third of the camera distance over that point is not."""
    rng = np.random.default_rng(6)
    scale = float(np.median(np.linalg.norm(_orbit().centers - TARGET, axis=1)))
    cams = _orbit(target=[0.1, -0.05, aim * scale])
    look = look_at_point(cams.centers, cams.axes)
    sheet = _disc(rng, 4000, 1.2, 0.0)
    plane = find_support(sheet, cams.c2w, look)
    assert plane is not None and abs(plane.height(np.zeros(3))) < 0.01 * scale
    table = _disc(rng, 4000, 1.2, 0.33 * scale)
    assert find_support(table, cams.c2w, look) is None
