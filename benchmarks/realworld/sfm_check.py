"""SfM on the prepared real captures, through the pipeline's own CLI, scored against calibration.

    python benchmarks/realworld/sfm_check.py [NAME ...] [--root benchmarks/_work/realworld]

For each prepared capture (prepare_real.py) runs, one after the other, exactly what the rules run
with the default config (rules/ingest.smk, frames.smk, sfm.smk; photos: exhaustive matching):

    video2mesh ingest --images <name>/images --out <name>/results/input.tar
    video2mesh frames --count 100 --max-size 960 ...      -> results/frames.{tar,json}
    video2mesh sfm --matcher exhaustive ...                -> results/sfm/{sparse/*.bin,sfm.json}

and, where the capture has cameras.json, aligns the SfM cameras to the true ones by image name
(scene.align_to_truth: the reference stage's similarity) and records the camera errors; where
check_calibration.py left a visual hull, also runs the scene stage (object sphere) and compares
the sphere with the hull moved into the SfM frame. Writes
<name>/results/sfm_check.json and prints one Markdown table row per capture.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "src"))

from video2mesh.atomic import write_json  # noqa: E402

DEFAULTS = {"count": 100, "max_size": 960, "min_registered": 0.6, "camera_model": "SIMPLE_RADIAL"}


def _run(command: str, options: dict[str, object], log: Path) -> float:
    """``python -m video2mesh <command> --key value ...``, output appended to ``log``; seconds."""
    args = [str(x) for item in options.items() for x in item]
    started = time.perf_counter()
    with log.open("a") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "video2mesh", command, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"video2mesh {command} failed, see {log}")
    return time.perf_counter() - started


def run_stages(folder: Path, res: Path) -> dict[str, float]:
    """ingest, frames and sfm as the rules run them with the default config; seconds per stage."""
    name, log = folder.name, res / "sfm_check.log"
    log.write_text("")
    ingest = {"--scene": name, "--images": folder / "images", "--out": res / "input.tar"}
    frames = {
        "--scene": name,
        "--input": res / "input.tar",
        "--count": DEFAULTS["count"],
        "--max-size": DEFAULTS["max_size"],
        "--out-tar": res / "frames.tar",
        "--out-json": res / "frames.json",
    }
    sfm = {
        "--scene": name,
        "--frames": res / "frames.tar",
        "--out-dir": res / "sfm",
        "--matcher": "exhaustive",  # matcher auto: exhaustive for photos
        "--min-registered": DEFAULTS["min_registered"],
        "--camera-model": DEFAULTS["camera_model"],
        "--overlap": 10,
        "--loop-keyframes": 25,
    }
    return {
        "ingest": _run("ingest", ingest, log),
        "frames": _run("frames", frames, log),
        "sfm": _run("sfm", sfm, log),
    }


def check(folder: Path, reuse: bool) -> dict:
    name, res = folder.name, folder / "results"
    res.mkdir(exist_ok=True)
    previous = res / "sfm_check.json"
    if reuse and (res / "sfm" / "sfm.json").is_file() and previous.is_file():
        seconds = json.loads(previous.read_text())["seconds"]
    else:
        try:
            seconds = run_stages(folder, res)
        except RuntimeError as err:
            out = {"scene": name, "error": str(err)}
            write_json(previous, out)
            return out
    frames = json.loads((res / "frames.json").read_text())
    sfm = json.loads((res / "sfm" / "sfm.json").read_text())
    out = {
        "scene": name,
        "photos": len(list((folder / "images").glob("*.jpg"))),
        "frames_kept": frames["kept"],
        "registered": sfm["registered"],
        "total": sfm["total"],
        "points": sfm["points"],
        "mean_reprojection_error": sfm["mean_reprojection_error"],
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }
    if (folder / "cameras.json").is_file():
        from video2mesh.scene import align_to_truth, load_model, load_true_cameras

        alignment = align_to_truth(
            load_model(res / "sfm" / "sparse"), load_true_cameras(folder / "cameras.json")
        )
        out["alignment"] = {k: v for k, v in alignment.items() if k not in ("rotation",)}
        write_json(res / "alignment.json", alignment)
        if (folder / "visual_hull.ply").is_file():
            out["sphere"] = sphere_vs_object(folder, res, alignment)
    out["machine"] = f"{platform.machine()}, {platform.node()}, python {platform.python_version()}"
    import pycolmap

    out["pycolmap"] = pycolmap.__version__
    write_json(res / "sfm_check.json", out)
    return out


def sphere_vs_object(folder: Path, res: Path, alignment: dict) -> dict:
    """The scene stage's object sphere against the object's visual hull moved into the SfM frame.

    The hull (check_calibration.py) is at least as large as the object, so ``radius_ratio`` is a
    lower bound of how much larger than the object the sphere is.
    """
    import numpy as np
    import trimesh

    scene = {
        "--scene": folder.name,
        "--sparse": res / "sfm" / "sparse",
        "--type": "object",
        "--out-transforms": res / "transforms.json",
        "--out-png": res / "sphere.png",
    }
    _run("scene", scene, res / "sfm_check.log")
    meta = json.loads((res / "transforms.json").read_text())
    hull = trimesh.load(folder / "visual_hull.ply", force="mesh")
    rot = alignment["scale"] * np.asarray(alignment["rotation"])
    verts = np.asarray(hull.vertices) @ rot.T + np.asarray(alignment["translation"])
    center = (verts.min(0) + verts.max(0)) / 2
    radius = float(np.linalg.norm(verts - center, axis=1).max())
    sphere_c = np.asarray(meta["sphere_center"])
    inside = np.linalg.norm(verts - sphere_c, axis=1) <= meta["sphere_radius"]
    return {
        "sphere_radius": meta["sphere_radius"],
        "hull_radius": radius,
        "radius_ratio": meta["sphere_radius"] / radius,
        "center_offset_rel": float(np.linalg.norm(sphere_c - center) / radius),
        "hull_inside_sphere": float(inside.mean()),
        "notes": meta.get("sphere_notes", []),
    }


def row(r: dict) -> str:
    if "error" in r:
        return f"| {r['scene']} | failed: {r['error']} |"
    a = r.get("alignment")
    cams = (
        f"{100 * a['median_center_error_rel']:.2f} % | {a['median_rotation_error_deg']:.2f}° | "
        f"{a['max_rotation_error_deg']:.2f}°"
        if a
        else "– | – | –"
    )
    sph = r.get("sphere")
    sphere = (
        f"{sph['radius_ratio']:.2f} | {100 * sph['hull_inside_sphere']:.0f} %" if sph else "– | –"
    )
    return (
        f"| {r['scene']} | {r['photos']} | {r['frames_kept']} | {r['registered']}/{r['total']} | "
        f"{r['points']} | {r['mean_reprojection_error']:.2f} | {cams} | "
        f"{r['seconds']['sfm']:.0f} | {sphere} |"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="captures to check (default: every prepared one)")
    ap.add_argument("--root", type=Path, default=REPO_ROOT / "benchmarks" / "_work" / "realworld")
    ap.add_argument("--reuse", action="store_true", help="keep an earlier run's SfM, score again")
    args = ap.parse_args()
    folders = [args.root / n for n in args.names] or sorted(
        p.parent for p in args.root.glob("*/scene.yaml")
    )
    print(
        "| capture | photos | frames kept | registered | points | reproj. px | "
        "centre err. (% orbit) | rot. err. median | rot. err. max | SfM s | "
        "sphere r / hull r | hull in sphere |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for folder in folders:
        print(row(check(folder, args.reuse)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
