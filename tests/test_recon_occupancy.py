"""Empty-space skipping (recon/occupancy.py): the grid marks the SDF's band, the coarse samples
follow it, nothing changes while every cell is occupied, and a chain resumes with its grid."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from test_recon_train import TINY, _same_state, _segment, scene  # noqa: F401 (fixture)
from v2m_testing import TINY_TRAIN

from video2mesh.recon import occupancy
from video2mesh.recon.fields import Model
from video2mesh.recon.presets import build_config
from video2mesh.recon.renderer import sphere_near_far
from video2mesh.recon.train import run_segment


def _rays(n: int = 256, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Rays from 3 units away through points near the centre."""
    g = torch.Generator().manual_seed(seed)
    o = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1) * 3.0
    aim = 0.4 * (torch.rand(n, 3, generator=g) - 0.5)
    d = torch.nn.functional.normalize(aim - o, dim=-1)
    near, far, hit = sphere_near_far(o, d)
    assert bool(hit.all())
    return o, d, near, far


def _shell(res: int, radius: float, half_width: float) -> torch.Tensor:
    r = occupancy.cell_centres(res, torch.device("cpu")).norm(dim=-1)
    return ((r - radius).abs() < half_width).float()


def test_every_cell_occupied_gives_the_uniform_samples() -> None:
    o, d, near, far = _rays()
    u = (torch.arange(16) + torch.rand(256, 16)) / 16
    t = occupancy.coarse_samples(torch.ones(32**3), 32, 0.75, o, d, near, far, u)
    assert torch.allclose(t, near[:, None] + (far - near)[:, None] * u, atol=1e-5)
    # and so does a grid with no occupied cell (nothing to focus on)
    t = occupancy.coarse_samples(torch.zeros(32**3), 32, 0.75, o, d, near, far, u)
    assert torch.allclose(t, near[:, None] + (far - near)[:, None] * u, atol=1e-5)


def test_coarse_samples_go_where_the_cells_are_occupied() -> None:
    o, d, near, far = _rays()
    res, share = 32, 0.75
    grid = _shell(res, 0.5, 0.08)
    u = (torch.arange(32) + 0.5).expand(256, 32) / 32
    t = occupancy.coarse_samples(grid, res, share, o, d, near, far, u)
    assert bool((t[:, 1:] >= t[:, :-1]).all())  # sorted, as the fine rounds need
    assert bool(((t >= near[:, None] - 1e-5) & (t <= far[:, None] + 1e-5)).all())
    inside = grid[occupancy.cell_index(o[:, None] + t[..., None] * d[:, None], res)]
    uniform = near[:, None] + (far - near)[:, None] * u
    before = grid[occupancy.cell_index(o[:, None] + uniform[..., None] * d[:, None], res)]
    # the shell is ~12 % of the chords; the share of samples in it ~0.75 + the uniform part's
    # (less the probes that straddle a cell's edge)
    assert float(before.mean()) < 0.2
    assert float(inside.mean()) > share - 0.05


def test_refresh_marks_the_band_of_the_initial_sphere() -> None:
    cfg, _ = build_config({**TINY, "train": {**TINY_TRAIN, "occupancy_res": 32}}, "object")
    torch.manual_seed(0)  # the tiny hash grid's random features bend the initial sphere
    model = Model(cfg, n_images=4)
    assert model.occupancy is not None and bool((model.occupancy == 1).all())
    grid = model.occupancy
    share = occupancy.refresh(model, cfg.hash_levels)
    assert model.occupancy is grid  # in place: a captured training graph reads this tensor
    centres = occupancy.cell_centres(32, torch.device("cpu"))
    assert torch.equal(occupancy.cell_index(centres, 32), torch.arange(32**3))
    with torch.no_grad():
        sdf = model.sdf.sdf(centres, cfg.hash_levels).reshape(-1)
    width = occupancy.band(32, float(model.inv_s().detach()))  # 0.48 at the initial inv_s 20
    assert torch.equal(grid.bool(), sdf.abs() < width)
    # the geometric init is a sphere of radius 0.5 (noisy at this tiny size): its cells are
    # marked, most of the cube's corners are not
    r = centres.norm(dim=-1)
    assert float(grid[(r - cfg.init_radius).abs() < 0.1].mean()) > 0.95
    assert float(grid[r > 1.5].mean()) < 0.3
    assert 0.05 < share < 0.9


def test_the_band_narrows_as_the_surface_sharpens() -> None:
    assert occupancy.band(64, 20.0) > occupancy.band(64, 200.0) > 1.5 * 3**0.5 / 64


def test_refresh_is_due_from_the_start_fraction_on() -> None:
    cfg, _ = build_config({**TINY, "train": {**TINY_TRAIN, "occupancy_res": 16}}, "object")
    cfg = dataclasses.replace(cfg, occupancy_start=0.1, occupancy_every=100)
    due = [it for it in range(3000) if occupancy.due(cfg, it, 3000)]
    assert due[:3] == [300, 400, 500] and len(due) == 27
    assert not any(occupancy.due(dataclasses.replace(cfg, occupancy_res=0), i, 3000) for i in due)


def test_out_of_range_settings_are_refused() -> None:
    with pytest.raises(Exception, match="occupancy_share"):
        build_config({**TINY, "train": {**TINY_TRAIN, "occupancy_share": 1.0}}, "object")


def test_training_with_the_grid_learns_and_a_chain_resumes_with_it(scene, tmp_path: Path) -> None:  # noqa: F811
    train = {**TINY_TRAIN, "occupancy_res": 16, "occupancy_start": 0.25, "occupancy_every": 10}
    cfg, _ = build_config({**TINY, "train": train}, "object")

    def seg(out: Path, until: int, **kw):
        return dataclasses.replace(_segment(scene, out, until, 40, **kw), cfg=cfg)

    run_segment(seg(tmp_path / "one", 40))
    ck = torch.load(tmp_path / "one" / "it40.pt", weights_only=False)
    grid = ck["model"]["occupancy"]
    assert grid.shape == (16**3,) and 0.0 < float(grid.mean()) < 1.0  # refreshed, not all
    chain = tmp_path / "chain"
    run_segment(seg(chain, 15))  # the grid is first refreshed at 10, then at 20: mid-interval
    run_segment(seg(chain, 40, resume=chain / "it15.pt"))
    _same_state(tmp_path / "one" / "it40.pt", chain / "it40.pt")
