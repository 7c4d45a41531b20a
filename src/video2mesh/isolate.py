"""The object alone: cut the support surface (and all below it) and drop floaters from a mesh.

A neural surface of an object on a table reconstructs the table top inside the bounding sphere
as a disc the object stands in, and small blobs where the background leaked in. For
``type: object`` scenes both go by default (``object: {support: remove, floaters: remove}``):

- support: every face whose centroid lies lower than ``CUT_HEIGHT`` × the sphere radius above
  the support plane of transforms.json is removed, and so is every face lower than ``BAND`` ×
  the radius that faces up or down (within ``BAND_TILT_DEG`` of the plane's normal): the
  reconstructed table top is not flat where the object shades it, and on the validation set
  it rose in "skirts" around the object's foot up to a few % of the radius, joined to it (so
  no component test could drop them). The object's own walls near the table stand upright
  and stay; what it loses is its lowest sliver and any flat part within the band.
- floaters: connected components with less than ``FLOATER_SHARE`` of the largest one's area
  are removed (a handle or a leg that the surface joins to the body is one component with it).
  With a support plane, so is table debris: a larger piece lying low (below ``DEBRIS_HEIGHT`` ×
  the radius), with less than ``DEBRIS_SHARE`` of the largest one's area, most of it outside
  the largest one's footprint on the plane. On the validation set's glossy vase (CPU preset) a
  tilted patch of floor, 5.3 % of the vase's area, 0.6–0.8 radii from its axis, survived the
  cut that way; a part of the object that the surface leaves loose (a foot under the body)
  lies inside the footprint and stays, and so does anything standing taller.
- hidden parts (with ``floaters: remove`` and the cameras at hand): a component that no
  registered photo sees (under ``HIDDEN_SEEN`` of its area seen, `visibility.seen_faces` on the
  mesh before any cut, so the table still occludes) goes too, whatever its size: the SDF is
  free inside the object, and on the validation set a house came out with a dome inside its
  walls, 12 % of the mesh's area (benchmarks/realworld/RESULTS.md, session 16). The object's
  component always stays: the one with the most area in the object box (below), else the
  largest (a shell of a turntable's still backdrop outgrew the dinosaur on it, session 39).
- outside the object (with ``floaters: remove`` and the scene stage's object box): a component
  other than the object's with less than half its area inside the box of the SfM points that
  stand where the cameras look, grown by ``BOX_MARGIN`` × the radius, goes too, whatever its
  size: sheets of backdrop or table beside the object. On the held-out small figurine (CPU
  preset) two training seeds of five left such sheets, 16-23 % of the mesh's area: 2.86 % of
  the diagonal with them, 0.41 % without (benchmarks/realworld/RESULTS.md, session 25). A loose part
  of the object lies in or near the box, unless SfM found no point near it (the box spans the
  points' 0.5-99.5 % quantiles; hence the margin). A sphere overridden by hand has no box, and
  nothing is removed so.
- a bowl of table (with ``support: remove`` and the object box): when more than
  ``FOOTPRINT_SHARE`` of what is left lies low (below ``FOOTPRINT_HEIGHT`` × the radius above
  the plane) outside the box's footprint on the plane grown by ``FOOTPRINT_MARGIN`` × the
  radius, *and all round it* (in over ``FOOTPRINT_ROUND`` of ``FOOTPRINT_SECTORS`` sectors
  about the box's centre, each holding over ``SECTOR_AREA`` of the area), those faces go, and
  (``floaters: remove``) so do the pieces the cut leaves under a floater's size. On the
  validation set one CPU training seed of twelve on DTU 65 left the skull standing in a bowl of
  table rising to the sphere and joined to its base (silhouette IoU 0.71): 24-30 % of its area
  lay there, in 92-100 % of the sectors; cut, 0.93-0.94. Every good run had 0-3 % there (DTU 65,
  the apple, the vase, the sample), and meshes of DTU 65 under a larger sphere 14-16 %, but in
  a quarter of the sectors: the skull's back, which no camera sees and SfM's points (so the
  box) miss (benchmarks/realworld/RESULTS.md, session 31). Part of the object sticking out of
  the box on one side stays.

- a support on the mesh: where the scene stage found no support in SfM's points, ``support:
  mesh`` looks for the plane on the mesh (`mesh_support`) and cuts it as above (not the bowl
  test, whose footprint is SfM's box); the default ``remove`` does so where 3 % or more of
  SfM's points lie under the sphere (``MESH_SUPPORT_BELOW``: the room goes on under the
  support), and where nothing is seen under it, if the plane's faces run out to the sphere
  in ``MESH_SUPPORT_RIM`` of the way round (`rim_share`: a table the sphere clips) or the
  band round the plane holds few of SfM's points for its area (`point_density`: plain), or
  else where the mesh goes on deep under SfM's lowest points (`sfm_floor`: a plain turntable
  with a few specks, the surface swollen into a lump under it; cut at the plane of that lowest
  layer, not the mesh's, which lay on the lump's top above the dinosaur's toes). A small
  plain support holds too few SfM points: a figurine on a round plastic stool's top (session
  35) came out standing on a disc of it, 15 % of the mesh's area, and a toy on a plain white
  cloth (session 38) on a disc of cloth, 35 %: this cut takes both. A sculpture's own flat
  base looks the same on its mesh, but on black there is nothing under the sphere and the
  base ends inside it; on a stool the stool's top showing round a plinth is the plane found
  (tests/test_support.py), unless the plinth hides it.

Works on any backend's mesh, in world units; without a support plane nothing is cut, and only the
component tests run.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from video2mesh.sphere import ObjectBox
from video2mesh.support import (
    MAX_TILT_DEG,
    MESH_SUPPORT_BELOW,
    Plane,
    camera_up,
    find_support,
    refit_plane,
    up_frame,
)

if TYPE_CHECKING:  # the visibility test needs torch: imported only when it runs
    from video2mesh.visibility import Views

log = logging.getLogger(__name__)

CUT_HEIGHT = 0.02  # of the sphere radius
BAND = 0.08  # of the sphere radius
BAND_TILT_DEG = 35.0
FLOATER_SHARE = 0.05  # of the largest component's area
# of the sphere radius: the top (95th percentile) of a piece of table debris. 0.4: on `make
# run`'s sample, 3 of 5 training seeds left a curled sheet of table beside the cup (6-7 % of its
# area) topping out at 0.32-0.35 (Chamfer 1.10-1.20 % with it, 0.61-0.66 % without;
# benchmarks/realworld/RESULTS.md, session 16); 0.3 was set from the vase's patch (top 0.2)
DEBRIS_HEIGHT = 0.4
DEBRIS_SHARE = 0.3  # of the largest component's area
HIDDEN_SEEN = 0.01  # share of a component's area that photos see, under which it is hidden
BOX_MARGIN = 0.1  # of the sphere radius, around the object box (its points miss thin parts)
FOOTPRINT_MARGIN = 0.1  # of the sphere radius, around the object box's footprint on the plane
FOOTPRINT_HEIGHT = 0.6  # of the sphere radius above the plane
FOOTPRINT_SHARE = 0.1  # of the area left by the other tests
FOOTPRINT_SECTORS = 24  # round the box's centre on the plane
FOOTPRINT_ROUND = 0.5  # share of the sectors: above it the area beyond goes round, a bowl
SECTOR_AREA = 0.001  # of the area left, for a sector to count
MODES = ("remove", "keep")
# "mesh": as "remove", and where SfM's points show no support, the one the mesh shows;
# "remove" does that too where SfM's points go on under the sphere (support.MESH_SUPPORT_BELOW)
# or the plane found on the mesh runs out to the sphere (MESH_SUPPORT_RIM)
SUPPORT_MODES = ("remove", "keep", "mesh")
MESH_SAMPLES = 20000  # points spread over the mesh's area for `mesh_support`
# A plain table that nothing is seen under (the toy on a white cloth, session 38): its flat
# region on the mesh runs out to the sphere, which clips it; an object's own flat base ends
# inside. Share of RIM_SECTORS sectors round the sphere's centre on the plane in which faces on
# the plane come within RIM_REACH of the sphere (of its radius), at which `remove` takes the
# mesh's plane with nothing under the sphere. Measured on CPU meshes (3000 it): the toy's cloth
# 0.38 (0.75 on the GPU's), the temple's plinth and the dino's base on black 0 (both presets);
# a stool's top 0.46-0.50, DTU 65's table 0.46, the sample's 1.0 (benchmarks/realworld/
# RESULTS.md, session 38)
RIM_SECTORS = 24
RIM_REACH = 0.05
MESH_SUPPORT_RIM = 0.25
# ... or where the flat band round the plane holds fewer SfM points per area than the mesh on
# average: SfM finds no plane on a plain support because it holds few points, while an object's
# own base is part of the textured object. Points (transforms.json's sfm_points, inside the
# sphere) in the band PLAIN_BAND radii (under, over) the plane, against the mesh's up-facing
# area in it, as a ratio of the two shares (CPU meshes): plain cloth 0.10 and 0.40, a stool's
# plain top 0.36; the temple's plinth 4.3, the dino's base 3.5 (RESULTS.md, session 38); a
# surface textured evenly all over gives 1.0 (tests/test_support.py)
PLAIN_BAND = (0.15, 0.02)
PLAIN_DENSITY = 0.6
# ... or, failing both, where the mesh goes on deep under SfM's lowest points: a plain support
# with a few specks on it (a blue turntable, session 39) holds a thin layer of SfM points at the
# object's feet and nothing under it, while the surface swells into a lump under it. Where
# over FLOOR_SHARE of the mesh's area lies FLOOR_DEPTH radii under the FLOOR_QUANTILE height of
# SfM's points (along the mesh plane's normal), the support is the plane through the layer
# FLOOR_LAYER radii thick over that height (`sfm_floor`). Area so deep: the turntable 0.16, plain
# cloths 0.06-0.14 (cut by the tests above); the temple's plinth and the dino's base on black
# 0.000: SfM's points reach the foot of an object's own base (RESULTS.md, session 39)
FLOOR_QUANTILE = 0.01
FLOOR_DEPTH = 0.1
FLOOR_SHARE = 0.1
FLOOR_LAYER = 0.1
FLOOR_TILT_DEG = 15.0


def face_components(faces: np.ndarray, n_verts: int) -> np.ndarray:
    """Connected-component label per face (faces sharing a vertex are connected)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    b = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n_verts, n_verts))
    _, labels = connected_components(graph, directed=False)
    return labels[faces[:, 0]]


def read_settings(transforms: Path | dict) -> tuple[Plane | None, float]:
    """The support plane (or None) and the sphere radius written by the scene stage
    (transforms.json, or its content)."""
    meta = transforms if isinstance(transforms, dict) else json.loads(Path(transforms).read_text())
    plane = meta.get("support_plane")
    return (Plane.from_json(plane) if plane else None), float(meta["sphere_radius"])


def isolate_scene_mesh(
    mesh: Any, transforms: Path | dict, support: str, floaters: str, device: Any = None
) -> tuple[Any, dict[str, Any]]:
    """`isolate` with the support plane, radius, cameras and object box of the scene's
    transforms.json (a path, or its content; what both backends' extraction call)."""
    from video2mesh.visibility import read_cameras

    meta = transforms if isinstance(transforms, dict) else json.loads(Path(transforms).read_text())
    plane, radius = read_settings(meta)
    box = ObjectBox.from_json(meta["object_box"]) if meta.get("object_box") else None
    below = float(meta.get("points_below_sphere") or 0.0)
    points = np.asarray(meta["sfm_points"], float) if meta.get("sfm_points") else None
    views = read_cameras(meta)
    out, stats = isolate(mesh, plane, radius, support, floaters, views, device, box, below, points)
    if stats.get("support_from_mesh"):
        why = ", ".join(
            f"{label} {stats[key]:.2f}"
            for key, label in (("support_rim_share", "rim share"),
                               ("support_point_density", "SfM points per area"),
                               ("support_floor_share", "area under SfM's lowest points"))
            if key in stats
        )  # fmt: skip
        log.info(
            "no support in SfM's points; one found on the mesh (points under the sphere %.3f%s)"
            " and cut: %.1f%% of the area (object: {support: keep} keeps it)",
            below,
            f", {why}" if why else "",
            100 * stats.get("support_area_share", 0.0),
        )
    return out, stats


def isolate(
    mesh: Any,  # trimesh.Trimesh in world units
    plane: Plane | None,
    radius: float,
    support: str = "remove",
    floaters: str = "remove",
    cameras: Views | None = None,
    device: Any = None,  # torch device of the visibility test (None: CPU)
    box: ObjectBox | None = None,  # the scene stage's object box, world units
    below: float = 0.0,  # share of the SfM points under the sphere (points_below_sphere)
    points: np.ndarray | None = None,  # SfM's points inside the sphere (sfm_points), world
) -> tuple[Any, dict[str, Any]]:
    """The mesh without its support, floaters and hidden parts, and what was removed (area
    shares)."""
    for name, value, modes in (("support", support, SUPPORT_MODES), ("floaters", floaters, MODES)):
        if value not in modes:
            raise ValueError(f"object.{name} is {value!r}, not one of {modes}")
    faces = np.asarray(mesh.faces)
    areas = np.asarray(mesh.area_faces)
    total = float(areas.sum()) or 1.0
    centers = np.asarray(mesh.triangles_center)
    keep = np.ones(len(faces), bool)
    stats: dict[str, Any] = {"support": support, "floaters": floaters, "support_found": bool(plane)}
    from_mesh = plane is None and support != "keep" and cameras is not None
    if from_mesh:
        plane = mesh_support(mesh, cameras)
        stats["points_below_sphere"] = below
        if plane is not None and support == "remove" and below < MESH_SUPPORT_BELOW:
            # nothing seen under the sphere: a support only if it runs out to the sphere or
            # is plain (an object's own base holds SfM's points)
            stats["support_rim_share"] = rim_share(mesh, plane, cameras.center, radius)
            has_points = points is not None and len(points) > 0
            density = point_density(mesh, plane, points, radius) if has_points else None
            if density is not None and np.isfinite(density):  # (JSON has no inf)
                stats["support_point_density"] = density
            plain = stats.get("support_point_density", np.inf) < PLAIN_DENSITY
            if stats["support_rim_share"] < MESH_SUPPORT_RIM and not plain:
                floor = None
                if has_points:
                    floor, stats["support_floor_share"] = sfm_floor(mesh, plane, points, radius)
                stats["support_from_floor"] = floor is not None
                plane = floor
        stats["support_from_mesh"] = plane.as_json() if plane is not None else None
    cut = support != "keep" and plane is not None
    seen = None
    if cameras is not None and floaters == "remove":
        from video2mesh.visibility import seen_faces

        seen = seen_faces(mesh, cameras, device)
    if cut:
        heights = plane.height(centers)
        facing = np.abs(np.asarray(mesh.face_normals) @ plane.normal)
        flat = (heights < BAND * radius) & (facing > np.cos(np.radians(BAND_TILT_DEG)))
        keep &= (heights > CUT_HEIGHT * radius) & ~flat
        stats["support_area_share"] = float(areas[~keep].sum() / total)
    if floaters == "remove" and keep.any():
        labels = face_components(faces[keep], len(mesh.vertices))
        comp_area = np.bincount(labels, weights=areas[keep])
        kept_idx = np.nonzero(keep)[0]
        inside_area = None
        if box is not None:
            inside = box.contains(centers[kept_idx], BOX_MARGIN * radius)
            inside_area = np.bincount(
                labels, weights=areas[keep] * inside, minlength=len(comp_area)
            )
        # the object: the piece with the most area in the object box, else the largest (a
        # shell of a turntable's backdrop can outgrow the object, session 39)
        has_box = inside_area is not None and inside_area.max() > 0
        main = int(np.argmax(inside_area if has_box else comp_area))
        stats["main_not_largest"] = main != int(np.argmax(comp_area))
        big = comp_area >= FLOATER_SHARE * comp_area[main]
        big[main] = True
        if plane is not None:
            debris = _table_debris(
                mesh, kept_idx, areas[keep], labels, comp_area, big, plane, radius, main
            )
            stats["debris_removed"] = int(debris.sum())
            big &= ~debris
        if seen is not None:
            seen_area = np.bincount(labels, weights=areas[keep] * seen[keep], minlength=len(big))
            hidden = seen_area < HIDDEN_SEEN * comp_area
            hidden[main] = False
            stats["hidden_removed"] = int((hidden & big).sum())
            stats["hidden_area_share"] = float(comp_area[hidden & big].sum() / total)
            big &= ~hidden
        if inside_area is not None:
            outside = inside_area < 0.5 * comp_area
            outside[main] = False
            stats["outside_removed"] = int((outside & big).sum())
            stats["outside_area_share"] = float(comp_area[outside & big].sum() / total)
            big &= ~outside
        drop = kept_idx[~big[labels]]
        stats["floater_area_share"] = float(areas[drop].sum() / total)
        stats["floaters_removed"] = len(np.unique(labels[~big[labels]]))
        keep[drop] = False
    # (the box's basis holds SfM's plane: a plane from the mesh has no footprint in it)
    if cut and not from_mesh and box is not None and keep.any():
        low = keep & beyond_footprint(centers, plane, box, radius)
        left = float(areas[keep].sum())
        stats["beyond_footprint_share"] = float(areas[low].sum() / left)
        stats["beyond_footprint_round"] = round_share(centers[low], areas[low] / left, box)
        if (
            stats["beyond_footprint_share"] > FOOTPRINT_SHARE
            and stats["beyond_footprint_round"] > FOOTPRINT_ROUND
        ):
            keep &= ~low
            stats["footprint_cut"] = True
            if floaters == "remove":  # the pieces the cut severed
                keep = without_small_pieces(faces, keep, areas)
    if keep.all():
        return mesh, stats
    out = mesh.submesh([np.nonzero(keep)[0]], append=True, only_watertight=False)
    return out, stats


def mesh_support(mesh: Any, cameras: Views) -> Plane | None:
    """The support plane as the mesh shows it: `find_support` on points spread evenly over
    the mesh's area, in world units, without its spread test (the sphere clips the mesh's
    table). For a small plain support that SfM finds too few points on, such as a stool's top
    under a figurine (benchmarks/realworld/RESULTS.md, sessions 35-36). An object's own flat
    base shows the same way on its mesh, so `remove` takes it only where SfM's points go on
    under the sphere (``MESH_SUPPORT_BELOW``) or it runs out to the sphere (`rim_share`);
    ``support: mesh`` always."""
    import trimesh

    from video2mesh.sphere import look_at_point

    points, face = trimesh.sample.sample_surface(mesh, MESH_SAMPLES, seed=0)
    c2w = np.array(cameras.cameras.c2w, float)  # sphere-normalised → world
    c2w[:, :3, 3] = cameras.center + cameras.radius * c2w[:, :3, 3]
    look = look_at_point(c2w[:, :3, 3], c2w[:, :3, 2])
    normals = np.asarray(mesh.face_normals)[face]
    facing_up = normals @ camera_up(c2w) > np.cos(np.radians(MAX_TILT_DEG))
    plane = find_support(
        np.asarray(points), c2w, look, min_spread=0.0, facing_up=facing_up, level=False
    )
    if plane is None:
        return None
    # A reconstructed top is bumpy (the stool's: ±4 % of the radius), and a least-squares
    # plane through its thin band of inliers tilts with the draw (up to 25° between meshes of
    # one run): the mean normal of the faces on it does not (2°). At the height under which
    # nine in ten of them lie, the cut takes the bumps too, not a fringe of them at the foot.
    on = facing_up & (np.abs(plane.height(points)) < 2 * plane.tolerance)
    normal = normals[on].mean(axis=0)
    normal /= np.linalg.norm(normal)
    offset = -float(np.quantile(points[on] @ normal, 0.9))
    return Plane(normal, offset, plane.inliers, plane.tolerance)


def rim_share(mesh: Any, plane: Plane, center: np.ndarray, radius: float) -> float:
    """The share of ``RIM_SECTORS`` sectors round the foot of the sphere's centre on ``plane``
    in which the mesh's faces on the plane (within its tolerance and ``BAND_TILT_DEG`` of its
    normal) come within ``RIM_REACH`` of the sphere: 1.0 for a table filling the sphere's disc,
    0 for a base that ends inside it."""
    centers = np.asarray(mesh.triangles_center)
    facing = np.abs(np.asarray(mesh.face_normals) @ plane.normal)
    on = (np.abs(plane.height(centers)) < 2 * plane.tolerance) & (
        facing > np.cos(np.radians(BAND_TILT_DEG))
    )
    local = (centers[on] - center) @ up_frame(plane.normal)[:2].T
    reach = np.linalg.norm(centers[on] - center, axis=1) >= (1 - RIM_REACH) * radius
    angle = np.arctan2(local[reach, 1], local[reach, 0])
    sector = np.floor((angle + np.pi) / (2 * np.pi) * RIM_SECTORS).astype(int) % RIM_SECTORS
    return len(np.unique(sector)) / RIM_SECTORS


def point_density(mesh: Any, plane: Plane, points: np.ndarray, radius: float) -> float:
    """SfM's points per area in the band ``PLAIN_BAND`` round ``plane`` against the mesh's
    mean: the share of ``points`` in the band over the share of the mesh's area that faces up
    (within 37° of the normal) in it; inf where no such area lies there."""
    under, over = PLAIN_BAND[0] * radius, PLAIN_BAND[1] * radius
    heights = plane.height(np.asarray(mesh.triangles_center))
    up = np.asarray(mesh.face_normals) @ plane.normal > 0.8
    areas = np.asarray(mesh.area_faces)
    area_share = float(areas[up & (heights > -under) & (heights < over)].sum() / areas.sum())
    at = plane.height(points)
    point_share = float(np.mean((at > -under) & (at < over)))
    return point_share / area_share if area_share > 0 else float("inf")


def sfm_floor(
    mesh: Any, plane: Plane, points: np.ndarray, radius: float
) -> tuple[Plane | None, float]:
    """The plane through the lowest layer of SfM's ``points`` where over ``FLOOR_SHARE`` of the
    mesh's area lies ``FLOOR_DEPTH`` radii deeper (heights along ``plane``, the one found on
    the mesh), and that share. None where less lies so deep, or the layer is over ``plane``
    (SfM saw nothing at the support: the object's foot). The layer's own normal where it is
    within ``FLOOR_TILT_DEG`` of the plane's, at the height under which a tenth of it lies."""
    heights = plane.height(points)
    low = float(np.quantile(heights, FLOOR_QUANTILE))
    areas = np.asarray(mesh.area_faces)
    deep = plane.height(np.asarray(mesh.triangles_center)) < low - FLOOR_DEPTH * radius
    share = float(areas[deep].sum() / areas.sum())
    if share < FLOOR_SHARE or low > 0:
        return None, share
    layer = points[(heights >= low) & (heights < low + FLOOR_LAYER * radius)]
    normal = plane.normal
    if len(layer) >= 3:
        fitted, _ = refit_plane(layer)
        fitted = fitted if fitted @ normal > 0 else -fitted
        if fitted @ normal > np.cos(np.radians(FLOOR_TILT_DEG)):
            normal = fitted
    offset = -float(np.quantile(layer @ normal, 0.1))
    return Plane(normal, offset, len(layer), plane.tolerance), share


def without_small_pieces(faces: np.ndarray, keep: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """``keep`` (per face) less the kept pieces under ``FLOATER_SHARE`` of the largest one's
    area (what a cut through a component leaves loose)."""
    kept_idx = np.nonzero(keep)[0]
    if not len(kept_idx):
        return keep
    labels = face_components(faces[kept_idx], int(faces.max()) + 1)
    comp_area = np.bincount(labels, weights=areas[kept_idx])
    out = keep.copy()
    out[kept_idx[comp_area[labels] < FLOATER_SHARE * comp_area.max()]] = False
    return out


def beyond_footprint(
    points: np.ndarray,
    plane: Plane,
    box: ObjectBox,
    radius: float,
    margin: float = FOOTPRINT_MARGIN,
    height: float = FOOTPRINT_HEIGHT,
) -> np.ndarray:
    """Which points lie lower than ``height`` × ``radius`` above the plane and outside the object
    box's two in-plane axes grown by ``margin`` × ``radius``."""
    local = box.local(points)  # the basis' last row is the plane's normal
    lo, hi = box.lo[:2] - margin * radius, box.hi[:2] + margin * radius
    inside = np.all((local[:, :2] >= lo) & (local[:, :2] <= hi), axis=1)
    return ~inside & (plane.height(points) < height * radius)


def round_share(points: np.ndarray, shares: np.ndarray, box: ObjectBox) -> float:
    """The share of ``FOOTPRINT_SECTORS`` sectors about the box's centre on the plane whose
    points carry more than ``SECTOR_AREA`` of ``shares`` (area shares): 1.0 all round."""
    local = box.local(points)
    mid = (box.lo + box.hi) / 2
    angle = np.arctan2(local[:, 1] - mid[1], local[:, 0] - mid[0])
    sector = np.floor((angle + np.pi) / (2 * np.pi) * FOOTPRINT_SECTORS).astype(int)
    per = np.bincount(sector % FOOTPRINT_SECTORS, weights=shares, minlength=FOOTPRINT_SECTORS)
    return float((per > SECTOR_AREA).mean())


def _table_debris(
    mesh: Any,
    face_idx: np.ndarray,
    areas: np.ndarray,
    labels: np.ndarray,
    comp_area: np.ndarray,
    candidates: np.ndarray,
    plane: Plane,
    radius: float,
    main: int,
) -> np.ndarray:
    """Which components (by label) are pieces of the support left beside the object (component
    ``main``); ``areas`` and ``labels`` are per face of ``face_idx``."""
    from scipy.spatial import ConvexHull, Delaunay, QhullError

    centers = np.asarray(mesh.triangles_center)[face_idx]
    heights = plane.height(centers)
    flat = centers @ up_frame(plane.normal)[:2].T  # coordinates in the plane: footprints
    out = np.zeros(len(comp_area), bool)
    try:
        pts = flat[labels == main]
        footprint = Delaunay(pts[ConvexHull(pts).vertices])  # the hull's triangles: fast to query
    except QhullError:  # a degenerate main piece (a flat sheet seen edge-on): no footprint test
        return out
    for c in np.nonzero(candidates)[0]:
        if c == main or comp_area[c] >= DEBRIS_SHARE * comp_area[main]:
            continue
        mine = labels == c
        if np.percentile(heights[mine], 95) >= DEBRIS_HEIGHT * radius:
            continue
        outside = footprint.find_simplex(flat[mine]) < 0
        out[c] = areas[mine][outside].sum() > 0.5 * comp_area[c]
    return out
