"""Stand-ins for the scene, train and extract stages of the tiny report workflow.

The "reference" is the sample's true mesh; a "mesh" after N iterations at resolution R is the
same surface marched at R with a wobble that shrinks with N, plus a floor outside the sphere
(background the evaluation must crop). Training CSVs follow the per-segment contract.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import trimesh

from video2mesh.sample import ground_truth_mesh, look_at_c2w

CENTER = np.array([0.15, 0.0, -0.1])
RADIUS = 1.0


def scene(transforms: str, reference: str) -> None:
    frames = []
    for i in range(12):
        a = 2 * math.pi * i / 12
        eye = CENTER + 2.5 * np.array([math.cos(a), math.sin(a), 0.5])
        c2w = look_at_c2w(eye, CENTER, np.array([0.0, 0.0, 1.0]))
        c2w[:3, 1:3] *= -1  # OpenCV -> OpenGL camera axes, as transforms.json stores them
        frames.append({"file_path": f"images/{i:06d}.jpg", "transform_matrix": c2w.tolist()})
    data = {"sphere_center": CENTER.tolist(), "sphere_radius": RADIUS, "frames": frames}
    Path(transforms).write_text(json.dumps(data))
    ground_truth_mesh(96).export(reference)


def mesh(ply: str, stats: str, iterations: int, resolution: int) -> None:
    m = ground_truth_mesh(resolution)
    rng = np.random.default_rng(iterations * 1000 + resolution)
    amp = 6.0 / iterations  # worse early
    phase = rng.random(3) * 6
    v = m.vertices
    wobble = amp * np.sin(7 * v[:, [1]] + phase[0]) * np.cos(5 * v[:, [2]] + phase[1])
    m.vertices = v + wobble * m.vertex_normals
    floor = trimesh.creation.box(extents=(6, 6, 0.05))
    floor.apply_translation((0, 0, -2.2))
    out = trimesh.util.concatenate([m, floor])
    out.export(ply)
    info = {
        "vertices": len(out.vertices),
        "faces": len(out.faces),
        "components": 2,
        "watertight": bool(out.is_watertight),
        "area": float(out.area),
        "seconds": 0.02 * resolution,
        "peak_memory_mb": 100.0,
        "device": "cuda:0 (fake)",
        "iteration": iterations,
        "resolution": resolution,
    }
    Path(stats).write_text(json.dumps(info))


def train(out: str, start: int, end: int) -> None:
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            ["iteration", "elapsed_s", "loss", "psnr", "inv_s", "active_levels", "its_per_s"]
        )
        for it in range(start + 10, end + 1, 10):
            loss = 0.3 * math.exp(-it / 80) + 0.02
            w.writerow([it, 0.05 * it, loss, -10 * math.log10(loss), 20 + it / 10, 8, 20])


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    if cmd == "scene":
        scene(*args)
    elif cmd == "mesh":
        mesh(args[0], args[1], int(args[2]), int(args[3]))
    elif cmd == "train":
        train(args[0], int(args[1]), int(args[2]))
