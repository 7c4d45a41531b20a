"""Does the scene stage's sphere depend on how SfM turned its world? Turn each capture's SfM
model (``<capture>/results/sfm/sparse``, made by prepare_device.py or a user-path run) by a few
rotations, run the scene stage on each, and print per rotation the sphere's radius and its
centre's distance from the cameras' centroid, both over the median camera distance: the same
numbers on every line mean the fit is invariant.

    python benchmarks/realworld/turned_worlds.py benchmarks/_work/realworld dtu_scan65,temple_ring \
        [--src path/to/src]   # another checkout's code, for a before/after
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TURNS = ([0, 0, 0], [20, -35, 60], [45, 45, 0], [-70, 10, 130])  # xyz Euler angles, degrees


def sphere_in_turned_world(results: Path, angles: list[float], tmp: Path, src: Path) -> tuple:
    import pycolmap
    from scipy.spatial.transform import Rotation

    model = pycolmap.Reconstruction(results / "sfm" / "sparse")
    rot = Rotation.from_euler("xyz", angles, degrees=True).as_matrix()
    model.transform(pycolmap.Sim3d(1.0, pycolmap.Rotation3d(rot), np.zeros(3)))
    model.write(tmp)
    out = tmp / "transforms.json"
    photos = results / "sfm" / "images.tar"
    subprocess.run(
        [
            *(sys.executable, "-m", "video2mesh", "scene", "--scene", "turned"),
            *("--sparse", str(tmp), "--type", "object", "--sphere", "{}", "--photos", str(photos)),
            *("--out-transforms", str(out), "--out-png", str(tmp / "sphere.png")),
        ],
        env={**os.environ, "PYTHONPATH": str(src)},
        check=True,
        capture_output=True,
    )
    t = json.loads(out.read_text())
    centres = np.array([f["transform_matrix"] for f in t["frames"]])[:, :3, 3]
    centre = np.asarray(t["sphere_center"])
    scale = float(np.median(np.linalg.norm(centres - centre, axis=1)))
    offset = float(np.linalg.norm(centre - centres.mean(axis=0)))
    return round(t["sphere_radius"] / scale, 4), round(offset / scale, 4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("captures_root", type=Path)
    ap.add_argument("captures", help="comma-separated capture folder names")
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="the code to run")
    args = ap.parse_args()
    for capture in args.captures.split(","):
        rows = []
        for angles in TURNS:
            with tempfile.TemporaryDirectory() as tmp:
                res = args.captures_root / capture / "results"
                rows.append(sphere_in_turned_world(res, list(angles), Path(tmp), args.src))
        print(capture, rows, flush=True)


if __name__ == "__main__":
    main()
