"""Silhouette IoU: exact masks of a sphere under known cameras, and the SfM-frame alignment."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from video2mesh.sample import look_at_c2w
from video2mesh.silhouette import (
    load_cameras,
    rasterise,
    sfm_to_true_transform,
    silhouette_iou,
    similarity_matrix,
)

RADIUS, CENTER = 0.5, np.array([0.1, -0.05, 0.6])  # a ball standing above a z = 0 table
W, H = 160, 120


def _cameras(path: Path, views: int = 6) -> list[np.ndarray]:
    """A ring of cameras looking at the ball; per-frame intrinsics, the second view zoomed."""
    frames, poses = [], []
    for i in range(views):
        a = 2 * np.pi * i / views
        eye = CENTER + np.array([2.5 * np.cos(a), 2.5 * np.sin(a), 1.0])
        c2w = look_at_c2w(eye, CENTER, np.array([0.0, 0.0, 1.0]))
        f = 150.0 if i != 1 else 220.0
        intr = {"fx": f, "fy": f, "cx": W / 2 + 3, "cy": H / 2 - 2, "w": W, "h": H}
        frames.append({"name": f"img{i:02d}.jpg", "c2w": c2w.tolist(), "intrinsics": intr})
        poses.append(c2w)
    path.write_text(json.dumps({"frames": frames}))
    return poses


def _sphere_masks(cameras_json: Path, folder: Path) -> None:
    """Exact silhouettes: a pixel is inside when the ray through its centre hits the ball."""
    folder.mkdir()
    for cam in load_cameras(cameras_json):
        u, v = np.meshgrid(np.arange(W) + 0.5, np.arange(H) + 0.5)
        rays = np.stack([u, v, np.ones_like(u)], -1) @ np.linalg.inv(cam.k).T
        c2w = np.linalg.inv(cam.w2c)
        d = rays @ c2w[:3, :3].T
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        oc = c2w[:3, 3] - CENTER
        b = d @ oc
        hit = b**2 - (oc @ oc - RADIUS**2) > 0
        Image.fromarray(hit.astype(np.uint8) * 255).save(folder / f"{cam.name}.png")


@pytest.fixture
def capture(tmp_path: Path) -> dict:
    cams = tmp_path / "cameras.json"
    poses = _cameras(cams)
    _sphere_masks(cams, tmp_path / "masks")
    return {"cameras": cams, "masks": tmp_path / "masks", "poses": poses, "dir": tmp_path}


def _one_camera(folder: Path, intr: dict):
    """The camera at the origin looking down +z, with these intrinsics."""
    path = folder / "one.json"
    path.write_text(
        json.dumps({"intrinsics": intr, "frames": [{"index": 0, "c2w": np.eye(4).tolist()}]})
    )
    return load_cameras(path)[0]


def _ball(subdivisions: int = 5) -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions, RADIUS).apply_translation(CENTER)


def test_true_mesh_matches_its_masks(capture):
    mesh = _ball()
    result = silhouette_iou(
        mesh.vertices, mesh.faces, load_cameras(capture["cameras"]), capture["masks"]
    )
    assert result["views"] == 6
    # An inscribed icosphere loses a sliver at the outline only: a few boundary pixels.
    assert result["min_iou"] > 0.995
    # The zoomed view's silhouette is (220/150)^2 times larger, so the cameras' own K is used.
    pixels = {v["name"]: v["mesh_pixels"] for v in result["per_view"]}
    assert pixels["img01"] / pixels["img00"] == pytest.approx((220 / 150) ** 2, rel=0.05)


def test_wrong_mesh_scores_its_overlap(capture):
    """A ball of half the radius covers a quarter of each disc: IoU near 0.25, view by view the
    same when the views are rasterised in worker processes."""
    mesh = trimesh.creation.icosphere(5, RADIUS / 2).apply_translation(CENTER)
    cameras = load_cameras(capture["cameras"])
    result = silhouette_iou(mesh.vertices, mesh.faces, cameras, capture["masks"])
    assert 0.23 < result["mean_iou"] < 0.26
    parallel = silhouette_iou(mesh.vertices, mesh.faces, cameras, capture["masks"], workers=3)
    assert parallel["per_view"] == result["per_view"]


def test_mesh_in_sfm_frame_is_aligned_back(capture):
    """The mesh and cameras moved by a similarity (as SfM would) score as in the true frame."""
    rot = trimesh.transformations.rotation_matrix(0.7, [0.3, -1.0, 0.4])[:3, :3]
    alignment = {"scale": 2.7, "rotation": rot.tolist(), "translation": [4.0, -1.0, 0.5]}
    true_to_sfm = similarity_matrix(alignment)
    mesh = _ball().apply_transform(true_to_sfm)
    cameras = load_cameras(capture["cameras"])
    masks = capture["masks"]

    unaligned = silhouette_iou(mesh.vertices, mesh.faces, cameras, masks)
    assert unaligned["mean_iou"] < 0.1

    path = capture["dir"] / "alignment.json"
    path.write_text(json.dumps(alignment))
    back = sfm_to_true_transform(path, None, capture["cameras"])
    aligned = silhouette_iou(mesh.vertices, mesh.faces, cameras, masks, back)
    assert aligned["min_iou"] > 0.995


def test_rasterise_fills_large_and_tiny_triangles(tmp_path):
    """A square of two big triangles covers exactly its pixels; sub-pixel faces leave no holes."""
    cam = _one_camera(
        tmp_path, {"fx": 100.0, "fy": 100.0, "cx": 50.0, "cy": 50.0, "w": 100, "h": 100}
    )
    big = np.array([[-0.2, -0.2, 1.0], [0.2, -0.2, 1.0], [0.2, 0.2, 1.0], [-0.2, 0.2, 1.0]])
    sil = rasterise(big, np.array([[0, 1, 2], [0, 2, 3]]), cam)
    assert sil.sum() == 40 * 40  # pixel centres 30.5 .. 69.5 lie inside [30, 70]
    grid = trimesh.creation.box([0.4, 0.4, 1e-6])
    for _ in range(6):  # 49k faces: the top face's triangles are about half a pixel across
        grid = grid.subdivide()
    grid.apply_translation([0, 0, 1.0])
    fine = rasterise(np.asarray(grid.vertices), np.asarray(grid.faces), cam)
    assert (fine == sil).all()


def test_the_summary_shows_each_meshs_silhouette_iou_where_the_scene_has_masks(capture):
    """A scene with `reference_masks` (and its cameras) but no reference mesh: the silhouette
    rule's JSON joins the mesh's metrics (`evaluate --silhouette`), the summary's table grows a
    silhouette IoU column, and the finest mesh, whose Chamfer against itself is blanked, keeps
    its IoU; a scene without masks gets no empty column."""
    from video2mesh.cli import main
    from video2mesh.report import summary_rows, to_html

    base = capture["dir"] / "results" / "s" / "r"
    (base / "mesh").mkdir(parents=True)
    (base / "eval").mkdir()
    (capture["dir"] / "results" / "s" / "transforms.json").write_text(
        json.dumps({"sphere_center": CENTER.tolist(), "sphere_radius": 1.5, "frames": []})
    )
    for it, scale in ((200, 1.0), (100, 0.8)):  # the finest first; the early mesh 20 % small
        mesh = base / "mesh" / f"it{it}_res64.ply"
        _ball().apply_transform(trimesh.transformations.scale_matrix(scale, CENTER)).export(mesh)
        mesh.with_suffix(".json").write_text(json.dumps({"faces": 1, "iteration": it}))
        sil = base / "eval" / f"it{it}_res64.silhouette.json"
        args = ["--mesh", str(mesh), "--cameras", str(capture["cameras"])]
        assert main(["silhouette", *args, "--masks", str(capture["masks"]), "--out", str(sil)]) == 0
        finest = base / "mesh" / "it200_res64.ply"  # the run's finest: no reference mesh
        ev = ["--mesh", str(mesh), "--reference", str(finest), "--reference-kind", "finest-mesh"]
        ev += ["--samples", "2000", "--silhouette", str(sil)]
        assert main(["evaluate", *ev, "--output", str(base / "eval" / f"it{it}_res64.json")]) == 0
    rows = summary_rows(sorted(base.glob("mesh/*.json")), sorted(base.glob("eval/it*0_res64.json")))
    early, final = rows
    assert final["chamfer_l1"] is None and early["chamfer_l1"] > 0  # the finest: against itself
    assert final["silhouette_iou"] > 0.97 and final["silhouette_iou_min"] > 0.95
    assert 0.55 < early["silhouette_iou"] < 0.7  # (0.8)² of the ball's area in every view
    page = to_html(rows)
    assert "<th>silhouette IoU</th>" in page and f"{final['silhouette_iou']:.4g}" in page
    for row in rows:
        row.pop("silhouette_iou")
    assert "silhouette IoU" not in to_html(rows)
