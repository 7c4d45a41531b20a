"""Mesh quality against a reference mesh: accuracy, completeness, Chamfer-L1, F-score, normals.

Definitions (DTU / Tanks-and-Temples conventions, all distances in world units):

- Both meshes are sampled uniformly by area with a fixed seed (``samples`` points each), so a
  metric is a deterministic function of the two meshes.
- accuracy = mean distance from the mesh's samples to the nearest reference sample;
  completeness = mean distance from the reference's samples to the nearest mesh sample;
  Chamfer-L1 = (accuracy + completeness) / 2.
- F-score at τ: precision = share of mesh samples within τ of the reference, recall = share of
  reference samples within τ of the mesh, F = 2PR / (P + R). τ is 0.5% and 1% of the diagonal of
  the reference's bounding box (after cropping, below), taken along the reference's own axes: a
  reference moved into the SfM frame by a similarity (``--alignment``) is measured before its
  rotation, so that percentages do not depend on how SfM happened to orient the scene (an
  axis-aligned box of the rotated sample is 0-10 % larger depending on the rotation).
- Chamfer % = Chamfer-L1 as a percentage of that diagonal (the number to read across scenes).
- object share = the share of the mesh's whole area (NOT cropped to the sphere) within 1 % of
  the diagonal of the reference: how much of what the user gets is the object.
- normal consistency = mean over both directions of |n · n_nearest|: the absolute value because a
  surface extracted from an SDF may have its faces wound either way.

Background: a neural surface is only meaningful inside the bounding sphere of transforms.json;
the extraction may add geometry outside it (the background model, the grid's corners). Both meshes
are therefore cropped to that sphere before sampling (samples outside it are dropped; faces wholly
outside it are dropped first so the budget of samples goes to the object), and the area share that
was cropped is reported per mesh (``cropped_area_fraction``). Without transforms.json nothing is
cropped.

Distances are exact point-to-triangle distances from each sample to the other (cropped) mesh,
searched among the triangles of the nearest samples, so they carry no sampling-spacing bias.

When a scene has no reference mesh, the rule passes the finest mesh of the same run as the reference
and ``--reference-kind finest-mesh``; the JSON says so and the report labels it.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from video2mesh.atomic import write_json
from video2mesh.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    import trimesh

DEFAULT_SAMPLES = 100_000
FSCORE_FRACTIONS = (0.005, 0.01)
REFERENCE_KINDS = ("ground-truth", "finest-mesh")


@dataclass(frozen=True)
class Sphere:
    center: tuple[float, float, float]
    radius: float


def read_sphere(transforms: str | Path) -> Sphere:
    """The bounding sphere (world units) from a Neuralangelo transforms.json."""
    try:
        meta = json.loads(Path(transforms).read_text())
        center = tuple(float(c) for c in meta["sphere_center"])
        radius = float(meta["sphere_radius"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"cannot read sphere_center/sphere_radius from {transforms}: {exc}",
            "re-run the scene stage, or check the file is a Neuralangelo transforms.json",
        ) from exc
    if len(center) != 3 or not radius > 0:
        raise UserError(
            f"invalid bounding sphere in {transforms}: center={center}, radius={radius}",
            "set a positive sphere radius in the config's `sphere:` section",
        )
    return Sphere(center, radius)  # type: ignore[arg-type]


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """A triangle mesh from any file trimesh reads; an empty mesh stays empty (no error)."""
    import trimesh

    try:
        loaded = trimesh.load(str(path), force="mesh", process=False)
    except Exception as exc:  # trimesh raises many types for unreadable files
        raise UserError(f"cannot read mesh {path}: {exc}", "re-run the extraction") from exc
    if not isinstance(loaded, trimesh.Trimesh):  # an empty scene
        return trimesh.Trimesh()
    return loaded


def crop_to_sphere(mesh: trimesh.Trimesh, sphere: Sphere | None) -> trimesh.Trimesh:
    """Faces with at least one vertex inside the sphere (samples are filtered exactly later)."""
    import numpy as np
    import trimesh

    if sphere is None or len(mesh.faces) == 0:
        return mesh
    inside_v = np.linalg.norm(mesh.vertices - np.asarray(sphere.center), axis=1) <= sphere.radius
    keep = inside_v[mesh.faces].any(axis=1)
    if keep.all():
        return mesh
    if not keep.any():
        return trimesh.Trimesh()
    return mesh.submesh([np.nonzero(keep)[0]], append=True, only_watertight=False)


@dataclass
class Surface:
    """Samples of a mesh inside the sphere, with the triangles they were drawn from."""

    points: np.ndarray  # (n, 3)
    face: np.ndarray  # (n,) index into triangles
    triangles: np.ndarray  # (f, 3, 3) of the cropped mesh
    face_normals: np.ndarray  # (f, 3)
    cropped_area_fraction: float

    @property
    def normals(self) -> np.ndarray:
        return self.face_normals[self.face]


def sample_surface(mesh: trimesh.Trimesh, count: int, seed: int, sphere: Sphere | None) -> Surface:
    """Seeded area-uniform samples inside the sphere."""
    import numpy as np

    total_area = float(mesh.area) if len(mesh.faces) else 0.0
    kept = crop_to_sphere(mesh, sphere)
    kept_area = float(kept.area) if len(kept.faces) else 0.0
    if kept_area <= 0:
        return Surface(
            np.zeros((0, 3)),
            np.zeros(0, dtype=int),
            np.zeros((0, 3, 3)),
            np.zeros((0, 3)),
            1.0 if total_area > 0 else 0.0,
        )
    rng = np.random.default_rng(seed)
    tris = np.asarray(kept.triangles)
    areas = np.asarray(kept.area_faces)
    face = rng.choice(len(areas), size=count, p=areas / areas.sum())
    # Uniform barycentric sampling by reflecting the unit square onto the triangle.
    uv = rng.random((count, 2))
    flip = uv.sum(axis=1) > 1
    uv[flip] = 1 - uv[flip]
    t = tris[face]
    points = t[:, 0] + uv[:, :1] * (t[:, 1] - t[:, 0]) + uv[:, 1:] * (t[:, 2] - t[:, 0])
    inside_share = 1.0
    if sphere is not None:
        inside = np.linalg.norm(points - np.asarray(sphere.center), axis=1) <= sphere.radius
        inside_share = float(inside.mean())
        points, face = points[inside], face[inside]
    cropped = max(0.0, 1.0 - kept_area * inside_share / total_area)
    return Surface(points, face, tris, np.asarray(kept.face_normals), cropped)


def distance_to_surface(
    points: np.ndarray, surface: Surface, candidates: int = 6
) -> tuple[np.ndarray, np.ndarray]:
    """Distance from each point to the nearest triangle of ``surface``, and that triangle.

    Exact point-to-triangle distances over candidate triangles: those of the nearest samples
    (right for large triangles) and those with the nearest centroids (right where triangles are
    denser than samples). The distance to the nearest *sample* alone is biased upwards by about
    half the sample spacing.
    """
    import numpy as np
    from scipy.spatial import cKDTree
    from trimesh.triangles import closest_point

    k_s = min(candidates, len(surface.points))
    k_c = min(candidates, len(surface.triangles))
    _, by_sample = cKDTree(surface.points).query(points, k=k_s, workers=1)
    _, by_centroid = cKDTree(surface.triangles.mean(axis=1)).query(points, k=k_c, workers=1)
    faces = np.concatenate(
        [surface.face[by_sample.reshape(len(points), k_s)], by_centroid.reshape(len(points), k_c)],
        axis=1,
    )
    k = faces.shape[1]
    dist = np.empty((len(points), k))
    chunk = 20_000  # bound the temporaries of trimesh's vectorised closest point
    for s in range(0, len(points), chunk):
        f = faces[s : s + chunk].ravel()
        p = np.repeat(points[s : s + chunk], k, axis=0)
        q = closest_point(surface.triangles[f], p)
        dist[s : s + chunk] = np.linalg.norm(q - p, axis=1).reshape(-1, k)
    best = dist.argmin(axis=1)
    rows = np.arange(len(points))
    return dist[rows, best], faces[rows, best]


def surface_metrics(pred: Surface, ref: Surface, diagonal: float) -> dict[str, Any]:
    """Metrics between two sampled surfaces (see the module docstring)."""
    import numpy as np

    if len(pred.points) == 0 or len(ref.points) == 0:
        out: dict[str, Any] = {
            "accuracy": None,
            "completeness": None,
            "chamfer_l1": None,
            "normal_consistency": None,
        }
        for frac in FSCORE_FRACTIONS:
            key = _fkey(frac)
            for name in ("precision", "recall", "fscore"):
                out[f"{name}_{key}"] = 0.0 if len(ref.points) else None
        return out
    d_pred, f_pred = distance_to_surface(pred.points, ref)
    d_ref, f_ref = distance_to_surface(ref.points, pred)
    accuracy = float(d_pred.mean())
    completeness = float(d_ref.mean())
    nc_pred = np.abs(np.einsum("ij,ij->i", pred.normals, ref.face_normals[f_pred])).mean()
    nc_ref = np.abs(np.einsum("ij,ij->i", ref.normals, pred.face_normals[f_ref])).mean()
    out = {
        "accuracy": accuracy,
        "completeness": completeness,
        "chamfer_l1": (accuracy + completeness) / 2,
        "normal_consistency": float((nc_pred + nc_ref) / 2),
    }
    for frac in FSCORE_FRACTIONS:
        tau = frac * diagonal
        precision = float((d_pred < tau).mean())
        recall = float((d_ref < tau).mean())
        fscore = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
        key = _fkey(frac)
        out[f"precision_{key}"] = precision
        out[f"recall_{key}"] = recall
        out[f"fscore_{key}"] = fscore
    return out


def _fkey(frac: float) -> str:
    """0.005 -> '0.5pct', 0.01 -> '1pct' (stable JSON/CSV column names)."""
    return f"{frac * 100:g}pct"


def evaluate_meshes(
    mesh: trimesh.Trimesh,
    reference: trimesh.Trimesh,
    sphere: Sphere | None = None,
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    reference_axes: np.ndarray | None = None,
    refine: bool = False,
) -> dict[str, Any]:
    """All metrics of ``mesh`` against ``reference``, both cropped to ``sphere`` when given.

    ``reference_axes`` (3×3, columns = the reference's own axes in this frame, i.e. the rotation
    of its alignment) orients the bounding box whose diagonal scales the thresholds. ``refine``
    adds ``refined``: the Chamfer % and object share after a similarity ICP of the mesh onto the
    reference (`refine_alignment`), with that similarity's scale, rotation and shift.
    """
    import numpy as np

    if samples < 100:
        raise UserError(f"too few samples ({samples})", "use --samples 100 or more")
    ref = sample_surface(reference, samples, seed, sphere)
    if len(ref.points) == 0:
        raise UserError(
            "the reference mesh has no surface inside the bounding sphere",
            "check the reference is in the frame of transforms.json and the sphere covers it",
        )
    # A different stream for the mesh, so that identical meshes are not sampled identically.
    pred = sample_surface(mesh, samples, seed + 1, sphere)
    own = ref.points if reference_axes is None else ref.points @ reference_axes
    diagonal = float(np.linalg.norm(own.max(axis=0) - own.min(axis=0)))
    out: dict[str, Any] = {
        "reference_diagonal": diagonal,
        "thresholds": {_fkey(f): f * diagonal for f in FSCORE_FRACTIONS},
        "samples": samples,
        "seed": seed,
        "mesh_samples_inside": len(pred.points),
        "cropped_area_fraction": pred.cropped_area_fraction,
        "reference_cropped_area_fraction": ref.cropped_area_fraction,
        "empty": len(pred.points) == 0,
    }
    out.update(surface_metrics(pred, ref, diagonal))
    if out["chamfer_l1"] is not None:
        out["chamfer_pct"] = 100 * out["chamfer_l1"] / diagonal
    out["object_share"] = object_share(mesh, ref, OBJECT_SHARE_FRACTION * diagonal, samples, seed)
    if refine and out["chamfer_l1"] is not None:
        refined = {"chamfer_pct": out["chamfer_pct"], "object_share": out["object_share"]}
        refined.update(_refined(mesh, ref, pred, sphere, samples, seed, diagonal))
        out["refined"] = refined
    return out


REFINE_POINTS = 20_000  # samples of each surface the ICP matches


def _refined(
    mesh: trimesh.Trimesh,
    ref: Surface,
    pred: Surface,
    sphere: Sphere | None,
    samples: int,
    seed: int,
    diagonal: float,
) -> dict[str, Any]:
    """Chamfer % and object share of ``mesh`` after the ICP refinement (`refine_alignment`)."""
    from video2mesh.refine_alignment import refine

    step = max(1, len(pred.points) // REFINE_POINTS)
    r = refine(pred.points[::step], ref.points[:: max(1, len(ref.points) // REFINE_POINTS)])
    out: dict[str, Any] = {
        "kept": r.kept,
        "scale": r.scale,
        "rotation_deg": r.rotation_deg,
        "shift_pct": 100 * r.shift / diagonal,
    }
    if not r.kept:  # the same mesh, the same numbers
        return out
    moved = mesh.copy()
    moved.apply_transform(r.matrix)
    again = surface_metrics(sample_surface(moved, samples, seed + 1, sphere), ref, diagonal)
    if again["chamfer_l1"] is not None:
        out["chamfer_pct"] = 100 * again["chamfer_l1"] / diagonal
    out["object_share"] = object_share(moved, ref, OBJECT_SHARE_FRACTION * diagonal, samples, seed)
    return out


# The object share counts mesh area within this share of the reference diagonal of the reference.
OBJECT_SHARE_FRACTION = 0.01


def object_share(
    mesh: trimesh.Trimesh, ref: Surface, tau: float, samples: int, seed: int
) -> float | None:
    """Share of the mesh's whole area (not cropped to the sphere) within ``tau`` of the
    reference: 1.0 is the object alone; a mesh that is 95 % table and floaters scores 0.05."""
    whole = sample_surface(mesh, samples, seed + 2, None)
    if len(whole.points) == 0:
        return None
    d, _ = distance_to_surface(whole.points, ref)
    return float((d < tau).mean())


_NAME = re.compile(r"it(?P<iterations>\d+)_res(?P<resolution>\d+)$")


def evaluate_file(
    mesh_path: str | Path,
    reference_path: str | Path,
    output: str | Path,
    transforms: str | Path | None = None,
    reference_kind: str = "ground-truth",
    samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    alignment: str | Path | None = None,
    silhouette: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate one mesh file and write the JSON result; ``silhouette``: the mesh's
    ``video2mesh silhouette`` JSON, whose mean and lowest IoU join the metrics."""
    if reference_kind not in REFERENCE_KINDS:
        raise UserError(f"unknown reference kind {reference_kind!r}", f"use {REFERENCE_KINDS}")
    start = time.perf_counter()
    sphere = read_sphere(transforms) if transforms else None
    result: dict[str, Any] = {"mesh": str(mesh_path), "reference": str(reference_path)}
    result["reference_kind"] = reference_kind
    # The finest mesh of a run scored against itself: zero by construction, not a result.
    result["self_reference"] = Path(mesh_path).resolve() == Path(reference_path).resolve()
    match = _NAME.search(Path(mesh_path).stem)
    if match:
        result["iterations"] = int(match["iterations"])
        result["resolution"] = int(match["resolution"])
    result["sphere"] = {"center": list(sphere.center), "radius": sphere.radius} if sphere else None
    axes = None
    if alignment:
        import numpy as np

        rotation = json.loads(Path(alignment).read_text()).get("rotation")
        axes = None if rotation is None else np.asarray(rotation, float)
        result["reference_axes"] = "alignment" if rotation is not None else "frame"
    # the refinement only means something against a ground truth (not the run's finest mesh)
    refine = reference_kind == "ground-truth" and not result["self_reference"]
    result.update(
        evaluate_meshes(
            load_mesh(mesh_path), load_mesh(reference_path), sphere, samples, seed, axes, refine
        )
    )
    if silhouette:
        scores = json.loads(Path(silhouette).read_text())
        result["silhouette_iou"] = scores["mean_iou"]
        result["silhouette_iou_min"] = scores["min_iou"]
        result["silhouette_views"] = scores["views"]
    result["seconds"] = round(time.perf_counter() - start, 3)
    write_json(output, _finite(result))
    return result


def _finite(value: Any) -> Any:
    """NaN/inf are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _run(args: argparse.Namespace) -> None:
    evaluate_file(
        args.mesh,
        args.reference,
        args.output,
        transforms=args.transforms,
        reference_kind=args.reference_kind,
        samples=args.samples,
        seed=args.seed,
        alignment=args.alignment,
        silhouette=args.silhouette,
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="metrics of a mesh against a reference mesh",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--mesh", required=True, help="the mesh to evaluate (.ply/.obj/...)")
    p.add_argument("--reference", required=True, help="the reference mesh, same world frame")
    p.add_argument(
        "--reference-kind",
        choices=REFERENCE_KINDS,
        default="ground-truth",
        help="what the reference is: the scene's ground truth or the run's finest mesh",
    )
    p.add_argument("--transforms", help="transforms.json: crop both meshes to its sphere")
    p.add_argument("--samples", type=int, default=DEFAULT_SAMPLES, help="samples per mesh")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument(
        "--alignment",
        help="alignment.json of the reference stage: bounding box along the reference's own axes",
    )
    p.add_argument(
        "--silhouette", help="the mesh's `video2mesh silhouette` JSON: its IoU joins the metrics"
    )
    p.add_argument("--output", required=True, help="metrics JSON to write")
    p.set_defaults(func=_run)
