"""Score meshes of earlier validation runs again, with the evaluation as it is now.

    python benchmarks/realworld/rescore.py --data .devdata --out rescore.json \\
        /tmp/run/work/<scene>/<variant>/it3000_res256.ply ...

The scene is the mesh's grandparent folder's name (gpu_validate.py's work layout), its
reference, transforms and alignment come from ``--data/<scene>/``. Prints one Markdown row per
mesh: Chamfer % and object share as the validation table has them, and after the evaluation's
ICP refinement (evaluate: ``refined``) with that similarity's scale and shift; writes the raw
evaluation JSONs into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "src"))

from video2mesh.evaluate import evaluate_file  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True, help="JSON list of the evaluations")
    ap.add_argument("meshes", nargs="+", type=Path)
    args = ap.parse_args()
    rows = []
    print("| scene | variant | mesh | Chamfer % / share | after ICP | ICP scale / shift % |")
    print("| --- | --- | --- | --- | --- | --- |")
    for mesh in args.meshes:
        scene, variant = mesh.parent.parent.name, mesh.parent.name
        sd = args.data / scene
        if not (sd / "reference.ply").exists():
            continue
        alignment = sd / "alignment.json"
        with tempfile.TemporaryDirectory() as tmp:
            ev = evaluate_file(
                mesh,
                sd / "reference.ply",
                Path(tmp) / "eval.json",
                transforms=sd / "transforms.json",
                samples=50_000,
                alignment=alignment if alignment.exists() else None,
            )
        ev.update(scene=scene, variant=variant)
        rows.append(ev)
        r = ev["refined"]
        print(
            f"| {scene} | {variant} | {mesh.name} | {ev['chamfer_pct']:.3f} / "
            f"{ev['object_share']:.3f} | {r['chamfer_pct']:.3f} / {r['object_share']:.3f} "
            f"| {r['scale']:.3f} / {r['shift_pct']:.2f} |",
            flush=True,
        )
    args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
