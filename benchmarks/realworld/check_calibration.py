"""Do a prepared capture's cameras.json and masks agree? Carve their visual hull and score it.

    python benchmarks/realworld/check_calibration.py [NAME ...] [--root DIR] [--grid 160]

The visual hull (voxels whose centre projects inside every mask that sees it; a voxel outside an
image's frame is not carved by that image) is the largest shape consistent with the masks, so
under consistent cameras its silhouettes reproduce the masks up to the voxel size: a high
silhouette IoU (``video2mesh.silhouette``) says the intrinsics, the poses and the masks were read
right (the decomposition of projection matrices, the resize, the pixel convention), a low one
that they were not. It also exercises the silhouette scorer on real data.

The carving box is found from the cameras alone: the point nearest to every optical axis, and the
largest radius any mask needs there; a coarse carve there gives the box of the hull, which is
carved again with ``--grid`` voxels along its longest side. Writes <name>/visual_hull.ply
(calibration frame; not a reference: a hull is larger than the object wherever no view sees the
gap) and <name>/visual_hull.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "src"))

from video2mesh.atomic import atomic_path, write_json  # noqa: E402
from video2mesh.silhouette import Camera, load_cameras, load_mask, silhouette_iou  # noqa: E402


def axes_meeting_point(cameras: list[Camera]) -> np.ndarray:
    """Least-squares point closest to every camera's optical axis."""
    a, b = np.zeros((3, 3)), np.zeros(3)
    for cam in cameras:
        c2w = np.linalg.inv(cam.w2c)
        d, o = c2w[:3, 2], c2w[:3, 3]
        p = np.eye(3) - np.outer(d, d)
        a += p
        b += p @ o
    return np.linalg.solve(a, b)


def carving_radius(cameras: list[Camera], masks: list[np.ndarray], center: np.ndarray) -> float:
    """Radius around ``center`` whose projection covers every mask pixel, with a 10 % margin."""
    radius = 0.0
    for cam, mask in zip(cameras, masks, strict=True):
        depth = (cam.w2c[:3, :3] @ center + cam.w2c[:3, 3])[2]
        proj = cam.k @ (cam.w2c[:3, :3] @ center + cam.w2c[:3, 3])
        uv = proj[:2] / proj[2]
        ys, xs = np.nonzero(mask)
        if len(xs) == 0:
            continue
        far = np.hypot(xs + 0.5 - uv[0], ys + 0.5 - uv[1]).max()
        radius = max(radius, far * depth / min(cam.k[0, 0], cam.k[1, 1]))
    return 1.1 * radius


def carve(cameras: list[Camera], masks: list[np.ndarray], lo: np.ndarray, step: float, shape):
    """Occupancy of the voxel centres lo + step * index.

    A view carves only what it sees (the object may leave some frames); a voxel that fewer than
    half of the views see is dropped, or the corners of the box outside most narrow fields of view
    would survive.
    """
    axes = [lo[i] + step * np.arange(shape[i]) for i in range(3)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    inside = np.ones(len(pts), bool)
    seen_by = np.zeros(len(pts), np.int32)
    for cam, mask in zip(cameras, masks, strict=True):
        proj = (pts @ cam.w2c[:3, :3].T + cam.w2c[:3, 3]) @ cam.k.T
        u = np.floor(proj[:, 0] / proj[:, 2]).astype(np.int64)
        v = np.floor(proj[:, 1] / proj[:, 2]).astype(np.int64)
        seen = (proj[:, 2] > 0) & (u >= 0) & (u < cam.width) & (v >= 0) & (v < cam.height)
        keep = np.ones(len(pts), bool)
        keep[seen] = mask[v[seen], u[seen]]
        inside &= keep
        seen_by += seen
    return (inside & (2 * seen_by >= len(cameras))).reshape(shape)


def visual_hull(cameras: list[Camera], masks: list[np.ndarray], grid: int):  # -> trimesh.Trimesh
    """Carve coarsely in the cameras' common ball, then finely in the box of what is left."""
    import trimesh
    from skimage.measure import marching_cubes

    center = axes_meeting_point(cameras)
    radius = carving_radius(cameras, masks, center)
    coarse_step = 2 * radius / 63
    coarse = carve(cameras, masks, center - radius, coarse_step, (64, 64, 64))
    occupied = np.argwhere(coarse)
    lo = center - radius + coarse_step * (occupied.min(0) - 1)
    hi = center - radius + coarse_step * (occupied.max(0) + 1)
    step = float((hi - lo).max()) / (grid - 1)
    shape = tuple(int(n) for n in np.ceil((hi - lo) / step) + 1)
    occupancy = carve(cameras, masks, lo, step, shape)
    verts, faces, _, _ = marching_cubes(
        np.pad(occupancy.astype(np.float32), 1), 0.5, spacing=(step,) * 3
    )
    verts += lo - step  # the padding shifted the grid by one step
    mesh = trimesh.Trimesh(verts, faces, process=True)
    return mesh, (lo + hi) / 2, step, float(occupancy.mean())


def check(folder: Path, grid: int) -> dict:
    cameras = load_cameras(folder / "cameras.json")
    masks = [load_mask(folder / "masks" / f"{c.name}.png", c) for c in cameras]
    started = time.perf_counter()
    mesh, center, step, filled = visual_hull(cameras, masks, grid)
    with atomic_path(folder / "visual_hull.ply") as tmp:
        mesh.export(tmp)
    score = silhouette_iou(mesh.vertices, mesh.faces, cameras, folder / "masks")
    out = {
        "scene": folder.name,
        "views": len(cameras),
        "grid": grid,
        "center": center.tolist(),
        "voxel": step,
        "filled_fraction": filled,
        "faces": len(mesh.faces),
        "mean_iou": round(score["mean_iou"], 4),
        "median_iou": round(score["median_iou"], 4),
        "min_iou": round(score["min_iou"], 4),
        "worst_views": sorted(score["per_view"], key=lambda v: v["iou"])[:3],
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_json(folder / "visual_hull.json", out)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--root", type=Path, default=REPO_ROOT / "benchmarks" / "_work" / "realworld")
    ap.add_argument("--grid", type=int, default=200)
    args = ap.parse_args()
    folders = [args.root / n for n in args.names] or sorted(
        p.parent for p in args.root.glob("*/masks") if (p.parent / "cameras.json").is_file()
    )
    print("| capture | views | voxel | hull IoU mean | median | min | s |")
    print("|---|---|---|---|---|---|---|")
    for folder in folders:
        r = check(folder, args.grid)
        print(
            f"| {r['scene']} | {r['views']} | {r['voxel']:.3g} | {r['mean_iou']:.4f} | "
            f"{r['median_iou']:.4f} | {r['min_iou']:.4f} | {r['seconds']:.0f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
