"""The reference registration (no cameras) against the camera alignment, on generated captures.

    python benchmarks/realworld/register_check.py --data .devdata \\
        --root benchmarks/_work/realworld --out /tmp/register.json \\
        gen-cup-table-room:/tmp/cpuval/work/gen-cup-table-room/default/it3000_res256.ply ...

For each ``capture[:mesh]``: registers the capture's reference (``--root/<capture>/reference.ply``,
in the generator's frame) onto its SfM points (``--root/<capture>/results/sfm/sparse``) as the
reference stage does without reference cameras, compares the similarity with the one the true
cameras give (``--data/<capture>/alignment.json``: scale ratio, rotation between them, how far
the reference's surface lands from where the cameras put it) and, with a mesh, scores it against
the reference placed both ways (Chamfer % and object share; the cameras' way also after the
evaluation's ICP refinement). Prints a Markdown table; writes the rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "src"))

import numpy as np  # noqa: E402
import trimesh  # noqa: E402

from video2mesh.evaluate import evaluate_meshes, read_sphere  # noqa: E402
from video2mesh.refine_alignment import apply, rotation_between  # noqa: E402
from video2mesh.register_reference import REFERENCE_SAMPLES, object_points, register  # noqa: E402
from video2mesh.scene import clean_points, load_model  # noqa: E402
from video2mesh.silhouette import similarity_matrix  # noqa: E402


def check(data: Path, root: Path, capture: str, mesh_path: str | None) -> dict:
    ref = trimesh.load(root / capture / "reference.ply", force="mesh", process=False)
    meta = json.loads((data / capture / "transforms.json").read_text())
    by_cameras = json.loads((data / capture / "alignment.json").read_text())
    model = load_model(root / capture / "results" / "sfm" / "sparse")
    points, up = object_points(clean_points(model), meta)
    samples = np.asarray(trimesh.sample.sample_surface(ref, REFERENCE_SAMPLES, seed=0)[0])
    started = time.perf_counter()
    registered = register(samples, points, up)
    seconds = time.perf_counter() - started
    a, b = similarity_matrix(by_cameras), similarity_matrix(registered)
    xa, xb = apply(a, samples), apply(b, samples)
    diagonal = float(np.linalg.norm(xa.max(axis=0) - xa.min(axis=0)))
    row = {
        "capture": capture,
        "points": registered["points"],
        "seconds": round(seconds, 1),
        "scale_ratio": registered["scale"] / by_cameras["scale"],
        "rotation_deg": rotation_between(a, b),
        "surface_moved_pct": float(100 * np.median(np.linalg.norm(xa - xb, axis=1)) / diagonal),
        "registration_distance_pct": registered["registration_distance_pct"],
        "ambiguous": registered.get("ambiguous", False),
    }
    if mesh_path:
        mesh = trimesh.load(mesh_path, force="mesh", process=False)
        sphere = read_sphere(data / capture / "transforms.json")
        for name, m, al in (("cameras", a, by_cameras), ("registered", b, registered)):
            placed = ref.copy()
            placed.apply_transform(m)
            ev = evaluate_meshes(
                mesh, placed, sphere, 30_000, 0, np.asarray(al["rotation"]), name == "cameras"
            )
            row[f"{name}_chamfer_pct"] = ev["chamfer_pct"]
            row[f"{name}_object_share"] = ev["object_share"]
            if name == "cameras":
                row["cameras_icp_chamfer_pct"] = ev["refined"]["chamfer_pct"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="prepare_device.py's folders")
    ap.add_argument("--root", type=Path, required=True, help="the captures with their SfM")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("captures", nargs="+", help="capture[:mesh.ply]")
    args = ap.parse_args()
    rows = []
    print(
        "| capture | SfM points | scale ratio | turn ° | surface moved % | Chamfer % / share: "
        "cameras | cameras + ICP | registered | ambiguous | s |"
    )
    print("|" + " --- |" * 10)
    for item in args.captures:
        capture, _, mesh = item.partition(":")
        r = check(args.data, args.root, capture, mesh or None)
        rows.append(r)
        scores = ["–", "–", "–"]
        if "registered_chamfer_pct" in r:
            scores = [
                f"{r['cameras_chamfer_pct']:.3f} / {r['cameras_object_share']:.3f}",
                f"{r['cameras_icp_chamfer_pct']:.3f}",
                f"{r['registered_chamfer_pct']:.3f} / {r['registered_object_share']:.3f}",
            ]
        print(
            f"| {capture} | {r['points']} | {r['scale_ratio']:.4f} | {r['rotation_deg']:.1f} "
            f"| {r['surface_moved_pct']:.2f} | {' | '.join(scores)} | {r['ambiguous']} "
            f"| {r['seconds']} |",
            flush=True,
        )
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
