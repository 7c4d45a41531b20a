"""Pockets closed inside an object (recon/cavities.py): their surfaces go, an open one stays."""

from __future__ import annotations

import numpy as np
import torch

from video2mesh.recon.cavities import (
    EXTERIOR,
    POCKET,
    SOLID,
    hidden_space,
    hollows,
    label_lattice,
    pocket_faces,
)
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


def _box(x: torch.Tensor, centre: tuple[float, ...], half: tuple[float, ...]) -> torch.Tensor:
    q = (x - torch.tensor(centre)).abs() - torch.tensor(half)
    return q.clamp(min=0).norm(dim=-1) + q.max(dim=-1).values.clamp(max=0)


def _house(x: torch.Tensor, roof: bool, window: float = 0.0) -> torch.Tensor:
    """A house on a table slab (top at z = 0): walls 0.1 thick round a hollow (its ceiling off the
    lattices' planes) that goes down
    through the slab into the empty space under it, with a crack at the foot of the +x wall; as
    the SDF left a house of the validation set filmed close up. Without ``roof`` the hollow is
    an open box the cameras look into. ``window``: the half side of a square window in the +x
    wall's middle, through which the cameras see a little of the hollow."""
    house = _box(x, (0, 0, 0.3), (0.5, 0.5, 0.3))
    table = _box(x, (0, 0, -0.05), (2, 2, 0.05))
    hollow = _box(x, (0, 0, 0.195 if roof else 0.35), (0.4, 0.4, 0.295 if roof else 0.45))
    crack = _box(x, (0.45, 0, 0.03), (0.06, 0.05, 0.03))
    sdf = torch.maximum(torch.maximum(torch.minimum(house, table), -hollow), -crack)
    if window > 0:
        sdf = torch.maximum(sdf, -_box(x, (0.45, 0, 0.3), (0.06, window, window)))
    return sdf


def _meta_above(n: int = 24, elevation_deg: float = 35.0) -> dict:
    """transforms.json content: ``n`` cameras round the z axis, 2.6 from the origin, looking
    down at it from ``elevation_deg``; the support plane z = 0."""
    frames = []
    e = np.radians(elevation_deg)
    for i in range(n):
        a = 2 * np.pi * i / n
        eye = 2.6 * np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)])
        fwd = -eye / np.linalg.norm(eye)
        right = np.cross(fwd, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        gl = np.eye(4)  # OpenGL axes, as transforms.json holds them: x right, y up, z back
        gl[:3, 0], gl[:3, 1], gl[:3, 2], gl[:3, 3] = right, np.cross(right, fwd), -fwd, eye
        frames.append({"file_path": f"images/{i:03d}.jpg", "transform_matrix": gl.tolist()})
    focal = 160 / np.tan(np.radians(30))
    plane = {"normal": [0.0, 0.0, 1.0], "offset": 0.0}
    return {"fl_x": focal, "fl_y": focal, "cx": 160.0, "cy": 120.0, "w": 320, "h": 240,
            "sphere_center": [0.0, 0.0, 0.0], "sphere_radius": 1.0, "frames": frames,
            "support_plane": plane}  # fmt: skip


def test_a_hollow_the_cameras_cannot_see_into_goes_though_a_crack_opens_it() -> None:
    cpu = torch.device("cpu")
    fn = lambda x: _house(x, roof=True)  # noqa: E731
    lattice = sdf_lattice(fn, 65, 2 / 64, cpu, 1 << 16)
    labels = label_lattice(lattice)
    inside = (32, 32, 40)  # (0, 0, 0.25): in the hollow
    assert labels[inside] == EXTERIOR  # connected to the outside: through the crack, under the slab
    hidden, below = hidden_space(lattice, _meta_above(), cpu)
    assert hidden[inside] and below is not None and below[32, 32, 28] and not below[inside]
    shut = hollows(labels, hidden, below)
    assert shut[inside] == POCKET
    assert shut[32, 32, 60] == EXTERIOR  # above the roof
    assert shut[32, 32, 20] == EXTERIOR  # under the slab: not a wall we cut off, left alone
    res = extract_lattice(fn, 96, cpu, dense=True)
    centre = res.vertices[res.faces].mean(1)
    gone = pocket_faces(res.vertices, res.faces, shut)
    inner = (np.abs(centre[:, :2]).max(1) < 0.42) & (centre[:, 2] > 0.05) & (centre[:, 2] < 0.52)
    outer = ((np.abs(centre[:, :2]).max(1) > 0.48) | (centre[:, 2] > 0.58)) & (centre[:, 2] > 0.1)
    assert inner.sum() > 500 and outer.sum() > 500
    assert gone[inner].mean() > 0.95  # the hollow's walls and ceiling go
    assert not gone[outer].any()  # the house's outside stays
    assert not pocket_faces(res.vertices, res.faces, labels)[inner].any()  # connectivity alone


def test_a_hollow_seen_through_a_small_window_goes_one_seen_through_a_wide_one_stays() -> None:
    """The validation set's hollows had cracks up to 12.6 % of their boundary open (session 25;
    the cup's legs 45-49 %): a window of 0.1 opens the house's hollow on 18 % of its boundary
    (it goes), one of 0.3 on 37 % (it stays: the cameras see into it)."""
    cpu = torch.device("cpu")
    meta = _meta_above()
    for window, goes in ((0.05, True), (0.15, False)):
        fn = lambda x, w=window: _house(x, roof=True, window=w)  # noqa: E731
        lattice = sdf_lattice(fn, 65, 2 / 64, cpu, 1 << 16)
        labels = label_lattice(lattice)
        hidden, below = hidden_space(lattice, meta, cpu)
        corner = (20, 20, 40)  # (-0.375, -0.375, 0.25): behind the window's wall, in the hollow
        assert labels[corner] == EXTERIOR and hidden[corner]
        assert (hollows(labels, hidden, below)[corner] == POCKET) == goes, window


def test_an_open_box_the_cameras_look_into_stays() -> None:
    """...and a shell the untrained SDF holds outside the sphere (in the lattice's corners,
    between the cameras and the box) hides nothing."""
    cpu = torch.device("cpu")

    def fn(x: torch.Tensor) -> torch.Tensor:
        shell = (x.norm(dim=-1) - 1.06).abs() - 0.03
        return torch.minimum(_house(x, roof=False), shell)

    lattice = sdf_lattice(fn, 65, 2 / 64, cpu, 1 << 16)
    assert (lattice < 0).sum() > (lattice[16:49, 16:49, 16:49] < 0).sum()  # the shell
    labels = label_lattice(lattice)
    hidden, below = hidden_space(lattice, _meta_above(), cpu)
    assert not hidden[32, 32, 50]  # (0, 0, 0.56): in the box under its rim, seen over the shell
    assert hidden.sum() > 0  # the box's inner foot is hidden from every camera...
    shut = hollows(labels, hidden, below)
    assert not (shut == POCKET).any()  # ...but it opens onto space they see: no pocket
