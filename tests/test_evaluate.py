"""Metrics against analytic cases with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import trimesh

from video2mesh.cli import main
from video2mesh.errors import UserError
from video2mesh.evaluate import Sphere, evaluate_meshes

SAMPLES = 30_000


def _sphere(radius: float, center: tuple[float, float, float] = (0, 0, 0)) -> trimesh.Trimesh:
    mesh = trimesh.creation.icosphere(subdivisions=5, radius=radius)
    mesh.apply_translation(center)
    return mesh


def _plane(size: float = 2.0, offset: tuple[float, float, float] = (0, 0, 0)) -> trimesh.Trimesh:
    # A finely triangulated square, so sampling is not dominated by two huge triangles.
    n = 40
    xs = np.linspace(-size / 2, size / 2, n + 1)
    gx, gy = np.meshgrid(xs, xs, indexing="ij")
    verts = np.stack([gx.ravel(), gy.ravel(), np.zeros(gx.size)], axis=1) + np.asarray(offset)
    idx = np.arange((n + 1) ** 2).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
    faces = np.concatenate(
        [np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)]
    )
    return trimesh.Trimesh(verts, faces, process=False)


def test_identical_meshes_score_perfectly() -> None:
    m = evaluate_meshes(_sphere(1.0), _sphere(1.0), samples=SAMPLES)
    diag = m["reference_diagonal"]
    assert diag == pytest.approx(2 * math.sqrt(3), rel=0.01)
    # Sampling bias only: far below 0.1% of the diagonal.
    assert m["chamfer_l1"] < 1e-4 * diag
    assert m["fscore_0.5pct"] == pytest.approx(1.0) and m["fscore_1pct"] == pytest.approx(1.0)
    assert m["normal_consistency"] > 0.99


def test_sphere_against_scaled_sphere() -> None:
    # Radii 1 and 1.02: every point is exactly 0.02 from the other surface, along the normal.
    # τ(0.5%) = 0.005·2√3 ≈ 0.0173 < 0.02 < τ(1%) ≈ 0.0346.
    m = evaluate_meshes(_sphere(1.02), _sphere(1.0), samples=SAMPLES)
    assert m["accuracy"] == pytest.approx(0.02, abs=5e-4)
    assert m["completeness"] == pytest.approx(0.02, abs=5e-4)
    assert m["chamfer_l1"] == pytest.approx(0.02, abs=5e-4)
    assert m["fscore_0.5pct"] == 0.0
    assert m["fscore_1pct"] == 1.0
    assert m["normal_consistency"] > 0.99


def test_plane_shifted_along_normal() -> None:
    m = evaluate_meshes(_plane(offset=(0, 0, 0.05)), _plane(), samples=SAMPLES)
    assert m["accuracy"] == pytest.approx(0.05, abs=5e-4)
    assert m["completeness"] == pytest.approx(0.05, abs=5e-4)
    assert m["normal_consistency"] == pytest.approx(1.0)
    assert m["fscore_1pct"] == 0.0  # τ = 0.01·2√2 ≈ 0.028 < 0.05


def test_plane_shifted_in_plane() -> None:
    # Squares of side 2 shifted by d along x: a strip of width d (share d/2 of the area) has
    # distances growing 0..d (mean d/2), the rest 0 → accuracy = completeness = d²/4.
    d = 0.2
    m = evaluate_meshes(_plane(offset=(d, 0, 0)), _plane(), samples=SAMPLES)
    assert m["accuracy"] == pytest.approx(d * d / 4, rel=0.1)
    assert m["completeness"] == pytest.approx(d * d / 4, rel=0.1)
    # Recall at 1% (τ≈0.028): the strip beyond τ is missed, (d-τ)/2 of the area.
    tau = m["thresholds"]["1pct"]
    assert m["recall_1pct"] == pytest.approx(1 - (d - tau) / 2, abs=0.01)


def test_background_outside_sphere_is_cropped_and_reported() -> None:
    sphere = Sphere((0.0, 0.0, 0.0), 1.5)
    background = trimesh.creation.box(extents=(1, 1, 1))
    background.apply_translation((5, 0, 0))
    with_bg = trimesh.util.concatenate([_sphere(1.02), background])
    clean = evaluate_meshes(_sphere(1.02), _sphere(1.0), sphere=sphere, samples=SAMPLES)
    cropped = evaluate_meshes(with_bg, _sphere(1.0), sphere=sphere, samples=SAMPLES)
    assert cropped["chamfer_l1"] == pytest.approx(clean["chamfer_l1"], rel=0.02)
    share = background.area / with_bg.area
    assert cropped["cropped_area_fraction"] == pytest.approx(share, abs=0.01)
    assert clean["cropped_area_fraction"] == 0.0
    # Without the sphere the background counts against accuracy.
    raw = evaluate_meshes(with_bg, _sphere(1.0), samples=SAMPLES)
    assert raw["accuracy"] > 5 * clean["accuracy"]


def test_deterministic() -> None:
    a = evaluate_meshes(_sphere(1.02), _sphere(1.0), samples=20_000, seed=3)
    b = evaluate_meshes(_sphere(1.02), _sphere(1.0), samples=20_000, seed=3)
    assert a == b


def test_empty_mesh_gives_null_metrics() -> None:
    m = evaluate_meshes(trimesh.Trimesh(), _sphere(1.0), samples=1000)
    assert m["empty"] is True
    assert m["chamfer_l1"] is None
    assert m["fscore_1pct"] == 0.0


def test_reference_outside_sphere_is_a_user_error() -> None:
    with pytest.raises(UserError, match="reference mesh has no surface"):
        evaluate_meshes(_sphere(1.0), _sphere(1.0, (10, 0, 0)), Sphere((0, 0, 0), 1), 1000)


def test_cli_writes_json(tmp_path) -> None:
    _sphere(1.02).export(tmp_path / "it100_res64.ply")
    _sphere(1.0).export(tmp_path / "reference.ply")
    (tmp_path / "transforms.json").write_text(
        json.dumps({"sphere_center": [0, 0, 0], "sphere_radius": 2.0, "frames": []})
    )
    out = tmp_path / "eval" / "it100_res64.json"
    rc = main(
        [
            "evaluate",
            "--mesh",
            str(tmp_path / "it100_res64.ply"),
            "--reference",
            str(tmp_path / "reference.ply"),
            "--transforms",
            str(tmp_path / "transforms.json"),
            "--samples",
            "5000",
            "--output",
            str(out),
        ]
    )
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["iterations"] == 100 and data["resolution"] == 64
    assert data["reference_kind"] == "ground-truth"
    assert data["chamfer_l1"] == pytest.approx(0.02, abs=3e-3)


def test_diagonal_follows_the_reference_axes_not_the_frame() -> None:
    """An aligned reference is measured along its own axes: the SfM frame's orientation is moot."""
    from scipy.spatial.transform import Rotation

    box = trimesh.creation.box(extents=(2.0, 1.0, 0.5))
    own = evaluate_meshes(box, box, samples=5000)["reference_diagonal"]
    rot = Rotation.from_euler("xyz", [30, 50, 70], degrees=True).as_matrix()
    turned = box.copy()
    turned.vertices = turned.vertices @ rot.T
    framed = evaluate_meshes(turned, turned, samples=5000)["reference_diagonal"]
    aligned = evaluate_meshes(turned, turned, samples=5000, reference_axes=rot)
    assert own == pytest.approx(math.sqrt(2**2 + 1 + 0.25), rel=0.01)
    assert framed > 1.05 * own  # the axis-aligned box of the turned box is larger
    assert aligned["reference_diagonal"] == pytest.approx(own, rel=1e-6)
    assert aligned["thresholds"]["0.5pct"] == pytest.approx(0.005 * own, rel=1e-6)


def test_object_share_counts_the_table_outside_the_sphere_and_chamfer_pct_reads_it() -> None:
    ref = _sphere(0.5, (0, 0, 0.5))
    table = _plane(size=4.0)  # 16 units² of table, most of it outside the sphere
    mesh = trimesh.util.concatenate([ref, table])
    crop = Sphere((0.0, 0.0, 0.5), 0.6)
    m = evaluate_meshes(mesh, ref, sphere=crop, samples=SAMPLES)
    expected = ref.area / mesh.area  # the table is > 1 % of the diagonal from the ball
    assert m["object_share"] == pytest.approx(expected, abs=0.02)
    assert m["chamfer_pct"] == pytest.approx(100 * m["chamfer_l1"] / m["reference_diagonal"])
    alone = evaluate_meshes(ref, ref, sphere=crop, samples=SAMPLES)
    assert alone["object_share"] == pytest.approx(1.0, abs=1e-3)


def _object() -> trimesh.Trimesh:
    """An asymmetric object: a box with a ball on one corner and a rod (ICP has one answer)."""
    box = trimesh.creation.box(extents=(1.0, 0.6, 0.4))
    ball = trimesh.creation.icosphere(subdivisions=3, radius=0.25)
    ball.apply_translation((0.5, 0.3, 0.2))
    rod = trimesh.creation.cylinder(radius=0.05, height=0.8)
    rod.apply_translation((-0.4, 0.0, 0.5))
    return trimesh.util.concatenate([box.subdivide().subdivide(), ball, rod])


def test_refinement_separates_a_frame_error_from_the_shape() -> None:
    """A right shape in a frame 3 % small and shifted by 2 % of the diagonal (cameras off as a
    whole), with a floater: the unrefined Chamfer counts the frame error, the refined one sees
    the shape, and the similarity found undoes the frame's."""
    ref = _object()
    diag = float(np.linalg.norm(ref.extents))
    mesh = ref.copy()
    mesh.apply_scale(0.97)
    mesh.apply_translation((0.02 * diag, -0.01 * diag, 0.0))
    floater = trimesh.creation.icosphere(subdivisions=2, radius=0.05)
    floater.apply_translation((0.0, 1.0, 0.0))
    m = evaluate_meshes(
        trimesh.util.concatenate([mesh, floater]), ref, samples=SAMPLES, refine=True
    )
    r = m["refined"]
    assert r["kept"]
    assert m["chamfer_pct"] > 1.0  # the frame error, counted as the mesh's
    assert r["chamfer_pct"] < 0.25 * m["chamfer_pct"]
    assert r["scale"] == pytest.approx(1 / 0.97, abs=0.005)
    assert r["rotation_deg"] < 0.5
    assert r["object_share"] > m["object_share"] + 0.3


def test_refinement_leaves_a_right_frame_alone() -> None:
    """The mesh in its reference's frame, with noise on its surface: ICP has nothing to find,
    so the refinement is the identity and the numbers are the unrefined ones."""
    ref = _object()
    mesh = ref.copy()
    rng = np.random.default_rng(0)
    mesh.vertices += rng.normal(scale=0.003, size=mesh.vertices.shape)
    m = evaluate_meshes(mesh, ref, samples=SAMPLES, refine=True)
    r = m["refined"]
    assert r["scale"] == pytest.approx(1.0, abs=0.003)
    assert r["shift_pct"] < 0.1
    assert r["chamfer_pct"] == pytest.approx(m["chamfer_pct"], rel=0.1)
