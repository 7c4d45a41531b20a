"""Whether a plain-sided object stands on the support found under it: its SfM points (a brick's
studs) lie well above the table, and only the photos show its sides reaching down to it."""

from __future__ import annotations

import numpy as np
import pytest

from video2mesh.sphere import Cameras, object_sphere
from video2mesh.standing import stands_share
from video2mesh.support import Plane

RED, BLUE, SKY = (
    np.array([0.75, 0.06, 0.07]),
    np.array([0.16, 0.36, 0.72]),
    np.array([0.6, 0.7, 0.8]),
)
LIGHT = np.array([0.4, -0.3, 0.87]) / np.linalg.norm([0.4, -0.3, 0.87])
W, H, F = 160, 120, 150.0
TABLE = Plane(np.array([0.0, 0.0, 1.0]), 0.0, 500, 0.01)


def _orbit(n: int = 24, radius: float = 4.0, elevation: float = 30.0) -> np.ndarray:
    """OpenCV camera-to-world matrices round the z axis, looking at (0, 0, 0.5)."""
    out = []
    e = np.radians(elevation)
    for a in np.linspace(0, 2 * np.pi, n, endpoint=False):
        eye = radius * np.array([np.cos(a) * np.cos(e), np.sin(a) * np.cos(e), np.sin(e)])
        z = np.array([0.0, 0.0, 0.5]) - eye
        z /= np.linalg.norm(z)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        m = np.eye(4)
        m[:3, :3] = np.c_[x, np.cross(z, x), z]
        m[:3, 3] = eye
        out.append(m)
    return np.stack(out)


def _box_hit(o: np.ndarray, d: np.ndarray, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """Slab test: the distance to each ray's entry into the box (inf if it misses) and the
    entry face's normal."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1, t2 = (np.asarray(lo) - o) / d, (np.asarray(hi) - o) / d
    near, far = np.minimum(t1, t2), np.maximum(t1, t2)
    t_in, t_out = near.max(axis=1), far.min(axis=1)
    hit = (t_in <= t_out) & (t_in > 0)
    axis = near.argmax(axis=1)
    normal = np.zeros_like(d)
    normal[np.arange(len(d)), axis] = -np.sign(d[np.arange(len(d)), axis])
    return np.where(hit, t_in, np.inf), normal


def _render(c2w: np.ndarray, boxes: list[tuple], checked: bool = True) -> np.ndarray:
    """A photo of plain boxes (lo, hi, colour) on a black-and-white checked table (z = 0; else
    a plain light grey one) under the sky, lit from one side (each face of a box shaded its
    own way)."""
    v, u = np.mgrid[0:H, 0:W] + 0.5
    d = np.c_[(u.ravel() - W / 2) / F, (v.ravel() - H / 2) / F, np.ones(W * H)] @ c2w[:3, :3].T
    o = c2w[:3, 3]
    rgb = np.tile(SKY, (len(d), 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_best = np.where(d[:, 2] < 0, -o[2] / d[:, 2], np.inf)
    floor = o + t_best[:, None] * np.where(np.isfinite(t_best), 1.0, 0.0)[:, None] * d
    black = (np.floor(floor[:, 0] / 0.25) + np.floor(floor[:, 1] / 0.25)) % 2 * checked
    rgb[np.isfinite(t_best)] = np.where(black[:, None] > 0, 0.08, 0.8)[np.isfinite(t_best)]
    for lo, hi, colour in boxes:
        t, normal = _box_hit(o, d, lo, hi)
        nearer = t < t_best
        shade = 0.35 + 0.65 * np.clip(normal @ LIGHT, 0, 1)
        rgb[nearer] = shade[nearer, None] * colour
        t_best = np.minimum(t_best, t)
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8).reshape(H, W, 3)


def _studs(rng: np.random.Generator) -> np.ndarray:
    """SfM's points on a plain red brick 1 × 1 × 1: its top and the top 35 % of its sides
    (the studs' edges and highlights); none lower."""
    top = np.c_[rng.uniform(-0.5, 0.5, (150, 2)), np.full(150, 1.0)]
    a = rng.uniform(0, 4, 150)
    side = np.floor(a).astype(int)
    s = a - side - 0.5
    xy = np.select(
        [side[:, None] == k for k in range(4)],
        [
            np.c_[np.full(150, 0.5), s],
            np.c_[s, np.full(150, 0.5)],
            np.c_[np.full(150, -0.5), s],
            np.c_[s, np.full(150, -0.5)],
        ],
    )
    return np.vstack([top, np.c_[xy, rng.uniform(0.65, 1.0, 150)]])


BRICK_TOP = ((-0.5, -0.5, 0.55), (0.5, 0.5, 1.0), RED)
WORLDS = {
    # the brick standing on the table: its plain sides reach down to it
    "stands": [((-0.5, -0.5, 0.0), (0.5, 0.5, 1.0), RED)],
    # only the textured top of it, floating over the table
    "floats": [BRICK_TOP],
    # the same top on a plain blue stool a little wider than it
    "on a stool": [BRICK_TOP, ((-0.7, -0.7, 0.0), (0.7, 0.7, 0.55), BLUE)],
}


@pytest.mark.parametrize("world", WORLDS)
def test_the_photos_tell_a_plain_brick_on_the_table_from_its_top_floating_or_on_a_stool(world):
    rng = np.random.default_rng(0)
    c2w = _orbit()
    photos = [_render(m, WORLDS[world]) for m in c2w]
    share, votes = stands_share(_studs(rng), TABLE, c2w, (F, F, W / 2, H / 2), photos.__getitem__)
    assert votes >= 100
    if world == "stands":
        assert share >= 0.9
    else:
        assert share <= 0.2


def test_a_plain_brick_standing_on_the_table_keeps_it_and_reaches_down_to_it():
    """Without photos the brick's lowest points (0.65 of its height up) make it float and the
    table goes; with them the sphere reaches the table and the support stays for the cut."""
    rng = np.random.default_rng(1)
    c2w = _orbit()
    cams = Cameras(c2w, F, F, W / 2, H / 2, W, H)
    table = np.c_[rng.uniform(-1.5, 1.5, (1500, 2)), np.zeros(1500)]
    brick = _studs(rng)
    points = np.vstack([brick, table[np.abs(table[:, :2]).max(axis=1) > 0.5]])
    blind = object_sphere(points, cams, TABLE)
    assert blind.support is None and any("not standing" in n for n in blind.notes)
    photos = [_render(m, WORLDS["stands"]) for m in c2w]
    seen = object_sphere(points, cams, TABLE, photo=photos.__getitem__)
    assert seen.support is not None and any("sides reaching down" in n for n in seen.notes)
    lowest = seen.center[2] - seen.radius
    assert lowest < 0.0 < blind.center[2] - blind.radius  # the brick's foot is inside now
    assert seen.radius < 1.5


def test_the_scene_stage_reads_the_photos_of_sfms_archive_by_camera(tmp_path):
    """The photos come from sfm/images.tar in the model's camera order; a photo the archive
    lacks is a clear error, not a crash."""
    import io
    import tarfile

    from PIL import Image

    from video2mesh.errors import UserError
    from video2mesh.scene import archive_photos

    archive = tmp_path / "images.tar"
    with tarfile.open(archive, "w") as tar:
        for name, colour in (("b.jpg", (200, 20, 20)), ("a.jpg", (20, 20, 200))):
            buf = io.BytesIO()
            Image.new("RGB", (32, 24), colour).save(buf, "JPEG", quality=95)
            info = tarfile.TarInfo(f"images/{name}")
            info.size = buf.tell()
            buf.seek(0)
            tar.addfile(info, buf)
    photo = archive_photos(archive, ["a.jpg", "b.jpg", "c.jpg"])
    assert photo(0).shape == (24, 32, 3) and photo(0)[12, 16, 2] > 180  # a.jpg: blue
    assert photo(1)[12, 16, 0] > 180  # b.jpg: red
    with pytest.raises(UserError, match=r"no photo images/c\.jpg"):
        photo(2)


def test_a_plain_object_without_sfm_points_is_carved_from_the_photos():
    """A plain red brick on the checked table: SfM's points all lie on the table. Without the
    photos the support is ignored and the sphere spans the table; with them the brick's shape
    is carved from its colour, the support stays, and the sphere holds the brick snugly."""
    rng = np.random.default_rng(2)
    c2w = _orbit()
    cams = Cameras(c2w, F, F, W / 2, H / 2, W, H)
    table = np.c_[rng.uniform(-1.5, 1.5, (3000, 2)), rng.normal(0, 0.002, 3000)]
    points = table[np.abs(table[:, :2]).max(axis=1) > 0.5]
    blind = object_sphere(points, cams, TABLE)
    assert blind.support is None and blind.radius > 1.5
    photos = [_render(m, WORLDS["stands"]) for m in c2w]
    seen = object_sphere(points, cams, TABLE, photo=photos.__getitem__)
    assert seen.support is not None and any("carved from the photos" in n for n in seen.notes)
    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (0, 1)])
    assert np.linalg.norm(corners - seen.center, axis=1).max() < seen.radius
    assert seen.radius < 1.6  # the brick's half-diagonal is 0.87
    assert seen.box is not None
    lo, hi = seen.box.lo, seen.box.hi
    # its footprint, 1 × 1: a visual hull overshoots (here 1.6), the more the fewer views agree
    assert np.all(hi[:2] - lo[:2] > 0.9) and np.all(hi[:2] - lo[:2] < 1.8)
    assert 0.9 < hi[2] - lo[2] < 1.4  # its height, 1


def test_nothing_is_carved_where_the_cameras_look_at_a_plain_table():
    """No object where the cameras look, on a plain cloth: the colour there is the cloth's all
    round, so no silhouette is made of it (the sphere then goes on as before)."""
    from video2mesh.carve import carve_plain_object

    c2w = _orbit()
    k = (F, F, W / 2, H / 2)
    look = np.array([0.0, 0.0, 0.5])
    plain = [_render(m, [], checked=False) for m in c2w]
    assert carve_plain_object(TABLE, c2w, k, plain.__getitem__, look, 4.0) is None
    brick = [_render(m, WORLDS["stands"], checked=False) for m in c2w]
    hull = carve_plain_object(TABLE, c2w, k, brick.__getitem__, look, 4.0)
    # the brick, 1 × 1, on it (the hull overshoots it, as above)
    assert hull is not None and np.abs(hull[:, :2]).max() < 1.0
