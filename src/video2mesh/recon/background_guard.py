"""A NeRF++ background that collapses to one saturated colour early on: training starts again,
with the background warming up slowly.

Why: from some initialisations the background network settles, within its first 30 iterations,
on one black, opaque wall: the sigmoid of its colour saturates (its slope is 0 to five
decimals), no gradient reaches the colour again, and whatever lies outside the bounding sphere
(the table under DTU 65's skull) can only be drawn by the SDF, as a shell around the object
(DTU 65 under training seed 27, the one seed in 28 tried: silhouette IoU 0.64 where others give
0.91-0.93; benchmarks/realworld/RESULTS.md, sessions 17-18). A live background keeps a mean
slope of 0.05-0.25.

What did not work, and why this: drawing the background alone again (eleven times in a row on
the H200 it collapsed again within ten iterations; IoU 0.83), also with its rate warming up
anew (collapsed again by iteration 200). A background whose rate ramps up over the first 5 % of
the run from the start does not collapse (DTU 65 seed 27: 0.915 on a CPU, 0.918 on the H200),
but as a default it cost other captures (the house on a bright backdrop, seed 20: 1.69 %
against 0.48; the temple, seed 26: IoU 0.81 against 0.87). So the guard watches, and only a run
whose background collapsed starts again from iteration 0 as that slower run: every other run is
the same with the guard as without it.

A plain backdrop rightly gives a background of one colour: the temple's collapses to its black
on every seed, and restarting it there with the slow background costs (seed 26: IoU 0.81; seed
27: the SDF emptied). So a collapse counts only when its colour is not that of what the
background alone draws: the pixels whose ray misses the bounding sphere
(`Dataset.off_sphere_colour`; DTU 65: RGB 0.30 / 0.20 / 0.13 against the black it collapsed
to, the temple: 0.04 / 0.03 / 0.02).

Both presets pad the background's colour sigmoid (`TrainConfig.bg_colour_padding`), so that a
background on saturated black or white keeps a slope of ~0.045 and comes back by itself (DTU 65
seed 3 on the CPU: black by iteration 30 at a slope of 0.002, above ``DEAD_SLOPE``). The slope
read here is that of the sigmoid inside the padding, and the colour is compared as drawn. A
stricter ``DEAD_SLOPE`` (5e-3) is no substitute: it would also restart the model house under
two seeds whose plain runs are fine (IoU 0.98), and their restarted runs end at 0.81
(RESULTS.md, session 30).

How: every ``CHECK_EVERY`` iterations until ``WATCH_AFTER_WARMUP`` after the learning rates'
warm-up (the collapse comes with Adam's first full-rate steps), the background is evaluated at
fixed probe points of its inverted sphere (a generator of their own: the training's random
numbers are untouched); a mean slope of its colour sigmoid below ``DEAD_SLOPE``, at a mean colour
more than ``COLOUR_TOLERANCE`` from the off-sphere pixels' in some channel, is a collapse.
The restart re-seeds and re-initialises everything in place (a captured step graph holds these
tensors) and records its warm-up in the background's optimiser group, so a checkpoint carries
it and a resumed chain follows the same schedule.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from video2mesh.recon.fields import Model, initial_model
from video2mesh.recon.presets import TrainConfig

log = logging.getLogger(__name__)

WATCH_AFTER_WARMUP = 100  # iterations; the collapse seen so far: iteration 20-30, warm-up 30
CHECK_EVERY = 10
DEAD_SLOPE = 1e-3  # mean σ'(colour logit); 0.25 at a logit of 0, 1e-3 beyond |logit| ≈ 6.9
PROBES = 4096
COLOUR_TOLERANCE = 0.1  # of the 0-1 range, per channel
RESTART_WARMUP = 0.05  # of the run: the background's own warm-up after a restart


def restart_warmup(opt: torch.optim.Optimizer) -> float | None:
    """The background's warm-up share if training was restarted by the guard, else None."""
    for g in opt.param_groups:
        if g.get("name") == "background":
            return g.get("restart_warmup")
    return None


def watched(cfg: TrainConfig) -> bool:
    """Whether runs of ``cfg`` are watched: a NeRF++ background without a ramp of at least the
    restart's already (a restart would run the same schedule again)."""
    return (
        cfg.background_guard and cfg.background == "nerf" and cfg.background_warmup < RESTART_WARMUP
    )


def due(cfg: TrainConfig, opt: torch.optim.Optimizer, iteration: int, final: int) -> bool:
    """Whether the background is checked after training step ``iteration`` (once restarted,
    never again)."""
    if not watched(cfg) or restart_warmup(opt) is not None:
        return False
    warm = max(round(cfg.warmup_frac * max(int(final), 1)), 1)
    return iteration % CHECK_EVERY == 0 and iteration <= warm + WATCH_AFTER_WARMUP


def probe_points(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed points outside the unit sphere (every direction, 1/r in (0, 1]) and view directions."""
    g = torch.Generator().manual_seed(0)
    direction = F.normalize(torch.randn(PROBES, 3, generator=g), dim=-1)
    radius = 1.0 / torch.rand(PROBES, 1, generator=g).clamp_min(0.02)
    view = F.normalize(torch.randn(PROBES, 3, generator=g), dim=-1)
    return (direction * radius).to(device), view.to(device)


@torch.no_grad()
def colour_stats(model: Model) -> tuple[float, torch.Tensor]:
    """Mean slope of the background's colour sigmoid (0.25 at most) and its mean RGB over the
    probe points (with the zero appearance code, as the renderer draws a novel view)."""
    background = model.background
    assert background is not None
    x, view = probe_points(next(background.parameters()).device)
    app = None
    if model.bg_appearance is not None:
        app = x.new_zeros(PROBES, model.bg_appearance.embedding_dim)
    _, rgb = background(x, view, app)
    s = background.sigmoid_of(rgb)
    # the colour as drawn: a padded sigmoid's black is −p, and a pixel's is 0
    return float((s * (1.0 - s)).mean()), rgb.clamp(0.0, 1.0).mean(0).cpu()


def collapsed(model: Model, colour: torch.Tensor) -> bool:
    """Whether the background has settled on one colour other than ``colour`` (RGB, 0-1)."""
    if model.background is None:
        return False
    slope, rgb = colour_stats(model)
    return slope < DEAD_SLOPE and float((rgb - colour.cpu()).abs().max()) > COLOUR_TOLERANCE


@torch.no_grad()
def restart(
    model: Model, opt: torch.optim.Optimizer, gen: torch.Generator, n_images: int, iteration: int
) -> None:
    """Everything as at the start of a fresh run with the seed (`train._run_segment`), in place,
    and the background's warm-up recorded in its optimiser group."""
    cfg = model.cfg
    log.warning(
        "the background collapsed to one colour by iteration %d: training starts again, the "
        "background warming up over the first %.0f%% of the run",
        iteration,
        100 * RESTART_WARMUP,
    )
    # copied into the existing tensors
    model.load_state_dict(initial_model(cfg, n_images).state_dict())
    for state in opt.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor):
                value.zero_()
    gen.manual_seed(cfg.seed)
    for g in opt.param_groups:
        if g.get("name") == "background":
            g["restart_warmup"] = RESTART_WARMUP
