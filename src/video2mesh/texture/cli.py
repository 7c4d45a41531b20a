"""`video2mesh texture`: one mesh → decimated, unwrapped, baked, written as GLB (+ OBJ, + LODs).

Every level of detail is its own decimation of the input mesh (not of the previous level), with
its own atlas; its texture side shrinks with the square root of its face count (a power of two,
at least 256), so that texels per face stay about the same.
"""

from __future__ import annotations

import argparse
import logging
import math
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from video2mesh.atomic import write_json
from video2mesh.errors import UserError
from video2mesh.real_size import LENGTHS, metres_per_unit, parse, upright_box
from video2mesh.support import Plane, scene_up

log = logging.getLogger(__name__)


@dataclass
class Level:
    faces: int  # target face count, 0 = keep every face
    size: int  # texture side in texels
    glb: Path


def lod_path(glb: Path, faces: int) -> Path:
    """it{N}_res{R}.glb → it{N}_res{R}.lod{faces}.glb"""
    return glb.with_name(f"{glb.stem}.lod{faces}.glb")


def lod_size(size: int, faces: int, base_faces: int) -> int:
    if base_faces <= 0 or faces >= base_faces:
        return size
    side = size * math.sqrt(faces / base_faces)
    return max(256, min(size, 2 ** round(math.log2(side))))


def held_out(index: int, every: int) -> bool:
    """Every ``every``-th frame (from the middle of each group) is kept for evaluation."""
    return every > 0 and index % every == every // 2


def has_photos(archive: Path | None) -> bool:
    """Whether SfM's finer photos (sfm/images_fine.tar) hold anything: it is empty where the
    photos or the video were no larger than the frames (1.25 × frames.max_size)."""
    if archive is None:
        return False
    with tarfile.open(archive) as tar:
        return any(m.isfile() for m in tar)


def unit_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals; a vertex of degenerate faces only gets +z (glTF requires
    unit normals)."""
    import trimesh

    n = np.array(trimesh.Trimesh(vertices, faces, process=False).vertex_normals, dtype=float)
    length = np.linalg.norm(n, axis=1)
    n[length < 0.5] = (0.0, 0.0, 1.0)
    return n / np.linalg.norm(n, axis=1, keepdims=True)


def texture_mesh(
    mesh_path: Path,
    transforms: Path,
    out: Path,
    stats_path: Path,
    images: Path | None = None,
    fine_images: Path | None = None,
    ckpt: Path | None = None,
    source: str = "photos",
    size: int = 2048,
    faces: int = 200_000,
    lods: tuple[int, ...] = (),
    obj: bool = False,
    top_k: int = 3,
    holdout: int = 0,
    device_name: str = "auto",
    real_size: dict[str, float] | None = None,
) -> dict[str, Any]:
    import torch

    from video2mesh.evaluate import load_mesh
    from video2mesh.recon.data import load_dataset, read_transforms
    from video2mesh.recon.extract import camera_centres
    from video2mesh.recon.train import pick_device
    from video2mesh.texture.bake import atlas_texels, bake_field, bake_photos, texture_image
    from video2mesh.texture.decimate import decimate
    from video2mesh.texture.export import gltf_from_world, textured_mesh, write_glb, write_obj
    from video2mesh.texture.unwrap import unwrap

    t_start = time.perf_counter()
    length = parse(real_size)  # bad input fails before any work
    device = pick_device(device_name)
    mesh = load_mesh(mesh_path)
    if len(mesh.faces) == 0:
        raise UserError(f"{mesh_path} has no faces", "check the extraction's log and stats")
    meta = read_transforms(transforms)
    center = np.asarray(meta["sphere_center"], float)
    radius = float(meta["sphere_radius"])
    up = scene_up(meta)
    plane = Plane.from_json(meta["support_plane"]) if meta.get("support_plane") else None
    box = upright_box(np.asarray(mesh.vertices), up, plane)
    scale = metres_per_unit(box, length) if length else 1.0
    # the origin where the object stands, as AR viewers and scene editors place a model
    to_gltf = gltf_from_world(up, np.asarray(box.foot), scale)
    if source == "photos":
        if images is None:
            raise UserError("--source photos needs --images", "pass the sfm images.tar")
        photos = fine_images if has_photos(fine_images) else images
        ds = load_dataset(transforms, photos).to(device)
        views = [i for i in range(ds.n_images) if not held_out(i, holdout)]
    elif source == "field":
        if ckpt is None:
            raise UserError("--source field needs --ckpt", "pass the run's checkpoint")
    else:
        raise UserError(f"unknown texture source '{source}'", "use photos or field")
    fallback_colors = None
    if mesh.visual.kind == "vertex":
        fallback_colors = np.asarray(mesh.visual.vertex_colors[:, :3], np.float32) / 255.0

    levels = [Level(faces, size, out)] + [
        Level(n, lod_size(size, n, faces or len(mesh.faces)), lod_path(out, n)) for n in lods
    ]
    stats: dict[str, Any] = {
        "source": source,
        "input_faces": len(mesh.faces),
        "device": str(device),
        "world_from_gltf": np.linalg.inv(to_gltf).tolist(),
        # the files' unit: metres when the user gave a real length, else the scene's own
        "units": "m" if length else "scene",
        "metres_per_unit": scale if length else None,
        "real_size": dict([length]) if length else None,
        "dimensions": [scale * side for side in box.sides()],  # width, depth, height
        "levels": [],
    }
    if source == "photos":
        stats["views"] = len(views)
        stats["photos"] = {"archive": photos.name, "size": [ds.width, ds.height]}
        stats["held_out"] = [ds.names[i] for i in range(ds.n_images) if held_out(i, holdout)]
    for level in levels:
        t0 = time.perf_counter()
        v, f = decimate(np.asarray(mesh.vertices), np.asarray(mesh.faces), level.faces)
        normals = unit_normals(v, f)
        t1 = time.perf_counter()
        atlas = unwrap(v, f, level.size, workers=torch.get_num_threads())  # --threads caps both
        t2 = time.perf_counter()
        v_norm = (atlas.vertices - center) / radius  # the frame the cameras are loaded in
        texels = atlas_texels(
            v_norm, atlas.faces, atlas.uv, normals[atlas.source_vertex], level.size, device
        )
        known = torch.ones(len(texels.index), dtype=torch.bool, device=device)
        if source == "photos":
            rgb, known = bake_photos(
                texels,
                torch.as_tensor(v_norm, dtype=torch.float32, device=device),
                torch.as_tensor(atlas.faces, device=device),
                ds,
                views,
                top_k,
            )
        else:
            rgb = bake_field(texels, str(ckpt), device, camera_centres(meta, center, radius))
        fallback = None
        if fallback_colors is not None:
            from scipy.spatial import cKDTree

            nearest = cKDTree((np.asarray(mesh.vertices) - center) / radius).query(
                texels.position.cpu().numpy()
            )[1]
            fallback = torch.as_tensor(fallback_colors[nearest], device=device)
        image = texture_image(texels, rgb, known, fallback)
        t3 = time.perf_counter()
        textured = textured_mesh(
            atlas.vertices, atlas.faces, atlas.uv, normals[atlas.source_vertex], image, to_gltf
        )
        write_glb(textured, level.glb)
        if obj:
            write_obj(textured, level.glb.with_suffix(".obj"))
        stats["levels"].append(
            {
                "path": level.glb.name,
                "target_faces": level.faces,
                "faces": len(atlas.faces),
                "vertices": len(atlas.vertices),
                "texture_size": level.size,
                "texels": len(texels.index),
                "texels_seen": int(known.sum()),
                "decimate_seconds": t1 - t0,
                "unwrap_seconds": t2 - t1,
                "bake_seconds": t3 - t2,
            }
        )
        log.info("%s: %d faces, %d² texture", level.glb, len(atlas.faces), level.size)
    stats["seconds"] = time.perf_counter() - t_start
    write_json(stats_path, stats)
    return stats


def _run(args: argparse.Namespace) -> None:
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    texture_mesh(
        Path(args.mesh),
        Path(args.transforms),
        Path(args.out),
        Path(args.stats),
        images=Path(args.images) if args.images else None,
        fine_images=Path(args.fine_images) if args.fine_images else None,
        ckpt=Path(args.ckpt) if args.ckpt else None,
        source=args.source,
        size=args.size,
        faces=args.faces,
        lods=tuple(args.lods),
        obj=args.obj,
        top_k=args.top_k,
        holdout=args.holdout,
        device_name=args.device,
        real_size={k: v for k in LENGTHS if (v := getattr(args, f"real_{k}")) is not None},
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "texture",
        help="decimate a mesh, unwrap a UV atlas, bake a texture, write GLB (+ OBJ, LODs)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--mesh", required=True, help="mesh/it{N}_res{R}.ply (world units)")
    p.add_argument("--transforms", required=True, help="the scene's transforms.json")
    p.add_argument("--source", choices=["photos", "field"], default="photos")
    p.add_argument("--images", help="sfm/images.tar (undistorted photos), for --source photos")
    p.add_argument(
        "--fine-images",
        help="sfm/images_fine.tar: the same photos larger, baked from instead where not empty",
    )
    p.add_argument("--ckpt", help="the mesh's checkpoint, for --source field")
    p.add_argument("--size", type=int, default=2048, help="texture side in texels")
    p.add_argument("--faces", type=int, default=200_000, help="face budget, 0 = keep all")
    p.add_argument("--lods", type=int, nargs="*", default=[], help="extra levels (face counts)")
    p.add_argument("--obj", action="store_true", help="also write .obj + .mtl + .png")
    p.add_argument("--top-k", type=int, default=3, help="photos blended per texel")
    p.add_argument("--holdout", type=int, default=0, help="hold back every N-th photo")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: its default)")
    size = p.add_mutually_exclusive_group()
    for k in LENGTHS:
        size.add_argument(
            f"--real-{k}", type=float, help=f"the object's real {k} in metres: files in metres"
        )
    p.add_argument("--out", required=True, help="mesh/it{N}_res{R}.glb")
    p.add_argument("--stats", required=True, help="JSON: sizes, timings, world_from_gltf")
    p.set_defaults(func=_run)
