"""Thumbnails: geometry lands where the camera says, fast, shared framing, grid layout."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from video2mesh.cli import main
from video2mesh.render import (
    DEFAULT_AZIMUTHS,
    Framing,
    grid_image,
    render_views,
    scene_framing,
    view_basis,
)


def _transforms(path: Path, up: tuple[float, float, float] = (0, 0, 1)) -> Path:
    # Cameras on a ring whose OpenGL up column is ``up``.
    c2w = np.eye(4)
    c2w[:3, 1] = up
    data = {
        "sphere_center": [0, 0, 0],
        "sphere_radius": 1.5,
        "frames": [{"file_path": "images/000000.jpg", "transform_matrix": c2w.tolist()}],
    }
    path.write_text(json.dumps(data))
    return path


def test_sphere_is_a_centred_disc_of_the_right_size() -> None:
    framing = Framing((0.0, 0.0, 0.0), 2.0, (0.0, 0.0, 1.0))
    sheet = np.asarray(render_views(trimesh.creation.icosphere(4), framing, 128, (0.0,)))
    covered = (sheet < 250).any(axis=2)
    # Disc of radius 1 in a view of half-width 2: π/16 of the tile.
    assert covered.mean() == pytest.approx(math.pi / 16, rel=0.05)
    ys, xs = np.nonzero(covered)
    assert xs.mean() == pytest.approx(63.5, abs=1) and ys.mean() == pytest.approx(63.5, abs=1)
    assert (sheet[0, 0] == 255).all()


def test_view_basis_is_orthonormal_and_looks_down_at_elevation() -> None:
    b = view_basis(Framing((0, 0, 0), 1, (0, 0, 1)), azimuth=77, elevation=25)
    assert np.allclose(b @ b.T, np.eye(3), atol=1e-12)
    assert b[2, 2] == pytest.approx(-math.sin(math.radians(25)))  # forward points down


def test_framing_from_transforms_and_reference(tmp_path: Path) -> None:
    t = _transforms(tmp_path / "transforms.json", up=(0, 1, 0))
    f = scene_framing(t)
    assert f.extent == pytest.approx(1.5 * 1.02) and np.allclose(f.up, (0, 1, 0))
    box = trimesh.creation.box(extents=(0.4, 0.4, 0.4))
    box.apply_translation((0.1, 0, 0))
    box.export(tmp_path / "reference.ply")
    f = scene_framing(t, tmp_path / "reference.ply")
    assert f.center == pytest.approx((0.1, 0, 0))
    assert f.extent == pytest.approx(0.2 * math.sqrt(3) * 1.02)
    assert f.crop_radius == 1.5


def test_background_outside_sphere_is_not_drawn(tmp_path: Path) -> None:
    framing = scene_framing(_transforms(tmp_path / "transforms.json"))
    wall = trimesh.creation.box(extents=(10, 10, 0.1)).subdivide_to_size(0.5)
    wall.apply_translation((0, 0, -1.7))  # under the object, fills the view if drawn
    ball = trimesh.creation.icosphere(3, radius=0.5)
    both = trimesh.util.concatenate([ball, wall])
    alone = np.asarray(render_views(ball, framing, 64, (0.0,))) < 250
    sheet = np.asarray(render_views(both, framing, 64, (0.0,))) < 250
    assert sheet.mean() == pytest.approx(alone.mean(), abs=0.01)


def test_200k_faces_render() -> None:
    # its time is measured by benchmarks/render/bench_render.py, not asserted here
    mesh = trimesh.creation.icosphere(subdivisions=7)  # 327,680 faces
    sheet = render_views(mesh, Framing((0, 0, 0), 1.2, (0, 0, 1)), 256)
    assert sheet.size == (4 * 256, 256)


def test_cli_render_and_grid(tmp_path: Path) -> None:
    t = _transforms(tmp_path / "transforms.json")
    sheets = []
    for it in (100, 200):
        for res in (32, 64, 128):
            mesh = tmp_path / f"it{it}_res{res}.ply"
            trimesh.creation.icosphere(2, radius=0.5 + it / 1000).export(mesh)
            out = tmp_path / "eval" / f"it{it}_res{res}.png"
            args = ["render", "--mesh", str(mesh), "--transforms", str(t), "--output", str(out)]
            assert main([*args, "--size", "64", "--views", "2"]) == 0
            assert Image.open(out).size == (128, 64)
            sheets.append(out)
    grid = tmp_path / "grid.png"
    assert main(["render-grid", "--images", *map(str, sheets), "--output", str(grid)]) == 0
    img = grid_image(sheets, title="sample / builtin", tile=50)
    assert img.size == (110 + 3 * 50, 56 + 2 * 50)
    assert Image.open(grid).size == (110 + 3 * 200, 30 + 2 * 200)


def test_empty_mesh_still_gives_an_image() -> None:
    sheet = render_views(trimesh.Trimesh(), Framing((0, 0, 0), 1, (0, 0, 1)), 32, (0.0, 90.0))
    assert sheet.size == (64, 32)


def test_scene_up_is_the_support_normal_else_the_cameras_up() -> None:
    """One up for renders, GLB and sizes: the table's normal where the scene stage found one
    (an orbit's cameras tilt with the hand; DTU's robot arm 27° off its table), else the
    cameras' (transforms.json's OpenGL matrices: column 1 is the image's up)."""
    from video2mesh.support import scene_up

    gl = np.eye(4)
    gl[:3, :3] = [[1, 0, 0], [0, 0, -1], [0, 1, 0]]  # image up +z, looking along +y
    frames = [{"transform_matrix": gl.tolist()}] * 3
    default = np.array([1.0, 0, 0])
    assert np.allclose(scene_up({"frames": frames}, default), [0, 0, 1])
    plane = {"normal": [0.0, 0.6, 0.8], "offset": 1.0}
    assert np.allclose(scene_up({"frames": frames, "support_plane": plane}, default), [0, 0.6, 0.8])
    assert np.allclose(scene_up({"frames": []}, default), default)


def _ring(path: Path, azimuths_deg: np.ndarray) -> Path:
    """transforms.json with cameras on a ring of radius 4 (z up) at these world azimuths."""
    frames = []
    for a in np.radians(azimuths_deg):
        c2w = np.eye(4)
        c2w[:3, 3] = (4 * np.cos(a), 4 * np.sin(a), 1.0)
        frames.append({"file_path": "x.jpg", "transform_matrix": c2w.tolist()})
    data = {"sphere_center": [0, 0, 0], "sphere_radius": 1.5, "frames": frames}
    data["support_plane"] = {"normal": [0, 0, 1], "offset": 0.0}  # up: +z
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("side", [-100.0, 0.0, 135.0])
def test_the_first_view_looks_from_the_photographed_side(tmp_path: Path, side: float) -> None:
    """Photos from one side only (DTU's 114° arc around ``side``): the first thumbnail and the
    viewer's opening view look at the side they saw, not at the guessed back."""
    f = scene_framing(_ring(tmp_path / "t.json", side + np.linspace(-57, 57, 20)))
    to_camera = -view_basis(f, DEFAULT_AZIMUTHS[0])[2]
    horizontal = math.degrees(math.atan2(to_camera[1], to_camera[0]))
    assert horizontal == pytest.approx(side, abs=0.5)
    # all the way round: the views stay where they were, whatever the ring's start
    f = scene_framing(_ring(tmp_path / "t.json", side + np.arange(0, 360, 10)))
    assert f.azimuth_offset == 0.0
