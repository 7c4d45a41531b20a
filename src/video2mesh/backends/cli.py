"""`video2mesh segment` and `video2mesh mesh`: one training segment / one mesh of any run, by
its backend (the one `train` and `extract` rules call these)."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from video2mesh.errors import UserError
from video2mesh.isolate import MODES, SUPPORT_MODES

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "segment",
        help="train one segment of a run with its backend",
        description="From --resume (or scratch) to --until under the schedule of --final; "
        "writes the checkpoint and the metrics CSV.",
    )
    _common(p)
    p.add_argument("--images", required=True, type=Path, help="uncompressed tar of the images")
    p.add_argument("--scene-type", choices=["object", "scene"], default="object")
    p.add_argument("--until", required=True, type=int, help="iteration this segment ends at")
    p.add_argument("--final", required=True, type=int, help="last iteration of the chain")
    p.add_argument("--resume", type=Path, help="checkpoint of the previous sweep point")
    p.add_argument("--partial", type=Path, help="in-segment save (builtin backend)")
    p.add_argument("--partial-store", metavar="S3_URL", help="s3:// copy of the in-segment save")
    p.add_argument("--save-every-seconds", type=float, default=300.0)
    p.add_argument("--metrics", required=True, type=Path, help="metrics CSV of this segment")
    p.set_defaults(func=_segment)

    m = sub.add_parser("mesh", help="extract one mesh of a run's checkpoint with its backend")
    _common(m)
    m.add_argument("--ckpt", required=True, type=Path)
    m.add_argument("--resolution", required=True, type=int)
    m.add_argument("--object-support", choices=SUPPORT_MODES, default="keep")
    m.add_argument("--object-floaters", choices=MODES, default="keep")
    m.add_argument("--stats", required=True, type=Path, help="stats JSON to write")
    m.set_defaults(func=_mesh)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-config", required=True, help="the run's config entry as JSON")
    p.add_argument("--transforms", required=True, type=Path, help="transforms.json")
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a file the backend asked for (its train_inputs / extract_inputs)",
    )
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: the backend's choice)")
    p.add_argument("--out", required=True, type=Path)


def _run(text: str) -> dict[str, Any]:
    try:
        run = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"--run-config is not valid JSON ({exc})", "pass a JSON object") from exc
    if not isinstance(run, dict):
        raise UserError("--run-config is not a JSON object", "pass the run's config entry")
    return run


def _inputs(pairs: list[str]) -> dict[str, Path]:
    out = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name:
            raise UserError(f"--input {pair} is not NAME=PATH", "pass --input source=path")
        out[name] = Path(path)
    return out


def _segment(args: argparse.Namespace) -> None:
    from video2mesh.backends import SegmentJob, get_backend

    run = _run(args.run_config)
    job = SegmentJob(
        run=run,
        transforms=args.transforms,
        images=args.images,
        scene_type=args.scene_type,
        until=args.until,
        final=args.final,
        out=args.out,
        metrics=args.metrics,
        resume=args.resume,
        inputs=_inputs(args.input),
        partial=args.partial,
        partial_store=args.partial_store,
        save_every_s=args.save_every_seconds,
        threads=args.threads,
    )
    summary = get_backend(run.get("backend", "builtin")).train_segment(job)
    log.info("segment: %s", json.dumps(summary, default=str))


def _mesh(args: argparse.Namespace) -> None:
    from video2mesh.backends import MeshJob, get_backend

    run = _run(args.run_config)
    job = MeshJob(
        run=run,
        ckpt=args.ckpt,
        resolution=args.resolution,
        transforms=args.transforms,
        out=args.out,
        stats=args.stats,
        inputs=_inputs(args.input),
        support=args.object_support,
        floaters=args.object_floaters,
        threads=args.threads,
    )
    stats = get_backend(run.get("backend", "builtin")).extract_mesh(job)
    log.info("mesh: %s", json.dumps(stats, default=str))
