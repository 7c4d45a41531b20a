"""Running the official scripts: the interpreter with torch + tinycudann, its environment,
GPU memory sampling, streamed output, process groups."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from video2mesh import neuralangelo as na
from video2mesh.errors import UserError

log = logging.getLogger(__name__)

PYTHON_ENV = "VIDEO2MESH_NEURALANGELO_PYTHON"
PYTHONPATH_ENV = "VIDEO2MESH_NEURALANGELO_PYTHONPATH"  # e.g. carried wheels for that interpreter
PYTHON_CANDIDATES = ("/usr/bin/python3", "/opt/conda/bin/python", "/usr/local/bin/python3")


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
