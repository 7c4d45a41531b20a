"""A second benchmark scene, unlike the sample: a glossy sphere-and-torus with specular highlights.

    python benchmarks/recon/glossy_scene.py OUT_DIR [--views 100 --size 320]

Writes transforms.json, images.tar (true cameras, golden-spiral views from 58° above to 40° below)
and reference.ply (marching cubes of the analytic SDF, world frame). Its colour depends on the view
direction (a white Blinn-Phong highlight of a fixed light), so it measures what the sample cannot:
whether weaker view dependence in the colour network (sh_degree) hurts surfaces that really shine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from video2mesh.recon.synthetic import sphere_sdf, torus_sdf, write_scene

CENTER, SCALE = (0.3, -0.2, 1.0), 2.0


def shape(p: np.ndarray) -> np.ndarray:
    """Sphere r 0.38 smoothly joined to a torus tilted 35° about x (major 0.52, minor 0.13)."""
    c, s = np.cos(np.radians(35)), np.sin(np.radians(35))
    q = p.copy()
    q[..., 1], q[..., 2] = c * p[..., 1] + s * p[..., 2], -s * p[..., 1] + c * p[..., 2]
    a, b, k = sphere_sdf(0.38)(p), torus_sdf(0.52, 0.13)(q), 0.08
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0, 1)
    return b * (1 - h) + a * h - k * h * (1 - h)


def main() -> None:
    import trimesh
    from skimage.measure import marching_cubes

    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--views", type=int, default=100)
    ap.add_argument("--size", type=int, default=320)
    args = ap.parse_args()
    write_scene(args.out, shape, args.views, args.size, CENTER, SCALE, gloss=0.6)
    n = 256
    g = np.linspace(-0.85, 0.85, n)
    grid = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1)
    verts, faces, _, _ = marching_cubes(shape(grid), 0.0, spacing=(g[1] - g[0],) * 3)
    verts = (verts + g[0]) * SCALE + np.asarray(CENTER)
    trimesh.Trimesh(verts, faces).export(args.out / "reference.ply")


if __name__ == "__main__":
    main()
