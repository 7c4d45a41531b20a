"""`video2mesh train` and `video2mesh extract` (torch is imported only when a command runs)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from video2mesh.isolate import MODES, SUPPORT_MODES

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train one segment of a builtin run (resumable)",
        description="Train the builtin backend from iteration (resume or 0) to --until under the "
        "schedule of --final, writing the checkpoint and a metrics CSV atomically.",
    )
    p.add_argument(
        "--transforms", required=True, type=Path, help="transforms.json (Neuralangelo format)"
    )
    p.add_argument("--images", required=True, type=Path, help="uncompressed tar with images/<name>")
    p.add_argument(
        "--run-config",
        default="{}",
        help="the run's config entry as JSON: {backend, preset: auto|cpu|gpu, train: {overrides}}; "
        "@FILE reads it from a file",
    )
    p.add_argument("--scene-type", choices=["object", "scene"], default="object")
    p.add_argument("--until", required=True, type=int, help="iteration this segment ends at")
    p.add_argument("--final", required=True, type=int, help="last iteration of the whole chain")
    p.add_argument("--resume", type=Path, help="checkpoint of the previous sweep point")
    p.add_argument(
        "--partial", type=Path, help="in-segment save (resumed from; removed at the end)"
    )
    p.add_argument(
        "--partial-store",
        metavar="S3_URL",
        help="s3://bucket/key also holding the in-segment save, so that a retried remote job "
        "resumes from it (credentials from SNAKEMAKE_STORAGE_S3_* or boto3's chain)",
    )
    p.add_argument("--out", required=True, type=Path, help="checkpoint to write (.pt)")
    p.add_argument("--metrics", required=True, type=Path, help="metrics CSV of this segment")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--save-every-seconds", type=float, default=300.0, help="partial-save period")
    p.add_argument("--save-every-iters", type=int, default=0, help="also save every N iterations")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: 1 on CPU)")
    p.set_defaults(func=_train)

    e = sub.add_parser(
        "extract",
        help="mesh a builtin checkpoint at one resolution",
        description="Marching cubes of the SDF on R samples across the bounding sphere's "
        "diameter; one welded mesh in world units (.ply) plus a stats JSON.",
    )
    e.add_argument("--ckpt", required=True, type=Path)
    e.add_argument("--resolution", required=True, type=int)
    e.add_argument("--out", required=True, type=Path, help="mesh to write (.ply)")
    e.add_argument("--stats", required=True, type=Path, help="stats JSON to write")
    e.add_argument("--keep-largest", action="store_true", help="keep the largest component only")
    e.add_argument(
        "--block", type=int, default=0, help="lattice cells per block side (0: 128 GPU, 32 CPU)"
    )
    e.add_argument("--device", default="auto")
    e.add_argument("--no-colors", action="store_true", help="skip vertex colours")
    e.add_argument("--dense", action="store_true", help="evaluate every block (no narrow band)")
    e.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    e.add_argument(
        "--transforms", type=Path, help="transforms.json: its support plane isolates an object"
    )
    e.add_argument("--object-support", choices=SUPPORT_MODES, default="keep")
    e.add_argument("--object-floaters", choices=MODES, default="keep")
    e.set_defaults(func=_extract)


def _run_config(text: str) -> str:
    if text.startswith("@"):
        return Path(text[1:]).read_text()
    return text


def _train(args: argparse.Namespace) -> None:
    from video2mesh.recon.presets import build_config
    from video2mesh.recon.train import Segment, run_segment

    cfg, preset = build_config(_run_config(args.run_config), args.scene_type)
    seg = Segment(
        transforms=args.transforms,
        images=args.images,
        cfg=cfg,
        preset=preset,
        scene_type=args.scene_type,
        until=args.until,
        final=args.final,
        out=args.out,
        metrics=args.metrics,
        resume=args.resume,
        partial=args.partial,
        partial_store=args.partial_store,
        device=args.device,
        save_every_s=args.save_every_seconds,
        save_every_iters=args.save_every_iters,
        threads=args.threads,
    )
    summary = run_segment(seg)
    log.info("train: %s", json.dumps(summary, default=str))


def _extract(args: argparse.Namespace) -> None:
    import torch

    from video2mesh.recon.extract import extract_checkpoint

    if args.threads:
        torch.set_num_threads(args.threads)
    stats = extract_checkpoint(
        args.ckpt,
        args.resolution,
        args.out,
        args.stats,
        keep_largest_component=args.keep_largest,
        block=args.block,
        device_name=args.device,
        colors=not args.no_colors,
        dense=args.dense,
        transforms=args.transforms,
        support=args.object_support,
        floaters=args.object_floaters,
    )
    log.info("extract: %s", json.dumps(stats))
