"""Silhouette IoU: how well a mesh's outline matches the object's masks under the true cameras.

For captures with calibrated cameras and object masks (no scan), the mesh is projected with each
true camera at the mask's resolution and its silhouette (every pixel whose centre falls inside a
projected triangle: for a closed mesh, exactly the pixels whose ray hits it) is compared with the
mask: IoU = |mesh ∩ mask| / |mesh ∪ mask| per view; the summary is their mean, median and minimum.

Our meshes live in the SfM frame; the true cameras in the calibration frame. The similarity that
maps the true camera centres onto the SfM ones by image name (``scene.align_to_truth``, the one
the reference stage writes to alignment.json) is inverted to bring the mesh into the calibration
frame. Pass either that alignment.json or the SfM model (sfm/sparse) to compute it. With
``--refine SFM_DIR`` the mesh is also scored under the alignment refined by the photos
(``refine_to_photos``): the centre fit counts SfM's camera error as the mesh's, which with
cameras far from a small object (a long lens) dominates the score.

Cameras: the sample's cameras.json format (OpenCV camera-to-world per frame, keyed by ``index``
or ``name``), with intrinsics per frame (``frames[i].intrinsics``) or shared (``intrinsics``):
fx, fy, cx, cy, w, h and optionally skew; pixel origin at the corner of the top-left pixel.
Masks: ``<masks>/<stem>.png``, object > 127; a mask of another size than the camera's w x h is
an error. Masks of a plain dark or bright background can be made by thresholding
(benchmarks/realworld/prepare_real.py does so for Middlebury's black background).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from video2mesh.atomic import write_json
from video2mesh.errors import UserError

log = logging.getLogger(__name__)

_CHUNK = 2_000_000  # candidate pixels tested at once while rasterising


@dataclass(frozen=True)
class Camera:
    name: str  # image stem
    k: np.ndarray  # 3x3
    w2c: np.ndarray  # 4x4, OpenCV
    width: int
    height: int


def _k_matrix(intr: dict) -> np.ndarray:
    return np.array(
        [
            [intr["fx"], intr.get("skew", 0.0), intr["cx"]],
            [0.0, intr["fy"], intr["cy"]],
            [0.0, 0.0, 1.0],
        ]
    )


def load_cameras(path: Path) -> list[Camera]:
    """Cameras of a cameras.json (see the module docstring), in file order."""
    data = json.loads(Path(path).read_text())
    shared = data.get("intrinsics")
    out = []
    for f in data["frames"]:
        intr = f.get("intrinsics", shared)
        if intr is None:
            raise UserError(
                f"{path}: frame {f} has no intrinsics", "add intrinsics to cameras.json"
            )
        name = f"{f['index']:06d}" if "index" in f else Path(f["name"]).stem
        w2c = np.linalg.inv(np.asarray(f["c2w"], float))
        out.append(Camera(name, _k_matrix(intr), w2c, int(intr["w"]), int(intr["h"])))
    return out


def rasterise(vertices: np.ndarray, faces: np.ndarray, cam: Camera) -> np.ndarray:
    """Boolean (h, w) silhouette: pixels whose centre lies inside a projected triangle.

    Triangles with a vertex behind the camera are skipped (objects lie in front of it).
    Triangles are bucketed by the size of their pixel bounding box and each bucket is tested
    with one vectorised inside test over its candidate pixel centres, so a mesh of a few hundred
    thousand faces takes about a second per view.
    """
    cam_pts = vertices @ cam.w2c[:3, :3].T + cam.w2c[:3, 3]
    z = cam_pts[:, 2]
    proj = cam_pts @ cam.k.T
    uv = proj[:, :2] / np.where(z > 1e-9, z, 1.0)[:, None]
    tri = uv[faces]  # (m, 3, 2)
    tri = tri[(z[faces] > 1e-9).all(axis=1)]
    # Pixel (i, j) has its centre at (j + 0.5, i + 0.5).
    lo = np.ceil(tri.min(axis=1) - 0.5).astype(np.int64)
    hi = np.floor(tri.max(axis=1) - 0.5).astype(np.int64)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, [cam.width - 1, cam.height - 1])
    extent = (hi - lo + 1).max(axis=1)
    live = extent > 0
    tri, lo, extent = tri[live], lo[live], extent[live]
    mask = np.zeros((cam.height, cam.width), bool)
    if len(tri) == 0:
        return mask
    size = 1
    while True:
        sel = (extent <= size) & (extent > size // 2) if size > 1 else extent <= 1
        if sel.any():
            _fill(mask, tri[sel], lo[sel], size)
        if size >= extent.max():
            break
        size *= 2
    return mask


def _fill(mask: np.ndarray, tri: np.ndarray, lo: np.ndarray, size: int) -> None:
    """Set the pixels inside each triangle among the size x size pixels from its corner lo."""
    offsets = np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="xy"), -1).reshape(
        -1, 2
    )
    per_chunk = max(1, _CHUNK // len(offsets))
    h, w = mask.shape
    for s in range(0, len(tri), per_chunk):
        t, base = tri[s : s + per_chunk], lo[s : s + per_chunk]
        pix = base[:, None, :] + offsets[None]  # (n, k, 2) integer pixel (x, y)
        p = pix + 0.5
        a, b, c = t[:, 0, None], t[:, 1, None], t[:, 2, None]

        def edge(p0: np.ndarray, p1: np.ndarray, q: np.ndarray) -> np.ndarray:
            return (p1[..., 0] - p0[..., 0]) * (q[..., 1] - p0[..., 1]) - (
                p1[..., 1] - p0[..., 1]
            ) * (q[..., 0] - p0[..., 0])

        e0, e1, e2 = edge(b, c, p), edge(c, a, p), edge(a, b, p)
        # Inside for either winding; edges count as inside so shared edges leave no gaps.
        inside = ((e0 >= 0) & (e1 >= 0) & (e2 >= 0)) | ((e0 <= 0) & (e1 <= 0) & (e2 <= 0))
        inside &= (pix[..., 0] < w) & (pix[..., 1] < h)
        hit = pix[inside]
        mask[hit[:, 1], hit[:, 0]] = True


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def similarity_matrix(alignment: dict) -> np.ndarray:
    """4x4 of the alignment's similarity (true frame -> SfM frame), as alignment.json stores it."""
    m = np.eye(4)
    m[:3, :3] = alignment["scale"] * np.asarray(alignment["rotation"], float)
    m[:3, 3] = alignment["translation"]
    return m


def load_mask(path: Path, cam: Camera) -> np.ndarray:
    from PIL import Image

    mask = np.asarray(Image.open(path).convert("L")) > 127
    if mask.shape != (cam.height, cam.width):
        raise UserError(
            f"mask {path} is {mask.shape[1]}x{mask.shape[0]}, camera {cam.name} is "
            f"{cam.width}x{cam.height}",
            "masks must have the size the cameras' intrinsics describe",
        )
    return mask


# the mesh a worker process rasterises (set once per worker by _init_worker, not per view)
_WORKER_MESH: tuple[np.ndarray, np.ndarray] | None = None


def _init_worker(vertices: np.ndarray, faces: np.ndarray) -> None:
    global _WORKER_MESH
    _WORKER_MESH = (vertices, faces)


def _worker_view(cam: Camera, path: Path) -> dict:
    assert _WORKER_MESH is not None
    return _score_view(*_WORKER_MESH, cam, path)


def _score_view(vertices: np.ndarray, faces: np.ndarray, cam: Camera, path: Path) -> dict:
    mask = load_mask(path, cam)
    sil = rasterise(vertices, faces, cam)
    return {
        "name": cam.name,
        "iou": round(iou(sil, mask), 5),
        "mesh_pixels": int(sil.sum()),
        "mask_pixels": int(mask.sum()),
    }


def silhouette_iou(
    vertices: np.ndarray,
    faces: np.ndarray,
    cameras: list[Camera],
    masks_dir: Path,
    sfm_to_true: np.ndarray | None = None,
    workers: int = 1,
) -> dict:
    """Per-view and summary IoU of the mesh's silhouettes against the masks.

    ``sfm_to_true`` (4x4) moves the mesh into the cameras' frame first. Cameras without a mask
    file are skipped and listed. ``workers`` > 1 rasterises the views in that many processes
    (a view of a million-face mesh at 1600 x 1200 takes seconds: the pixel tests, not the
    faces, cost, so decimating does not help).
    """
    v = np.asarray(vertices, float)
    if sfm_to_true is not None:
        v = v @ sfm_to_true[:3, :3].T + sfm_to_true[:3, 3]
    f = np.asarray(faces)
    jobs, missing = [], []
    for cam in cameras:
        path = Path(masks_dir) / f"{cam.name}.png"
        if path.is_file():
            jobs.append((cam, path))
        else:
            missing.append(cam.name)
    if not jobs:
        raise UserError(f"no camera has a mask in {masks_dir}", "masks are named <image stem>.png")
    if workers > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(
            min(workers, len(jobs)),
            mp_context=multiprocessing.get_context("fork"),
            initializer=_init_worker,
            initargs=(v, f),
        ) as pool:
            views = list(pool.map(_worker_view, *zip(*jobs, strict=True)))
    else:
        views = [_score_view(v, f, cam, path) for cam, path in jobs]
    scores = np.array([x["iou"] for x in views])
    return {
        "views": len(views),
        "mean_iou": float(scores.mean()),
        "median_iou": float(np.median(scores)),
        "min_iou": float(scores.min()),
        "cameras_without_mask": missing,
        "per_view": views,
    }


def sfm_to_true_transform(alignment: Path | None, sparse: Path | None, cameras: Path) -> np.ndarray:
    """Inverse of the true->SfM similarity: from alignment.json, or computed from the SfM model."""
    if alignment is not None:
        data = json.loads(Path(alignment).read_text())
        if "scale" not in data:
            raise UserError(
                f"{alignment} holds no similarity (its reference had no cameras)",
                "pass --sparse sfm/sparse instead, to align on the cameras",
            )
    elif sparse is not None:
        from video2mesh.scene import align_to_truth, load_model, load_true_cameras

        data = align_to_truth(load_model(Path(sparse)), load_true_cameras(Path(cameras)))
        log.info(
            "aligned on %d cameras: median centre error %.2f%% of the orbit, rotation %.2f°",
            data["frames"],
            100 * data["median_center_error_rel"],
            data["median_rotation_error_deg"],
        )
    else:
        return np.eye(4)
    return np.linalg.inv(similarity_matrix(data))


def distort(xy: np.ndarray, camera: dict) -> np.ndarray:
    """Normalised image coordinates to the pixels of COLMAP's ``camera`` (sfm.json's
    ``distorted_camera``: the frames as SfM saw them, before undistortion)."""
    params, model = camera["params"], camera["model"]
    if model in ("SIMPLE_PINHOLE", "SIMPLE_RADIAL", "RADIAL"):
        f, cx, cy, *k = params
        fx = fy = f
    elif model == "PINHOLE":
        (fx, fy, cx, cy), k = params, []
    else:
        raise UserError(
            f"camera model {model} is not supported here",
            "run SfM with camera_model SIMPLE_RADIAL, RADIAL or PINHOLE",
        )
    r2 = (xy**2).sum(1, keepdims=True)
    radial = 1 + sum(c * r2 ** (i + 1) for i, c in enumerate(k))
    return xy * radial * [fx, fy] + [cx, cy]


def _similarity_update(params: np.ndarray, pivot: np.ndarray) -> np.ndarray:
    """4×4 similarity from (rotation vector, shift, log scale), turning about ``pivot``."""
    from scipy.spatial.transform import Rotation

    m = np.eye(4)
    m[:3, :3] = np.exp(params[6]) * Rotation.from_rotvec(params[:3]).as_matrix()
    m[:3, 3] = pivot - m[:3, :3] @ pivot + params[3:6]
    return m


def refine_to_photos(
    to_true: np.ndarray,
    sparse: Path,
    distorted: dict,
    cameras: list[Camera],
    max_observations: int = 30_000,
) -> tuple[np.ndarray, dict]:
    """The SfM-to-true similarity refined by the photos: the one under which the true cameras
    project SfM's points where SfM found them in the frames (robust least squares from
    ``to_true``). The camera-centre fit weighs the orbit; with a long lens, or cameras far
    from a small object, a centre error of 1 % of the orbit moves the object by a tenth of its
    size (Middlebury's dino), which the silhouettes then count as the mesh's. Like the Chamfer's
    ICP refinement (refine_alignment.py), it says how good the shape is, the centre fit how good
    shape and cameras are together. Returns the refined transform and its report."""
    import pycolmap
    from scipy.optimize import least_squares

    from video2mesh.refine_alignment import apply

    model = pycolmap.Reconstruction(sparse)
    und = next(iter(model.cameras.values()))
    fx, fy, cx, cy = und.params[:4]
    slot = {cam.name: i for i, cam in enumerate(cameras)}
    points, pixels, index = [], [], []
    for image in model.images.values():
        i = slot.get(Path(image.name).stem)
        if i is None:
            continue
        for p2d in image.points2D:
            if p2d.has_point3D():
                points.append(model.points3D[p2d.point3D_id].xyz)
                pixels.append(p2d.xy)
                index.append(i)
    if len(points) < 50:
        raise UserError(
            f"{sparse}: only {len(points)} observations of SfM points in frames with a true camera",
            "refine only a model whose images are named as cameras.json's frames",
        )
    rng = np.random.default_rng(0)
    pick = rng.permutation(len(points))[:max_observations]
    xyz = np.asarray(points)[pick]
    xy = (np.asarray(pixels)[pick] - [cx, cy]) / [fx, fy]
    which = np.asarray(index)[pick]
    widths = np.array([[cameras[i].width] for i in which])
    # the frames' pixels (SfM saw them distorted), at the calibration's image size
    observed = distort(xy, distorted) * widths / distorted["width"]
    base = apply(to_true, xyz)
    pivot = np.median(base, axis=0)
    k = np.stack([cameras[i].k for i in which])
    w2c = np.stack([cameras[i].w2c for i in which])

    def residuals(params: np.ndarray) -> np.ndarray:
        world = apply(_similarity_update(params, pivot), base)
        cam = np.einsum("nij,nj->ni", w2c[:, :3, :3], world) + w2c[:, :3, 3]
        uvw = np.einsum("nij,nj->ni", k, cam)
        return (uvw[:, :2] / uvw[:, 2:3] - observed).ravel()

    before = np.linalg.norm(residuals(np.zeros(7)).reshape(-1, 2), axis=1)
    fit = least_squares(residuals, np.zeros(7), loss="huber", f_scale=2.0, x_scale="jac")
    after = np.linalg.norm(fit.fun.reshape(-1, 2), axis=1)
    update = _similarity_update(fit.x, pivot)
    report = {
        "observations": len(xyz),
        "median_reprojection_px": [round(float(np.median(e)), 3) for e in (before, after)],
        "scale": float(np.exp(fit.x[6])),
        "rotation_deg": float(np.degrees(np.linalg.norm(fit.x[:3]))),
        # how far the refinement moves the SfM points' median, in the cameras' frame's units
        "shift": float(np.linalg.norm(apply(update, pivot[None])[0] - pivot)),
        "rotation_vector": fit.x[:3].tolist(),
    }
    return update @ to_true, report


def _cmd(args: argparse.Namespace) -> None:
    import trimesh

    if args.refine and not (args.alignment or args.sparse):
        raise UserError(
            "--refine refines the alignment of the SfM frame to the cameras' frame",
            "pass --alignment alignment.json or --sparse results/{scene}/sfm/sparse too",
        )
    mesh = trimesh.load(args.mesh, force="mesh", process=False)
    cameras = load_cameras(Path(args.cameras))
    transform = sfm_to_true_transform(
        Path(args.alignment) if args.alignment else None,
        Path(args.sparse) if args.sparse else None,
        Path(args.cameras),
    )

    def score(to_true: np.ndarray) -> dict:
        vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
        return silhouette_iou(vertices, faces, cameras, Path(args.masks), to_true)

    result = score(transform)
    if args.refine:
        sfm_dir = Path(args.refine)
        distorted = json.loads((sfm_dir / "sfm.json").read_text()).get("distorted_camera")
        if distorted is None:
            raise UserError(
                f"{sfm_dir / 'sfm.json'} has no distorted_camera (an SfM run before session 26)",
                "re-run the sfm stage",
            )
        refined, report = refine_to_photos(transform, sfm_dir / "sparse", distorted, cameras)
        scores = score(refined)
        result["refined"] = {
            "alignment": report,
            **{k: scores[k] for k in ("mean_iou", "median_iou", "min_iou")},
        }
    result["mesh"] = str(args.mesh)
    result["frame"] = "sfm (aligned)" if (args.alignment or args.sparse) else "calibration"
    write_json(args.out, result)
    log.info(
        "silhouette IoU over %d views: mean %.4f, min %.4f",
        result["views"],
        result["mean_iou"],
        result["min_iou"],
    )
    if "refined" in result:
        log.info(
            "with the alignment refined by the photos: mean %.4f, min %.4f",
            result["refined"]["mean_iou"],
            result["refined"]["min_iou"],
        )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("silhouette", help="silhouette IoU of a mesh under true cameras vs masks")
    p.add_argument("--mesh", required=True)
    p.add_argument("--cameras", required=True, help="cameras.json with intrinsics (true frame)")
    p.add_argument("--masks", required=True, help="folder of <image stem>.png object masks")
    frame = p.add_mutually_exclusive_group()
    frame.add_argument("--alignment", help="alignment.json: the mesh is in the SfM frame")
    frame.add_argument("--sparse", help="sfm/sparse model: align its cameras to the true ones")
    p.add_argument(
        "--refine",
        metavar="SFM_DIR",
        help="results/{scene}/sfm: also score with the alignment refined by the photos "
        "(refine_to_photos: the true cameras see SfM's points where SfM found them)",
    )
    p.add_argument("--out", required=True, help="output JSON")
    p.set_defaults(func=_cmd)
