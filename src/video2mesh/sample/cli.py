"""Writing a generated scene (video, exact cameras, true mesh) and the ``sample`` command."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import multiprocessing
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from video2mesh.atomic import atomic_path, write_json
from video2mesh.sample.cameras import orbit_cameras, orbit_radius
from video2mesh.sample.phone import PhoneCamera
from video2mesh.sample.raytrace import Scene, build_scene, render_frame
from video2mesh.sample.shapes import ground_truth_mesh, without_support_contact
from video2mesh.sample.spec import (
    BACKGROUNDS,
    CAMERAS,
    MATERIALS,
    OBJECTS,
    SUPPORTS,
    SampleSpec,
    variant_name,
    variant_spec,
)

log = logging.getLogger(__name__)

# The workflow's `source: sample` scene: the cup standing on a table in a room (SampleSpec()),
# as people film objects, so that `make run` exercises the support plane and the cut.
# `sample: {variant: classic}` in the config brings back the floating cup of earlier sessions.
PIPELINE_VARIANT = "default"

_WORKER: dict[str, Scene] = {}


def _worker_init(scene: Scene) -> None:
    _WORKER["scene"] = scene  # 3 MB of noise and the framing: made once, sent once per process


def _worker_render(c2w: np.ndarray) -> np.ndarray:
    return render_frame(c2w, _WORKER["scene"])


def _render_frames(cams: list[np.ndarray], scene: Scene, workers: int) -> Iterator[np.ndarray]:
    """Frames in camera order; numpy renders on one core, so frames go to worker processes."""
    if workers <= 1:
        yield from (render_frame(c2w, scene) for c2w in cams)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, ctx, _worker_init, (scene,)) as pool:
        yield from pool.map(_worker_render, cams)


def generate(
    out_video: Path, out_cameras: Path, out_mesh: Path, spec: SampleSpec, workers: int = 1
) -> None:
    """Write the scene's video, its exact cameras and the ground-truth mesh of the object
    (without the face it stands on when it stands on a support: no photo can see it)."""
    import imageio_ffmpeg

    started = time.perf_counter()
    cams, scene = orbit_cameras(spec), build_scene(spec)
    with atomic_path(out_video) as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp),
            (spec.width, spec.height),
            fps=spec.fps,
            codec="libx264",
            macro_block_size=8,
            quality=None,
            output_params=["-crf", "16", "-preset", "medium", "-g", "12"],
        )
        writer.send(None)
        phone = PhoneCamera(spec.seed, spec.frames) if spec.camera == "phone" else None
        for i, frame in enumerate(_render_frames(cams, scene, workers)):
            writer.send(np.ascontiguousarray(phone(frame, i) if phone else frame))
        writer.close()
    mesh = ground_truth_mesh(spec.object, spec.mesh_resolution)
    reference = mesh
    if scene.world.support_z is not None:
        reference = without_support_contact(mesh, scene.world.support_z)
    with atomic_path(out_mesh) as tmp:
        reference.export(tmp)
    write_json(
        out_cameras,
        {
            "convention": "OpenCV camera-to-world, world z up; frame i of the video is camera i",
            "variant": variant_name(spec),
            "spec": dataclasses.asdict(spec),
            "intrinsics": spec.intrinsics(),
            "orbit_radius": orbit_radius(spec),
            # Where the object stands (null: it floats) and its box: truth for the isolation.
            "support_z": scene.world.support_z,
            "object_bounds": np.asarray(mesh.bounds).tolist(),
            "frames": [{"index": i, "c2w": c.tolist()} for i, c in enumerate(cams)],
        },
    )
    log.info(
        "sample %s: %d frames in %.1f s",
        variant_name(spec),
        spec.frames,
        time.perf_counter() - started,
    )


def spec_from_args(args: argparse.Namespace) -> SampleSpec:
    overrides = {
        k: getattr(args, k)
        for k in (
            "seed",
            "frames",
            "width",
            "height",
            "object",
            "support",
            "background",
            "material",
            "camera",
        )
        if getattr(args, k) is not None
    }
    return variant_spec(args.variant, **overrides)


def _cmd(args: argparse.Namespace) -> None:
    generate(
        Path(args.video), Path(args.cameras), Path(args.mesh), spec_from_args(args), args.workers
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample",
        help="generate a scene with a known truth (video, exact cameras, true mesh)",
        description="A variant is 'classic' (the floating cup), 'default' (the cup on a "
        "table) or dash-separated choices, e.g. table-glossy-vase, floating-dark-figurine; "
        "the flags below override it.",
    )
    p.add_argument("--video", required=True, help="output .mp4")
    p.add_argument("--cameras", required=True, help="output cameras .json")
    p.add_argument(
        "--mesh",
        required=True,
        help="output ground-truth .ply (the object only, open where it stands)",
    )
    p.add_argument("--variant", default=PIPELINE_VARIANT, help="scene variant name")
    p.add_argument("--object", choices=OBJECTS)
    p.add_argument("--support", choices=SUPPORTS)
    p.add_argument("--background", choices=BACKGROUNDS)
    p.add_argument("--material", choices=MATERIALS)
    p.add_argument("--camera", choices=CAMERAS, help="phone: exposure drift, noise, motion blur")
    p.add_argument("--seed", type=int)
    p.add_argument("--frames", type=int)
    p.add_argument("--width", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--mesh-resolution", type=int, help="marching-cubes samples across the object")
    p.add_argument("--workers", type=int, default=1, help="frame-rendering processes")
    p.set_defaults(func=_cmd)
