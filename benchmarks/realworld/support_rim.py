"""How far the flat surface a mesh shows under its object runs out to the sphere
(`isolate.rim_share`), and what the default isolation then cuts: per mesh, the plane
`isolate.mesh_support` finds, its rim share, the share of SfM's points under the sphere, and
the default's support cut (area share) and whether it took the mesh's plane; with the SfM
model at hand, also the points per area in the band round the plane (`isolate.point_density`).

Session 38 chose ``isolate.MESH_SUPPORT_RIM`` on meshes that earlier runs left, extracted
again with ``object: {support: keep}`` (benchmarks/realworld/RESULTS.md, session 38):

    python benchmarks/realworld/support_rim.py \
        deer=/tmp/raw/deer.ply:results/deer/transforms.json temple=...

Each argument is NAME=MESH:TRANSFORMS[:SPARSE] (the mesh in world units, as the extraction
writes it, its scene's transforms.json, and optionally the SfM model's folder, whose points
stand in for transforms.json's ``sfm_points`` where it predates them). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import numpy as np
import trimesh

from video2mesh.isolate import isolate_scene_mesh, mesh_support, read_settings, rim_share
from video2mesh.scene import load_model, points_sample
from video2mesh.visibility import read_cameras


def row(name: str, mesh_path: Path, transforms: Path, sparse: Path | None) -> str:
    meta = json.loads(transforms.read_text())
    if sparse is not None and not meta.get("sfm_points"):
        points = np.array([p.xyz for p in load_model(sparse).points3D.values()])
        center = np.asarray(meta["sphere_center"], float)
        meta["sfm_points"] = points_sample(points, center, float(meta["sphere_radius"]))
    mesh = trimesh.load(mesh_path, process=False)
    cams = read_cameras(meta)
    sfm_plane, radius = read_settings(meta)
    plane = mesh_support(mesh, cams)
    rim = rim_share(mesh, plane, cams.center, radius) if plane is not None else None
    _, stats = isolate_scene_mesh(mesh, meta, "remove", "remove")
    below = meta.get("points_below_sphere")
    cells = [
        name,
        "yes" if sfm_plane is not None else "no",
        "–" if below is None else f"{below:.3f}",
        "none" if rim is None else f"{rim:.2f}",
        f"{stats['support_point_density']:.2f}" if "support_point_density" in stats else "–",
        "yes" if stats.get("support_from_mesh") else "no",
        f"{stats.get('support_area_share', 0.0):.3f}",
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("meshes", nargs="+", metavar="NAME=MESH:TRANSFORMS")
    args = ap.parse_args()
    print(
        "| mesh | SfM plane | points under the sphere | mesh plane's rim share "
        "| points per area in its band | default takes the mesh's plane | support cut (area) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for item in args.meshes:
        name, _, paths = item.partition("=")
        mesh, transforms, *sparse = paths.split(":")
        print(row(name, Path(mesh), Path(transforms), Path(sparse[0]) if sparse else None))


if __name__ == "__main__":
    main()
