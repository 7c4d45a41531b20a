"""The cut to the object box's footprint (`isolate.beyond_footprint`) at other margins: per mesh
and margin, the area share lying low (below ``--below`` × the sphere radius above the support
plane) outside the footprint of the scene stage's object box grown by margin × radius, and the
share of the sectors round the box it spreads over (`isolate.round_share`), and the silhouette
IoU after cutting it and dropping the pieces under 5 % of the largest one's area (what the
isolation does where both pass ``isolate.FOOTPRINT_SHARE`` and ``FOOTPRINT_ROUND``; a margin
of 10 radii cuts nothing: the mesh as it is).

Session 30 found DTU 65's CPU seed 3 with a "bowl" of table round the skull, joined to it
(IoU 0.71); session 31 measured this cut on the meshes earlier runs left
(benchmarks/realworld/RESULTS.md, session 31):

    python benchmarks/realworld/footprint_cut.py --data .devdata --out cut.json \
        --margins 0,0.1,0.15,0.2,0.3 /tmp/s30/full1/work/dtu_scan65/*/it3000_res256.ply

A mesh's scene is its run's parent folder (``<work>/<scene>/<variant>/``), as in box_scan.py;
scenes without a support plane or an object box are skipped; the IoU needs ``masks/``,
``cameras.json`` and ``alignment.json`` in the scene's folder (``--no-iou`` skips it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import numpy as np
import trimesh

from video2mesh.isolate import beyond_footprint, read_settings, round_share, without_small_pieces
from video2mesh.sphere import ObjectBox


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--margins", default="0,0.15,0.2,0.3", help="of the sphere radius")
    ap.add_argument("--below", type=float, default=0.6, help="of the sphere radius")
    ap.add_argument("--no-iou", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("meshes", nargs="+", type=Path)
    args = ap.parse_args()
    from video2mesh.silhouette import load_cameras, sfm_to_true_transform, silhouette_iou

    rows = []
    for ply in args.meshes:
        scene_dir = args.data / ply.parents[1].name
        meta = json.loads((scene_dir / "transforms.json").read_text())
        plane, radius = read_settings(meta)
        if plane is None or not meta.get("object_box"):
            print(f"{ply}: no support plane or object box, skipped", flush=True)
            continue
        mesh = trimesh.load(ply, force="mesh", process=False)
        box = ObjectBox.from_json(meta["object_box"])
        centers = np.asarray(mesh.triangles_center)
        scored = not args.no_iou and (scene_dir / "masks").is_dir()
        cams = to_true = None
        if scored:
            cams = load_cameras(scene_dir / "cameras.json")
            to_true = sfm_to_true_transform(scene_dir / "alignment.json", None, scene_dir)
        row: dict = {"mesh": str(ply), "scene": scene_dir.name, "margins": {}}
        for margin in (float(m) for m in args.margins.split(",")):
            drop = beyond_footprint(centers, plane, box, radius, margin, args.below)
            out = mesh
            if drop.any():
                keep = without_small_pieces(np.asarray(mesh.faces), ~drop, mesh.area_faces)
                out = mesh.submesh([np.nonzero(keep)[0]], append=True)
            shares = mesh.area_faces[drop] / mesh.area
            res = {
                "beyond_share": round(float(shares.sum()), 4),
                "round": round(round_share(centers[drop], shares, box), 3),
                "removed_area_share": round(1 - float(out.area / mesh.area), 4),
            }
            if scored:
                sil = silhouette_iou(
                    np.asarray(out.vertices), np.asarray(out.faces), cams, scene_dir / "masks",
                    to_true, workers=args.workers,
                )  # fmt: skip
                res |= {"iou": round(sil["mean_iou"], 4), "iou_min": round(sil["min_iou"], 3)}
            row["margins"][str(margin)] = res
        rows.append(row)
        print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
