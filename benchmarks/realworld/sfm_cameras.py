"""Write a cameras.json of SfM's own cameras, to score a mesh against object masks without a
calibration (the mesh and these cameras share the SfM frame, so no alignment is needed).

    python benchmarks/realworld/sfm_cameras.py results/S/sfm OUT --masks CAPTURE/masks
    python -m video2mesh silhouette --mesh results/S/builtin/mesh/itN_resR.ply \
        --cameras OUT/cameras.json --masks OUT/masks --out OUT/silhouette.json

For captures whose masks are trustworthy but whose calibration is not metric (the Oxford
dinosaur's projection matrices are projective). The IoU then counts SfM's camera error as the
mesh's: an upper bound on the mesh's own error. Intrinsics are each image's camera's pinhole
part (``calibration_matrix``) of the undistorted model (sfm/sparse); the masks, drawn on
the frames as SfM saw them, are resampled into those undistorted frames (sfm.json's
``distorted_camera``: the same lens model the photos were undistorted with).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "src"))

from video2mesh.atomic import write_json  # noqa: E402
from video2mesh.scene import camera_poses, load_model  # noqa: E402
from video2mesh.silhouette import distort  # noqa: E402


def sfm_cameras(sparse: Path) -> dict:
    model = load_model(sparse)
    poses = camera_poses(model)
    frames = []
    for image in sorted(model.images.values(), key=lambda i: i.name):
        cam = model.cameras[image.camera_id]
        k = cam.calibration_matrix()
        intrinsics = {
            "fx": float(k[0, 0]),
            "fy": float(k[1, 1]),
            "cx": float(k[0, 2]),
            "cy": float(k[1, 2]),
            "w": int(cam.width),
            "h": int(cam.height),
        }
        frames.append(
            {"name": image.name, "c2w": poses[image.name].tolist(), "intrinsics": intrinsics}
        )
    return {"convention": "OpenCV camera-to-world, SfM's frame (sfm_cameras.py)", "frames": frames}


def undistort_mask(mask: np.ndarray, camera: dict, distorted: dict) -> np.ndarray:
    """``mask`` (the distorted frame's size) resampled, nearest pixel, into the undistorted
    pinhole ``camera`` (cameras.json intrinsics)."""
    v, u = np.mgrid[: camera["h"], : camera["w"]] + 0.5
    xy = np.stack(
        [(u.ravel() - camera["cx"]) / camera["fx"], (v.ravel() - camera["cy"]) / camera["fy"]], 1
    )
    src = distort(xy, distorted) * [
        mask.shape[1] / distorted["width"],
        mask.shape[0] / distorted["height"],
    ]
    cols = np.clip(np.floor(src[:, 0]).astype(int), 0, mask.shape[1] - 1)
    rows = np.clip(np.floor(src[:, 1]).astype(int), 0, mask.shape[0] - 1)
    inside = (
        (src[:, 0] >= 0)
        & (src[:, 0] < mask.shape[1])
        & (src[:, 1] >= 0)
        & (src[:, 1] < mask.shape[0])
    )
    return (mask[rows, cols] & inside).reshape(camera["h"], camera["w"])


def write_masks(cameras: dict, distorted: dict, masks: Path, out: Path) -> int:
    written = 0
    for frame in cameras["frames"]:
        stem = Path(frame["name"]).stem
        src = masks / f"{stem}.png"
        if not src.exists():
            continue
        mask = np.asarray(Image.open(src).convert("L")) > 127
        undistorted = undistort_mask(mask, frame["intrinsics"], distorted)
        out.mkdir(parents=True, exist_ok=True)
        Image.fromarray(undistorted.astype(np.uint8) * 255).save(out / f"{stem}.png")
        written += 1
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sfm", type=Path, help="results/{scene}/sfm (sparse/ and sfm.json)")
    ap.add_argument("out", type=Path, help="folder: cameras.json (and masks/)")
    ap.add_argument("--masks", type=Path, help="object masks <stem>.png of the frames")
    args = ap.parse_args(argv)
    data = sfm_cameras(args.sfm / "sparse")
    write_json(args.out / "cameras.json", data)
    print(f"{args.out / 'cameras.json'}: {len(data['frames'])} cameras")
    if args.masks:
        distorted = json.loads((args.sfm / "sfm.json").read_text())["distorted_camera"]
        count = write_masks(data, distorted, args.masks, args.out / "masks")
        print(f"{args.out / 'masks'}: {count} masks undistorted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
