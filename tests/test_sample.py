import json

import imageio_ffmpeg
import numpy as np
import pytest
import trimesh

from video2mesh import sample
from video2mesh.cli import main
from video2mesh.errors import UserError
from video2mesh.sample import materials, world
from video2mesh.sample.raytrace import _in_shadow

# One variant per choice of every axis (the first is the new default sample).
VARIANTS = [
    "default",
    "floor-glossy-vase",
    "floating-dark-figurine",
    "bright-table-house",
    "stool-room-matte-figurine",
]
TINY = {"frames": 24, "width": 96, "height": 72}


def _project(c2w: np.ndarray, k: dict, points: np.ndarray) -> np.ndarray:
    cam = (points - c2w[:3, 3]) @ c2w[:3, :3]  # world -> OpenCV camera
    return np.stack(
        [k["fx"] * cam[:, 0] / cam[:, 2] + k["cx"], k["fy"] * cam[:, 1] / cam[:, 2] + k["cy"]], 1
    )


def test_classic_sdf_is_negative_inside_and_zero_on_the_true_mesh(tiny_sample):
    mesh = trimesh.load(tiny_sample["mesh"])
    assert mesh.is_watertight
    cup = sample.SHAPES["cup"]
    on_surface = cup.sdf(np.asarray(mesh.sample(2000, seed=0)))
    lo, hi = cup.bounds_array()
    assert np.abs(on_surface).max() < float((hi - lo).max()) / 64  # exact to within one voxel
    assert cup.sdf(np.array([[0.0, 0.0, -0.2]]))[0] < 0  # the bowl's floor
    assert cup.sdf(np.array([[0.0, 0.0, 0.2]]))[0] > 0  # the bowl is open: a cavity
    # The handle is a thin ring with a hole: its centre is outside the solid.
    assert cup.sdf(np.array([[0.6, 0.0, 0.08]]))[0] > 0


def test_video_has_one_frame_per_camera(tiny_sample):
    cams = json.loads(tiny_sample["cameras"].read_text())
    n, _ = imageio_ffmpeg.count_frames_and_secs(str(tiny_sample["video"]))
    assert n == len(cams["frames"]) == 32
    assert cams["support_z"] is None  # the classic cup floats
    c2w = np.array(cams["frames"][5]["c2w"])
    assert np.allclose(c2w[:3, :3] @ c2w[:3, :3].T, np.eye(3), atol=1e-9)
    # Every camera looks at the object: its optical axis passes near the origin.
    eye, axis = c2w[:3, 3], c2w[:3, 2]
    closest = eye + axis * np.dot(-eye, axis)
    assert np.linalg.norm(closest) < 0.3


def test_variant_names_parse_and_typos_name_themselves():
    spec = sample.variant_spec("table-glossy-vase", seed=3)
    assert (spec.support, spec.material, spec.object, spec.background, spec.seed) == (
        "table",
        "glossy",
        "vase",
        "room",
        3,
    )
    assert sample.variant_spec("floating-dark-figurine").support == "none"
    assert sample.variant_spec("default") == sample.SampleSpec()
    assert sample.variant_spec("classic") == sample.CLASSIC
    assert sample.variant_name(sample.SampleSpec()) == "table-room-matte-cup"
    with pytest.raises(UserError, match="'vsae'"):
        sample.variant_spec("table-vsae")
    with pytest.raises(UserError, match="support twice"):
        sample.variant_spec("table-floor-cup")


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_renders_deterministically_from_the_seed(variant):
    spec = sample.variant_spec(variant, **TINY)
    cams = sample.orbit_cameras(spec)
    assert all(np.array_equal(a, b) for a, b in zip(cams, sample.orbit_cameras(spec), strict=True))
    a = sample.render_frame(cams[7], sample.build_scene(spec))
    b = sample.render_frame(cams[7], sample.build_scene(spec))
    other = sample.variant_spec(variant, **TINY, seed=1)
    c = sample.render_frame(sample.orbit_cameras(other)[7], sample.build_scene(other))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    rgb, kind = sample.render(cams[7], sample.build_scene(spec))
    assert 255 * rgb[kind == world.OBJECT].std() > 20  # a textured object, not a flat one


@pytest.mark.parametrize("variant", VARIANTS)
def test_truth_mesh_is_the_object_alone_standing_on_the_support(variant):
    spec = sample.variant_spec(variant)
    shape = sample.SHAPES[spec.object]
    mesh = sample.ground_truth_mesh(spec.object, 48)
    assert mesh.is_watertight and len(mesh.split(only_watertight=False)) == 1
    # The object only: nothing of the table or floor, which are 5-10 times wider.
    assert np.ptp(mesh.vertices[:, :2], axis=0).max() < 2.0
    support_z = sample.build_scene(spec).world.support_z
    if spec.support == "none":
        assert support_z is None
        return
    # The support plane touches the object's lowest point: solid just above it, none below.
    assert support_z == shape.bottom_z
    lo, hi = shape.bounds_array()
    xy = np.stack(np.meshgrid(np.linspace(lo[0], hi[0], 300), np.linspace(lo[1], hi[1], 300)), -1)
    xy = xy.reshape(-1, 2)
    for dz, inside in ((-0.003, False), (0.003, True)):
        p = np.column_stack([xy, np.full(len(xy), support_z + dz)])
        assert (shape.sdf(p).min() < 0) == inside
    assert abs(mesh.bounds[0, 2] - support_z) < 0.04  # the mesh agrees, to its voxel size


def test_a_stool_is_a_small_plain_top_over_the_rooms_floor():
    """The figurine on a plastic stool: the top is one colour (bar the object's shadow), a
    little wider than the object, and the room's textured floor is seen round it, far below."""
    spec = sample.variant_spec("stool-room-matte-figurine", **TINY)
    scene = sample.build_scene(spec)
    (lo, hi), column = scene.world.boxes
    shape = sample.SHAPES[spec.object]
    span = np.ptp(shape.bounds_array()[:, :2], axis=0).max()
    assert span < hi[0] - lo[0] < 2.5 * span and hi[2] == scene.world.support_z
    assert column[0][2] == scene.world.room_floor_z < hi[2] - 2 * span
    rgb, kind = sample.render(sample.orbit_cameras(spec)[0], scene)
    top = rgb[kind == world.SUPPORT_TOP]
    lit = top[top.sum(1) > 0.8 * top.sum(1).max()]
    assert len(lit) > 50 and np.ptp(lit, axis=0).max() < 0.05  # plain: no grain
    floor = rgb[kind == world.ROOM_FLOOR]
    assert (kind == world.ROOM_FLOOR).mean() > 0.1 and floor.std(0).max() > 0.05  # textured


def test_a_sheet_is_a_plain_floor_with_nothing_under_it():
    """A cup on a white cloth before a bright backdrop: the floor it stands on is one colour
    (bar the cup's shadow) out to the horizon, and no room's floor is seen."""
    spec = sample.variant_spec("sheet-bright-matte-cup", **TINY)
    scene = sample.build_scene(spec)
    assert scene.world.support_z == sample.SHAPES["cup"].bottom_z and not scene.world.boxes
    rgb, kind = sample.render(sample.orbit_cameras(spec)[0], scene)
    assert (kind == world.SUPPORT_TOP).mean() > 0.2 and not (kind == world.ROOM_FLOOR).any()
    top = rgb[kind == world.SUPPORT_TOP]
    lit = top[top.sum(1) > 0.8 * top.sum(1).max()]
    assert len(lit) > 0.5 * len(top) and np.ptp(lit, axis=0).max() < 0.05  # plain: no grain
    shadowed = top[top.sum(1) < 0.8 * top.sum(1).max()]
    assert len(shadowed) > 0  # the cup's shadow on it


@pytest.mark.parametrize("variant", VARIANTS)
def test_object_is_where_the_cameras_say_and_fills_half_the_frame(variant):
    spec = sample.variant_spec(variant, **TINY)
    verts = np.asarray(sample.ground_truth_mesh(spec.object, 48).vertices)
    k = spec.intrinsics()
    cams = sample.orbit_cameras(spec)
    scene = sample.build_scene(spec)
    for i in (0, 9, 17):
        _, kind = sample.render(cams[i], scene)
        rows, cols = np.nonzero(kind == world.OBJECT)
        uv = _project(cams[i], k, verts)
        # The projected truth's box is the rendered object's, to a pixel or two.
        assert np.allclose([cols.min(), rows.min()], uv.min(0), atol=2.0)
        assert np.allclose([cols.max() + 1, rows.max() + 1], uv.max(0), atol=2.0)
    uvs = np.stack([_project(c, k, verts) for c in cams])  # (frames, vertices, 2)
    assert uvs.min() > 0 and (uvs.max(1) < (spec.width, spec.height)).all()  # always in frame
    heights = [np.ptp(uv[:, 1]) / spec.height for uv in uvs]
    assert min(heights) > 0.35 and max(heights) < 0.7  # a phone's framing of the object
    elevations = [np.degrees(np.arcsin(c[2, 2] * -1)) for c in cams]  # optical axis downwards
    assert min(elevations) > 10 and max(elevations) < 50


@pytest.mark.parametrize("variant", ["floating-dark-figurine", "bright-table-house"])
def test_plain_backgrounds_are_uniform_outside_the_object_and_its_support(variant):
    spec = sample.variant_spec(variant, **TINY)
    scene = sample.build_scene(spec)
    c2w = sample.orbit_cameras(spec)[5]
    frame, (_, kind) = sample.render_frame(c2w, scene), sample.render(c2w, scene)
    backdrop = (kind == world.DOME) | (kind == world.ROOM_FLOOR)
    assert backdrop.mean() > 0.2
    colours = np.unique(frame[backdrop], axis=0)
    assert len(colours) == 1  # one colour: no floor, no texture, no shadow
    assert colours.mean() < 20 if spec.background == "dark" else colours.mean() > 230
    if spec.support == "none":  # nothing but the object and the backdrop
        assert set(np.unique(kind)) == {world.DOME, world.OBJECT}


def test_the_object_casts_a_shadow_on_its_support():
    scene = sample.build_scene(sample.variant_spec("default", **TINY))
    shape = scene.shape
    # Table points under the bowl, and far from the cup (2 units towards the light).
    toward_light = materials.LIGHT_DIR[:2] / np.linalg.norm(materials.LIGHT_DIR[:2])
    z = shape.bottom_z + 1e-3
    points = np.array([[0.0, 0.0, z], [*(2.0 * toward_light), z]], np.float32)
    assert _in_shadow(scene, points, 10.0, stalled_hit=True).tolist() == [True, False]


def test_glossy_highlight_moves_with_the_view_and_matte_does_not():
    albedo = np.full((2, 3), 0.5, np.float32)
    normal = np.tile(materials.LIGHT_DIR.astype(np.float32), (2, 1))
    mirror = -materials.LIGHT_DIR  # looking straight down the light: the highlight
    views = np.array([mirror, [0.0, -1.0, 0.0]], np.float32)  # and a grazing view
    lit = np.ones(2, bool)
    matte = materials.shade_object(albedo, normal, views, lit, glossy=False)
    glossy = materials.shade_object(albedo, normal, views, lit, glossy=True)
    assert np.array_equal(matte[0], matte[1])
    assert glossy[0].min() > glossy[1].max() + 0.3  # a bright white highlight in one view only


def test_sample_command_writes_a_variant(tmp_path):
    out = {
        k: tmp_path / f"{k}.{e}" for k, e in (("video", "mp4"), ("cams", "json"), ("mesh", "ply"))
    }
    argv = ["sample", "--video", str(out["video"]), "--cameras", str(out["cams"])]
    argv += ["--mesh", str(out["mesh"]), "--variant", "floor-glossy-vase", "--frames", "8"]
    argv += ["--mesh-resolution", "48"]
    assert main([*argv, "--width", "64", "--height", "48", "--material", "matte"]) == 0
    cams = json.loads(out["cams"].read_text())
    assert cams["variant"] == "floor-room-matte-vase"  # the flag overrides the variant's word
    assert cams["support_z"] == 0.0 and len(cams["frames"]) == 8
    assert imageio_ffmpeg.count_frames_and_secs(str(out["video"]))[0] == 8
    mesh = trimesh.load(out["mesh"])
    assert np.allclose(cams["object_bounds"], mesh.bounds)
    # The reference leaves out the vase's foot, which stands on the floor: its only open edges
    # are the foot's rim on the support plane.
    assert not mesh.is_watertight
    open_edges = mesh.edges_sorted[trimesh.grouping.group_rows(mesh.edges_sorted, require_count=1)]
    assert len(open_edges) > 8
    assert np.abs(mesh.vertices[open_edges.ravel(), 2] - cams["support_z"]).max() < 0.01


def test_reference_of_a_standing_object_drops_only_the_face_on_its_support():
    shape = sample.SHAPES["house"]
    full = sample.ground_truth_mesh("house", 96)
    seen = sample.without_support_contact(full, shape.bottom_z)
    # The house's floor is its walls' footprint, 1.6 x 1.1: gone, and nothing else.
    assert full.area - seen.area == pytest.approx(1.6 * 1.1, rel=0.03)
    assert np.allclose(full.bounds, seen.bounds)

    def flat_on_floor(m: trimesh.Trimesh) -> int:
        low = np.abs(m.triangles_center[:, 2] - shape.bottom_z) < 0.001
        return int((low & (np.abs(m.face_normals[:, 2]) > 0.9)).sum())

    assert flat_on_floor(full) > 1000 and flat_on_floor(seen) == 0


def test_phone_camera_drifts_exposure_and_smears_some_frames_deterministically():
    from video2mesh.frames import sharpness
    from video2mesh.sample.phone import PhoneCamera

    spec = sample.variant_spec("table-room-matte-cup-phone", **TINY)
    assert spec.camera == "phone"
    assert sample.variant_name(spec) == "table-room-matte-cup-phone"
    frame = sample.render_frame(sample.orbit_cameras(spec)[3], sample.build_scene(spec))
    phone = PhoneCamera(seed=0, frames=240)
    assert np.array_equal(phone(frame, 5), PhoneCamera(seed=0, frames=240)(frame, 5))
    # auto exposure: the same frame comes out brighter or darker by tens of per cent
    means = np.array([phone(frame, i).mean() for i in range(0, 240, 8)])
    assert means.max() / means.min() > 1.3
    assert abs(np.log(means / frame.mean())).max() < np.log(2.5)
    # the badly shaken frames are far less sharp than the steady ones (frames.py drops them)
    shaken = np.flatnonzero(phone.blur > 5)
    steady = np.flatnonzero(phone.blur < 1.5)
    assert len(shaken) >= 10 and len(steady) >= 10
    big = np.kron(frame, np.ones((4, 4, 1), np.uint8))  # 384×288: the blur is in pixels
    s_shaken = np.median([sharpness(phone(big, i)) for i in shaken[:5]])
    s_steady = np.median([sharpness(phone(big, i)) for i in steady[:5]])
    assert s_shaken < 0.7 * s_steady
