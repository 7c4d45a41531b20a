"""Running the official Neuralangelo code: source archive, segments, extraction.

Each job works in a scratch directory (default: beside its output, so the 4 GB checkpoint is
moved, not copied):

    <work>/code/   the source archive unpacked (cwd of train.py / extract_mesh.py)
    <work>/data/   images/ and transforms.json (data.root)
    <work>/logs/   the official log directory: config.yaml, checkpoints, latest_checkpoint.txt
    <work>/chain.yaml   the chain config with this job's `_parent_` and data.root

A train segment restores ``logs/`` from its rule inputs (config.yaml, the previous checkpoint
linked under an official-style name, ``latest_checkpoint.txt`` naming it), runs ``train.py
--resume``, deletes superseded in-segment checkpoints as the trainer announces new ones, and moves
the checkpoint of its last iteration to the output. A failed segment keeps ``logs/`` with its
last complete save; the next attempt on the same machine resumes from it when the inputs match.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import logging
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from video2mesh import neuralangelo as na
from video2mesh.atomic import atomic_path, write_json
from video2mesh.errors import UserError
from video2mesh.recon.presets import METRIC_COLUMNS as BUILTIN_COLUMNS

log = logging.getLogger(__name__)

POINTER = "latest_checkpoint.txt"
# the builtin backend's columns, then the official per-iteration time
METRIC_COLUMNS = [*BUILTIN_COLUMNS, "iter_time_s"]
ITER_LINE = re.compile(r"Iteration: (\d+), average iter time: (\d*\.?\d+(?:[eE][-+]?\d+)?)")
SAVED_LINE = re.compile(r"Saved checkpoint to (\S+)")
CKPT_ITER = re.compile(r"iteration_(\d+)")
OUR_CKPT = re.compile(r"it(\d+)\.pt$")
PYTHON_ENV = "VIDEO2MESH_NEURALANGELO_PYTHON"
PYTHONPATH_ENV = "VIDEO2MESH_NEURALANGELO_PYTHONPATH"  # e.g. carried wheels for that interpreter
PYTHON_CANDIDATES = ("/usr/bin/python3", "/opt/conda/bin/python", "/usr/local/bin/python3")


# --- source archive ---------------------------------------------------------------------------


def _git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    res = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if res.returncode:
        raise subprocess.CalledProcessError(res.returncode, ["git", *args], res.stdout, res.stderr)
    return res.stdout.strip()


def make_source_archive(repo: str, commit: str, out: Path) -> dict[str, Any]:
    """Fetch ``commit`` of ``repo`` (URL or local path) and write its tree as ``out`` (.tar.gz),
    with a manifest member naming the repository and the full commit."""
    if not re.fullmatch(r"[0-9a-fA-F]{7,40}", commit):
        raise UserError(f"commit {commit!r} is not a hexadecimal commit id", "pin a commit")
    if shutil.which("git") is None:
        raise UserError("git is not installed", "install git on the submitting machine")
    with tempfile.TemporaryDirectory(prefix="v2m-na-src-") as tmp:
        g = Path(tmp) / "git"
        _git("init", "-q", "--bare", str(g))
        try:  # one commit only (servers allow a full id in `want`)
            _git("fetch", "-q", "--depth", "1", repo, commit, cwd=g)
            sha = _git("rev-parse", "FETCH_HEAD^{commit}", cwd=g)
        except subprocess.CalledProcessError:
            try:  # a short id: fetch everything, then resolve it
                _git(
                    "fetch",
                    "-q",
                    repo,
                    "+refs/heads/*:refs/heads/*",
                    "+refs/tags/*:refs/tags/*",
                    cwd=g,
                )
                sha = _git("rev-parse", "--verify", f"{commit}^{{commit}}", cwd=g)
            except subprocess.CalledProcessError as exc:
                raise UserError(
                    f"cannot fetch commit {commit} of {repo}: {exc.stderr.strip()[-300:]}",
                    "check runs.<run>.repo and commit, and network access from this machine",
                ) from None
        if not sha.lower().startswith(commit.lower()):
            raise UserError(f"{commit} resolved to {sha}", "pin the commit unambiguously")
        raw = subprocess.run(
            ["git", "archive", "--format=tar", "--prefix=neuralangelo/", sha],
            cwd=g,
            capture_output=True,
            check=True,
        ).stdout
    manifest = {"repo": repo, "commit": sha, "created_by": "video2mesh official-source"}
    data = json.dumps(manifest, indent=1).encode()
    with (
        atomic_path(out) as tmp_out,
        tarfile.open(tmp_out, "w:gz") as dst,
        tarfile.open(fileobj=io.BytesIO(raw)) as src,
    ):
        for member in src:
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo(f"neuralangelo/{na.SOURCE_MANIFEST}")
        info.size, info.mtime = len(data), 0
        dst.addfile(info, io.BytesIO(data))
    return {**manifest, "bytes": out.stat().st_size, "out": str(out)}


def _member_text(archive: Path, rel: str) -> str:
    with tarfile.open(archive) as tar:
        fh = tar.extractfile(f"neuralangelo/{rel}")
        if fh is None:
            raise UserError(f"{archive} has no neuralangelo/{rel}", "rebuild the source archive")
        return fh.read().decode()


def source_keys(archive: Path) -> set[str]:
    """Dotted config keys of the archived base.yaml over imaginaire/config_base.yaml."""
    import yaml

    keys: set[str] = set()
    for rel in ("imaginaire/config_base.yaml", na.BASE_CONFIG):
        keys |= set(na.flatten(yaml.safe_load(_member_text(archive, rel)) or {}))
    return keys


def source_manifest(archive: Path) -> dict[str, Any]:
    try:
        return json.loads(_member_text(archive, na.SOURCE_MANIFEST))
    except (KeyError, UserError):
        return {}


def unpack_source(archive: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    code = dest / "neuralangelo"
    if not (code / na.TRAIN_SCRIPT).exists():
        raise UserError(f"{archive} holds no neuralangelo/{na.TRAIN_SCRIPT}", "rebuild it")
    return code


def prepare_data(dest: Path, transforms: Path, images: Path | None) -> Path:
    """data.root: transforms.json beside images/ (the images only for training)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copyfile(transforms, dest / "transforms.json")
    if images is not None:
        with tarfile.open(images) as tar:
            tar.extractall(dest, filter="data")
        if not (dest / "images").is_dir():
            raise UserError(
                f"{images} has no images/ folder", "pass results/{scene}/sfm/images.tar"
            )
    return dest


def write_chain_config(chain_text: str, code: Path, data: Path, path: Path) -> dict[str, Any]:
    import yaml

    cfg = na.materialise(yaml.safe_load(chain_text), code, data)
    path.write_text(yaml.safe_dump(cfg, default_flow_style=None, sort_keys=True))
    return cfg


# --- interpreter, environment, GPU memory -------------------------------------------------------


def find_python(explicit: str = "") -> str:
    """An interpreter that imports torch and tinycudann: --python, $VIDEO2MESH_NEURALANGELO_PYTHON,
    the image's usual places, then this one (NVIDIA's image has Python 3.8 beside our 3.11)."""
    chosen = explicit or os.environ.get(PYTHON_ENV, "")
    if chosen:
        return chosen
    probe = "import torch, tinycudann; assert torch.cuda.is_available()"
    for cand in (*PYTHON_CANDIDATES, sys.executable):
        if not Path(cand).exists():
            continue
        res = subprocess.run([cand, "-c", probe], capture_output=True, check=False)
        if res.returncode == 0:
            return cand
    raise UserError(
        "no Python with torch (CUDA) and tinycudann found",
        f"run in the neuralangelo job image, or set {PYTHON_ENV} / --python",
    )


def official_env(code: Path) -> dict[str, str]:
    env = dict(os.environ)
    # never our venv's packages in another interpreter; extra places only when asked for
    extra = os.environ.get(PYTHONPATH_ENV, "")
    env["PYTHONPATH"] = ":".join(p for p in (str(code), extra) if p)
    env["PYTHONUNBUFFERED"] = "1"
    env["WANDB_MODE"] = "disabled"
    env.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch >= 2.6 torch.load default
    cuda_lib = "/usr/local/cuda/lib64"  # imaginaire dlopens libcudart.so
    if Path(cuda_lib).is_dir():
        env["LD_LIBRARY_PATH"] = ":".join(
            p for p in (cuda_lib, env.get("LD_LIBRARY_PATH", "")) if p
        )
    return env


class GpuSampler:
    """Peak device memory in use (nvidia-smi at 1 Hz, all GPUs summed); None without nvidia-smi."""

    def __init__(self, period: float = 1.0) -> None:
        self.period = period
        self.peak_mib: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(
                    ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                    check=True,
                ).stdout
                used = sum(float(x) for x in out.split())
                self.peak_mib = max(self.peak_mib or 0.0, used)
            except (OSError, subprocess.SubprocessError, ValueError):
                return
            self._stop.wait(self.period)

    def __enter__(self) -> GpuSampler:
        if shutil.which("nvidia-smi"):
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=15)

    @property
    def peak_bytes(self) -> int | None:
        return None if self.peak_mib is None else int(self.peak_mib * 2**20)


def run_streaming(argv: list[str], cwd: Path, env: dict[str, str], on_line: Any = None) -> int:
    """Run ``argv`` in its own process group, echo its output to our stdout (the rule log) and
    hand each line to ``on_line``; SIGTERM/SIGINT to us stop the whole group."""
    log.info("running (cwd %s): %s", cwd, na.quote(argv))
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        start_new_session=True,
    )

    def stop(signum: int, _frame: Any) -> None:
        with_group(proc, signal.SIGTERM)
        raise KeyboardInterrupt(f"signal {signum}")

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            if on_line is not None:
                on_line(line)
        return proc.wait()
    finally:
        if proc.poll() is None:
            with_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with_group(proc, signal.SIGKILL)
        for s, h in old.items():
            signal.signal(s, h)


def with_group(proc: subprocess.Popen[str], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _peak_host_bytes() -> int:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return int(max(own, kids)) * 1024


# --- training segments ------------------------------------------------------------------------


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


# --- extraction -------------------------------------------------------------------------------


@dataclass
class ExtractJob:
    source: Path
    config: Path
    transforms: Path
    ckpt: Path
    resolution: int
    out: Path
    stats: Path
    block: int = 128
    keep_largest: bool = False
    colors: bool = True
    gpus: int = 1
    single_gpu: bool = False
    python: str = ""
    workdir: Path | None = None
    iteration: int | None = None


@dataclass
class Lattice:
    """extract_mesh.py's lattice in normalised coordinates: origin, spacing, points per axis."""

    origin: np.ndarray  # (3,)
    spacing: float
    counts: tuple[int, int, int]

    @classmethod
    def of(cls, meta: dict[str, Any], resolution: int) -> Lattice:
        c = np.asarray(meta["sphere_center"], dtype=np.float64)
        r = float(meta["sphere_radius"])
        if "aabb_range" in meta:
            b = (np.asarray(meta["aabb_range"], dtype=np.float64) - c[:, None]) / r
        else:
            b = np.array([[-1.0, 1.0]] * 3)
        h = 2.0 / int(resolution)
        counts = tuple(math.ceil((hi - lo) / h) for lo, hi in b)
        return cls(b[:, 0].copy(), h, counts)  # type: ignore[arg-type]

    def blocks(self, block_res: int) -> int:
        return int(np.prod([math.ceil(n / block_res) for n in self.counts]))

    def points(self, block_res: int) -> int:
        """SDF samples of all blocks (block_res+1 per side, clipped at the lattice end)."""
        total = 1
        for n in self.counts:
            total *= sum(min(block_res + 1, n - s) for s in range(0, n, block_res))
        return total


def _row_index(rows: np.ndarray, subset: np.ndarray) -> np.ndarray:
    """Indices in ``rows`` of the (exactly equal) rows of ``subset``."""
    dt = np.dtype([("x", "f8"), ("y", "f8"), ("z", "f8")])
    a = np.ascontiguousarray(rows, dtype=np.float64).view(dt).ravel()
    b = np.ascontiguousarray(subset, dtype=np.float64).view(dt).ravel()
    order = np.argsort(a, kind="stable")
    return order[np.searchsorted(a[order], b)]


def weld_official(
    world: np.ndarray, faces: np.ndarray, meta: dict[str, Any], resolution: int, snap: float = 1e-3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One global weld of extract_mesh.py's concatenated blocks (their seams are not merged):
    back to lattice units, snap float noise, then the builtin backend's lattice-edge weld.
    Returns world vertices, faces and, per welded vertex, the index of one source vertex."""
    from video2mesh.recon.extract import weld

    lat = Lattice.of(meta, resolution)
    c = np.asarray(meta["sphere_center"], dtype=np.float64)
    r = float(meta["sphere_radius"])
    units = ((world - c) / r - lat.origin) / lat.spacing
    near = np.abs(units - np.rint(units)) < snap  # float32 block origins in the official code
    units[near] = np.rint(units[near])
    wv, wf = weld(units, np.asarray(faces, dtype=np.int64), max(lat.counts) + 1)
    src = _row_index(units, wv)
    return (wv * lat.spacing + lat.origin) * r + c, wf, src


def run_extract(job: ExtractJob) -> dict[str, Any]:
    import trimesh

    from video2mesh.recon.extract import compact, keep_largest, mesh_stats

    t0 = time.perf_counter()
    work = job.workdir or job.out.parent / f".{job.out.stem}.work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    chain_text = job.config.read_text()
    notes = na.read_notes(chain_text)
    code = unpack_source(job.source, work / "code")
    data = prepare_data(work / "data", job.transforms, None)
    cfg_path = work / "chain.yaml"
    write_chain_config(chain_text, code, data, cfg_path)
    raw = (work / "mesh" / "raw.ply").resolve()
    argv = na.extract_argv(
        find_python(job.python),
        cfg_path.resolve(),
        Path(job.ckpt).resolve(),
        raw,
        job.resolution,
        job.block,
        job.colors,
        job.gpus,
        job.single_gpu,
    )
    with GpuSampler() as gpu:
        rc = run_streaming(argv, code, official_env(code))
    if rc:
        raise UserError(f"extract_mesh.py exited with status {rc}", "see the log above")
    if not raw.exists():
        raise UserError(
            "extract_mesh.py wrote no mesh",
            "an SDF without a zero crossing (issues #87, #148): check the sphere and training",
        )
    t_official = time.perf_counter() - t0
    meta = json.loads(Path(job.transforms).read_text())
    mesh = trimesh.load(raw, process=False, force="mesh")
    world = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if len(faces) == 0:
        raise UserError(
            f"the SDF of {job.ckpt} has no zero level set inside the unit sphere",
            "the bounding sphere may miss the object (check sphere.png) or training diverged",
        )
    rgb = None
    if job.colors and mesh.visual.kind == "vertex":
        rgb = np.asarray(mesh.visual.vertex_colors, dtype=np.uint8)
    raw_counts = (len(world), len(faces))
    verts, faces, src = weld_official(world, faces, meta, job.resolution)
    if rgb is not None:
        rgb = rgb[src]
    if job.keep_largest:
        kept_v, kept_f = keep_largest(verts, faces)
        if rgb is not None:
            rgb = rgb[_row_index(verts, kept_v)]
        verts, faces = kept_v, kept_f
    else:
        verts_c, faces = compact(verts, faces)
        if rgb is not None and len(verts_c) != len(verts):
            rgb = rgb[_row_index(verts, verts_c)]
        verts = verts_c
    out_mesh = trimesh.Trimesh(verts, faces, vertex_colors=rgb, process=False)
    lat = Lattice.of(meta, job.resolution)
    iteration = job.iteration if job.iteration is not None else iteration_of(job.ckpt)
    stats: dict[str, Any] = {
        **mesh_stats(out_mesh),
        "iteration": iteration,
        "resolution": int(job.resolution),
        "keep_largest": bool(job.keep_largest),
        "blocks_total": lat.blocks(job.block),
        "blocks_evaluated": lat.blocks(job.block),
        "sdf_points": lat.points(job.block),
        "device": "cuda (official extract_mesh.py)",
        "extract_seconds": t_official,
        "backend": "neuralangelo",
        "schedule": notes.get("schedule", ""),
        "commit": source_manifest(job.source).get("commit", notes.get("commit", "")),
        "block_res": int(job.block),
        "official_vertices": raw_counts[0],
        "official_faces": raw_counts[1],
        "official_seconds": t_official,
    }
    with atomic_path(job.out) as tmp:
        out_mesh.export(tmp)
    shutil.rmtree(work, ignore_errors=True)
    stats["seconds"] = time.perf_counter() - t0
    stats["peak_host_bytes"] = _peak_host_bytes()
    if gpu.peak_bytes is not None:
        stats["peak_gpu_used_bytes"] = gpu.peak_bytes
    write_json(job.stats, stats)
    return stats
