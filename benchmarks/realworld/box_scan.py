"""What the object-box test of the isolation (`isolate.BOX_MARGIN`, session 25) takes from meshes
already isolated without it: per mesh, the area share of the components it would remove. Run on
the meshes earlier validation runs left (this machine's /tmp, or the device's work folder):

    python benchmarks/realworld/box_scan.py --data .devdata --out scan.json \
        /tmp/cpuval/work/*/*/it*_res*.ply

A mesh's scene is the name of its run's parent folder (``<work>/<scene>/<variant>/``); its
transforms.json (object box, radius) comes from ``--data``. Meshes whose scene has no box are
skipped. Nothing is written over.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import numpy as np
import trimesh

from video2mesh.isolate import face_components, isolate, read_settings
from video2mesh.sphere import ObjectBox


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("meshes", nargs="+", type=Path)
    args = ap.parse_args()
    rows = []
    for ply in args.meshes:
        scene = ply.parents[1].name
        transforms = args.data / scene / "transforms.json"
        if not transforms.exists():
            continue
        meta = json.loads(transforms.read_text())
        if not meta.get("object_box"):
            continue
        _, radius = read_settings(meta)
        mesh = trimesh.load(ply, process=False)
        box = ObjectBox.from_json(meta["object_box"])
        # the support is already cut from these meshes: only the component tests run again
        _, stats = isolate(mesh, None, radius, "keep", "remove", box=box)
        rows.append(
            {
                "mesh": str(ply),
                "scene": scene,
                "components": len(np.unique(face_components(mesh.faces, len(mesh.vertices)))),
                "outside_removed": stats["outside_removed"],
                "outside_area_share": round(stats["outside_area_share"], 5),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    args.out.write_text(json.dumps(rows, indent=1))
    hit = [r for r in rows if r["outside_removed"]]
    print(f"{len(rows)} meshes of {len({r['scene'] for r in rows})} captures; {len(hit)} lose area")


if __name__ == "__main__":
    main()
