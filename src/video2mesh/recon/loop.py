"""The training loop of one segment and what it calls after each step.

`train_loop` does the optimisation only: schedule state, learning rates, rays and jitter from
the one generator, one step. Everything periodic is a step callback ``(iteration, parts,
state)``: `MetricRows` (the metrics CSV's rows, and a progress line in the log),
`PeriodicSave` (the in-segment save and its upload) and `StopOnSignal` (Ctrl-C stops after a
whole iteration). The callbacks draw no random numbers, so they never change the trained model.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from video2mesh.recon import background_guard, occupancy, schedule
from video2mesh.recon.data import Dataset
from video2mesh.recon.fields import Model
from video2mesh.recon.presets import TrainConfig

StepCallback = Callable[[int, dict[str, torch.Tensor], schedule.State], None]

log = logging.getLogger(__name__)

PROGRESS_EVERY_S = 30.0  # a progress line in the log at most this often


class Interrupted(Exception):
    """Training was asked to stop (Ctrl-C, SIGTERM) and stopped after a whole iteration."""

    def __init__(self, iteration: int, signum: int) -> None:
        super().__init__(f"stopped at iteration {iteration} on signal {signum}")
        self.iteration, self.signum = iteration, signum


class StopOnSignal:
    """Turns SIGINT and SIGTERM into a stop after the iteration under way, so that the model,
    optimiser and generator are those of a whole iteration when the segment saves them (a
    signal in the middle of an optimiser step would leave half the weights stepped). A second
    signal stops at once, as it would have without this. Use as a context manager (main thread
    only: elsewhere Python cannot take signals, and it does nothing)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signum = 0
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum
        for sig, handler in self._previous.items():  # a second signal: the usual behaviour
            signal.signal(sig, handler)

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                if signal.getsignal(sig) is not signal.SIG_IGN:  # ignored (nohup, &) stays so
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def __call__(self, it: int, parts: dict[str, torch.Tensor], st: schedule.State) -> None:
        if self.signum:
            raise Interrupted(it, self.signum)


def set_learning_rates(opt: torch.optim.Optimizer, cfg: TrainConfig, st: schedule.State) -> None:
    base = cfg.group_learning_rates()
    for g in opt.param_groups:
        lr = base[g["name"]] * st.lr_factor_of(g["name"])
        if isinstance(g["lr"], torch.Tensor):
            g["lr"].fill_(lr)
        else:
            g["lr"] = lr


def train_loop(
    cfg: TrainConfig,
    ds: Dataset,
    model: Model,
    opt: torch.optim.Optimizer,
    gen: torch.Generator,
    train_step: Callable[..., dict[str, torch.Tensor]],
    start: int,
    until: int,
    final: int,
    callbacks: Sequence[StepCallback] = (),
    background_colour: torch.Tensor | None = None,
) -> int:
    """Steps from ``start`` to ``until`` under the schedule of ``final``; returns ``until``.

    ``background_colour``: the mean colour of what the background alone draws; given, the run
    restarts (at iteration 0) when the background collapses to another single colour
    (recon.background_guard), and callbacks with a ``restart()`` method are told.
    """
    device = next(model.parameters()).device
    it = start
    while it < until:
        st = schedule.state(cfg, it, final, background_guard.restart_warmup(opt))
        set_learning_rates(opt, cfg, st)
        if occupancy.due(cfg, it, final):  # in place: a captured step graph reads the grid
            occupancy.refresh(model, st.active_levels)
        o, d, rgb, img = ds.sample(cfg.rays, gen)
        jit_c = torch.rand(cfg.rays, cfg.samples_coarse, device=device, generator=gen)
        jit_b = None
        if model.background is not None:
            jit_b = torch.rand(cfg.rays, cfg.bg_samples, device=device, generator=gen)
        parts = train_step(o, d, rgb, img, jit_c, jit_b, st)
        it += 1
        if (
            background_colour is not None
            and background_guard.due(cfg, opt, it, final)
            and background_guard.collapsed(model, background_colour)
        ):
            background_guard.restart(model, opt, gen, ds.n_images, it)
            it = 0
            for callback in callbacks:
                if hasattr(callback, "restart"):
                    callback.restart()
            continue
        for callback in callbacks:
            callback(it, parts, st)
    return it


class MetricRows:
    """One row of METRIC_COLUMNS every ``log_every`` iterations and at the segment's end.

    The losses are summed on the device (no host sync per iteration) and averaged per row; a
    non-finite loss stops training. ``rows`` may start with those of a resumed partial save.
    """

    def __init__(
        self, cfg: TrainConfig, model: Model, until: int, start: int, elapsed0: float,
        rows: list[dict[str, Any]],
    ) -> None:  # fmt: skip
        self.cfg, self.model, self.until = cfg, model, until
        self.rows = rows
        self.elapsed0 = elapsed0
        self.t_start = self.t_log = time.perf_counter()
        self.it_log = start
        self.t_progress, self.it_progress = self.t_start, start
        self.acc: dict[str, torch.Tensor] = {}
        self.n_acc = 0

    def restart(self) -> None:
        """Training starts again from iteration 0 (recon.background_guard): the rows so far
        are of a run that is dropped (its seconds still count)."""
        self.rows.clear()
        self.acc, self.n_acc = {}, 0
        self.t_log, self.it_log = time.perf_counter(), 0
        self.t_progress, self.it_progress = self.t_log, 0

    def elapsed(self) -> float:
        """Training seconds of the whole chain so far."""
        return self.elapsed0 + time.perf_counter() - self.t_start

    def __call__(self, it: int, parts: dict[str, torch.Tensor], st: schedule.State) -> None:
        for k, v in parts.items():
            self.acc[k] = self.acc[k] + v if k in self.acc else v.clone()
        self.n_acc += 1
        if it % self.cfg.log_every and it != self.until:
            return
        mean = {k: float(v) / self.n_acc for k, v in self.acc.items()}
        if not math.isfinite(mean["loss"]):
            raise RuntimeError(f"training loss became {mean['loss']} before iteration {it}")
        now = time.perf_counter()
        self.rows.append(
            {
                "iteration": it,
                "loss": mean["loss"],
                "rgb_l1": mean["rgb_l1"],
                "eikonal": mean["eikonal"],
                "curvature": mean["curvature"],
                "psnr": -10.0 * math.log10(max(mean["mse"], 1e-12)),
                "inv_s": float(self.model.inv_s().detach()),
                "active_levels": st.active_levels,
                "eps": st.eps,
                "lr": st.lr_factor * self.cfg.lr,
                "curvature_weight": st.curvature_weight,
                "its_per_s": (it - self.it_log) / max(now - self.t_log, 1e-9),
                "elapsed_s": self.elapsed0 + now - self.t_start,
            }
        )
        self.acc, self.n_acc = {}, 0
        self.t_log, self.it_log = now, it
        if now - self.t_progress >= PROGRESS_EVERY_S or it == self.until:
            row = self.rows[-1]
            rate = (it - self.it_progress) / max(now - self.t_progress, 1e-9)
            self.it_progress, self.t_progress = it, now
            left = (self.until - it) / max(rate, 1e-9)
            log.info(
                "iteration %d of %d (%.0f%%): PSNR %.1f, inverse s %.0f, %.1f it/s, ~%.0f s left",
                it,
                self.until,
                100 * it / self.until,
                row["psnr"],
                row["inv_s"],
                rate,
                left,
            )


class PeriodicSave:
    """The in-segment save every ``every_s`` seconds of training (uploads not counted) and/or
    every ``every_iters`` iterations, never at the segment's end (the checkpoint is then)."""

    def __init__(
        self, save: Callable[[int], None], until: int, every_s: float, every_iters: int
    ) -> None:
        self.save, self.until = save, until
        self.every_s, self.every_iters = every_s, every_iters
        self.t_save = time.perf_counter()

    def __call__(self, it: int, parts: dict[str, torch.Tensor], st: schedule.State) -> None:
        if it >= self.until:
            return
        due = self.every_iters and it % self.every_iters == 0
        if due or (self.every_s and time.perf_counter() - self.t_save >= self.every_s):
            self.save(it)
            self.t_save = time.perf_counter()
