"""How well the cut-out silhouettes tell misplaced frames (video2mesh.misplaced), on captures
with object masks and an SfM model (``<capture>/results/sfm``, as prepare_device.py leaves it).

    python benchmarks/realworld/pose_check.py benchmarks/_work/realworld/nerf_lego ...

Per capture: the sphere the scene stage fits (support search as the defaults do), each
registered frame's mask (``masks/<stem>.png``, scaled to the frames' size, padded where SfM's
undistortion added a pixel), the share of its silhouette the majority's hull covers, and the
frames it would leave out. With ``cameras.json`` (named as the frames are) the frames SfM placed
far from the truth, those the robust alignment leaves out (``scene.align_poses``), are listed
too: those the check should find. One JSON line per capture on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def check(capture: Path) -> dict:
    from video2mesh.misplaced import check_poses
    from video2mesh.scene import (
        align_poses,
        camera_poses,
        compute_sphere,
        load_model,
        load_true_cameras,
        model_cameras,
    )

    sfm = capture / "results" / "sfm"
    model = load_model(sfm / "sparse")
    sphere, _points = compute_sphere(model, "object", {}, True, sfm / "images.tar")
    every = model_cameras(model)
    poses = camera_poses(model)
    names = [n for n in poses if (capture / "masks" / f"{Path(n).stem}.png").exists()]
    cams = replace(every, c2w=np.stack([poses[n] for n in names]))  # frames with a mask
    masks = []
    for name in names:
        with Image.open(capture / "masks" / f"{Path(name).stem}.png") as im:
            im = im.convert("L")
            size = (cams.width, cams.height)
            if max(abs(a - b) for a, b in zip(im.size, size, strict=True)) > 2:
                im = im.resize(size, Image.Resampling.BILINEAR)  # frames smaller than photos
            elif im.size != size:  # the undistorter's extra pixel
                canvas = Image.new("L", size, 0)
                canvas.paste(im, (0, 0))
                im = canvas
            masks.append(np.asarray(im) >= 128)
    result = check_poses(cams, names, masks, sphere.center, sphere.radius)
    recall = np.array(list(result.recall.values()))
    kept = [r for n, r in result.recall.items() if n not in result.misplaced]
    out = {
        "capture": capture.name,
        "frames": len(poses),
        "with_mask": len(names),
        "recall_median": round(float(np.median(recall)), 4),
        "recall_min_kept": round(float(min(kept, default=1.0)), 4),
        "left_out": {n: round(result.recall[n], 4) for n in result.misplaced},
        "note": result.note,
    }
    cams_json = capture / "cameras.json"
    truth = load_true_cameras(cams_json) if cams_json.exists() else {}
    by_stem = {Path(n).stem: m for n, m in poses.items()}
    if len(set(truth) & set(by_stem)) >= 3:
        out["far_from_truth"] = sorted(align_poses(by_stem, truth)["outliers"])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("captures", nargs="+", type=Path)
    for capture in p.parse_args().captures:
        print(json.dumps(check(capture)), flush=True)


if __name__ == "__main__":
    main()
