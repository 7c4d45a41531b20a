"""A/B of one test of the extraction: the same checkpoints extracted with it and without it,
both scored as gpu_validate.py scores a mesh. ``--test hollows`` (`recon.cavities.hollows`;
without: connectivity pockets only, as before session 20) or ``--test box`` (the isolation's
object-box test; without: the scene's transforms.json with ``object_box: null``, as before
session 25). Runs where gpu_validate.py left its chains (on the device or on this machine):

    python benchmarks/realworld/hollows_ab.py --data .devdata --work /tmp/gpu_validate \
        --scenes held-house-table-close,gen-cup-table-room --resolution 512 --out ab.json

Each ``<work>/<scene>/<variant>/`` with checkpoints gives one row per mode (its last
iteration); rows carry the extraction's ``pockets`` stats and the scores (Chamfer %, object
share, silhouette IoU where the scene has masks).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from gpu_validate import score  # also puts src/ on the path

import video2mesh.recon.cavities as cavities
from video2mesh.recon.extract import extract_checkpoint

WITH = cavities.hollows


def without(labels: np.ndarray, hidden: np.ndarray, below: np.ndarray | None = None) -> np.ndarray:
    """The connectivity pockets as they are."""
    return labels


def last_checkpoint(run: Path) -> Path | None:
    found = [
        (int(m[1]), p) for p in run.glob("it*.pt") if (m := re.fullmatch(r"it(\d+)\.pt", p.name))
    ]
    return max(found)[1] if found else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--scenes", required=True)
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--out", type=Path, required=True)
    # "without" alone where the chains' own meshes (extracted with the test) are the other arm
    ap.add_argument("--modes", default="with,without")
    ap.add_argument("--test", choices=("hollows", "box"), default="hollows")
    args = ap.parse_args()
    modes = [(m, {"with": WITH, "without": without}[m]) for m in args.modes.split(",")]
    rows = []
    for scene in args.scenes.split(","):
        for run in sorted(p for p in (args.work / scene).iterdir() if p.is_dir()):
            ckpt = last_checkpoint(run)
            if ckpt is None:
                continue
            for mode, fn in modes:
                transforms = args.data / scene / "transforms.json"
                if args.test == "hollows":
                    cavities.hollows = fn  # extract_checkpoint imports it when it runs
                elif mode == "without":
                    meta = json.loads(transforms.read_text()) | {"object_box": None}
                    transforms = run / "transforms-without-box.json"
                    transforms.write_text(json.dumps(meta))
                mesh = run / f"{ckpt.stem}_res{args.resolution}_{args.test}-{mode}.ply"
                st = extract_checkpoint(
                    ckpt, args.resolution, mesh, mesh.with_suffix(".json"), colors=False,
                    transforms=transforms, support="remove", floaters="remove",
                )  # fmt: skip
                row = {"scene": scene, "variant": run.name, "ckpt": ckpt.name, args.test: mode,
                       "faces": st["faces"], "components": st["components"],
                       "pockets": st.get("pockets"), "isolate": st.get("isolate"),
                       "extract_seconds": st["seconds"]}  # fmt: skip
                score(args.data / scene, mesh, row, run)
                rows.append(row)
                print(json.dumps(row), flush=True)
                args.out.write_text(json.dumps(rows, indent=1))
    cavities.hollows = WITH


if __name__ == "__main__":
    main()
