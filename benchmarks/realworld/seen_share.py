"""How much of a mesh's error lies on surface that no photo sees.

    python benchmarks/realworld/seen_share.py --mesh results/sample/builtin/mesh/it3500_res256.ply \
        --reference results/sample/reference.ply --transforms results/sample/transforms.json \
        --images results/sample/sfm/images.tar --diagonal 2.5138

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


def seen_counts(mesh, points: np.ndarray, ds) -> np.ndarray:
    """Per point, the number of the dataset's cameras that see it unoccluded by ``mesh`` (on
    the dataset's device, in its sphere-normalised frame; the texture baker's visibility test)."""
    import torch

    from video2mesh.texture.bake import depth_buffer, visible

    dev = ds.c2w.device
    center, radius = np.asarray(ds.center), ds.radius
    v = torch.tensor((mesh.vertices - center) / radius, dtype=torch.float32, device=dev)
    f = torch.tensor(np.asarray(mesh.faces), dtype=torch.long, device=dev)
    p = torch.tensor((points - center) / radius, dtype=torch.float32, device=dev)
    count = torch.zeros(len(p), device=dev)
    for i in range(ds.n_images):
        depth = depth_buffer(v, f, ds.c2w[i], ds)
        count += visible(p, ds.c2w[i], ds, depth)[3].float()
    return count.cpu().numpy()


def seen_by_some_photo(meshes: list, points: list[np.ndarray], transforms, images) -> list:
    """For each (mesh, its surface points), a mask of the points some registered photo sees
    (cameras and images read once, on the GPU where there is one)."""
    import torch

    from video2mesh.recon.data import load_dataset

    ds = load_dataset(transforms, images)
    ds = ds.to(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    return [seen_counts(m, p, ds) > 0 for m, p in zip(meshes, points, strict=True)]


def main() -> None:
    import trimesh
    from scipy.spatial import cKDTree

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mesh", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--transforms", required=True)
    ap.add_argument("--images", required=True, help="the sfm stage's images.tar")
    ap.add_argument("--diagonal", type=float, required=True, help="the reference's diagonal")
    ap.add_argument("--samples", type=int, default=30_000)
    args = ap.parse_args()

    mesh = trimesh.load(args.mesh, force="mesh", process=False)
    ref = trimesh.load(args.reference, force="mesh", process=False)
    pts, _ = trimesh.sample.sample_surface(mesh, args.samples, seed=0)
    ref_pts, _ = trimesh.sample.sample_surface(ref, args.samples, seed=1)
    dense, _ = trimesh.sample.sample_surface(ref, 400_000, seed=2)
    far = cKDTree(dense).query(pts)[0] > 0.01 * args.diagonal
    seen, ref_seen = seen_by_some_photo([mesh, ref], [pts, ref_pts], args.transforms, args.images)
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
