"""Pockets closed inside an object (recon/cavities.py): their surfaces go, an open one stays."""

from __future__ import annotations

import numpy as np
import torch

from video2mesh.recon.cavities import EXTERIOR, POCKET, SOLID, label_lattice, pocket_faces
from video2mesh.recon.extract import extract_lattice, sdf_lattice


def _hollow_ball(x: torch.Tensor, open_top: bool) -> torch.Tensor:
    """A ball of radius 0.6 with a spherical pocket of radius 0.25 at its centre; with
    ``open_top`` a shaft of radius 0.1 joins the pocket to the outside along +z."""
    r = x.norm(dim=-1)
    sdf = torch.maximum(r - 0.6, 0.25 - r)
    if open_top:
        shaft = torch.maximum(x[:, :2].norm(dim=-1) - 0.1, -x[:, 2])  # inside: < 0
        sdf = torch.maximum(sdf, -shaft)
    return sdf


def test_a_closed_pocket_is_found_and_its_surface_goes() -> None:
    cpu = torch.device("cpu")
    res = extract_lattice(lambda x: _hollow_ball(x, False), 96, cpu, dense=True)
    labels = label_lattice(sdf_lattice(lambda x: _hollow_ball(x, False), 65, 2 / 64, cpu, 1 << 16))
    centre = labels[32, 32, 32]
    assert centre == POCKET and labels[0, 0, 0] == EXTERIOR and labels[32, 32, 5] == EXTERIOR
    assert labels[32, 32, 46] == SOLID  # r = 0.44: in the wall
    on_pocket = pocket_faces(res.vertices, res.faces, labels)
    r = np.linalg.norm(res.vertices[res.faces].mean(1), axis=1)
    inner = r < 0.4
    assert inner.sum() > 500 and (~inner).sum() > 500
    assert on_pocket[inner].mean() > 0.99  # the pocket's wall goes
    assert not on_pocket[~inner].any()  # the outside stays


def test_a_pocket_open_to_the_outside_stays() -> None:
    cpu = torch.device("cpu")
    fn = lambda x: _hollow_ball(x, True)  # noqa: E731
    res = extract_lattice(fn, 96, cpu, dense=True)
    labels = label_lattice(sdf_lattice(fn, 65, 2 / 64, cpu, 1 << 16))
    assert labels[32, 32, 32] == EXTERIOR  # reached through the shaft
    assert not (labels == POCKET).any()
    assert not pocket_faces(res.vertices, res.faces, labels).any()
