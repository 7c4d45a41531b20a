"""Meshes of official checkpoints: extract_mesh.py, then our weld and stats."""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from video2mesh import neuralangelo as na
from video2mesh.atomic import atomic_path, write_json
from video2mesh.errors import UserError
from video2mesh.official.process import (
    GpuSampler,
    _peak_host_bytes,
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
from video2mesh.official.train import iteration_of

log = logging.getLogger(__name__)


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
    # the object alone, as the builtin backend's meshes (isolate.py): "remove" or "keep"
    support: str = "keep"
    floaters: str = "keep"


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
    cleaned = None
    if job.support != "keep" or job.floaters == "remove":
        from video2mesh.isolate import isolate_scene_mesh

        out_mesh, cleaned = isolate_scene_mesh(out_mesh, job.transforms, job.support, job.floaters)
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
    if cleaned is not None:
        stats["isolate"] = cleaned
    with atomic_path(job.out) as tmp:
        out_mesh.export(tmp)
    shutil.rmtree(work, ignore_errors=True)
    stats["seconds"] = time.perf_counter() - t0
    stats["peak_host_bytes"] = _peak_host_bytes()
    if gpu.peak_bytes is not None:
        stats["peak_gpu_used_bytes"] = gpu.peak_bytes
    write_json(job.stats, stats)
    return stats
