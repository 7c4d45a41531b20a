"""Training as a chain of segments, with atomic checkpoints and a metrics CSV per segment.

A segment trains from the previous sweep point's checkpoint (or from scratch) up to ``until``
under the schedule of the run's ``final`` iteration count, so that a chain of segments equals one
uninterrupted run with the same seed and device: the schedule is a pure function of
(iteration, final), the learning rates are set from it every step (no scheduler state), the
one random generator (rays and sample jitter) is saved in every checkpoint, and on CPU a resumed
segment trains with the thread count its checkpoint was trained with.

In-segment saves go to ``partial`` (atomic); a restarted segment continues from there when it is
newer than the resume checkpoint, and the file is removed once the segment's output is written.
With ``partial_store`` (an s3:// url) every save is also uploaded there and fetched at the start,
so that a retried remote job resumes although the preempted one's disk is gone. A partial save is
only resumed from when it was trained from the same inputs (``lineage``: transforms, images and
the resume checkpoint), with the same settings and towards the same final iteration.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from video2mesh.atomic import atomic_path
from video2mesh.errors import UserError
from video2mesh.recon import background_guard, schedule
from video2mesh.recon.cpu_tuning import tune_cpu_training
from video2mesh.recon.data import STILL, Dataset, camera_outside_fraction, load_dataset
from video2mesh.recon.fields import Model, initial_model
from video2mesh.recon.loop import (
    Interrupted,
    MetricRows,
    PeriodicSave,
    StepCallback,
    StopOnSignal,
    train_loop,
)
from video2mesh.recon.partial_store import S3PartialStore
from video2mesh.recon.presets import METRIC_COLUMNS, TrainConfig, fit_grid_to_images
from video2mesh.recon.renderer import render_rays

log = logging.getLogger(__name__)
FORMAT = "video2mesh-builtin-1"


@dataclass
class Segment:
    """One `train` invocation."""

    transforms: Path
    images: Path
    cfg: TrainConfig
    preset: str
    scene_type: str
    until: int
    final: int
    out: Path
    metrics: Path
    resume: Path | None = None
    partial: Path | None = None
    partial_store: str | None = None
    device: str = "auto"
    save_every_s: float = 300.0
    save_every_iters: int = 0
    threads: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(
            "--device cuda was asked for but torch sees no CUDA GPU", "use --device cpu"
        )
    return torch.device(name)


def make_optimizer(model: Model, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    kw: dict[str, Any] = {"betas": (0.9, 0.999), "eps": 1e-15}
    groups = model.parameter_groups(cfg)
    if device.type == "cuda":
        kw["fused"] = True
        if cfg.cuda_graphs:
            kw["capturable"] = True
            for g in groups:  # learning rates as device tensors, updated in place
                g["lr"] = torch.tensor(float(g["lr"]), device=device)
    return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay, **kw)


def save_checkpoint(
    path: Path,
    model: Model,
    opt: torch.optim.Optimizer | None,
    gen: torch.Generator,
    iteration: int,
    seg: Segment,
    ds: Dataset,
    elapsed: float,
    rows: list[dict[str, Any]] | None = None,
    lineage: str = "",
) -> None:
    state = {
        "format": FORMAT,
        "iteration": iteration,
        "final": seg.final,
        "config": seg.cfg.to_dict(),
        "preset": seg.preset,
        "scene_type": seg.scene_type,
        "n_images": ds.n_images,
        "normalisation": {"sphere_center": ds.center, "sphere_radius": ds.radius},
        "image_size": [ds.width, ds.height],
        "model": model.state_dict(),
        "optimizer": opt.state_dict() if opt is not None else None,
        "rng": {"generator": gen.get_state(), "torch": torch.get_rng_state()},
        "device": str(next(model.parameters()).device),
        "threads": torch.get_num_threads(),
        "train_seconds": elapsed,
        "torch": torch.__version__,
        "segment_rows": rows or [],
        "lineage": lineage,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    try:
        ck = torch.load(path, map_location=map_location, weights_only=False)
    except FileNotFoundError as exc:
        raise UserError(
            f"checkpoint {path} does not exist", "train the earlier segment first"
        ) from exc
    except Exception as exc:  # a truncated or foreign file
        raise UserError(
            f"{path} is not a readable checkpoint ({exc})", "delete it and retrain"
        ) from exc
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise UserError(f"{path} is not a video2mesh builtin checkpoint", "retrain this run")
    return ck


def model_from_checkpoint(ck: dict[str, Any], device: torch.device) -> Model:
    cfg = TrainConfig(**ck["config"])
    model = Model(cfg, ck["n_images"]).to(device)
    model.load_state_dict(ck["model"])
    return model


def _check_compatible(ck: dict[str, Any], seg: Segment, path: Path) -> None:
    now = seg.cfg.to_dict()
    # A key added since the checkpoint was written: it trained with that key's default (new
    # keys default to the old behaviour).
    added = {
        f.name: f.default
        for f in dataclasses.fields(TrainConfig)
        if f.name not in ck["config"] and f.default is not dataclasses.MISSING
    }
    then = {**added, **ck["config"]}
    if then != now:
        diff = sorted(k for k in then.keys() | now.keys() if then.get(k) != now.get(k))
        raise UserError(
            f"{path} was trained with other settings (differs in {diff})",
            "resume only within the same run, or delete the run's checkpoints",
        )
    if ck["final"] != seg.final:
        raise UserError(
            f"{path} follows a schedule ending at {ck['final']}, this segment at {seg.final}",
            "changing the last sweep iteration needs a fresh training chain",
        )


def lineage(seg: Segment) -> str:
    """Digest of what a segment trains from: a partial save of other inputs is not resumed."""
    h = hashlib.sha256()
    for path in (seg.transforms, seg.images, seg.resume):
        if path is not None:
            with path.open("rb") as fh:
                h.update(hashlib.file_digest(fh, "sha256").digest())
        h.update(b"|")
    return h.hexdigest()


class _Step:
    """The per-iteration loss (render + RGB L1 + eikonal + curvature); no RNG calls inside."""

    def __init__(self, model: Model, cfg: TrainConfig, still: bool = False) -> None:
        self.model = model
        self.cfg = cfg
        self.still = still  # the backdrop channel flags still pixels too (Dataset.find_still)

    def __call__(
        self,
        o: torch.Tensor,
        d: torch.Tensor,
        rgb_gt: torch.Tensor,
        img: torch.Tensor,
        jit_c: torch.Tensor,
        jit_b: torch.Tensor | None,
        st: schedule.State,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        cfg = self.cfg
        if self.model.cameras is not None:
            o, d = self.model.cameras(o, d, img)
        app = img if self.model.appearance is not None else None
        out = render_rays(self.model, o, d, st, (jit_c, jit_b), app)
        rgb = out.rgb
        if self.model.exposure is not None:  # the photo's own exposure and white balance
            e = self.model.exposure(img)
            rgb = rgb * torch.exp(e[:, :3]) + e[:, 3:]
        backdrop = None
        if rgb_gt.shape[-1] == 4:  # the 4th channel flags plain-backdrop pixels (Dataset)
            rgb_gt, backdrop = rgb_gt[:, :3], rgb_gt[:, 3]
        painted, solid = None, None
        if self.still:  # a fixed camera's still pixels: what no field can paint, not compared
            assert backdrop is not None
            painted = (backdrop < STILL - 0.5).to(rgb.dtype)
            backdrop = (backdrop > 0).to(rgb.dtype)
        elif backdrop is not None:  # a cut-out's object pixels: OBJECT (Dataset.find_backdrop)
            solid = (backdrop < 0).to(rgb.dtype)
            backdrop = (backdrop > 0).to(rgb.dtype)
        if painted is not None:
            l1 = ((rgb - rgb_gt).abs().sum(-1) * painted).sum() / painted.sum().clamp_min(1.0)
        else:
            l1 = (rgb - rgb_gt).abs().mean() * 3.0  # sum over channels, as the official loss
        hitw = out.hit[:, None].to(out.grad.dtype).expand_as(out.lap)
        n_hit = hitw.sum().clamp_min(1.0)
        gnorm = out.grad.norm(dim=-1)
        eik = (torch.nan_to_num((gnorm - 1.0) ** 2) * hitw).sum() / n_hit
        curv = (torch.nan_to_num(out.lap.abs()) * hitw).sum() / n_hit
        loss = cfg.rgb_weight * l1 + cfg.eikonal_weight * eik + st.curvature_weight * curv
        if backdrop is not None:  # no surface in front of the backdrop: BCE(opacity, 0)
            empty = -torch.log((1.0 - out.opacity).clamp_min(1e-4))
            loss = loss + cfg.backdrop_weight * (empty * backdrop).sum() / backdrop.sum().clamp(1)
        if solid is not None and cfg.object_weight > 0:  # the object in front: BCE(opacity, 1)
            full = -torch.log(out.opacity.clamp_min(1e-4))
            loss = loss + cfg.object_weight * (full * solid).sum() / solid.sum().clamp(1)
        if painted is None:
            mse = ((rgb.detach() - rgb_gt) ** 2).mean()
        else:  # the PSNR of what is painted
            err = ((rgb.detach() - rgb_gt) ** 2).mean(-1)
            mse = (err * painted).sum() / painted.sum().clamp_min(1.0)
        return loss, {
            "loss": loss.detach(),
            "rgb_l1": l1.detach(),
            "eikonal": eik.detach(),
            "curvature": curv.detach(),
            "mse": mse,
        }


class _GraphedStep:
    """Forward, backward and AdamW step captured as one CUDA graph and replayed.

    At 1024 rays an iteration is ~1k small kernels, so eager PyTorch is bound by launch
    overhead; replaying a graph removes it. Inputs are copied into static tensors; the schedule
    values that change every iteration (cos annealing, curvature weight, learning rates) live in
    device tensors; a change of active levels or gradient step re-captures (≤ levels times).
    """

    def __init__(self, step: _Step, opt: torch.optim.Optimizer, device: torch.device) -> None:
        self.step, self.opt, self.device = step, opt, device
        self.graph: torch.cuda.CUDAGraph | None = None
        self.key: tuple | None = None
        self.static: list[torch.Tensor | None] = []
        self.cos = torch.zeros((), device=device)
        self.curv = torch.zeros((), device=device)
        self.out: tuple[torch.Tensor, dict[str, torch.Tensor]] | None = None

    def __call__(self, *inputs: torch.Tensor | None, st: schedule.State) -> dict[str, torch.Tensor]:
        if not self.static:
            self.static = [None if t is None else t.clone() for t in inputs]
        for s, t in zip(self.static, inputs, strict=True):
            if s is not None and t is not None:
                s.copy_(t)
        self.cos.fill_(st.cos_anneal)
        self.curv.fill_(st.curvature_weight)
        key = (st.active_levels, st.eps)
        if key != self.key:
            self._capture(st, key)
        assert self.graph is not None and self.out is not None
        self.graph.replay()
        return self.out[1]

    def _capture(self, st: schedule.State, key: tuple) -> None:
        self.graph, self.out = None, None
        self.opt.zero_grad(set_to_none=True)
        gst = dataclasses.replace(st, cos_anneal=self.cos, curvature_weight=self.curv)  # type: ignore[arg-type]
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            loss, _ = self.step(*self.static, st=gst)  # warm-up: lazy inits outside the graph
            loss.backward()
            if not self.opt.state:
                # allocate AdamW's state with lr 0 (parameters unchanged: decay 1 − 0·wd = 1),
                # then reset it, so that the first real step is the first step
                lrs = [g["lr"].clone() for g in self.opt.param_groups]
                for g in self.opt.param_groups:
                    g["lr"].zero_()
                self.opt.step()
                for g, lr in zip(self.opt.param_groups, lrs, strict=True):
                    g["lr"].copy_(lr)
                for state in self.opt.state.values():
                    for v in state.values():
                        v.zero_()
            self.opt.zero_grad(set_to_none=True)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            loss, parts = self.step(*self.static, st=gst)
            loss.backward()
            self.opt.step()
        self.graph, self.out, self.key = graph, (loss, parts), key


def make_train_step(
    model: Model,
    opt: torch.optim.Optimizer,
    cfg: TrainConfig,
    device: torch.device,
    still: bool = False,
) -> Callable[..., dict[str, torch.Tensor]]:
    """(o, d, rgb, img, jit_c, jit_b, state) → metrics; one optimiser step, graphed on CUDA.
    ``still``: the batches' backdrop channel flags still pixels (Dataset.find_still)."""
    step = _Step(model, cfg, still)

    def eager(*a: Any) -> dict[str, torch.Tensor]:
        loss, parts = step(*a)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return parts

    if cfg.cuda_graphs and device.type == "cuda":
        for g in opt.param_groups:  # a float lr would be frozen into the graph
            if not isinstance(g["lr"], torch.Tensor):
                g["lr"] = torch.tensor(float(g["lr"]), device=device)
        graphed = _GraphedStep(step, opt, device)
        failed: list[bool] = []

        def run(*a: Any) -> dict[str, torch.Tensor]:
            if not failed:
                try:
                    return graphed(*a[:-1], st=a[-1])
                except RuntimeError as exc:  # capture not possible here: stay eager
                    if graphed.key is not None:
                        raise  # a replay that worked before does not fail quietly
                    log.warning("CUDA graph capture failed (%s); training eagerly", exc)
                    failed.append(True)
                    torch.cuda.synchronize(device)
                    opt.zero_grad(set_to_none=True)
            return eager(*a)

        return run

    return eager


def run_segment(seg: Segment) -> dict[str, Any]:
    """Train one segment; returns a summary (also what the CLI logs)."""
    if seg.until > seg.final:
        raise UserError(f"--until {seg.until} is past --final {seg.final}", "until ≤ final")
    if seg.until <= 0:
        raise UserError("--until must be positive", "pass the sweep iteration count")
    device = pick_device(seg.device)
    threads = torch.get_num_threads()
    if seg.threads or device.type == "cpu":
        # one thread unless told: on a shared or busy machine OpenMP threads oversubscribe cores
        # (measured 7x slower with 2 threads on 2 busy cores); the workflow passes its rule's
        # threads (2 in the default profile: 1.3-1.6x faster on 2 idle cores)
        torch.set_num_threads(seg.threads or 1)
    if device.type == "cpu":
        tune_cpu_training()
    try:
        return _run_segment(seg, device)
    finally:
        torch.set_num_threads(threads)
        torch.set_flush_denormal(False)


def _start_checkpoint(seg: Segment, origin: str) -> tuple[dict[str, Any] | None, Path | None]:
    """The resume policy: the newer of the segment's own partial save (when it was trained from
    the same inputs, settings and final count) and the previous sweep point's checkpoint."""
    start_ck: dict[str, Any] | None = None
    source = None
    if seg.partial is not None and seg.partial.exists():
        try:
            ck = load_checkpoint(seg.partial)  # host first: no second copy on the GPU
            _check_compatible(ck, seg, seg.partial)
            if ck.get("lineage") != origin:
                raise UserError(
                    f"{seg.partial} was trained from other inputs or another previous checkpoint",
                    "none (this segment starts without it and overwrites it)",
                )
            if ck["iteration"] <= seg.until:
                start_ck, source = ck, seg.partial
        except UserError as err:
            log.warning("ignoring the partial save: %s", err)
    if seg.resume is not None:
        ck = load_checkpoint(seg.resume)
        _check_compatible(ck, seg, seg.resume)
        if ck["iteration"] > seg.until:
            raise UserError(
                f"{seg.resume} is at iteration {ck['iteration']}, past --until {seg.until}",
                "resume from an earlier sweep point",
            )
        if start_ck is None or start_ck["iteration"] < ck["iteration"]:
            start_ck, source = ck, seg.resume
    return start_ck, source


def _keep_thread_count(ck: dict[str, Any], source: Path | None) -> None:
    """Train on with the thread count the checkpoint was trained with.

    CPU kernels split some sums across threads (ATen's full reductions, MKL's GEMMs on some
    CPUs), so the bits of a step depend on the thread count. A retried remote job runs with
    `--cores all` of whatever machine it lands on, and a chain's segments may be given other
    threads: without this, a resumed chain is not bitwise the run it continues.
    """
    saved = int(ck.get("threads") or 0)
    if saved and saved != torch.get_num_threads():
        log.info(
            "training with %d threads as %s was (asked for %d)",
            saved,
            source,
            torch.get_num_threads(),
        )
        torch.set_num_threads(saved)


def fit_to_fixed_camera(cfg: TrainConfig, ds: Dataset) -> float | None:
    """A fixed camera before a turntable (Dataset.find_still): its still pixels become
    backdrop, and the colour sees the view (the room's light turns with it in the object's
    frame): ``cfg.sh_degree`` is raised to ``fixed_camera_sh_degree``, in place, before the
    model is made. Returns the still share, or None when the camera moved."""
    still = ds.find_still()
    if still is None:
        return None
    log.info(
        "fixed camera: %.0f%% of every frame stands still (a turntable?): no surface there, "
        "no colour loss",
        100 * still,
    )
    if cfg.sh_degree < cfg.fixed_camera_sh_degree:
        log.info(
            "the room's light turns with the view: colour with SH degree %d (not %d)",
            cfg.fixed_camera_sh_degree,
            cfg.sh_degree,
        )
        cfg.sh_degree = cfg.fixed_camera_sh_degree
    return still


def _stop_saved(seg: Segment, stopped: Interrupted, save: Callable[[int], None] | None) -> None:
    """Save where an interrupted segment stopped (its partial save), say so, and exit."""
    if save is not None and stopped.iteration > 0:
        save(stopped.iteration)
        log.warning(
            "stopped at iteration %d of %d; saved to %s: run again to go on from there",
            stopped.iteration,
            seg.until,
            seg.partial,
        )
    else:
        log.warning("stopped at iteration %d of %d (nothing saved)", stopped.iteration, seg.until)
    raise SystemExit(128 + stopped.signum)


def _run_segment(seg: Segment, device: torch.device) -> dict[str, Any]:
    cfg = seg.cfg
    ds = load_dataset(seg.transforms, seg.images, cfg.image_max_side, cfg.object_min_pixels)
    if cfg.image_max_side and max(ds.width, ds.height) > cfg.image_max_side * 1.01:
        log.info(
            "images at %dx%d: the object is small in the frame (object_min_pixels %d)",
            ds.width,
            ds.height,
            cfg.object_min_pixels,
        )
    if fit_grid_to_images(cfg, ds.pixel_footprint()):  # so the checkpoint records the grid
        log.info(
            "finest grid resolution %d (one cell per %g pixel(s) on the object)",
            cfg.hash_max_res,
            cfg.hash_pixels_per_cell,
        )
    outside = camera_outside_fraction(ds)
    if seg.scene_type == "object" and outside < 0.5:
        log.warning(
            "only %.0f%% of the cameras lie outside the unit sphere: check the sphere",
            100 * outside,
        )
    if cfg.backdrop_weight > 0 and seg.scene_type == "object":
        still = fit_to_fixed_camera(cfg, ds)
        share = None if still is not None else ds.find_backdrop()
        if share is not None:
            log.info(
                "%s: %.0f%% of the pixels masked as background",
                "cut-out photos (their transparency)" if ds.alpha is not None else "plain backdrop",
                100 * share,
            )
        elif ds.background_points is not None:
            log.info(
                "no plain backdrop: no masks (%.1f%% of the SfM points on the background)",
                100 * ds.background_points,
            )
    guard_colour = None  # what the background alone draws; a collapse to another colour restarts
    if background_guard.watched(cfg):
        guard_colour = ds.off_sphere_colour()
        if guard_colour is None:
            log.info("every ray meets the sphere: the background guard has nothing to compare with")
    ds.to(device)
    if cfg.sphere_ray_fraction > 0:
        share = ds.focus_on_sphere(cfg.sphere_ray_fraction)
        log.info("%.0f%% of the pixels see the sphere", 100 * share)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)  # the summary's peak is this segment's

    store = S3PartialStore(seg.partial_store) if seg.partial_store else None
    if store is not None and seg.partial is None:
        raise UserError("--partial-store needs --partial", "pass the local partial save path too")
    if store is not None and seg.partial is not None and store.fetch(seg.partial):
        log.info("fetched the partial save %s", store.url)
    origin = lineage(seg)
    start_ck, source = _start_checkpoint(seg, origin)
    if start_ck is not None and device.type == "cpu":
        _keep_thread_count(start_ck, source)

    model = initial_model(cfg, ds.n_images).to(device)
    opt = make_optimizer(model, cfg, device)
    gen = torch.Generator(device=device)
    gen.manual_seed(cfg.seed)
    it0, elapsed0 = 0, 0.0
    if start_ck is not None:
        model.load_state_dict(start_ck["model"])
        opt.load_state_dict(start_ck["optimizer"])
        gen.set_state(start_ck["rng"]["generator"].cpu())
        torch.set_rng_state(start_ck["rng"]["torch"].cpu())
        it0, elapsed0 = int(start_ck["iteration"]), float(start_ck.get("train_seconds", 0.0))
        log.info("resuming from %s at iteration %d", source, it0)
    # rows of this segment written before a kill (a partial save carries them)
    rows: list[dict[str, Any]] = (
        list(start_ck.get("segment_rows", [])) if source == seg.partial and start_ck else []
    )
    del start_ck

    if cfg.compile and device.type == "cuda":
        model.sdf.compile_mlp()
    train_step = make_train_step(model, opt, cfg, device, ds.still)

    metrics = MetricRows(cfg, model, seg.until, it0, elapsed0, rows)
    callbacks: list[StepCallback] = [metrics]
    save_partial = None
    if seg.partial is not None:
        partial = seg.partial

        def save_partial(it: int) -> None:
            spent = metrics.elapsed()
            save_checkpoint(partial, model, opt, gen, it, seg, ds, spent, rows, origin)
            if store is not None:
                store.put(partial)

        callbacks.append(
            PeriodicSave(save_partial, seg.until, seg.save_every_s, seg.save_every_iters)
        )
    t_start = time.perf_counter()
    try:
        with StopOnSignal() as stop:
            it = train_loop(
                cfg,
                ds,
                model,
                opt,
                gen,
                train_step,
                it0,
                seg.until,
                seg.final,
                [*callbacks, stop],
                background_colour=guard_colour,
            )
    except Interrupted as stopped:
        _stop_saved(seg, stopped, save_partial)
    elapsed = metrics.elapsed()
    save_checkpoint(seg.out, model, opt, gen, it, seg, ds, elapsed, lineage=origin)
    _write_metrics(seg.metrics, rows)
    if seg.partial is not None and seg.partial.exists():
        seg.partial.unlink()
    if store is not None:
        store.delete()
    seconds = time.perf_counter() - t_start
    summary = {
        "iteration": it,
        "start": it0,
        "seconds": seconds,
        "its_per_s": (it - it0) / max(seconds, 1e-9),
        "device": str(device),
        "threads": torch.get_num_threads(),
        "last": rows[-1] if rows else None,
    }
    if device.type == "cuda":
        summary["peak_gpu_bytes"] = torch.cuda.max_memory_allocated(device)
    return summary


def _write_metrics(path: Path, rows: list[dict[str, Any]]) -> None:
    with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in r.items()})
