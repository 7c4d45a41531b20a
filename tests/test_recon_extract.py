"""Mesh extraction: analytic SDFs within half a voxel, one weld across blocks, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from video2mesh.errors import UserError
from video2mesh.recon.extract import components, extract_lattice, keep_largest


def _sphere(x: torch.Tensor) -> torch.Tensor:
    return x.norm(dim=-1) - 0.6


def _torus(x: torch.Tensor) -> torch.Tensor:
    q = torch.stack([x[:, :2].norm(dim=-1) - 0.5, x[:, 2]], -1)
    return q.norm(dim=-1) - 0.2


def _edges_watertight(faces: np.ndarray) -> bool:
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(e, axis=0, return_counts=True)
    return bool(np.all(counts == 2))


@pytest.mark.parametrize(
    ("fn", "exact"),
    [
        (_sphere, lambda v: np.linalg.norm(v, axis=1) - 0.6),
        (
            _torus,
            lambda v: np.hypot(np.hypot(v[:, 0], v[:, 1]) - 0.5, v[:, 2]) - 0.2,
        ),
    ],
)
@pytest.mark.parametrize("dense", [True, False])
def test_analytic_surface_within_half_a_voxel(fn, exact, dense: bool) -> None:
    r = 96
    out = extract_lattice(fn, r, torch.device("cpu"), block=32, dense=dense)
    h = 2.0 / r
    err = np.abs(exact(out.vertices))
    assert err.max() <= 0.5 * h, err.max() / h
    # one weld over all blocks: closed, one component per surface, no seam duplicates
    assert _edges_watertight(out.faces)
    n, _ = components(len(out.vertices), out.faces)
    assert n == 1
    assert out.blocks_total == 27


def test_narrow_band_skips_blocks_and_matches_dense() -> None:
    band = extract_lattice(_torus, 128, torch.device("cpu"), block=16)
    dense = extract_lattice(_torus, 128, torch.device("cpu"), block=16, dense=True)
    assert band.blocks_evaluated < band.blocks_total / 2
    assert len(band.faces) == len(dense.faces)
    assert np.array_equal(np.sort(band.vertices, axis=0), np.sort(dense.vertices, axis=0))


def test_faces_point_outwards() -> None:
    out = extract_lattice(_sphere, 48, torch.device("cpu"), block=16, dense=True)
    v, f = out.vertices, out.faces
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    assert float((n * v[f].mean(1)).sum(1).mean()) > 0  # signed volume > 0


def test_keep_largest_is_global() -> None:
    def two(x: torch.Tensor) -> torch.Tensor:
        a = (x - torch.tensor([0.4, 0.0, 0.0])).norm(dim=-1) - 0.3
        b = (x + torch.tensor([0.5, 0.0, 0.0])).norm(dim=-1) - 0.15
        return torch.minimum(a, b)

    out = extract_lattice(two, 64, torch.device("cpu"), block=16, dense=True)
    assert components(len(out.vertices), out.faces)[0] == 2
    v, f = keep_largest(out.vertices, out.faces)
    assert components(len(v), f)[0] == 1
    assert np.all(v[:, 0] > 0)


def test_empty_level_set_is_a_user_error(tmp_path) -> None:
    from video2mesh.recon.extract import extract_checkpoint
    from video2mesh.recon.fields import Model
    from video2mesh.recon.presets import build_config
    from video2mesh.recon.train import FORMAT

    cfg, _ = build_config({"preset": "cpu", "train": {"init_radius": -0.5}}, "object")
    model = Model(cfg, 1)  # an SDF > 0 everywhere inside the sphere: nothing to mesh
    ck = {
        "format": FORMAT,
        "iteration": 10,
        "final": 10,
        "config": cfg.to_dict(),
        "n_images": 1,
        "normalisation": {"sphere_center": [0, 0, 0], "sphere_radius": 1.0},
        "model": model.state_dict(),
    }
    torch.save(ck, tmp_path / "c.pt")
    with pytest.raises(UserError, match="sphere"):
        extract_checkpoint(tmp_path / "c.pt", 32, tmp_path / "m.ply", tmp_path / "m.json")
    assert not (tmp_path / "m.ply").exists()


class _ViewColouredSphere:
    """A unit sphere whose colour is its view direction (rgb = (1 + view) / 2): what the
    colour network's view-dependent part does, in the extreme."""

    cfg = type("Cfg", (), {"appearance_dim": 0})()

    class sdf:
        @staticmethod
        def with_gradient(x, levels, eps):
            return x.norm(dim=-1) - 1.0, None, x, None

    @staticmethod
    def color(x, view, normal, feat, app):
        return (1.0 + view) / 2.0


def test_vertex_colours_are_seen_as_the_facing_cameras_saw_them() -> None:
    """Each vertex gets the colour network's colour from the cameras most nearly facing it
    (their mean, as they look at it), not from straight on, which no photo may have seen;
    a vertex no camera is in front of keeps the head-on colour."""
    from video2mesh.recon.extract import VIEWS_PER_VERTEX, vertex_colors

    t = np.linspace(0, 2 * np.pi, 12, endpoint=False) + 0.1  # no ties in what faces most
    eyes = np.stack([3 * np.cos(t), 3 * np.sin(t), np.full(12, 3.0)], 1)  # a ring above
    verts = np.array([[1.0, 0.0, 0.0], [0.6, 0.0, 0.8], [0.0, 0.0, -1.0]])
    st = type("St", (), {"eps": 1e-3, "active_levels": 1})()
    out = vertex_colors(_ViewColouredSphere(), verts, st, torch.device("cpu"), eyes)
    for i, v in enumerate(verts[:2]):
        facing = (eyes - v) / np.linalg.norm(eyes - v, axis=1, keepdims=True)
        best = np.argsort(-(facing @ v))[:VIEWS_PER_VERTEX]
        expect = ((1.0 - facing[best]) / 2).mean(axis=0)  # view = −(towards the eye)
        assert np.abs(out[i, :3] / 255.0 - expect).max() < 1 / 255 + 1e-6
    head_on = (1.0 - verts[0]) / 2  # what the old rule gave the side vertex
    assert np.abs(out[0, :3] / 255.0 - head_on).max() > 0.1
    assert np.abs(out[2, :3] / 255.0 - (1.0 - verts[2]) / 2).max() < 1 / 255 + 1e-6  # below
    assert (out[:, 3] == 255).all()
    assert np.array_equal(
        vertex_colors(_ViewColouredSphere(), verts, st, torch.device("cpu"))[2], out[2]
    )
