"""How much of a mesh's error lies on surface that no photo sees.

    python benchmarks/realworld/seen_share.py --mesh results/sample/builtin/mesh/it3500_res256.ply \
        --reference results/sample/reference.ply --transforms results/sample/transforms.json \
        --diagonal 2.5138

The object share (the mesh area within 1 % of the diagonal from the reference) counts every part
of the reference, also what the capture never shows: the underside of a bowl between its legs,
the inside of a back wall seen from one ring of cameras. Here each surface sample (mesh and
reference alike) counts the registered photos that see it (in the frame, in front of the
camera, not behind the mesh's own depth), and the shares are split by that: the far area on
unseen surface, the object share over the surface some photo sees, the reference's unseen share.
A diagnostic for RESULTS.md, not a metric of the pipeline (DTU's protocol masks the same way with
its observation masks).
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def seen_by_some_photo(meshes: list, points: list[np.ndarray], transforms) -> list:
    """For each (mesh, its surface points), a mask of the points some registered photo sees:
    every camera at the photos' size (`video2mesh.visibility.view_counts`, the isolation's test),
    on the GPU where there is one."""
    import torch

    from video2mesh.visibility import read_cameras, view_counts

    views = read_cameras(transforms, max_side=1 << 30, max_cameras=1 << 30)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return [view_counts(m, p, views, dev) > 0 for m, p in zip(meshes, points, strict=True)]


def main() -> None:
    import trimesh
    from scipy.spatial import cKDTree

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mesh", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--transforms", required=True)
    ap.add_argument("--diagonal", type=float, required=True, help="the reference's diagonal")
    ap.add_argument("--samples", type=int, default=30_000)
    args = ap.parse_args()

    mesh = trimesh.load(args.mesh, force="mesh", process=False)
    ref = trimesh.load(args.reference, force="mesh", process=False)
    pts, _ = trimesh.sample.sample_surface(mesh, args.samples, seed=0)
    ref_pts, _ = trimesh.sample.sample_surface(ref, args.samples, seed=1)
    dense, _ = trimesh.sample.sample_surface(ref, 400_000, seed=2)
    far = cKDTree(dense).query(pts)[0] > 0.01 * args.diagonal
    seen, ref_seen = seen_by_some_photo([mesh, ref], [pts, ref_pts], args.transforms)
    out = {
        "object_share": float(1 - far.mean()),
        "far_share": float(far.mean()),
        "far_unseen_share": float((far & ~seen).mean()),
        "mesh_unseen_share": float((~seen).mean()),
        "object_share_on_seen_surface": float(1 - far[seen].mean()),
        "reference_unseen_share": float((~ref_seen).mean()),
    }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
