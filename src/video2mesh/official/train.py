"""Training segments of the official code: restore its log directory, run train.py --resume,
keep only the checkpoints that matter, record the metrics CSV."""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from video2mesh import neuralangelo as na
from video2mesh.atomic import atomic_path
from video2mesh.errors import UserError
from video2mesh.official.process import (
    GpuSampler,
    find_python,
    official_env,
    run_streaming,
)
from video2mesh.official.source import (
    prepare_data,
    source_manifest,
    unpack_source,
    write_chain_config,
)
from video2mesh.recon.presets import METRIC_COLUMNS as BUILTIN_COLUMNS

log = logging.getLogger(__name__)

POINTER = "latest_checkpoint.txt"
# the builtin backend's columns, then the official per-iteration time
METRIC_COLUMNS = [*BUILTIN_COLUMNS, "iter_time_s"]
ITER_LINE = re.compile(r"Iteration: (\d+), average iter time: (\d*\.?\d+(?:[eE][-+]?\d+)?)")
SAVED_LINE = re.compile(r"Saved checkpoint to (\S+)")
CKPT_ITER = re.compile(r"iteration_(\d+)")
OUR_CKPT = re.compile(r"it(\d+)\.pt$")


def iteration_of(path: Path | str) -> int | None:
    """Iteration in an official (``..._iteration_000005000_...``) or our (``it5000.pt``) name."""
    name = Path(path).name
    m = CKPT_ITER.search(name) or OUR_CKPT.search(name)
    return int(m[1]) if m else None


def restored_name(iteration: int) -> str:
    """Official-style name for a restored checkpoint (epoch unknown here; the trainer reads the
    epoch and iteration from the file)."""
    return f"epoch_00000_iteration_{int(iteration):09d}_checkpoint.pt"


def restore_logdir(logdir: Path, config: Path, ckpt: Path | None, iteration: int | None) -> None:
    """The official log directory as a resumed run expects it: config.yaml, and with ``ckpt``
    that checkpoint (linked, not copied) plus latest_checkpoint.txt naming it."""
    if logdir.exists():
        shutil.rmtree(logdir)
    logdir.mkdir(parents=True)
    shutil.copyfile(config, logdir / "config.yaml")
    if ckpt is None:
        return
    if iteration is None:
        iteration = iteration_of(ckpt)
    if iteration is None:
        raise UserError(f"cannot tell the iteration of {ckpt}", "name it it<N>.pt")
    name = restored_name(iteration)
    os.symlink(Path(ckpt).resolve(), logdir / name)
    (logdir / POINTER).write_text(f"{name}\n")


def read_pointer(logdir: Path) -> str | None:
    p = logdir / POINTER
    if not p.exists():
        return None
    text = p.read_text().strip()
    return text.split(" ")[-1] if text else None


def prune_checkpoints(logdir: Path, keep: str | None) -> list[str]:
    """Delete checkpoints older than ``keep`` (a link to a rule input is only unlinked; a newer
    file, possibly still being written by the trainer's save thread, is left alone)."""
    keep_it = iteration_of(keep) if keep else None
    if keep_it is None:
        return []
    removed = []
    for p in logdir.glob("*_checkpoint.pt"):
        it = iteration_of(p)
        if p.name != keep and it is not None and it < keep_it:
            p.unlink()
            removed.append(p.name)
    return removed


def _fingerprint(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, Path) and p.exists():
            st = p.stat()
            h.update(f"{p.resolve()}:{st.st_size}:{int(st.st_mtime)}".encode())
        else:
            h.update(repr(p).encode())
    return h.hexdigest()


@dataclass
class TrainJob:
    source: Path
    config: Path
    transforms: Path
    images: Path
    until: int
    final: int
    out: Path
    metrics: Path
    resume: Path | None = None
    resume_metrics: Path | None = None
    gpus: int = 1
    single_gpu: bool = False
    python: str = ""
    workdir: Path | None = None


def _previous_elapsed(path: Path | None) -> float:
    if path is None or not Path(path).exists():
        return 0.0
    with open(path, newline="") as fh:
        values = [r.get("elapsed_s", "") for r in csv.DictReader(fh)]
    nums = [float(v) for v in values if v not in ("", None)]
    return max(nums) if nums else 0.0


class MetricsRecorder:
    """Rows from the trainer's "Iteration: N, average iter time: T." lines (every logging_iter)."""

    def __init__(self, chain: dict[str, Any], start_it: int, elapsed0: float) -> None:
        self.rows: list[dict[str, Any]] = []
        self.t0 = time.monotonic()
        self.last_t, self.last_it = self.t0, start_it
        self.elapsed0 = elapsed0
        c = chain
        self.warm = int(na.config_value(c, "optim.sched.warm_up_end", 5000))
        self.step = int(na.config_value(c, "model.object.sdf.encoding.coarse2fine.step", 5000))
        self.init = int(
            na.config_value(c, "model.object.sdf.encoding.coarse2fine.init_active_level", 4)
        )
        self.levels = int(na.config_value(c, "model.object.sdf.encoding.levels", 16))
        self.lr = float(na.config_value(c, "optim.params.lr", 1e-3))
        self.two = list(na.config_value(c, "optim.sched.two_steps", [300000, 400000]))
        self.gamma = float(na.config_value(c, "optim.sched.gamma", 10.0))
        self.saved: list[str] = []

    def lr_at(self, it: int) -> float:
        if it < self.warm:
            return self.lr * it / self.warm
        return self.lr / (self.gamma ** sum(it > s for s in self.two))

    def elapsed(self) -> float:
        return self.elapsed0 + time.monotonic() - self.t0

    def add(self, it: int, iter_time: float | None) -> None:
        now = time.monotonic()
        rate = (it - self.last_it) / max(now - self.last_t, 1e-9) if it > self.last_it else None
        self.rows.append(
            {
                "iteration": it,
                "active_levels": na.active_levels(it, self.warm, self.step, self.init, self.levels),
                "lr": self.lr_at(it),
                "its_per_s": rate,
                "elapsed_s": self.elapsed(),
                "iter_time_s": iter_time,
            }
        )
        self.last_t, self.last_it = now, it

    def on_line(self, line: str) -> None:
        m = ITER_LINE.search(line)
        if m:
            self.add(int(m[1]), float(m[2]))
        s = SAVED_LINE.search(line)
        if s:
            self.saved.append(s[1])

    def write(self, path: Path) -> None:
        with atomic_path(path) as tmp, tmp.open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=METRIC_COLUMNS)
            w.writeheader()
            for r in self.rows:
                w.writerow(
                    {
                        k: (f"{v:.8g}" if isinstance(v, float) else ("" if v is None else v))
                        for k, v in r.items()
                    }
                )


def run_train(job: TrainJob) -> dict[str, Any]:
    import yaml

    prev = iteration_of(job.resume) if job.resume else 0
    if job.resume is not None and prev is None:
        raise UserError(f"cannot tell the iteration of {job.resume}", "name it it<N>.pt")
    prev = prev or 0
    if job.until <= prev:
        raise UserError(f"segment ends at {job.until}, not after {prev}", "check sweep.iterations")
    work = job.workdir or job.out.parent / f".{job.out.stem}.work"
    work.mkdir(parents=True, exist_ok=True)
    chain_text = job.config.read_text()
    chain = yaml.safe_load(chain_text)
    code = unpack_source(job.source, work / "code")
    data = prepare_data(work / "data", job.transforms, job.images)
    cfg_path = work / "chain.yaml"
    write_chain_config(chain_text, code, data, cfg_path)
    logdir = work / "logs"
    stamp = _fingerprint(chain_text, job.resume, job.until, job.final, job.source)
    pointer = read_pointer(logdir) if logdir.exists() else None
    own = iteration_of(pointer) if pointer else None
    same = (logdir / ".video2mesh-inputs").exists() and (
        logdir / ".video2mesh-inputs"
    ).read_text() == stamp
    if (
        same
        and pointer
        and own is not None
        and prev < own <= job.until
        and ((logdir / pointer).is_file() and not (logdir / pointer).is_symlink())
    ):
        log.info("resuming this segment's own save at iteration %d", own)
        shutil.copyfile(cfg_path, logdir / "config.yaml")
    else:
        restore_logdir(logdir, cfg_path, job.resume, prev if job.resume else None)
        (logdir / ".video2mesh-inputs").write_text(stamp)
    python = find_python(job.python)
    anneal = float(na.config_value(chain, "model.object.s_var.anneal_end", na.DEFAULT_ANNEAL_END))
    argv = na.train_argv(
        python, logdir, cfg_path, job.until, job.final, anneal, job.gpus, job.single_gpu
    )
    rec = MetricsRecorder(chain, prev, _previous_elapsed(job.resume_metrics))

    def on_line(line: str) -> None:
        rec.on_line(line)
        if SAVED_LINE.search(line):  # the pointer is written before this line
            prune_checkpoints(logdir, read_pointer(logdir))

    with GpuSampler() as gpu:
        rc = run_streaming(argv, code, official_env(code), on_line)
    if rc:
        raise UserError(
            f"train.py exited with status {rc}",
            f"see the log above; {logdir} keeps the last complete save for a retry",
        )
    name = read_pointer(logdir)
    if not name or iteration_of(name) != job.until or not (logdir / name).is_file():
        raise UserError(
            f"train.py ended without a checkpoint at iteration {job.until} (pointer: {name})",
            "see the log above",
        )
    if not rec.rows or rec.rows[-1]["iteration"] != job.until:
        rec.add(job.until, None)
    rec.rows[-1]["elapsed_s"] = rec.elapsed()  # up to the written checkpoint (the chain's time)
    with atomic_path(job.out) as tmp:
        shutil.move(str(logdir / name), tmp)
    rec.write(job.metrics)
    shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - rec.t0
    return {
        "iteration": job.until,
        "start": prev,
        "seconds": seconds,
        "its_per_s": (job.until - prev) / max(seconds, 1e-9),
        "peak_gpu_used_bytes": gpu.peak_bytes,
        "commit": source_manifest(job.source).get("commit"),
    }
