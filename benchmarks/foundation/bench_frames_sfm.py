"""Time and peak memory of the foundation stages (sample → frames → SfM → scene).

Each stage runs as its own process (the CLI the rules call); its wall time, CPU time
(user + system, which stays meaningful on a shared machine) and peak resident memory
(wait4's ru_maxrss) are recorded with the machine's description and load average.

    python benchmarks/foundation/bench_frames_sfm.py --case default --case capture960
    (writes benchmarks/foundation/results/<case>.json)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

# name -> (sample frames, width, height, frames.count, frames.max_size)
CASES = {
    "default": (120, 480, 360, 100, 960),  # the embedded default of config/config.yaml
    "capture960": (100, 960, 720, 100, 960),  # a 100-frame 960-px capture
}


def timed(cmd: list[str], cwd: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    start = time.perf_counter()
    # stderr goes to a file: COLMAP logs far more than a pipe holds while we wait.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        log.seek(0)
        err = log.read().decode(errors="replace")
    if status != 0:
        raise RuntimeError(f"{cmd[3]} failed: {err[-2000:]}")
    # CPU seconds stay meaningful when other work shares the machine; wall seconds do not.
    return {
        "seconds": round(seconds, 2),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
    }


def machine() -> dict:
    import pycolmap
    import torch

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "pycolmap": pycolmap.__version__,
        "pycolmap_cuda": pycolmap.has_cuda,
        "torch": torch.__version__,
        "loadavg_before": os.getloadavg(),
    }


def run_case(name: str) -> dict:
    frames_n, w, h, count, max_size = CASES[name]
    v2m = [sys.executable, "-m", "video2mesh"]
    out: dict = {
        "case": name,
        "machine": machine(),
        "sample": f"{frames_n} frames {w}x{h}",
        "frames_count": count,
        "max_size": max_size,
    }
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        out["sample_stage"] = timed(
            [
                *v2m,
                "sample",
                "--video",
                "in.mp4",
                "--cameras",
                "cams.json",
                "--mesh",
                "gt.ply",
                "--frames",
                str(frames_n),
                "--width",
                str(w),
                "--height",
                str(h),
            ],
            tmp,
        )
        out["frames_stage"] = timed(
            [
                *v2m,
                "frames",
                "--scene",
                name,
                "--input",
                "in.mp4",
                "--count",
                str(count),
                "--max-size",
                str(max_size),
                "--out-tar",
                "frames.tar",
                "--out-json",
                "frames.json",
            ],
            tmp,
        )
        out["sfm_stage"] = timed(
            [*v2m, "sfm", "--scene", name, "--frames", "frames.tar", "--out-dir", "sfm"], tmp
        )
        out["scene_stage"] = timed(
            [
                *v2m,
                "scene",
                "--scene",
                name,
                "--sparse",
                "sfm/sparse",
                "--out-transforms",
                "transforms.json",
                "--out-png",
                "sphere.png",
            ],
            tmp,
        )
        out["reference_stage"] = timed(
            [
                *v2m,
                "reference",
                "--scene",
                name,
                "--sparse",
                "sfm/sparse",
                "--transforms",
                "transforms.json",
                "--reference",
                "gt.ply",
                "--reference-cameras",
                "cams.json",
                "--out",
                "reference.ply",
                "--out-alignment",
                "alignment.json",
            ],
            tmp,
        )
        sfm = json.loads((tmp / "sfm" / "sfm.json").read_text())
        align = json.loads((tmp / "alignment.json").read_text())
        out["sfm"] = {
            k: sfm[k]
            for k in (
                "registered",
                "total",
                "registered_ratio",
                "points",
                "mean_reprojection_error",
                "mean_track_length",
                "matcher",
                "attempts",
                "extract_seconds",
                "device",
            )
        }
        out["alignment"] = {
            k: align[k]
            for k in (
                "median_center_error_rel",
                "median_rotation_error_deg",
                "reference_inside_sphere",
                "reference_bounding_radius",
                "sphere_radius",
            )
        }
    out["machine"]["loadavg_after"] = os.getloadavg()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--case", action="append", choices=sorted(CASES))
    args = p.parse_args()
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    for name in args.case or ["default"]:
        res = run_case(name)
        (results / f"{name}.json").write_text(json.dumps(res, indent=2) + "\n")
        print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
