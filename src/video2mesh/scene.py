"""Scene: transforms.json in Neuralangelo's exact format, the sphere preview, the reference.

``transforms.json`` keeps the keys of Neuralangelo's convert_data_to_json.py so the
official code can consume it unchanged: PINHOLE intrinsics of the undistorted model,
frames with OpenGL camera-to-world matrices in the COLMAP world frame, and the adjusted
bounding sphere written in (never left to ``readjust``). Frames are in name order, which
for a video is time order.

When the scene has a reference mesh with known cameras (the sample always has), the
reference is moved into the SfM world frame by the similarity that best maps the true
camera centres onto the recovered ones, and written as ``reference.ply``; the alignment
errors go to ``alignment.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
from pathlib import Path

import numpy as np

from video2mesh.atomic import atomic_path, write_json
from video2mesh.coverage import coverage
from video2mesh.errors import UserError
from video2mesh.photo_colours import Photo
from video2mesh.recon.plain_background import background_point_share
from video2mesh.sphere import (
    Cameras,
    Sphere,
    apply_overrides,
    look_at_point,
    object_sphere,
    parse_overrides,
    scene_sphere,
)
from video2mesh.support import (
    MESH_SUPPORT_BELOW,
    below_sphere_share,
    find_support,
    scene_up,
    up_frame,
)

log = logging.getLogger(__name__)

CV_TO_GL = np.diag([1.0, -1.0, -1.0, 1.0])  # flips the camera's y and z axes


def load_model(sparse_dir: Path):  # -> pycolmap.Reconstruction
    import pycolmap

    return pycolmap.Reconstruction(sparse_dir)


def camera_poses(model) -> dict[str, np.ndarray]:
    """OpenCV camera-to-world 4×4 per image name."""
    out = {}
    for img in model.images.values():
        w2c = np.eye(4)
        w2c[:3, :4] = img.cam_from_world().matrix()
        out[img.name] = np.linalg.inv(w2c)
    return dict(sorted(out.items()))


def clean_points(model, max_error: float = 2.0, min_track: int = 3) -> np.ndarray:
    pts = [
        p.xyz
        for p in model.points3D.values()
        if p.error <= max_error and p.track.length() >= min_track
    ]
    if len(pts) < 20:  # small models: fall back to every point
        pts = [p.xyz for p in model.points3D.values()]
    return np.asarray(pts, float).reshape(-1, 3)


def model_cameras(model) -> Cameras:
    """The registered cameras with the (first) camera's pinhole intrinsics."""
    c2w = np.stack(list(camera_poses(model).values()))
    cam = next(iter(model.cameras.values()))
    k = cam.calibration_matrix()
    return Cameras(c2w, k[0, 0], k[1, 1], k[0, 2], k[1, 2], int(cam.width), int(cam.height))


def archive_photos(archive: Path, names: list[str]) -> Photo:
    """The undistorted photo of camera ``i`` (``names`` in camera order) from SfM's
    images.tar: the archive read once, on first use; each photo decoded on first use."""
    import tarfile

    from video2mesh.photos import decode_photo

    @functools.cache
    def stored() -> dict[str, bytes]:
        with tarfile.open(archive, "r:") as tar:
            return {
                m.name.removeprefix("images/"): tar.extractfile(m).read()  # type: ignore[union-attr]
                for m in tar.getmembers()
                if m.isfile() and m.name.startswith("images/")
            }

    @functools.cache
    def photo(i: int) -> np.ndarray:
        data = stored().get(names[i])
        if data is None:
            raise UserError(
                f"{archive} has no photo images/{names[i]} of the SfM model",
                "re-run the sfm stage (its photos and model are made together)",
            )
        return decode_photo(data, names[i])[0]

    return photo


def archive_alpha(archive: Path, names: list[str]) -> list[np.ndarray] | None:
    """The cut-out silhouettes (alpha ≥ 128) of the frames ``names`` from SfM's images.tar
    (sfm.undistort_alpha), in that order; None where one is missing (SfM writes all or
    none)."""
    import io
    import tarfile

    from PIL import Image

    from video2mesh.frames import ALPHA

    with tarfile.open(archive, "r:") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        masks = []
        for name in names:
            member = members.get(f"{ALPHA}/{Path(name).stem}.png")
            f = tar.extractfile(member) if member is not None else None
            if f is None:
                return None
            masks.append(np.asarray(Image.open(io.BytesIO(f.read())).convert("L")) >= 128)
    return masks


def leave_out_misplaced(
    model, masks: list[np.ndarray], sphere: Sphere, transforms: dict, scene: str
) -> dict:
    """Drop from ``transforms``' frames those whose cut-out silhouette (``masks``, in camera
    order) the others' visual hull leaves uncovered (video2mesh.misplaced: SfM put them in the
    wrong place); returns them with the share of their silhouette the hull covers."""
    from video2mesh.misplaced import check_poses

    names = list(camera_poses(model))
    check = check_poses(model_cameras(model), names, masks, sphere.center, sphere.radius)
    if check.note:
        log.warning("%s: %s", scene, check.note)
    if check.misplaced:
        log.warning(
            "%s: the silhouettes of %d frames disagree with the others' where SfM placed them "
            "(a symmetric part matched the wrong side?): left out of training: %s",
            scene,
            len(check.misplaced),
            ", ".join(check.misplaced),
        )
        gone = {f"images/{n}" for n in check.misplaced}
        transforms["frames"] = [f for f in transforms["frames"] if f["file_path"] not in gone]
    return {n: round(check.recall[n], 4) for n in check.misplaced}


def compute_sphere(
    model,
    scene_type: str,
    overrides: dict,
    find_support_plane: bool = True,
    photos: Path | None = None,
) -> tuple[Sphere, np.ndarray]:
    """The sphere (and SfM's clean points); ``photos`` (SfM's images.tar) let an object whose
    lowest points float over the support found show whether it stands on it (standing)."""
    points = clean_points(model)
    if scene_type == "object":
        cams = model_cameras(model)
        support = None
        if find_support_plane:
            look = look_at_point(cams.centers, cams.axes)
            support = find_support(points, cams.c2w, look)
        photo = archive_photos(photos, list(camera_poses(model))) if photos else None
        sphere = object_sphere(points, cams, support, photo=photo)
    else:
        sphere = scene_sphere(points)
    return apply_overrides(sphere, overrides, points), points


def transforms_dict(model, sphere: Sphere) -> dict:
    cams = list(model.cameras.values())
    if len(cams) != 1 or cams[0].model.name != "PINHOLE":
        raise UserError(
            f"the undistorted model has {len(cams)} camera(s) of model "
            f"{cams[0].model.name if cams else 'none'}; one PINHOLE camera is expected",
            "re-run the sfm stage (it undistorts to one shared PINHOLE camera)",
        )
    cam = cams[0]
    fl_x, fl_y, cx, cy = map(float, cam.params)
    w, h = int(cam.width), int(cam.height)
    center, radius = sphere.center, float(sphere.radius)
    frames = [
        {"file_path": f"images/{name}", "transform_matrix": (c2w @ CV_TO_GL).tolist()}
        for name, c2w in camera_poses(model).items()
    ]
    return {
        "camera_angle_x": 2 * math.atan(w / (2 * fl_x)),
        "camera_angle_y": 2 * math.atan(h / (2 * fl_y)),
        "fl_x": fl_x,
        "fl_y": fl_y,
        "sk_x": 0.0,
        "sk_y": 0.0,
        "k1": 0.0,
        "k2": 0.0,
        "k3": 0.0,
        "k4": 0.0,
        "p1": 0.0,
        "p2": 0.0,
        "is_fisheye": False,
        "cx": cx,
        "cy": cy,
        "w": w,
        "h": h,
        "aabb_scale": 2.0 ** round(math.log2(radius)),
        "aabb_range": [[float(c - radius), float(c + radius)] for c in center],
        "sphere_center": [float(c) for c in center],
        "sphere_radius": radius,
        "frames": frames,
    }


# --- reference alignment -------------------------------------------------------------


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity (s, R, t) minimising ‖s R src + t − dst‖² (Umeyama 1991)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    cov = xd.T @ xs / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[2, 2] = -1
    rot = u @ sign @ vt
    scale = float(np.trace(np.diag(d) @ sign) / xs.var(0).sum())
    return scale, rot, mu_d - scale * rot @ mu_s


def load_true_cameras(path: Path) -> dict[str, np.ndarray]:
    """Cameras file (the sample's format): OpenCV c2w per frame index or name."""
    data = json.loads(path.read_text())
    out = {}
    for f in data["frames"]:
        key = f"{f['index']:06d}" if "index" in f else Path(f["name"]).stem
        out[key] = np.asarray(f["c2w"], float)
    return out


def align_to_truth(model, true_cams: dict[str, np.ndarray]) -> dict:
    """Similarity mapping the true frame into the SfM frame, plus its camera errors."""
    return align_poses({Path(n).stem: c2w for n, c2w in camera_poses(model).items()}, true_cams)


OUTLIER_FACTOR = 5.0
OUTLIER_MIN = 0.02


def align_poses(rec: dict[str, np.ndarray], true_cams: dict[str, np.ndarray]) -> dict:
    """``align_to_truth`` on camera-to-world matrices by name (``rec``: the SfM frame's)."""
    names = sorted(set(rec) & set(true_cams))
    if len(names) < 3:
        raise UserError(
            f"only {len(names)} registered frames have a reference camera",
            "reference_cameras must name frames as the frames stage does (video frame index)",
        )
    src = np.stack([true_cams[n][:3, 3] for n in names])
    dst = np.stack([rec[n][:3, 3] for n in names])
    orbit = float(np.median(np.linalg.norm(dst - dst.mean(0), axis=1)))
    # SfM can place a few frames of a repetitive or symmetric object on the far side of the
    # orbit (6 of NeRF's 100 Lego renders, turned 180° about the up axis): fitted with the
    # rest, they pull every camera off by a fifth of the orbit. Refit without the frames
    # further off than OUTLIER_FACTOR × the median (and OUTLIER_MIN of the orbit).
    keep = np.ones(len(names), bool)
    for last in (False, False, True):
        s, rot, t = umeyama(src[keep], dst[keep])
        center_err = np.linalg.norm((s * (rot @ src.T)).T + t - dst, axis=1)
        limit = max(OUTLIER_FACTOR * float(np.median(center_err[keep])), OUTLIER_MIN * orbit)
        new_keep = center_err <= limit
        if last or new_keep.sum() < max(3, len(names) // 2) or (new_keep == keep).all():
            break  # the fit is on ``keep``, the frames it lists as inliers
        keep = new_keep
    rot_err = []
    for n in names:
        r_true = rot @ true_cams[n][:3, :3]
        cos = (np.trace(r_true.T @ rec[n][:3, :3]) - 1) / 2
        rot_err.append(math.degrees(math.acos(np.clip(cos, -1, 1))))
    return {
        "frames": len(names),
        "outliers": [n for n, k in zip(names, keep, strict=True) if not k],
        "scale": s,
        "rotation": rot.tolist(),
        "translation": t.tolist(),
        "orbit_radius": orbit,
        "median_center_error": float(np.median(center_err)),
        "median_center_error_rel": float(np.median(center_err) / orbit),
        "median_rotation_error_deg": float(np.median(rot_err)),
        "max_rotation_error_deg": float(np.max(rot_err)),
    }


# --- preview ---------------------------------------------------------------------------

SQUARE = [(-1, -1), (1, -1), (1, 1), (-1, 1)]
# edges of ObjectBox.corners() (corner index bits: x, y, z of the box frame)
BOX_EDGES = [(a, a | bit) for a in range(8) for bit in (1, 2, 4) if not a & bit]


def plot_sphere(
    points: np.ndarray,
    poses: dict[str, np.ndarray],
    sphere: Sphere,
    out: Path,
    title: str,
    reference: np.ndarray | None = None,
    notes: list[str] = (),  # type: ignore[assignment]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c2w = np.stack(list(poses.values()))
    box = sphere.box.corners() if sphere.box is not None else None
    patch = None
    # With a support, draw in its frame (x, y on the table, z up): a top view and two sides.
    frame, labels = np.eye(3), ["x–y", "x–z", "y–z"]
    if sphere.support is not None:  # a square of the plane around the sphere's foot
        frame = up_frame(sphere.support.normal)
        labels = ["top (support frame)", "side (support frame)", "side (support frame)"]
        foot = sphere.support.project(sphere.center)
        half = 1.6 * sphere.radius
        patch = np.stack([foot + half * (a * frame[0] + b * frame[1]) for a, b in SQUARE])
        patch = patch @ frame.T
    points = points @ frame.T
    box = None if box is None else box @ frame.T
    c2w = c2w.copy()
    c2w[:, :3, :3] = frame @ c2w[:, :3, :3]
    c2w[:, :3, 3] = c2w[:, :3, 3] @ frame.T
    sphere = Sphere(
        frame @ sphere.center, sphere.radius, sphere.method, sphere.notes, sphere.support
    )
    centers = c2w[:, :3, 3]
    span = np.linalg.norm(centers - sphere.center, axis=1).max() * 1.1
    frustum = 0.08 * span
    fig, axes = plt.subplots(1, 3, figsize=(15, 5.2))
    for ax, (i, j), label in zip(axes, [(0, 1), (0, 2), (1, 2)], labels, strict=True):
        inside = np.linalg.norm(points - sphere.center, axis=1) < sphere.radius
        ax.scatter(points[~inside, i], points[~inside, j], s=1, c="0.7", label="points outside")
        ax.scatter(points[inside, i], points[inside, j], s=1, c="tab:blue", label="points inside")
        for m in c2w:
            tip = m[:3, 3] + frustum * m[:3, 2]
            ax.plot([m[i, 3], tip[i]], [m[j, 3], tip[j]], c="tab:red", lw=0.6)
        ax.scatter(centers[:, i], centers[:, j], s=6, c="tab:red", label="cameras")
        ax.add_patch(
            plt.Circle(
                (sphere.center[i], sphere.center[j]),
                sphere.radius,
                fill=False,
                ec="k",
                lw=1.5,
                label="bounding sphere",
            )
        )
        if sphere.support is not None:
            ax.fill(patch[:, i], patch[:, j], fc="tab:green", alpha=0.15, ec="tab:green", lw=1)
            ax.plot([], [], c="tab:green", label="support plane")
        if box is not None:
            for a, b in BOX_EDGES:
                ax.plot(box[[a, b], i], box[[a, b], j], c="tab:orange", lw=1)
            ax.plot([], [], c="tab:orange", label="object box")
        ax.set_xlim(sphere.center[i] - span, sphere.center[i] + span)
        ax.set_ylim(sphere.center[j] - span, sphere.center[j] + span)
        ax.set_aspect("equal")
        ax.set_title(label)
    axes[0].legend(loc="lower left", fontsize=7, markerscale=4)
    fig.suptitle("\n".join([title, *notes]), fontsize=12 if not notes else 9)
    fig.tight_layout()
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


# --- stage ---------------------------------------------------------------------------------


SFM_POINTS_SAMPLE = 4000  # SfM points written into transforms.json (sfm_points), at most


def points_sample(points: np.ndarray, center: np.ndarray, radius: float) -> list[list[float]]:
    """Up to ``SFM_POINTS_SAMPLE`` of ``points`` inside the sphere, evenly by index, rounded."""
    points = np.asarray(points)
    inside = points[np.linalg.norm(points - center, axis=1) < radius]
    step = max(1, -(-len(inside) // SFM_POINTS_SAMPLE))
    return np.round(inside[::step], 4).tolist()


def build_scene(
    sparse_dir: Path,
    out_transforms: Path,
    out_png: Path,
    *,
    scene: str,
    scene_type: str = "object",
    overrides: dict | None = None,
    find_support_plane: bool = True,
    photos: Path | None = None,
) -> dict:
    """transforms.json with the sphere written in, and its preview. Photos cut out by their
    transparency (images.tar's alpha masks) show the object alone: whatever flat base SfM
    finds in them (a plate, a model's base, a ship's sea) is the object's, and no support is
    looked for."""
    model = load_model(sparse_dir)
    alpha = archive_alpha(photos, list(camera_poses(model))) if photos is not None else None
    cut_out = alpha is not None
    if cut_out and find_support_plane and scene_type == "object":
        log.info(
            "%s: the photos are cut out by their transparency: everything opaque is the "
            "object, no support is looked for under it",
            scene,
        )
        find_support_plane = False
    sphere, points = compute_sphere(model, scene_type, overrides or {}, find_support_plane, photos)
    for note in sphere.notes:
        log.warning("%s: sphere: %s", scene, note)
    transforms = transforms_dict(model, sphere)
    # frames whose cut-out silhouette says SfM misplaced them, left out of training
    transforms["misplaced_frames"] = (
        leave_out_misplaced(model, alpha, sphere, transforms, scene)
        if alpha is not None and scene_type == "object"
        else {}
    )
    # Extra keys (Neuralangelo ignores them): notes for the report; the support plane and the
    # object's box, in world units, for the mesh clean-up and the preview.
    transforms["sphere_notes"] = sphere.notes
    transforms["support_plane"] = sphere.support.as_json() if sphere.support else None
    transforms["object_box"] = sphere.box.as_json() if sphere.box else None
    # whether the background is textured, for training's plain-backdrop masks
    transforms["background_points"] = round(
        background_point_share(points, sphere.center, sphere.radius, sphere.support), 5
    )
    # whether the world goes on under the sphere (the floor under a stool): the extraction
    # then looks for a support on the mesh where SfM's points showed none (isolate); not
    # where the user turned the support search off
    transforms["points_below_sphere"] = (
        round(below_sphere_share(points, sphere.center, sphere.radius, scene_up(transforms)), 5)
        if find_support_plane
        else None
    )
    below = transforms["points_below_sphere"] or 0.0
    # SfM's points inside the sphere (a sample) where it found no support: the extraction
    # tells a plain support on the mesh (few points on it) from the object's own base
    transforms["sfm_points"] = (
        points_sample(points, sphere.center, sphere.radius)
        if scene_type == "object" and sphere.support is None and find_support_plane
        else None
    )
    if scene_type == "object" and sphere.support is None and below >= MESH_SUPPORT_BELOW:
        log.info(
            "%s: no support plane in SfM's points, but %.0f%% of them lie under the sphere (a "
            "floor under a stool or a box?): a flat support under the object is looked for on "
            "each mesh and cut (object: {support: keep} keeps it)",
            scene,
            100 * below,
        )
    poses = camera_poses(model)
    # how the cameras surround an object: notes on what the photos leave unseen
    capture = None
    if scene_type == "object":
        centers = np.stack([m[:3, 3] for m in poses.values()])
        capture = coverage(centers, sphere.center, sphere.radius, scene_up(transforms))
        for note in capture.notes:
            log.warning("%s: capture: %s", scene, note)
    transforms["capture"] = capture.as_json() if capture else None
    transforms["cut_out"] = cut_out
    write_json(out_transforms, transforms)
    title = (
        # clean_points keeps the SfM points seen by 3 photos or more within 2 px: fewer than
        # sfm.json's count (a new user's trial asked why)
        f"{scene}: {len(transforms['frames'])} cameras, {len(points)} points (seen thrice "
        f"within 2 px), "
        f"sphere r={sphere.radius:.3g} ({sphere.method})"
    )
    plot_sphere(points, poses, sphere, out_png, title, notes=capture.notes if capture else [])
    return transforms


def build_reference(
    sparse_dir: Path,
    transforms: Path,
    reference: Path,
    out_reference: Path,
    out_alignment: Path,
    *,
    scene: str,
    reference_cameras: Path | None = None,
) -> dict:
    """reference.ply in the frame of transforms.json, and how well it was aligned."""
    import trimesh

    if not reference.is_file():
        raise UserError(f"reference mesh {reference} does not exist", "fix reference: in config")
    model = load_model(sparse_dir)
    alignment: dict = {}
    if reference_cameras is not None:
        alignment = align_to_truth(model, load_true_cameras(reference_cameras))
        log.info(
            "%s: reference aligned on %d cameras, median centre error %.2f%% of the orbit, "
            "rotation %.2f°",
            scene,
            alignment["frames"],
            100 * alignment["median_center_error_rel"],
            alignment["median_rotation_error_deg"],
        )
    meta = json.loads(transforms.read_text())
    ref = trimesh.load(reference, force="mesh", process=False)
    if reference_cameras is None:  # a scan in its own frame: registered onto the SfM points
        from video2mesh.register_reference import REFERENCE_SAMPLES, object_points, register

        samples, _ = trimesh.sample.sample_surface(ref, REFERENCE_SAMPLES, seed=0)
        points, up = object_points(clean_points(model), meta)
        alignment = register(np.asarray(samples), points, up)
        log.info(
            "%s: reference registered onto %d SfM points: scale %.4g, %.2f%% of its diagonal "
            "off, %.0f%% of the points within 1%%%s",
            scene,
            alignment["points"],
            alignment["scale"],
            alignment["registration_distance_pct"],
            100 * alignment["points_within_1pct"],
            "; AMBIGUOUS: another orientation fits as well" if alignment.get("ambiguous") else "",
        )
    from video2mesh.silhouette import similarity_matrix

    ref.apply_transform(similarity_matrix(alignment))
    with atomic_path(out_reference) as tmp:
        ref.export(tmp)
    center, radius = np.asarray(meta["sphere_center"]), float(meta["sphere_radius"])
    info = dict(alignment)
    d = np.linalg.norm(np.asarray(ref.vertices) - center, axis=1)
    info["reference_inside_sphere"] = float((d < radius).mean())
    bound_center = ref.bounding_sphere.primitive.center
    info["reference_bounding_radius"] = float(
        np.linalg.norm(np.asarray(ref.vertices) - bound_center, axis=1).max()
    )
    info["sphere_radius"] = radius
    write_json(out_alignment, info)
    return info


def _scene_cmd(args: argparse.Namespace) -> None:
    try:
        build_scene(
            Path(args.sparse),
            Path(args.out_transforms),
            Path(args.out_png),
            scene=args.scene,
            scene_type=args.type,
            overrides=parse_overrides(args.sphere),
            find_support_plane=not args.no_support,
            photos=Path(args.photos) if args.photos else None,
        )
    except UserError as err:
        raise err.for_scene(args.scene) from None


def _reference_cmd(args: argparse.Namespace) -> None:
    try:
        build_reference(
            Path(args.sparse),
            Path(args.transforms),
            Path(args.reference),
            Path(args.out),
            Path(args.out_alignment),
            scene=args.scene,
            reference_cameras=Path(args.reference_cameras) if args.reference_cameras else None,
        )
    except UserError as err:
        raise err.for_scene(args.scene) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scene", help="transforms.json with the bounding sphere, and its preview")
    p.add_argument("--scene", required=True)
    p.add_argument("--sparse", required=True, help="folder of the undistorted model (sfm/sparse)")
    p.add_argument("--type", choices=["object", "scene"], default="object")
    p.add_argument("--sphere", help="JSON overrides: {center: [dx,dy,dz], radius: r, scale: s}")
    p.add_argument(
        "--no-support", action="store_true", help="do not look for a table/floor under an object"
    )
    p.add_argument(
        "--photos", help="SfM's undistorted photos (sfm/images.tar): whether a plain object stands"
    )
    p.add_argument("--out-transforms", required=True)
    p.add_argument("--out-png", required=True)
    p.set_defaults(func=_scene_cmd)

    r = sub.add_parser("reference", help="the reference mesh in the frame of transforms.json")
    r.add_argument("--scene", required=True)
    r.add_argument("--sparse", required=True)
    r.add_argument("--transforms", required=True)
    r.add_argument("--reference", required=True, help="reference mesh")
    r.add_argument("--reference-cameras", help="cameras in the reference's frame (sample format)")
    r.add_argument("--out", required=True, help="results/{scene}/reference.ply")
    r.add_argument("--out-alignment", required=True, help="results/{scene}/alignment.json")
    r.set_defaults(func=_reference_cmd)
