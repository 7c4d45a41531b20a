"""SIFT and matching variants of the SfM stage, scored by camera error against the true cameras.

    python benchmarks/realworld/sfm_variants.py gen-figurine-dark,held-cup-floating-bright \\
        base,dsp,guided,exh,dsp-guided,faint,dsp-faint [--root benchmarks/_work/realworld]

Each capture needs ``<root>/<name>/results/frames.tar`` (the frames stage's output, as
``prepare_device.py`` leaves it) and, to score cameras, ``<root>/<name>/cameras.json``. A
variant name joins options with "-": ``dsp`` (domain-size pooling + affine shape, COLMAP's
DSP-SIFT), ``guided`` (guided matching), ``exh`` (exhaustive matching instead of sequential +
loop pairs), ``faint`` (the SfM stage's faint-texture peak threshold); mapping: ``relaxed``
(the stage's relaxed mapping, ``sfm.map_models(relaxed=True)``, here without the stage's
check against the as-is model) or one half of it, ``inliers`` (``sfm.RELAXED_MAPPER`` only)
or ``holdk`` (the distortion held while mapping, then freed in a bundle adjustment, only);
``base`` is the
stage's first attempt. One JSON line per run on stdout: registered frames, points, mean track
length, the camera's parameters, seconds and, where the capture has true cameras, the median
camera-centre error (% of the orbit) and the rotation error (median / max, degrees).
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "src"))

import pycolmap  # noqa: E402

from video2mesh import sfm  # noqa: E402
from video2mesh.scene import align_to_truth, load_true_cameras  # noqa: E402


def run(root: Path, scene: str, variant: str) -> dict:
    options = set(variant.split("-"))
    with tempfile.TemporaryDirectory(prefix="v2m-sfmv-") as tmp_str:
        tmp = Path(tmp_str)
        with tarfile.open(root / scene / "results" / "frames.tar") as tar:
            tar.extractall(tmp, filter="data")
        images = tmp / "images"
        names = sorted(p.name for p in images.glob("*.jpg"))
        database = tmp / "database.db"
        started = time.perf_counter()
        dsp = "dsp" in options
        sfm.extract(
            database,
            images,
            "SIMPLE_RADIAL",
            sfm.PEAK_THRESHOLD * (sfm.FAINT_FACTOR if "faint" in options else 1.0),
            {"domain_size_pooling": dsp, "estimate_affine_shape": dsp},
        )
        matching = pycolmap.FeatureMatchingOptions()
        matching.num_threads = sfm._threads()
        matching.guided_matching = "guided" in options
        if "exh" in options:
            pycolmap.match_exhaustive(database, matching_options=matching)
        else:
            pairing = pycolmap.SequentialPairingOptions()
            pairing.overlap, pairing.quadratic_overlap = 10, True
            pycolmap.match_sequential(database, matching_options=matching, pairing_options=pairing)
            pairs = tmp / "pairs.txt"
            pairs.write_text("".join(f"{a} {b}\n" for a, b in sfm.keyframe_pairs(names, 25)))
            imported = pycolmap.ImportedPairingOptions()
            imported.match_list_path = str(pairs)
            pycolmap.match_image_pairs(
                database, matching_options=matching, pairing_options=imported
            )
        if "relaxed" in options:
            best, _, _ = sfm.map_models(database, images, tmp / "sparse", -1, relaxed=True)
            if best is None:  # no model
                return {"scene": scene, "variant": variant, "registered": 0, "frames": len(names)}
        else:  # as is, or one half of the relaxed mapping
            best, _ = sfm.largest_model(
                database,
                images,
                tmp / "sparse",
                -1,
                inliers="inliers" in options,
                hold="holdk" in options,
            )
            if best is None:  # nothing registered
                best = pycolmap.Reconstruction()
        seconds = time.perf_counter() - started
        row = {
            "scene": scene,
            "variant": variant,
            "registered": best.num_reg_images(),
            "frames": len(names),
            "points": best.num_points3D(),
            "track": round(best.compute_mean_track_length(), 2),
            "camera": [round(float(p), 3) for p in next(iter(best.cameras.values())).params],
            "seconds": round(seconds, 1),
            "pycolmap": pycolmap.__version__,
        }
        cameras = root / scene / "cameras.json"
        if cameras.is_file() and best.num_reg_images() >= 3:
            errors = align_to_truth(best, load_true_cameras(cameras))
            row["centre_pct"] = round(100 * errors["median_center_error_rel"], 3)
            row["rot_med"] = round(errors["median_rotation_error_deg"], 3)
            row["rot_max"] = round(errors["max_rotation_error_deg"], 3)
        return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenes", help="comma-separated capture names")
    parser.add_argument("variants", help="comma-separated variant names")
    parser.add_argument("--root", type=Path, default=REPO_ROOT / "benchmarks/_work/realworld")
    args = parser.parse_args()
    for scene in args.scenes.split(","):
        for variant in args.variants.split(","):
            print(json.dumps(run(args.root, scene, variant)), flush=True)


if __name__ == "__main__":
    main()
