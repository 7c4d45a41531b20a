"""Run the default pipeline's CPU stages on validation captures and pack them for the GPU.

    python benchmarks/realworld/prepare_device.py --out .devdata \
        benchmarks/_work/realworld/temple_ring benchmarks/_work/realworld/cup_table ...

A capture folder (made by prepare_real.py or generate_scenes.py) holds ``images/`` or
``video.mp4``, and optionally ``cameras.json`` (true cameras, sample format), ``masks/`` and
``reference.ply``. Per capture, through the same CLI commands and default settings the rules
use: ingest → frames → sfm (kept in ``<capture>/results/``, reused when present) → scene
(transforms.json with the support plane and the object sphere, sphere.png) → reference /
alignment. Then ``<out>/<capture>/`` gets what gpu_validate.py reads. Images are re-encoded
(JPEG q90, long side ≤ ``--max-side``) so that the whole set fits the device's 64 MiB transfer;
the GPU trains on them as they are, and the CPU preset scales them to its 160 px from their own
size (before session 32 from transforms.json's, so captures larger than 720 px trained smaller).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def cli(*args: str, log: Path) -> None:
    with log.open("a") as fh:
        fh.write(f"$ video2mesh {' '.join(args)}\n")
        fh.flush()
        subprocess.run(
            [sys.executable, "-m", "video2mesh", *args],
            check=True,
            env=ENV,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


def sfm(capture: Path, log: Path) -> tuple[Path, dict]:
    """ingest → frames → sfm → fine-photos with the config defaults (config/schema.yaml); reused
    if done."""
    res = capture / "results"
    sparse = res / "sfm" / "sparse"
    timing: dict = {}
    if (sparse / "points3D.bin").exists():
        return sparse, timing
    res.mkdir(exist_ok=True)
    name = capture.name
    t0 = time.perf_counter()
    video = next((p for p in capture.glob("video.*")), None)
    if video is not None:
        inp = res / f"input{video.suffix}"
        cli("ingest", "--scene", name, "--video", str(video), "--out", str(inp), log=log)
        matcher = "sequential"
    else:
        inp = res / "input.tar"
        src = str(capture / "images")
        cli("ingest", "--scene", name, "--images", src, "--out", str(inp), log=log)
        matcher = "exhaustive"
    cli(
        "frames", "--scene", name, "--input", str(inp), "--count", "100", "--max-size", "960",
        "--out-tar", str(res / "frames.tar"), "--out-json", str(res / "frames.json"), log=log,
    )  # fmt: skip
    timing["frames_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cli(
        "sfm", "--scene", name, "--frames", str(res / "frames.tar"),
        "--out-dir", str(res / "sfm"), "--matcher", matcher, "--min-registered", "0.6",
        "--camera-model", "SIMPLE_RADIAL", "--overlap", "10", "--loop-keyframes", "25", log=log,
    )  # fmt: skip
    timing["sfm_s"] = time.perf_counter() - t0
    cli(
        "fine-photos", "--scene", name, "--frames", str(res / "frames.tar"),
        "--sparse", str(sparse), "--sfm-json", str(res / "sfm" / "sfm.json"),
        "--out", str(res / "sfm" / "images_fine.tar"), log=log,
    )  # fmt: skip
    return sparse, timing


def recompress(src: Path, dst: Path, max_side: int, quality: int = 90) -> None:
    """Re-encode an images tar's JPEGs; other members (images_fine.tar's camera.json) as they
    are, so the finer photos keep their size (``max_side`` must not shrink them)."""
    from PIL import Image

    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for m in tin.getmembers():
            if not m.isfile():
                continue
            if not m.name.endswith(".jpg"):
                tout.addfile(m, tin.extractfile(m))
                continue
            with Image.open(tin.extractfile(m)) as im:  # type: ignore[arg-type]
                im = im.convert("RGB")
                scale = min(1.0, max_side / max(im.size))
                if scale < 1.0:
                    im = im.resize(
                        (round(im.width * scale), round(im.height * scale)),
                        Image.Resampling.LANCZOS,
                    )
                buf = io.BytesIO()
                im.save(buf, format="JPEG", quality=quality)
            info = tarfile.TarInfo(m.name)
            info.size = buf.tell()
            buf.seek(0)
            tout.addfile(info, buf)


def prepare(capture: Path, out: Path, max_side: int) -> dict:
    from video2mesh.atomic import write_json
    from video2mesh.scene import align_to_truth, load_model, load_true_cameras

    name = capture.name
    dst = out / name
    dst.mkdir(parents=True, exist_ok=True)
    log = capture / "prepare.log"
    sparse, info = sfm(capture, log)
    sfm_json = json.loads((sparse.parent / "sfm.json").read_text())
    info["registered"] = f"{sfm_json.get('registered')}/{sfm_json.get('total')}"
    t0 = time.perf_counter()
    cli(
        "scene", "--scene", name, "--sparse", str(sparse), "--type", "object", "--sphere", "{}",
        "--photos", str(sparse.parent / "images.tar"),
        "--out-transforms", str(dst / "transforms.json"), "--out-png", str(dst / "sphere.png"),
        log=log,
    )  # fmt: skip
    info["scene_s"] = time.perf_counter() - t0
    cams = capture / "cameras.json"
    if (capture / "reference.ply").exists() and cams.exists():
        cli(
            "reference", "--scene", name, "--sparse", str(sparse),
            "--transforms", str(dst / "transforms.json"),
            "--reference", str(capture / "reference.ply"), "--reference-cameras", str(cams),
            "--out", str(dst / "reference.ply"), "--out-alignment", str(dst / "alignment.json"),
            log=log,
        )  # fmt: skip
    elif cams.exists():
        write_json(
            dst / "alignment.json", align_to_truth(load_model(sparse), load_true_cameras(cams))
        )
    if cams.exists():
        shutil.copy(cams, dst / "cameras.json")
    if (capture / "masks").is_dir():
        shutil.copytree(capture / "masks", dst / "masks", dirs_exist_ok=True)
    if (dst / "alignment.json").exists():
        a = json.loads((dst / "alignment.json").read_text())
        info["camera_error_pct"] = 100 * a.get("median_center_error_rel", float("nan"))
        info["rotation_error_deg"] = a.get("median_rotation_error_deg")
        (dst / "alignment_photos.json").unlink(missing_ok=True)  # never an earlier run's
        if "scale" in a and (capture / "masks").is_dir() and "distorted_camera" in sfm_json:
            from video2mesh.errors import UserError

            try:
                info["photo_alignment"] = write_photo_alignment(dst, sparse, sfm_json)
            except UserError as exc:  # too few observations, another camera model
                info["photo_alignment"] = f"not refined: {exc}"
    recompress(sparse.parent / "images.tar", dst / "images.tar", max_side)
    if (sparse.parent / "images_fine.tar").exists():  # for the texture: at their own size
        recompress(sparse.parent / "images_fine.tar", dst / "images_fine.tar", 1 << 16, 85)
    t = json.loads((dst / "transforms.json").read_text())
    info.update(
        sphere_radius=t["sphere_radius"],
        support=t.get("support_plane") is not None,
        notes=t.get("sphere_notes"),
    )
    write_json(dst / "prepare.json", info)
    return info


def write_photo_alignment(dst: Path, sparse: Path, sfm_json: dict) -> dict:
    """``alignment_photos.json``: alignment.json's similarity refined by the photos
    (``silhouette.refine_to_photos``), in its format (true frame -> SfM frame), for the
    silhouettes' second score in gpu_validate.py."""
    import numpy as np

    from video2mesh.atomic import write_json
    from video2mesh.refine_alignment import scale_of
    from video2mesh.silhouette import (
        load_cameras,
        refine_to_photos,
        sfm_to_true_transform,
    )

    to_true = sfm_to_true_transform(dst / "alignment.json", None, dst / "cameras.json")
    refined, report = refine_to_photos(
        to_true, sparse, sfm_json["distorted_camera"], load_cameras(dst / "cameras.json")
    )
    to_sfm = np.linalg.inv(refined)
    scale = scale_of(to_sfm)
    write_json(
        dst / "alignment_photos.json",
        {
            "scale": scale,
            "rotation": (to_sfm[:3, :3] / scale).tolist(),
            "translation": to_sfm[:3, 3].tolist(),
            "refinement": report,
        },
    )
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("captures", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--max-side", type=int, default=720)
    args = ap.parse_args()
    for capture in args.captures:
        try:
            info = prepare(capture, args.out, args.max_side)
        except subprocess.CalledProcessError as exc:
            info = {"error": f"{exc}: see {capture / 'prepare.log'}"}
        print(capture.name, json.dumps(info), flush=True)


if __name__ == "__main__":
    main()
