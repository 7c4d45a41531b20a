"""SfM on the prepared real captures, through the pipeline's own CLI, scored against calibration.

    python benchmarks/realworld/sfm_check.py [NAME ...] [--root benchmarks/_work/realworld]

For each prepared capture (prepare_real.py) runs, one after the other, exactly what the rules run
with the default config (rules/ingest.smk, frames.smk, sfm.smk; photos: exhaustive matching):

    video2mesh ingest --images <name>/images --out <name>/results/input.tar
    video2mesh frames --count 100 --max-size 960 ...      -> results/frames.{tar,json}
    video2mesh sfm --matcher exhaustive ...                -> results/sfm/{sparse/*.bin,sfm.json}

and, where the capture has cameras.json, aligns the SfM cameras to the true ones by image name
(scene.align_to_truth: the reference stage's similarity) and records the camera errors. Writes
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


def _run(args: list[str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("a") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "video2mesh", *args], stdout=out, stderr=subprocess.STDOUT
        )
    if proc.returncode != 0:
        raise RuntimeError(f"video2mesh {args[0]} failed, see {log}")
    return time.perf_counter() - started


def check(folder: Path) -> dict:
    name, res = folder.name, folder / "results"
    res.mkdir(exist_ok=True)
    log = res / "sfm_check.log"
    log.write_text("")
    seconds = {
        "ingest": _run(
            [
                "ingest",
                "--scene",
                name,
                "--images",
                str(folder / "images"),
                "--out",
                str(res / "input.tar"),
            ],
            log,
        ),
        "frames": _run(
            [
                "frames",
                "--scene",
                name,
                "--input",
                str(res / "input.tar"),
                "--count",
                str(DEFAULTS["count"]),
                "--max-size",
                str(DEFAULTS["max_size"]),
                "--out-tar",
                str(res / "frames.tar"),
                "--out-json",
                str(res / "frames.json"),
            ],
            log,
        ),
    }
    try:
        seconds["sfm"] = _run(
            [
                "sfm",
                "--scene",
                name,
                "--frames",
                str(res / "frames.tar"),
                "--out-dir",
                str(res / "sfm"),
                "--matcher",
                "exhaustive",
                "--min-registered",
                str(DEFAULTS["min_registered"]),
                "--camera-model",
                DEFAULTS["camera_model"],
                "--overlap",
                "10",
                "--loop-keyframes",
                "25",
            ],
            log,
        )
    except RuntimeError as err:
        out = {"scene": name, "error": str(err), "seconds": seconds}
        write_json(res / "sfm_check.json", out)
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
    out["machine"] = f"{platform.machine()}, {platform.node()}, python {platform.python_version()}"
    import pycolmap

    out["pycolmap"] = pycolmap.__version__
    write_json(res / "sfm_check.json", out)
    return out


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
    return (
        f"| {r['scene']} | {r['photos']} | {r['frames_kept']} | {r['registered']}/{r['total']} | "
        f"{r['points']} | {r['mean_reprojection_error']:.2f} | {cams} | {r['seconds']['sfm']:.0f} |"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help="captures to check (default: every prepared one)")
    ap.add_argument("--root", type=Path, default=REPO_ROOT / "benchmarks" / "_work" / "realworld")
    args = ap.parse_args()
    folders = [args.root / n for n in args.names] or sorted(
        p.parent for p in args.root.glob("*/scene.yaml")
    )
    print(
        "| capture | photos | frames kept | registered | points | reproj. px | "
        "centre err. (% orbit) | rot. err. median | rot. err. max | SfM s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for folder in folders:
        print(row(check(folder)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
