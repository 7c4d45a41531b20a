"""Structure from motion with pycolmap: one shared camera, a matcher fallback, undistortion.

Videos are matched sequentially (neighbouring frames) plus every pair among a few keyframes
spread over the sequence (loop closure: an orbit's last frames meet its first, which
sequential pairing never matches; on the sample this cuts the camera rotation error from
0.3-0.4 to 0.1 degrees for ~8 s), photos exhaustively. When too few frames register, the
same features are matched exhaustively and mapped again. When a tenth of the frames or more
is still left out, SIFT runs again at a third of its peak threshold (faint texture: the dark
side of an object, a plain backdrop) and the same plan is tried on those features; then, for
photos and videos larger than the frames, on the frames stage's finer copies (``fine/``:
texture the downscale averaged away); the finer copies are tried too where every frame
registered but the model holds few points (``THIN_POINTS``: a plain symmetric object can be
posed on a fraction of the orbit). Each mapping that leaves a tenth of the frames or more
out is also run again on the same matches with the registration relaxed (fewer inliers, the
lens distortion held until a last bundle adjustment: ``RELAXED_MAPPER``); those models only
compete for the best, they stop no fallback. The model with the most registered frames wins
(of equals, an as-is mapping, then a relaxed one its as-is model vouched for, then the one
with more points: ``rank``). The winner is undistorted to PINHOLE at the frames' size, as
Neuralangelo expects, and written as files (never directories, for S3 storage):

    sfm/sparse/{cameras,images,points3D}.bin   undistorted model
    sfm/images.tar                             undistorted registered frames, images/<name>.jpg,
                                               and their alpha masks where the photos had
                                               them, alpha/<name>.png (undistort_alpha)
    sfm/images_fine.tar                        (fine_photos, its own rule) the same frames from
                                               the frames stage's finer copies, undistorted
                                               alike (no members when there are none): the
                                               texture is baked from these
    sfm/sfm.json                               registered/total, points, errors, matcher, timing

GPU SIFT is used where the installed pycolmap has CUDA (pycolmap-cuda12), CPU otherwise.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import shutil
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from video2mesh.atomic import atomic_path, write_json
from video2mesh.errors import UserError
from video2mesh.frames import ALPHA, png_bytes
from video2mesh.photos import long_side
from video2mesh.still import fixed_camera_mask_of_files

log = logging.getLogger(__name__)

MODEL_FILES = ("cameras.bin", "images.bin", "points3D.bin")
# images_fine.tar's own camera (transforms.json's intrinsics keys): the undistorter rounds each
# size to whole pixels, so the finer camera is not exactly the frames' scaled (316 vs 2 × 157 px)
FINE_CAMERA = "camera.json"
# SIFT's detection threshold on the difference-of-Gaussians peak: COLMAP's own. A third of it
# (0.002) finds faint texture that this one misses, but on the validation set it moved the
# camera errors both ways for 30-100 % more SfM time and did not improve the one mesh it was
# meant for (benchmarks/realworld/RESULTS-sfm.md, "SIFT peak threshold"): a config key only.
PEAK_THRESHOLD = 0.02 / 3
# ... except when a tenth of the frames or more do not register with it: then the features are
# extracted again at a third of the threshold. On a held-out capture (a glossy cup on white,
# its far side in shadow) 66 of 100 frames registered, 2.8 % of the orbit off; on the lower
# threshold's features all 100, 0.9 % off. Captures that register fully never pay for it.
COMPLETE = 0.9
FAINT_FACTOR = 1 / 3
# A complete model of few points is no proof of a right one: a dark, plainly rusted iron weight
# on plain paper (session 39, held out, 39 phone photos all round it) registered every frame at
# 960 px with 850 points, its cameras on a 100° arc, the cylinder's symmetry taken for the
# orbit; on the frames' finer copies (1600 px) 2311 points and the whole orbit (largest gap
# 14°). Where the best as-is model holds fewer than THIN_POINTS points, the finer copies are
# tried too, and the model with more points of the most complete wins (`rank`). The complete
# models of the validation set hold 1999-56917 (RESULTS-sfm.md, session 39).
THIN_POINTS = 1500
# Each mapping that leaves a tenth or more out is also run on the same matches with these
# IncrementalMapperOptions, the distortion held at zero while mapping and freed in one last
# bundle adjustment; its model competes for the best, but only the as-is mappings decide
# whether to extract again. Two failures it mends (RESULTS-sfm.md, "Relaxed mapping"): a long
# lens (Middlebury's dino, f = 5 × the width, 11-13 of 48 at both thresholds, so the capture
# failed): the distortion parameter, barely observable in a narrow field of view, drifts in
# the partial models until they stop growing (48/48 with it held); and frames far apart (a
# CO3D apple, 20 photos around: 13/20 by COLMAP's 30 inliers and 25 % inlier ratio per pose,
# 19/20 at 15 and 15 %). Forced on the calibrated captures that register fully, it gives their
# cameras to within 0.02 % of the orbit and 0.03° of the as-is mapping's errors.
RELAXED_MAPPER = {
    "abs_pose_min_num_inliers": 15,  # COLMAP: 30
    "abs_pose_min_inlier_ratio": 0.15,  # 0.25
    "init_min_num_inliers": 50,  # 100
}
# A relaxed model is kept only where it poses the frames that the as-is mapping of the same
# matches registered (a quarter of all at least) as that one does: in one draw of
# six on the dino the relaxed mapping grew a wrong model of all 48 frames (focal 428 px of the
# true 3310, rotations 96° off) that would have won by its count. Mapping again with another
# seed is no check: on one database COLMAP's mapper repeats itself (same initial pair, order).
REFERENCE_MIN = 0.25  # of the frames, for the as-is model to be a reference
AGREE_SHARED = 0.8  # of the as-is model's frames, also in the relaxed one
AGREE_CENTRE = 0.02  # of the orbit (median camera-centre distance after the similarity)
AGREE_ROTATION_DEG = 2.0


@dataclass
class Attempt:
    matcher: str
    peak_threshold: float
    registered: int
    models: int
    seconds: float
    model_dir: Path | None
    images: Path  # the frames it ran on: images/ or the finer fine/
    relaxed: bool = False  # mapped with RELAXED_MAPPER
    checked: bool = False  # relaxed, and agreed with an as-is model that could vouch
    points: int = 0  # 3D points of its model
    poses: dict[str, np.ndarray] = field(default_factory=dict)  # its cameras, c2w by name


def rank(attempt: Attempt) -> tuple[int, bool, bool, int]:
    """The best attempt has the most frames; of equals an as-is mapping, then a relaxed one
    that an as-is model vouched for (an unchecked relaxed model may be a wrong one that grew),
    then the one with more points (more observations hold the cameras: on the Middlebury
    dino the faint features' relaxed model is 0.39 % of the orbit off, the default ones'
    0.78-0.95 %); ``max`` keeps the first of full equals."""
    return attempt.registered, not attempt.relaxed, attempt.checked, attempt.points


def _threads() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def extract(
    database: Path,
    images: Path,
    camera_model: str,
    peak_threshold: float = PEAK_THRESHOLD,
    sift: dict[str, object] | None = None,
    masks: Path | None = None,
    names: list[str] | None = None,
) -> None:
    """SIFT features of every image into ``database``; ``sift``: further SiftExtractionOptions
    (benchmarks/realworld/sfm_variants.py tries some); ``masks``: a folder of
    ``<image name>.png``, features only where they are not black (COLMAP's mask_path);
    ``names``: only these images."""
    import pycolmap

    reader = pycolmap.ImageReaderOptions()
    reader.camera_model = camera_model
    if masks is not None:
        reader.mask_path = str(masks)
    extraction = pycolmap.FeatureExtractionOptions()
    extraction.num_threads = _threads()
    extraction.sift.peak_threshold = peak_threshold
    for key, value in (sift or {}).items():
        setattr(extraction.sift, key, value)
    pycolmap.extract_features(
        database,
        images,
        camera_mode=pycolmap.CameraMode.SINGLE,
        image_names=names or [],
        reader_options=reader,
        extraction_options=extraction,
    )


def keyframe_pairs(names: list[str], keyframes: int) -> list[tuple[str, str]]:
    """Every pair among ``keyframes`` frames spread evenly over the ordered ``names``."""
    if keyframes < 2 or len(names) < 2:
        return []
    picks = sorted({round(i * (len(names) - 1) / (keyframes - 1)) for i in range(keyframes)})
    kf = [names[i] for i in picks]
    return [(a, b) for i, a in enumerate(kf) for b in kf[i + 1 :]]


def still_masks(images: Path, names: list[str], out: Path) -> tuple[Path | None, float]:
    """COLMAP masks (``<name>.png``, 0 where still) when the frames come from a fixed camera
    (video2mesh.still), and the still share of the frame; (None, 0.0) otherwise."""
    from PIL import Image

    still = fixed_camera_mask_of_files([images / n for n in names])
    if still is None:
        return None, 0.0
    out.mkdir(parents=True, exist_ok=True)
    keep = Image.fromarray(np.where(still, 0, 255).astype(np.uint8))
    for name in names:
        keep.save(out / f"{name}.png")
    return out, float(still.mean())


def match(database: Path, matcher: str, overlap: int, loop_pairs: list[tuple[str, str]]) -> None:
    import pycolmap

    options = pycolmap.FeatureMatchingOptions()
    options.num_threads = _threads()
    if matcher == "sequential":
        pairing = pycolmap.SequentialPairingOptions()
        pairing.overlap = overlap
        pairing.quadratic_overlap = True  # also pairs i with i+2^k: closes small gaps
        pycolmap.match_sequential(database, matching_options=options, pairing_options=pairing)
        if loop_pairs:
            pairs_file = database.with_name("loop_pairs.txt")
            pairs_file.write_text("".join(f"{a} {b}\n" for a, b in loop_pairs))
            imported = pycolmap.ImportedPairingOptions()
            imported.match_list_path = str(pairs_file)
            pycolmap.match_image_pairs(database, matching_options=options, pairing_options=imported)
    elif matcher == "exhaustive":
        pycolmap.match_exhaustive(database, matching_options=options)
    else:  # the schema forbids it; guards direct API use
        raise ValueError(f"unknown matcher {matcher!r}")


def largest_model(
    database: Path, images: Path, out: Path, seed: int, *, inliers: bool, hold: bool
) -> tuple[Any, int]:
    """COLMAP's incremental mapping into ``out``: (the model with the most registered frames
    or None, the number of models). The two halves of the relaxed mapping (``map_models``):
    ``inliers``, with ``RELAXED_MAPPER``; ``hold``, the distortion held while mapping and freed
    in a last bundle adjustment (kept held where that makes the camera bogus)."""
    import pycolmap

    options = pycolmap.IncrementalPipelineOptions()
    options.num_threads = _threads()
    options.random_seed = seed
    if inliers:
        for key, value in RELAXED_MAPPER.items():
            setattr(options.mapper, key, value)
    if hold:
        options.ba_refine_extra_params = False
        options.mapper.abs_pose_refine_extra_params = False
    out.mkdir(parents=True, exist_ok=True)
    models = pycolmap.incremental_mapping(database, images, out, options=options)
    if not models:
        return None, 0
    best = max(models.values(), key=lambda m: m.num_reg_images())
    if hold:
        held = pycolmap.Reconstruction(best)  # a copy, the distortion still zero
        adjustment = pycolmap.BundleAdjustmentOptions()  # refines focal and distortion
        adjustment.print_summary = False
        pycolmap.bundle_adjustment(best, adjustment)
        # COLMAP's own test for a camera gone wrong (its mapper's limits): then keep it held
        limits = (
            options.mapper.min_focal_length_ratio,
            options.mapper.max_focal_length_ratio,
            options.mapper.max_extra_param,
        )
        if any(cam.has_bogus_params(*limits) for cam in best.cameras.values()):
            log.info("relaxed mapping: the freed distortion went bogus; kept at zero")
            best = held
    return best, len(models)


def poses_agree(reference: dict[str, np.ndarray], poses: dict[str, np.ndarray]) -> bool:
    """Whether ``poses`` (camera-to-world by name) pose ``reference``'s frames as it does:
    at least ``AGREE_SHARED`` of them (and 3) are in ``poses``, and after the similarity of
    their camera centres they agree within ``AGREE_CENTRE`` of the orbit and
    ``AGREE_ROTATION_DEG`` (medians)."""
    from video2mesh.scene import align_poses

    shared = len(reference.keys() & poses.keys())
    if shared < max(3, AGREE_SHARED * len(reference)):
        return False
    errors = align_poses(poses, reference)
    return (
        errors["median_center_error_rel"] < AGREE_CENTRE
        and errors["median_rotation_error_deg"] < AGREE_ROTATION_DEG
    )


def map_models(
    database: Path,
    images: Path,
    out: Path,
    seed: int,
    relaxed: bool = False,
    reference: dict[str, np.ndarray] | None = None,
) -> tuple[Any, int, Path | None]:
    """Incremental mapping; returns (the largest model or None, number of models, the dir it
    is written to). ``relaxed``: with ``RELAXED_MAPPER`` and the distortion held while
    mapping, then a bundle adjustment of the largest model that refines it too; kept only
    where it agrees with ``reference`` (the camera poses of the as-is model of the same
    matches, where it has enough frames to vouch for), since a relaxed mapping can grow a
    wrong model."""
    from video2mesh.scene import camera_poses

    model, count = largest_model(database, images, out, seed, inliers=relaxed, hold=relaxed)
    if model is None:
        return None, 0, None
    if relaxed and reference is not None and not poses_agree(reference, camera_poses(model)):
        log.info(
            "relaxed mapping: its %d frames pose the as-is model's %d otherwise; not kept",
            model.num_reg_images(),
            len(reference),
        )
        return None, count, None
    best_dir = out / "best"
    best_dir.mkdir(exist_ok=True)
    model.write(best_dir)
    return model, count, best_dir


def undistort(model_dir: Path, images: Path, out: Path, max_side: int = -1) -> None:
    """Undistort ``model_dir`` and its ``images`` to PINHOLE in ``out`` (COLMAP layout), at most
    ``max_side`` pixels long (-1: as large as they come): a model mapped on finer copies comes
    out at the frames' size, its cameras and 2D points scaled with the images (COLMAP's
    undistorter does both)."""
    import pycolmap

    options = pycolmap.UndistortCameraOptions()
    options.max_image_size = max_side
    pycolmap.undistort_images(
        out, model_dir, images, output_type="COLMAP", undistort_options=options
    )


def undistort_alpha(alpha: np.ndarray, distorted: Any, undistorted: Any) -> np.ndarray:
    """A photo's alpha mask warped as COLMAP's undistorter warps the photo (bilinear, pixel
    centres at +0.5): from the ``distorted`` camera SfM mapped on (at whatever size: the mask is
    sampled in proportion) to the ``undistorted`` PINHOLE one. Pixels the photo did not see
    come out opaque: no claim that the object is absent there."""
    from scipy.ndimage import map_coordinates

    w, h = undistorted.width, undistorted.height
    ys, xs = np.mgrid[0:h, 0:w]
    pixels = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], axis=1).astype(np.float64)
    rays = undistorted.cam_from_img(pixels)
    src = distorted.img_from_cam(np.c_[rays, np.ones(len(rays))])
    sx, sy = alpha.shape[1] / distorted.width, alpha.shape[0] / distorted.height
    coords = [src[:, 1] * sy - 0.5, src[:, 0] * sx - 0.5]
    out = map_coordinates(alpha.astype(np.float32), coords, order=1, mode="constant", cval=255)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(h, w)


def _add_alpha(
    tar: tarfile.TarFile, alpha_dir: Path, names: list[str], distorted: Any, undistorted: Any
) -> int:
    """images.tar's ``alpha/<stem>.png`` of each registered frame (undistort_alpha);
    the number written (0 where the frames had none)."""
    written = 0
    for name in names:
        src = alpha_dir / f"{Path(name).stem}.png"
        if not src.is_file():
            continue
        mask = undistort_alpha(np.asarray(Image.open(src).convert("L")), distorted, undistorted)
        _add_bytes(tar, f"{ALPHA}/{src.name}", png_bytes(mask))
        written += 1
    return written


def _camera_json(cam: Any) -> dict:
    return {
        "model": cam.model.name,
        "width": cam.width,
        "height": cam.height,
        "params": list(map(float, cam.params)),
    }


def _camera(camera: dict) -> Any:
    """A pycolmap camera of _camera_json's dict."""
    import pycolmap

    return pycolmap.Camera(
        model=camera["model"],
        width=camera["width"],
        height=camera["height"],
        params=camera["params"],
    )


def pinhole_json(camera: dict) -> dict:
    """transforms.json's intrinsics keys for an undistorted (PINHOLE) camera of _camera_json."""
    fx, fy, cx, cy = camera["params"]
    return {"w": camera["width"], "h": camera["height"], "fl_x": fx, "fl_y": fy, "cx": cx, "cy": cy}


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _add_json(tar: tarfile.TarFile, name: str, data: dict) -> None:
    _add_bytes(tar, name, json.dumps(data).encode())


def _undistort_copies(model: Any, distorted: dict, names: list[str], tmp: Path) -> dict:
    """Undistort ``tmp/fine/<names>`` into ``tmp/undistorted`` with ``model``'s poses and the
    ``distorted`` camera scaled to the copies; their undistorted camera (_camera_json)."""
    import pycolmap

    with Image.open(tmp / "fine" / names[0]) as im:
        size = im.size
    for cam in model.cameras.values():  # one shared camera
        cam.model = getattr(pycolmap.CameraModelId, distorted["model"])
        cam.width, cam.height = distorted["width"], distorted["height"]
        cam.params = distorted["params"]
        cam.rescale(*size)  # (the 2D points stay as they were: unused)
    (tmp / "model").mkdir()
    model.write(tmp / "model")
    undistort(tmp / "model", tmp / "fine", tmp / "undistorted")
    missing = [n for n in names if not (tmp / "undistorted" / "images" / n).is_file()]
    if missing:
        raise ValueError(f"{len(missing)} not written, e.g. {missing[0]}")
    undistorted = pycolmap.Reconstruction(tmp / "undistorted" / "sparse")
    return _camera_json(next(iter(undistorted.cameras.values())))


def fine_photos(
    frames_tar: Path, sparse: Path, sfm_json: Path, out: Path, scene: str
) -> dict | None:
    """images_fine.tar: the registered frames' finer copies (frames.tar's ``fine/``), undistorted
    by SfM's model (its poses, sfm.json's distorted camera scaled to the copies) to PINHOLE, with
    their camera (FINE_CAMERA), for a texture sharper than the frames. Empty where there are no
    finer copies, where sfm.json predates the distorted camera, or where they fail to undistort
    (the texture then uses the frames: a nicety never costs the SfM already done). Its own rule,
    after SfM, so that results from before it existed keep their SfM and training. Returns the
    camera (None: empty)."""
    import pycolmap

    distorted = json.loads(sfm_json.read_text()).get("distorted_camera")
    camera = None
    with tempfile.TemporaryDirectory(prefix="v2m-fine-") as tmp_str:
        tmp = Path(tmp_str)
        model = pycolmap.Reconstruction(sparse)
        names = sorted(img.name for img in model.images.values())
        wanted = {f"fine/{n}" for n in names}
        alphas = {f"{ALPHA}/{Path(n).stem}.png" for n in names}
        with tarfile.open(frames_tar) as tar:
            members = [m for m in tar.getmembers() if m.name in wanted]
            cut_outs = [m for m in tar.getmembers() if m.name in alphas]
            tar.extractall(tmp, members=members + cut_outs, filter="data")
        if distorted is None and members:
            log.warning(
                "%s: sfm.json has no distorted camera (an older SfM run): the texture "
                "will be baked from the frames; re-run sfm for the finer copies",
                scene,
            )
        elif members and len(members) == len(names):
            try:
                camera = _undistort_copies(model, distorted, names, tmp)
            except (RuntimeError, ValueError, OSError) as exc:
                log.warning(
                    "%s: the frames' finer copies could not be undistorted (%s): the texture "
                    "will be baked from the frames",
                    scene,
                    exc,
                )
        with atomic_path(out) as t, tarfile.open(t, "w") as tar:
            if camera is not None:
                _add_json(tar, FINE_CAMERA, pinhole_json(camera))
                for name in names:
                    tar.add(tmp / "undistorted" / "images" / name, arcname=f"images/{name}")
                # cut-out photos: their alpha at the copies' size, for the texture's views
                _add_alpha(tar, tmp / ALPHA, names, _camera(distorted), _camera(camera))
    if camera is not None:
        log.info(
            "%s: %d finer copies undistorted at %dx%d",
            scene,
            len(names),
            camera["width"],
            camera["height"],
        )
    return camera


def run_sfm(
    frames_tar: Path,
    out_dir: Path,
    *,
    scene: str,
    matcher: str = "sequential",
    min_registered: float = 0.6,
    camera_model: str = "SIMPLE_RADIAL",
    overlap: int = 10,
    loop_keyframes: int = 25,
    peak_threshold: float = PEAK_THRESHOLD,
    seed: int = 0,
    known: dict[str, Any] | None = None,
) -> dict:
    """Run the whole SfM stage into ``out_dir`` (results/{scene}/sfm). Returns sfm.json.
    ``known``: the scene's own cameras (known_cameras.json): its frames' features are matched
    and triangulated from those poses, nothing is mapped."""
    import pycolmap

    from video2mesh.scene import camera_poses

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="v2m-sfm-") as tmp_str:
        tmp = Path(tmp_str)
        with tarfile.open(frames_tar) as tar:
            tar.extractall(tmp, filter="data")
        images = tmp / "images"
        names = sorted(p.name for p in images.glob("*.jpg"))  # frame index order
        total = len(names)
        if total == 0:
            raise UserError(f"{frames_tar} holds no images/*.jpg", "re-run the frames stage", scene)
        loop_pairs = keyframe_pairs(names, loop_keyframes)
        fine = tmp / "fine"
        if not all((fine / n).is_file() for n in names):
            fine = None
        masks, still_share = still_masks(images, names, tmp / "masks")
        if masks is not None:
            log.info(
                "%s: %.0f%% of every frame stands still (a fixed camera before a turntable?): "
                "SIFT only where the frames change",
                scene,
                100 * still_share,
            )
        plan = [matcher] + (["exhaustive"] if matcher == "sequential" else [])
        attempts: list[Attempt] = []
        extract_s = 0.0

        def map_attempt(
            database: Path,
            matcher: str,
            threshold: float,
            frames: Path,
            t0: float,
            relaxed: bool = False,
            reference: dict[str, np.ndarray] | None = None,
        ) -> Attempt:
            """Map ``database`` as is or relaxed (checked against the as-is model's poses
            ``reference`` where there are some) into the next sparse folder; recorded."""
            model, models, model_dir = map_models(
                database, frames, tmp / f"sparse{len(attempts)}", seed, relaxed, reference
            )
            registered = model.num_reg_images() if model is not None else 0
            attempt = Attempt(
                matcher,
                threshold,
                registered,
                models,
                time.perf_counter() - t0,
                model_dir,
                frames,
                relaxed,
                checked=relaxed and reference is not None and model is not None,
                points=model.num_points3D() if model is not None else 0,
                poses=camera_poses(model) if model is not None else {},
            )
            attempts.append(attempt)
            relaxed_note = ", relaxed mapping," if relaxed else ""
            log.info(
                "%s: %s matching%s registered %d/%d frames",
                scene,
                matcher,
                relaxed_note,
                registered,
                total,
            )
            return attempt

        def attempt_plan(threshold: float, frames: Path) -> None:
            """Extract at ``threshold`` from ``frames`` into a fresh database, then match and
            map along the plan until enough frames register."""
            nonlocal extract_s
            database = tmp / f"database_{len(attempts)}.db"
            frame_masks = masks
            if masks is not None and frames != images:  # COLMAP masks are per pixel
                frame_masks, _ = still_masks(frames, names, tmp / f"masks_{frames.name}")
            t0 = time.perf_counter()
            extract(database, frames, camera_model, threshold, masks=frame_masks)
            extract_s += time.perf_counter() - t0
            for m in plan:
                t0 = time.perf_counter()
                # exhaustive after sequential only adds the missing pairs
                match(database, m, overlap, loop_pairs)
                as_is = map_attempt(database, m, threshold, frames, t0)
                if as_is.registered < COMPLETE * total:
                    # the as-is model vouches for its frames where it has a few: a tiny one
                    # (3 frames of a long lens, its distortion drifted) is no reference
                    vouches = as_is.registered >= max(5, REFERENCE_MIN * total)
                    reference = as_is.poses if vouches else None
                    t0 = time.perf_counter()
                    map_attempt(database, m, threshold, frames, t0, True, reference)
                if as_is.registered / total >= min_registered:
                    return

        def incomplete() -> bool:
            # judged on the as-is mappings: a relaxed one only competes for the best model,
            # so a capture that registers on finer or fainter features keeps that model
            return max(a.registered for a in attempts if not a.relaxed) < COMPLETE * total

        def triangulate_known() -> None:
            """The frames the known cameras pose, their features triangulated from them."""
            from video2mesh.known_cameras import triangulate

            nonlocal extract_s
            database = tmp / "database_known.db"
            posed = [n for n in names if n.removesuffix(".jpg") in known["frames"]]
            t0 = time.perf_counter()
            extract(
                database, images, known["camera"]["model"], peak_threshold, masks=masks, names=posed
            )
            extract_s += time.perf_counter() - t0
            pairs = [(a, b) for a, b in loop_pairs if a in posed and b in posed]
            match(database, plan[0], overlap, pairs)
            model_dir = tmp / "sparse_known"
            model = triangulate(database, images, known, model_dir)
            log.info(
                "%s: %d frames posed by their known cameras, %d points triangulated",
                scene,
                model.num_reg_images(),
                model.num_points3D(),
            )
            attempts.append(
                Attempt(
                    plan[0],
                    peak_threshold,
                    model.num_reg_images(),
                    1,
                    time.perf_counter() - t0,
                    model_dir,
                    images,
                    points=model.num_points3D(),
                )
            )

        if known is not None:
            triangulate_known()
        else:
            attempt_plan(peak_threshold, images)
        if known is None and incomplete():
            faint = peak_threshold * FAINT_FACTOR
            log.info("%s: SIFT again at peak threshold %.4f (faint texture)", scene, faint)
            attempt_plan(faint, images)
        if fine is not None and known is None:
            thin = max(a.points for a in attempts if not a.relaxed) < THIN_POINTS
            why = "fine texture" if incomplete() else "a thin model" if thin else ""
            if why:
                log.info("%s: SIFT again on the frames' finer copies (%s)", scene, why)
                attempt_plan(peak_threshold, fine)
        best = max(attempts, key=rank)
        thresholds = list(dict.fromkeys(a.peak_threshold for a in attempts))
        ratio = best.registered / total
        if known is not None and ratio < min_registered:
            raise UserError(
                f"the cameras file poses {best.registered} of the {total} frames "
                f"({ratio:.0%} < sfm.min_registered {min_registered:.0%})",
                "give a camera for every photo, or lower sfm.min_registered",
                scene,
            )
        if best.model_dir is None or ratio < min_registered:
            finer = " and on the frames' finer copies" if fine is not None else ""
            raise UserError(
                f"COLMAP registered only {best.registered} of {total} frames "
                f"({ratio:.0%} < sfm.min_registered {min_registered:.0%}) after "
                f"{' then '.join(dict.fromkeys(a.matcher for a in attempts))} matching (mapped "
                f"as is, and relaxed where incomplete) at SIFT peak thresholds "
                f"{' and '.join(f'{t:.4f}' for t in thresholds)}{finer}",
                "the frames must overlap and show texture: film slower and closer around the "
                "object, raise frames.count, avoid blur and plain surfaces; photos that are "
                "a video's frames: give all of them in order with sfm: {matcher: sequential} "
                "(a toy on plain cloth: 43 of 99 every 5th frame, 461 of 482 all in order); or "
                "lower sfm.min_registered to accept a partial model",
                scene,
            )

        undist = tmp / "undistorted"
        # the frames' own size where SfM ran on them (the undistorter may add a few pixels)
        max_side = long_side(images / names[0]) if best.images != images else -1
        undistort(best.model_dir, best.images, undist, max_side)
        model = pycolmap.Reconstruction(undist / "sparse")
        sparse_out = out_dir / "sparse"
        for name in MODEL_FILES:
            with atomic_path(sparse_out / name) as t:
                shutil.copyfile(undist / "sparse" / name, t)
        distorted = next(iter(pycolmap.Reconstruction(best.model_dir).cameras.values()))
        cam = next(iter(model.cameras.values()))
        registered = sorted(im.name for im in model.images.values())
        with atomic_path(out_dir / "images.tar") as t, tarfile.open(t, "w") as tar:
            for name in registered:
                tar.add(undist / "images" / name, arcname=f"images/{name}")
            alpha_masks = _add_alpha(tar, tmp / ALPHA, registered, distorted, cam)

        stats = {
            "scene": scene,
            "registered": best.registered,
            "total": total,
            "registered_ratio": round(ratio, 4),
            "unregistered": sorted(set(names) - {im.name for im in model.images.values()}),
            "points": model.num_points3D(),
            "mean_reprojection_error": round(model.compute_mean_reprojection_error(), 4),
            "mean_track_length": round(model.compute_mean_track_length(), 3),
            "matcher": best.matcher,
            "loop_pairs": len(loop_pairs) if best.matcher == "sequential" else 0,
            "attempts": [
                {
                    "matcher": a.matcher,
                    "peak_threshold": a.peak_threshold,
                    "registered": a.registered,
                    "models": a.models,
                    "fine": a.images != images,
                    "relaxed": a.relaxed,
                    "checked": a.checked,
                    "points": a.points,
                    "seconds": round(a.seconds, 2),
                }
                for a in attempts
            ],
            "camera_model": known["camera"]["model"] if known else camera_model,
            # posed by the scene's own cameras (cameras: in the config), not mapped
            "known_cameras": known["source"] if known else None,
            # a fixed camera (a turntable): the share of each frame masked out of SIFT
            "still_share": round(still_share, 4),
            # frames whose photos' transparency came as their mask (images.tar's alpha/)
            "alpha_masks": alpha_masks,
            "peak_threshold": best.peak_threshold,
            # SIFT ran on the frames stage's finer copies (then undistorted to
            # the frames' size)
            "fine": best.images != images,
            # mapped with RELAXED_MAPPER (the as-is mapping left a tenth or more out)
            "relaxed_mapping": best.relaxed,
            "undistorted_camera": _camera_json(cam),
            # the model's camera before undistortion, at the size of the frames it was mapped
            # on (fine_photos undistorts the finer copies with it)
            "distorted_camera": _camera_json(distorted),
            "device": "cuda" if pycolmap.has_cuda else "cpu",
            "pycolmap": pycolmap.__version__,
            "extract_seconds": round(extract_s, 2),
            "seconds": round(time.perf_counter() - started, 2),
        }
    write_json(out_dir / "sfm.json", stats)
    return stats


def _cmd(args: argparse.Namespace) -> None:
    try:
        run_sfm(
            Path(args.frames),
            Path(args.out_dir),
            scene=args.scene,
            matcher=args.matcher,
            min_registered=args.min_registered,
            camera_model=args.camera_model,
            overlap=args.overlap,
            loop_keyframes=args.loop_keyframes,
            peak_threshold=args.peak_threshold,
            known=json.loads(Path(args.known_cameras).read_text()) if args.known_cameras else None,
        )
    except UserError as err:
        raise err.for_scene(args.scene) from None


def _fine_cmd(args: argparse.Namespace) -> None:
    fine_photos(
        Path(args.frames), Path(args.sparse), Path(args.sfm_json), Path(args.out), args.scene
    )


def register(sub: argparse._SubParsersAction) -> None:
    f = sub.add_parser(
        "fine-photos", help="the frames' finer copies undistorted by SfM's model, for the texture"
    )
    f.add_argument("--scene", required=True)
    f.add_argument("--frames", required=True, help="results/{scene}/frames.tar")
    f.add_argument("--sparse", required=True, help="results/{scene}/sfm/sparse")
    f.add_argument("--sfm-json", required=True, help="results/{scene}/sfm/sfm.json")
    f.add_argument("--out", required=True, help="results/{scene}/sfm/images_fine.tar")
    f.set_defaults(func=_fine_cmd)
    p = sub.add_parser("sfm", help="COLMAP on the selected frames, undistorted to PINHOLE")
    p.add_argument("--scene", required=True)
    p.add_argument("--frames", required=True, help="results/{scene}/frames.tar")
    p.add_argument("--out-dir", required=True, help="results/{scene}/sfm")
    p.add_argument("--matcher", choices=["sequential", "exhaustive"], default="sequential")
    p.add_argument("--min-registered", type=float, default=0.6)
    p.add_argument("--camera-model", default="SIMPLE_RADIAL")
    p.add_argument("--overlap", type=int, default=10, help="sequential matching window")
    p.add_argument(
        "--loop-keyframes",
        type=int,
        default=25,
        help="sequential matching also pairs all of this many evenly spread frames (0: off)",
    )
    p.add_argument(
        "--peak-threshold",
        type=float,
        default=PEAK_THRESHOLD,
        help="SIFT detection threshold (lower: more features on faint texture)",
    )
    p.add_argument(
        "--known-cameras",
        help="known_cameras.json: triangulate from these cameras instead of mapping",
    )
    p.set_defaults(func=_cmd)
