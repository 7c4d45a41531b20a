"""The plain-backdrop masks of training, scored against the true object silhouettes.

    python benchmarks/realworld/mask_check.py --data .devdata [--scenes a,b] [--max-side 0]
        [--fixed-tolerance] [--work-side N]

Training pushes the opacity of every masked pixel's ray to zero (recon/plain_background.py), so
an object pixel masked as backdrop carves the object there: the measure that matters is the
share of the object's pixels that are masked, next to the share of the true background that is
(the masks' purpose: no shells of backdrop). The masks are made exactly as training makes them
(``Dataset.find_backdrop``: the SfM background-point share, the support plane's rays). The
object's pixels come from the scene's ``reference.ply`` (in the SfM frame) rasterised through
each registered camera, or else from its ``masks/`` (true object masks by image stem, resized).
``--fixed-tolerance`` restores the single 40-level colour tolerance of sessions 6–9;
``--work-side`` the long side the masks are found at (0: the images' own, as before session 32).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def object_pixels(scene: Path, ds) -> np.ndarray | None:
    """(N, H, W) bool, the object's true pixels in the dataset's images, or None."""
    import torch

    if (scene / "reference.ply").exists():
        import trimesh

        from video2mesh.texture.bake import depth_buffer

        ref = trimesh.load(scene / "reference.ply", force="mesh", process=False)
        c, r = np.asarray(ds.center), ds.radius
        v = torch.tensor((ref.vertices - c) / r, dtype=torch.float32)
        f = torch.tensor(np.asarray(ref.faces), dtype=torch.long)
        return np.stack(
            [torch.isfinite(depth_buffer(v, f, ds.c2w[i], ds)).numpy() for i in range(ds.n_images)]
        )
    if (scene / "masks").is_dir():
        from PIL import Image

        out = []
        for name in ds.names:
            path = scene / "masks" / (Path(name).stem + ".png")
            if not path.exists():
                return None
            m = Image.open(path).convert("L").resize((ds.width, ds.height), Image.NEAREST)
            out.append(np.asarray(m) > 127)
        return np.stack(out)
    return None


def check(scene: Path, max_side: int) -> dict:
    from video2mesh.recon.data import load_dataset

    ds = load_dataset(scene / "transforms.json", scene / "images.tar", max_side)
    obj = object_pixels(scene, ds)
    row: dict = {"scene": scene.name, "frames": ds.n_images, "size": [ds.width, ds.height]}
    share = ds.find_backdrop()
    if share is None or obj is None:
        row["masked"] = share is not None
        return row
    m = ds.backdrop.numpy()
    per_frame = (m & obj).sum(axis=(1, 2)) / np.maximum(obj.sum(axis=(1, 2)), 1)
    row |= {
        "masked": True,
        "background_covered": float((m & ~obj).sum() / (~obj).sum()),
        "object_masked": float((m & obj).sum() / obj.sum()),
        "object_masked_worst_frame": float(per_frame.max()),
        "frames_over_5pct": int((per_frame > 0.05).sum()),
    }
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--scenes", default="", help="comma list (default: every folder)")
    ap.add_argument("--max-side", type=int, default=0, help="image_max_side of the preset")
    ap.add_argument("--fixed-tolerance", action="store_true")
    ap.add_argument("--work-side", type=int, default=None, help="plain_background.WORK_SIDE")
    args = ap.parse_args()
    import video2mesh.recon.plain_background as pb

    if args.work_side is not None:
        pb.WORK_SIDE = args.work_side or 1 << 30
    if args.fixed_tolerance:
        pb.TOL_MIN = pb.COLOR_TOL
    names = [s for s in args.scenes.split(",") if s] or sorted(
        p.name for p in args.data.iterdir() if (p / "transforms.json").exists()
    )
    for name in names:
        row = check(args.data / name, args.max_side)
        print(json.dumps(row | {"work_side": pb.WORK_SIDE}), flush=True)


if __name__ == "__main__":
    main()
