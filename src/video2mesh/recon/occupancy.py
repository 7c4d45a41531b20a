"""Where the surface can be: a coarse grid over the unit cube, refreshed from the SDF itself,
that puts each ray's coarse samples where they matter (empty-space skipping).

Why: most of a ray's chord through the bounding sphere is empty space or the object's inside,
where NeuS's weights are zero; uniform coarse samples spend most of the ray there, and thin
parts (the sample cup's legs, a rim) fall between them (benchmarks/realworld/RESULTS.md,
session 10 G). A cell is occupied when the SDF at its centre is within the band where NeuS's
weights are not negligible (|sdf| · inv_s below ``BAND_STEEPNESS``), widened by the cell's
half-diagonal (the SDF is about 1-Lipschitz, ``LIPSCHITZ`` leaves room for it not being exact).

How, with a fixed number of samples (so that a training step stays one CUDA graph): each ray
is probed at ``2 × res`` points; the coarse samples are drawn by inverse CDF from a density that
puts ``share`` of them on the probes in occupied cells and the rest uniformly along the chord
(which keeps looking everywhere, so that surface appearing in an empty cell is seen and the
next refresh marks it). A ray that meets no occupied cell is sampled uniformly, as without the
grid. Until ``occupancy_start`` (a fraction of the run) every cell is occupied: the SDF is
still the initial sphere and says nothing about the object.

The grid is a buffer of the model (`fields.Model.occupancy`), so checkpoints carry it and a
resumed chain samples as the uninterrupted one; refreshes happen at fixed iterations.
"""

from __future__ import annotations

import math

import torch

from video2mesh.recon.presets import TrainConfig

BAND_STEEPNESS = 8.0  # NeuS's weight at |sdf| · inv_s = 8 is e^-8 of its peak
LIPSCHITZ = 1.5
CHUNK = 1 << 16


def start_iteration(cfg: TrainConfig, final: int) -> int:
    return round(cfg.occupancy_start * max(int(final), 1))


def due(cfg: TrainConfig, iteration: int, final: int) -> bool:
    """Whether the grid is refreshed before training step ``iteration``."""
    if cfg.occupancy_res <= 0:
        return False
    first = start_iteration(cfg, final)
    return iteration >= first and (iteration - first) % max(cfg.occupancy_every, 1) == 0


def cell_centres(res: int, device: torch.device) -> torch.Tensor:
    """(res³, 3) centres of the grid's cells over [-1, 1]³, in the flat order of `cell_index`."""
    c = (torch.arange(res, device=device, dtype=torch.float32) + 0.5) * (2.0 / res) - 1.0
    return torch.stack(torch.meshgrid(c, c, c, indexing="ij"), -1).reshape(-1, 3)


def cell_index(x: torch.Tensor, res: int) -> torch.Tensor:
    """Flat cell index of points (..., 3) in [-1, 1]³ (clamped to the grid)."""
    ijk = ((x + 1.0) * (0.5 * res)).long().clamp(0, res - 1)
    return (ijk[..., 0] * res + ijk[..., 1]) * res + ijk[..., 2]


def band(res: int, inv_s: float) -> float:
    """|SDF| at a cell centre under which the cell may hold weight (see the module doc)."""
    half_diagonal = math.sqrt(3.0) / res
    return LIPSCHITZ * half_diagonal + BAND_STEEPNESS / max(inv_s, 1e-6)


@torch.no_grad()
def refresh(model: torch.nn.Module, active_levels: int) -> float:
    """Re-mark the model's occupancy grid from its SDF in place; returns the occupied share."""
    grid = model.occupancy
    res = model.cfg.occupancy_res
    width = band(res, float(model.inv_s()))
    centres = cell_centres(res, grid.device)
    for i in range(0, centres.shape[0], CHUNK):
        sdf = model.sdf.sdf(centres[i : i + CHUNK], active_levels).reshape(-1)
        grid[i : i + CHUNK] = (sdf.abs() < width).to(grid.dtype)
    return float(grid.mean())


def coarse_samples(
    grid: torch.Tensor,
    res: int,
    share: float,
    o: torch.Tensor,
    d: torch.Tensor,
    near: torch.Tensor,
    far: torch.Tensor,
    u: torch.Tensor,
) -> torch.Tensor:
    """Sorted coarse sample distances (R, S) for quantiles ``u`` (R, S) in [0, 1).

    With every probe occupied (or none) this is near + (far − near) · u, the uniform samples.
    """
    from video2mesh.recon.renderer import sample_pdf

    r = o.shape[0]
    n_probes = 2 * res
    edges = torch.linspace(0.0, 1.0, n_probes + 1, device=o.device, dtype=o.dtype)
    edges = near[:, None] + (far - near)[:, None] * edges  # (R, P + 1)
    mid = 0.5 * (edges[:, 1:] + edges[:, :-1])
    x = o[:, None] + mid[..., None] * d[:, None]
    occ = grid[cell_index(x, res).reshape(-1)].view(r, n_probes).to(o.dtype)
    n_occ = occ.sum(-1, keepdim=True)
    focused = (1.0 - share) / n_probes + share * occ / n_occ.clamp_min(1.0)
    weights = torch.where(n_occ > 0, focused, torch.full_like(occ, 1.0 / n_probes))
    return sample_pdf(edges, weights, u.shape[1], u)
