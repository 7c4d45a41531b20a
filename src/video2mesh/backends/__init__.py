"""The `Backend` interface: train one segment, extract one mesh, say what a job needs.

One `train` rule and one `extract` rule serve every run (rules/train.smk, rules/mesh.smk): they
call `python -m video2mesh segment` / `mesh`, which find the run's backend here by the run's
`backend:` key. A backend is a name in `BACKENDS` or, for a backend living outside this package,
``package.module:Class`` (importable where Snakemake and the jobs run). This module imports only
the standard library: the workflow asks backends for their needs while it builds the DAG, and
each backend imports its heavy dependencies (torch, the official code) inside its methods.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from video2mesh.errors import UserError

BACKENDS = {
    "builtin": "video2mesh.backends.builtin:BuiltinBackend",
    "neuralangelo": "video2mesh.backends.official:OfficialBackend",
}


@dataclass(frozen=True)
class Needs:
    """What a job of the run needs from wherever it runs (Snakemake resources)."""

    gpus: int = 1  # the job runs on CPU where there is no GPU (local runs)
    gpu_model: str | None = None
    image: str | None = None  # job container image (the rules' container:); None: the default
    mem_mb: int | None = None


@dataclass
class SegmentJob:
    """One training segment: from ``resume`` (or scratch) to ``until`` of a chain ending at
    ``final``; writes ``out`` (checkpoint) and ``metrics`` (CSV of METRIC_COLUMNS)."""

    run: dict[str, Any]  # the run's config entry
    transforms: Path
    images: Path
    scene_type: str
    until: int
    final: int
    out: Path
    metrics: Path
    resume: Path | None = None
    inputs: dict[str, Path] = field(default_factory=dict)  # the backend's own train_inputs
    partial: Path | None = None  # in-segment save (resumed from when it matches)
    partial_store: str | None = None  # s3:// copy of it, for preempted remote jobs
    save_every_s: float = 300.0
    threads: int = 0


@dataclass
class MeshJob:
    """One mesh of a checkpoint at a resolution: ``out`` (.ply) and ``stats`` (JSON)."""

    run: dict[str, Any]
    ckpt: Path
    resolution: int
    transforms: Path
    out: Path
    stats: Path
    inputs: dict[str, Path] = field(default_factory=dict)
    support: str = "keep"  # object isolation: remove the support plane and what lies below
    floaters: str = "keep"
    threads: int = 0

    @property
    def options(self) -> dict[str, Any]:
        """The run's ``extract:`` options (block, keep_largest, colors)."""
        return dict(self.run.get("extract") or {})


class Backend(ABC):
    """A reconstruction method. Subclasses implement the two jobs; the defaults describe a
    backend that needs one GPU (or the CPU), no extra inputs and the default image."""

    name = ""

    def needs(self, run: dict[str, Any]) -> Needs:
        return Needs(gpus=int(run.get("gpus", 1)), gpu_model=run.get("gpu_model") or None)

    def train_inputs(self, scene: str, run_name: str, previous: int) -> dict[str, str]:
        """Files a segment needs besides transforms, images and the previous checkpoint
        (``previous`` is 0 for a chain's first segment); made by the backend's own rules."""
        return {}

    def extract_inputs(self, scene: str, run_name: str) -> dict[str, str]:
        return {}

    @abstractmethod
    def train_segment(self, job: SegmentJob) -> dict[str, Any]:
        """Train one segment; returns a JSON-able summary."""

    @abstractmethod
    def extract_mesh(self, job: MeshJob) -> dict[str, Any]:
        """Write one mesh and its stats; returns the stats."""


def get_backend(name: str) -> Backend:
    """The backend of a run's ``backend:`` key."""
    target = BACKENDS.get(name, name)
    module_name, _, attr = target.partition(":")
    if not attr:
        raise UserError(
            f"unknown backend '{name}'",
            f"use one of {sorted(BACKENDS)} or package.module:Class of your own Backend",
        )
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise UserError(
            f"backend '{name}' cannot be loaded ({exc})",
            "put its module on PYTHONPATH where Snakemake and the jobs run",
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise UserError(f"backend '{name}' is not a video2mesh Backend", "subclass Backend")
    backend = cls()
    backend.name = backend.name or name
    return backend
