"""Known cameras (``scenes: NAME: cameras: FILE``): a calibration's or another tool's poses
used instead of SfM's mapping.

A calibrated multi-view set (DTU, Middlebury), a render set, or a phone app's AR poses come with
their cameras. Where SIFT finds too little to map, those cameras still place every photo; where
SfM maps, they are the more exact (NeRF's Lego: 6 of 100 renders put half an orbit away by SfM);
and the mesh comes out in the calibration's own frame and units. The SfM stage then only
matches features and triangulates them from the known poses (COLMAP's point triangulator, the
poses and the intrinsics held): the scene stage needs SfM's points for the object's sphere and
its support.

Files read (by their keys):

- video2mesh's ``cameras.json`` (the sample's and ``reference_cameras``'s format): per frame an
  OpenCV camera-to-world ``c2w`` (x right, y down, z forward) and a ``name`` (a photo's file
  name) or ``index`` (a video's frame index); ``intrinsics`` ``{fx, fy, cx, cy, w, h}`` (pixels
  of a ``w`` × ``h`` image, origin at the top-left pixel's corner) globally or per frame.
- NeRF / instant-ngp / nerfstudio ``transforms.json``: per frame an OpenGL ``transform_matrix``
  (x right, y up, z backward) and a ``file_path``; ``camera_angle_x`` (the principal point at
  the centre) or ``fl_x``, ``fl_y``, ``cx``, ``cy``, ``w``, ``h`` and optionally ``k1``, ``k2``,
  ``p1``, ``p2`` (OpenCV's radial-tangential distortion), globally or per frame.

- a COLMAP model folder (``cameras``, ``images`` and ``points3D`` ``.bin`` or ``.txt``: your own
  COLMAP run): each registered image's pose and its camera (SIMPLE_PINHOLE, PINHOLE,
  SIMPLE_RADIAL, RADIAL or OPENCV).

A frame is found by its photo's stem (``r_0.png`` for ``./train/r_0``) or its video frame
index. ``known-cameras`` (a local rule, so that a bad file fails before any GPU job) writes
``results/{scene}/known_cameras.json``: one shared camera at the frames' size and each frame's
OpenCV camera-to-world.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from video2mesh.atomic import write_json
from video2mesh.errors import UserError

log = logging.getLogger(__name__)

DISTORTION = ("k1", "k2", "p1", "p2")
# One shared camera models every frame (transforms.json holds one set of intrinsics): the
# frames' own may differ by this much (a calibration's per-view decomposition of the same lens
# differs by 1e-6 on DTU), relative to the focal length or the image side
SAME_CAMERA = 0.01
# the cameras' image shape against the frames': a crop or another aspect is no scale
SAME_ASPECT = 0.01
# triangulated points below which the poses and the photos are taken not to agree
MIN_POINTS = 20
HINT = (
    "give scenes: NAME: cameras: a video2mesh cameras.json (OpenCV camera-to-world 'c2w' and "
    "'intrinsics' with fx, fy, cx, cy, w, h) or a NeRF/nerfstudio transforms.json (OpenGL "
    "'transform_matrix', 'camera_angle_x' or fl_x, fl_y, cx, cy, w, h), one entry per photo "
    "named by its file name (or by 'index', a video's frame number), or a COLMAP model folder"
)


def _frame_key(frame: dict[str, Any]) -> str:
    if "index" in frame:
        return f"{int(frame['index']):06d}"
    name = frame.get("name", frame.get("file_path"))
    if not name:
        raise UserError("a frame in the cameras file has no name, file_path or index", HINT)
    return Path(str(name)).stem


def _intrinsics(entry: dict[str, Any], shared: dict[str, Any]) -> dict[str, float | None]:
    """One frame's camera in the image's fractions: fx, cx over the width, fy, cy over the
    height (None where only the frames' size can say: a field of view without a height), and
    its distortion; the image's ``aspect`` (w / h) where the file gives its size."""
    k = {**shared, **entry}
    if "fx" in k or "fl_x" in k:  # pixels of a w × h image
        if "w" not in k or "h" not in k:
            raise UserError(
                "the cameras file gives focal lengths in pixels but not the image size "
                "they are for (w and h)",
                HINT,
            )
        w, h = float(k["w"]), float(k["h"])
        fx = float(k.get("fx", k.get("fl_x")))
        fy = float(k.get("fy", k.get("fl_y", fx)))
        cx, cy = float(k.get("cx", w / 2)), float(k.get("cy", h / 2))
        out = {"fx": fx / w, "fy": fy / h, "cx": cx / w, "cy": cy / h, "aspect": w / h}
    elif "camera_angle_x" in k:  # NeRF's synthetic sets: square pixels, centred
        fx = 0.5 / math.tan(float(k["camera_angle_x"]) / 2)
        fy = 0.5 / math.tan(float(k["camera_angle_y"]) / 2) if "camera_angle_y" in k else None
        out = {"fx": fx, "fy": fy, "cx": 0.5, "cy": 0.5, "aspect": None}
    else:
        raise UserError(
            "the cameras file gives no intrinsics (fx or fl_x, or camera_angle_x)", HINT
        )
    out.update({d: float(k.get(d, 0.0)) for d in DISTORTION})
    return out


# COLMAP's camera models whose parameters read as OpenCV's (f: one focal length, k: k1)
COLMAP_MODELS = ("SIMPLE_PINHOLE", "PINHOLE", "SIMPLE_RADIAL", "RADIAL", "OPENCV")


def _colmap_cameras(path: Path) -> dict[str, tuple[np.ndarray, dict[str, float | None]]]:
    """A COLMAP model folder's registered images, as ``read_cameras`` gives them."""
    import pycolmap

    from video2mesh.scene import camera_poses

    try:
        model = pycolmap.Reconstruction(path)
    except Exception as err:  # pycolmap raises bare RuntimeErrors (or ValueErrors) on bad files
        raise UserError(f"cannot read the COLMAP model in {path}: {err}", HINT) from None
    out = {}
    poses = camera_poses(model)
    for image in model.images.values():
        camera = model.cameras[image.camera_id]
        if camera.model.name not in COLMAP_MODELS:
            raise UserError(
                f"{path}: camera model {camera.model.name} (a fisheye or another lens model)",
                f"undistort the photos and the model first (colmap image_undistorter), or use "
                f"one of {', '.join(COLMAP_MODELS)}",
            )
        names = [n.strip() for n in camera.params_info.split(",")]
        values = dict(zip(names, camera.params, strict=True))
        if "f" in values:
            values["fx"] = values["fy"] = values.pop("f")
        if "k" in values:
            values["k1"] = values.pop("k")
        values.update(w=camera.width, h=camera.height)
        out[Path(image.name).stem] = (poses[image.name], _intrinsics(values, {}))
    return out


def read_cameras(path: Path) -> dict[str, tuple[np.ndarray, dict[str, float | None]]]:
    """Each frame's OpenCV camera-to-world and intrinsics (``_intrinsics``), by frame key."""
    from video2mesh.scene import CV_TO_GL

    if Path(path).is_dir():
        return _colmap_cameras(Path(path))
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the cameras file {path}: {err}", HINT) from None
    frames = data.get("frames") if isinstance(data, dict) else None
    if not frames:
        raise UserError(f"the cameras file {path} lists no frames", HINT)
    shared = {key: v for key, v in data.items() if key != "frames"}
    shared.update(shared.pop("intrinsics", None) or {})
    out = {}
    for frame in frames:
        entry = {**frame, **(frame.get("intrinsics") or {})}
        if "c2w" in frame:
            c2w = np.asarray(frame["c2w"], float)
        elif "transform_matrix" in frame:
            c2w = np.asarray(frame["transform_matrix"], float) @ CV_TO_GL
        else:
            raise UserError(
                f"frame {_frame_key(frame)!r} of {path} has no pose ('c2w' or 'transform_matrix')",
                HINT,
            )
        if c2w.shape == (3, 4):
            c2w = np.vstack([c2w, [0, 0, 0, 1]])
        rot = c2w[:3, :3]
        if c2w.shape != (4, 4) or not np.allclose(rot @ rot.T, np.eye(3), atol=1e-3):
            raise UserError(
                f"frame {_frame_key(frame)!r} of {path}: its pose is not a rotation and a "
                "translation (a 4×4 or 3×4 camera-to-world without scale)",
                HINT,
            )
        out[_frame_key(frame)] = (c2w, _intrinsics(entry, shared))
    return out


def _spread(values: list[float]) -> float:
    return float(max(values) - min(values))


def for_frames(
    cameras: dict[str, tuple[np.ndarray, dict[str, float | None]]],
    manifest: dict[str, Any],
    source: str = "cameras",
) -> dict[str, Any]:
    """``known_cameras.json``: one PINHOLE (or OPENCV, with distortion) camera at the frames'
    size and the OpenCV camera-to-world of each kept frame the file has; ``missing``: kept
    frames it lacks (a photo turned a quarter by the frames stage counts as lacking: its pose
    is for the photo as it was)."""
    width, height = manifest["size"]
    kept = [f for f in manifest["frames"] if f.get("kept")]
    posed, missing = {}, []
    for f in kept:
        if f["name"] in cameras and "turned" not in f:
            posed[f["name"]] = cameras[f["name"]]
        else:
            missing.append(f["name"])
    if len(posed) < 3:
        some = ", ".join(sorted(cameras)[:3])
        raise UserError(
            f"{source} names {len(posed)} of the {len(kept)} frames (the file's: {some}…; "
            f"the frames': {', '.join(f['name'] for f in kept[:3])}…)",
            HINT,
        )
    for name, (_c2w, k) in posed.items():
        aspect = k["aspect"]
        if aspect is not None and abs(aspect / (width / height) - 1) > SAME_ASPECT:
            raise UserError(
                f"frame {name}'s camera is for an image of aspect {aspect:.3f}, the photos' is "
                f"{width / height:.3f} (cropped or turned)",
                "give the cameras of the photos as they are, uncropped",
            )
    fx = [k["fx"] * width for _c, k in posed.values()]
    fy = [
        (k["fy"] * height if k["fy"] is not None else k["fx"] * width) for _c, k in posed.values()
    ]
    cx = [k["cx"] * width for _c, k in posed.values()]
    cy = [k["cy"] * height for _c, k in posed.values()]
    dist = {d: [k[d] for _c, k in posed.values()] for d in DISTORTION}
    if (
        max(_spread(fx) / np.median(fx), _spread(fy) / np.median(fy)) > SAME_CAMERA
        or max(_spread(cx) / width, _spread(cy) / height) > SAME_CAMERA
        or max(_spread(v) for v in dist.values()) > SAME_CAMERA
    ):
        raise UserError(
            f"the frames' cameras differ (fx {min(fx):.1f}-{max(fx):.1f}, cx "
            f"{min(cx):.1f}-{max(cx):.1f} px at {width}x{height}): video2mesh models one camera "
            "for all frames",
            "give photos of one camera at one zoom, or leave cameras: out (SfM then "
            "calibrates one shared camera)",
        )
    params = [float(np.median(v)) for v in (fx, fy, cx, cy)]
    distortion = [float(np.median(dist[d])) for d in DISTORTION]
    model = "OPENCV" if any(distortion) else "PINHOLE"
    if missing:
        log.warning(
            "%d of %d frames have no known camera (%s): left out",
            len(missing),
            len(kept),
            ", ".join(missing[:5]) + ("…" if len(missing) > 5 else ""),
        )
    return {
        "camera": {
            "model": model,
            "width": width,
            "height": height,
            "params": params + (distortion if model == "OPENCV" else []),
        },
        "frames": {name: c2w.tolist() for name, (c2w, _k) in sorted(posed.items())},
        "missing": missing,
        "source": source,
    }


def posed_model(database: Path, known: dict[str, Any], image_suffix: str = ".jpg") -> Any:
    """A pycolmap Reconstruction of ``database``'s images (extracted with ``known``'s camera
    model, one shared camera), posed and calibrated as ``known`` says, without points."""
    import pycolmap

    c2w = {name + image_suffix: np.asarray(m, float) for name, m in known["frames"].items()}
    rec = pycolmap.Reconstruction()
    with pycolmap.Database.open(database) as db:
        for camera in db.read_all_cameras():
            camera.params = known["camera"]["params"]
            db.update_camera(camera)
            rec.add_camera(camera)
        images = {image.image_id: image for image in db.read_all_images()}
        for rig in db.read_all_rigs():
            rec.add_rig(rig)
        frames = db.read_all_frames()
        for frame in frames:
            (data,) = frame.image_ids  # one camera per frame: SfM's rigs are trivial
            w2c = np.linalg.inv(c2w[images[data.id].name])
            frame.rig_from_world = pycolmap.Rigid3d(pycolmap.Rotation3d(w2c[:3, :3]), w2c[:3, 3])
            rec.add_frame(frame)
        for image in images.values():
            rec.add_image(image)
        for frame in frames:
            rec.register_frame(frame.frame_id)
    return rec


def triangulate(database: Path, images: Path, known: dict[str, Any], out: Path) -> Any:
    """SfM's points from the known poses (COLMAP's point triangulator; the cameras held)."""
    import pycolmap

    out.mkdir(parents=True, exist_ok=True)
    model = pycolmap.triangulate_points(posed_model(database, known), database, images, out)
    if model.num_points3D() < MIN_POINTS:
        raise UserError(
            f"the known cameras triangulate {model.num_points3D()} points from the photos' "
            "matched features: the poses and the photos disagree",
            "check that each camera in the file belongs to the photo it names and that its "
            "convention is the file's (OpenCV 'c2w' in cameras.json, OpenGL "
            "'transform_matrix' in a transforms.json)",
        )
    model.write(out)
    return model


def _cmd(args: argparse.Namespace) -> None:
    manifest = json.loads(Path(args.frames_json).read_text())
    try:
        known = for_frames(read_cameras(Path(args.cameras)), manifest, Path(args.cameras).name)
    except UserError as err:
        raise err.for_scene(args.scene) from None
    log.info(
        "%s: %d frames posed by %s (%s camera %s)",
        args.scene,
        len(known["frames"]),
        args.cameras,
        known["camera"]["model"],
        ", ".join(f"{p:.2f}" for p in known["camera"]["params"]),
    )
    write_json(args.out, known)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "known-cameras", help="a scene's own cameras (cameras: in the config) for its frames"
    )
    p.add_argument("--scene", required=True)
    p.add_argument(
        "--cameras", required=True, help="cameras.json, transforms.json or a COLMAP model folder"
    )
    p.add_argument("--frames-json", required=True, help="results/{scene}/frames.json")
    p.add_argument("--out", required=True, help="results/{scene}/known_cameras.json")
    p.set_defaults(func=_cmd)
