"""Schedules of a run, all as fractions of its final iteration count.

The official constants (reference §5.4–§5.11) assume 500k iterations: warm-up 5k (1%), one more
hash level every 5k after warm-up (1%), LR ×0.1 at 300k and 400k (60%, 80%), cos annealing over
10%. Expressing them as fractions lets a 2k-iteration CPU run follow the same shape. A chain of
segments therefore needs the final count, which every segment receives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from video2mesh.recon.presets import TrainConfig


@dataclass(frozen=True)
class State:
    """Everything the schedule decides at one iteration."""

    lr_factor: float
    anneal_levels: int  # drives the gradient step and the curvature decay
    active_levels: int  # hash levels whose features are used
    eps: float  # numerical-gradient step, in normalised units
    curvature_weight: float
    cos_anneal: float  # r in NeuS cos annealing, 0 → 1
    bg_lr_factor: float = 1.0  # the background network's (TrainConfig.background_warmup)

    def lr_factor_of(self, group: str) -> float:
        """The factor on one optimiser group's base rate (fields.Model.parameter_groups)."""
        return self.bg_lr_factor if group == "background" else self.lr_factor


def level_resolution(cfg: TrainConfig, level: int) -> int:
    """Grid cells per axis of hash level ``level`` (0-based)."""
    if cfg.hash_levels == 1:
        return cfg.hash_base_res
    growth = math.exp(
        (math.log(cfg.hash_max_res) - math.log(cfg.hash_base_res)) / (cfg.hash_levels - 1)
    )
    return math.floor(cfg.hash_base_res * growth**level + 1e-6)


def level_growth(cfg: TrainConfig) -> float:
    if cfg.hash_levels == 1:
        return 1.0
    return math.exp(
        (math.log(cfg.hash_max_res) - math.log(cfg.hash_base_res)) / (cfg.hash_levels - 1)
    )


def state(
    cfg: TrainConfig, iteration: int, final: int, background_warmup: float | None = None
) -> State:
    """The schedule at ``iteration``; ``background_warmup`` replaces the config's (a run that
    recon.background_guard restarted)."""
    final = max(int(final), 1)
    warm = max(round(cfg.warmup_frac * final), 1)
    step = max(round(cfg.c2f_step_frac * final), 1)
    it = int(iteration)
    lr = min(it / warm, 1.0) if it < warm else 1.0
    for frac in cfg.lr_steps:
        if it >= round(frac * final):
            lr *= cfg.lr_gamma
    anneal = min(cfg.hash_levels, max((it - warm) // step, 1))
    active = max(cfg.init_active_level, anneal)
    # eps = 1 / (resolution + 1) of the finest annealed level: the hash grid spans
    # [-range, range], so this is ~range/2 of that level's cell (a quarter for range 2).
    eps = (cfg.hash_range / 2.0) / (level_resolution(cfg, anneal - 1) + 1)
    if it < warm:
        curv = cfg.curvature_weight * it / warm
    else:
        curv = cfg.curvature_weight / level_growth(cfg) ** (anneal - 1)
    cos_anneal = 1.0 if cfg.anneal_end <= 0 else min(it / (cfg.anneal_end * final), 1.0)
    bg = lr
    bg_warmup = cfg.background_warmup if background_warmup is None else background_warmup
    if bg_warmup > 0:
        bg *= min(it / max(round(bg_warmup * final), 1), 1.0)
    return State(lr, anneal, active, eps, curv, cos_anneal, bg)
