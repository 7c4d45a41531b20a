"""How exact is ``real_size``? The mesh's upright box against the reference's, in the same frame.

A user who gives the object's height (or longest side) gets files scaled by height_true /
height_mesh, so every other length comes out wrong by the mesh's wrong proportions: the side's
ratio (mesh over reference, measured the same way by video2mesh.real_size.upright_box, along the
support plane's normal from the plane, else along the cameras' up from the lowest point) over
the given length's ratio. (The ratios themselves also carry the frame's scale error of the
cameras the reference was aligned by, which real_size removes.) Meshes of earlier runs:

    .venv/bin/python benchmarks/realworld/real_size_check.py --data .devdata --out /tmp/rs.json \
        /tmp/cpuval/work/*/*/it3000_res256.ply [scene=path.ply ...]

A path ``<work>/<scene>/<variant>/<mesh>.ply`` names its scene; ``scene=path`` names it for
any other path. Prints one row per mesh: height, longest side and footprint ratios.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from video2mesh.evaluate import load_mesh
from video2mesh.real_size import upright_box
from video2mesh.render import scene_framing
from video2mesh.support import Plane


def measure(data: Path, scene: str, mesh_path: Path) -> dict:
    transforms = data / scene / "transforms.json"
    meta = json.loads(transforms.read_text())
    plane = Plane.from_json(meta["support_plane"]) if meta.get("support_plane") else None
    up = np.asarray(scene_framing(transforms).up)
    got = upright_box(np.asarray(load_mesh(mesh_path).vertices), up, plane)
    ref = upright_box(np.asarray(load_mesh(data / scene / "reference.ply").vertices), up, plane)
    return {
        "scene": scene,
        "mesh": str(mesh_path),
        "support": plane is not None,
        "height_ratio": got.height / ref.height,
        "longest_ratio": got.longest / ref.longest,
        "width_ratio": got.width / ref.width,
        "depth_ratio": got.depth / ref.depth,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="prepare_device.py's folder")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("meshes", nargs="+", help="<work>/<scene>/<variant>/x.ply or scene=x.ply")
    args = ap.parse_args()
    rows = []
    for item in args.meshes:
        scene, _, path = item.rpartition("=")
        path = Path(path)
        scene = scene or path.parent.parent.name
        if not (args.data / scene / "reference.ply").exists():
            continue
        rows.append(measure(args.data, scene, path))
        r = rows[-1]
        # what a user who gives the height gets on the other sides, and the reverse
        r["sides_given_height"] = [r[f"{k}_ratio"] / r["height_ratio"] for k in ("width", "depth")]
        r["height_given_longest"] = r["height_ratio"] / r["longest_ratio"]
        print(
            f"{scene:34s} {path.parent.name:14s} support {r['support']!s:5s} "
            f"height {r['height_ratio']:.3f} longest {r['longest_ratio']:.3f} "
            f"footprint {r['width_ratio']:.3f} × {r['depth_ratio']:.3f} | given the height: "
            f"{' × '.join(f'{x:.3f}' for x in r['sides_given_height'])}, given the longest: "
            f"height {r['height_given_longest']:.3f}",
            flush=True,
        )
    args.out.write_text(json.dumps(rows, indent=1))
    for key in ("sides_given_height", "height_given_longest"):
        err = np.abs(np.array([r[key] for r in rows]).ravel() - 1) * 100
        print(f"{key}: |error| median {np.median(err):.2f} %, max {err.max():.2f} %")


if __name__ == "__main__":
    main()
