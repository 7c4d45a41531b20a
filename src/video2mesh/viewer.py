"""A self-contained interactive 3D viewer (one HTML file per scene) for the Snakemake report.

The meshes of every sweep point of the scene are inlined: cropped to the bounding sphere, decimated
by vertex clustering to at most ``max_faces`` faces, positions quantised to uint16 in the scene's
framing cube, indices uint16/uint32, gzip'd and base64'd. The viewer (assets/viewer.js) is our own
small WebGL 1 program with no dependency and no network access: orbit, pan, zoom, a switch per
sweep dimension (run, iterations, resolution), a colour switch (baked texture, vertex colours,
plain shading) and an optional reference overlay. A textured GLB is shown with its own atlas
when it is small enough, else re-decimated and re-baked from its texture (texture/transfer.py);
its texture is inlined as a JPEG of at most DISPLAY_TEXTURE² texels.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from video2mesh.atomic import write_text
from video2mesh.errors import UserError

if TYPE_CHECKING:
    import numpy as np
    import trimesh

DEFAULT_MAX_FACES = 30_000
DISPLAY_TEXTURE = 1024  # texels per side of a textured mesh in the viewer (JPEG)


def cluster_decimate(
    vertices: np.ndarray, faces: np.ndarray, max_faces: int, colors: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Vertex clustering on a grid coarse enough to leave at most ``max_faces`` faces; per-vertex
    ``colors`` (V, k) are averaged over each cluster like the positions.

    Crude next to quadric decimation, but dependency-free, O(faces) per try, and good enough for
    a preview of a marching-cubes surface (whose triangles are all about the same size).
    """
    import numpy as np

    if len(faces) <= max_faces:
        return vertices, faces, colors
    lo = vertices.min(axis=0)
    span = vertices.max(axis=0) - lo

    attrs = vertices if colors is None else np.hstack([vertices, colors.astype(float)])

    def attempt(cell: float) -> tuple[np.ndarray, np.ndarray]:
        keys = np.floor((vertices - lo) / cell).astype(np.int64)
        dims = keys.max(axis=0) + 1
        flat = (keys[:, 0] * dims[1] + keys[:, 1]) * dims[2] + keys[:, 2]  # 1-D: fast unique
        _, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
        merged = np.zeros((len(counts), attrs.shape[1]))
        np.add.at(merged, inverse, attrs)
        merged /= counts[:, None]
        f = inverse[faces]
        f = f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]
        f = np.unique(f, axis=0)  # duplicate faces (same order) after merging
        return merged, f

    def split(
        merged: np.ndarray, f: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        return merged[:, :3], f, (None if colors is None else merged[:, 3:])

    # A surface of area A clustered with cell c keeps about 2·A/c² faces: start there.
    e = vertices[faces[:, 1]] - vertices[faces[:, 0]]
    g = vertices[faces[:, 2]] - vertices[faces[:, 0]]
    area = 0.5 * float(np.linalg.norm(np.cross(e, g), axis=1).sum())
    cell = max(float(np.sqrt(2.0 * area / max_faces)), float(span.max()) * 1e-6, 1e-12)
    for _ in range(12):
        v, f = attempt(cell)
        if len(f) <= max_faces:
            return split(v, f)
        cell *= max(1.1, float(np.sqrt(len(f) / max_faces)))
    return split(v, f)


def _pack(
    v: np.ndarray,
    f: np.ndarray,
    center: np.ndarray,
    extent: float,
    colors: np.ndarray | None = None,
    uv: np.ndarray | None = None,
) -> dict[str, Any]:
    """Quantised positions, (uv,) indices, (colours,) as one gzip'd base64 blob (viewer.js:
    decode): u16 xyz, padding to 4 bytes, u16/u32 indices, u16 uv (v up), u8 rgb."""
    import numpy as np

    if len(f):
        used = np.unique(f)  # drop unreferenced vertices
        remap = np.full(len(v), -1, np.int64)
        remap[used] = np.arange(len(used))
        v, f = v[used], remap[f]
        colors = None if colors is None else colors[used]
        uv = None if uv is None else uv[used]
    q = np.clip(np.round(((v - center) / extent * 0.5 + 0.5) * 65535), 0, 65535).astype("<u2")
    index32 = len(v) > 65535
    raw = q.tobytes()
    if len(raw) % 4:
        raw += b"\0\0"  # align the indices for a Uint32Array view
    raw += f.astype("<u4" if index32 else "<u2").tobytes()
    if uv is not None:
        raw += np.clip(np.round(uv * 65535), 0, 65535).astype("<u2").tobytes()
    if colors is not None:
        raw += np.clip(np.round(colors), 0, 255).astype(np.uint8).tobytes()
    return {
        "vertices": len(v),
        "faces": len(f),
        "index32": index32,
        "uv": uv is not None,
        "colors": colors is not None,
        "data": base64.b64encode(gzip.compress(raw, 6, mtime=0)).decode("ascii"),
    }


def encode_mesh(
    mesh: trimesh.Trimesh, center: np.ndarray, extent: float, max_faces: int
) -> dict[str, Any]:
    """The viewer's record for one mesh, with its vertex colours when it has some."""
    import numpy as np

    colors = None
    if mesh.visual.kind == "vertex":
        colors = np.asarray(mesh.visual.vertex_colors[:, :3], float)
    v, f, c = cluster_decimate(
        np.asarray(mesh.vertices, float), np.asarray(mesh.faces, np.int64), max_faces, colors
    )
    return _pack(v, f, center, extent, colors=c)


def encode_textured(
    glb: str | Path,
    world_from_gltf: np.ndarray,
    center: np.ndarray,
    extent: float,
    max_faces: int,
    size: int = DISPLAY_TEXTURE,
) -> dict[str, Any]:
    """A textured GLB for display: its own atlas when small enough, else re-decimated, unwrapped
    and re-baked at ``size`` from its texture (see texture/transfer.py); JPEG inlined."""
    import io

    import numpy as np
    import trimesh

    from video2mesh.texture.transfer import display_atlas

    g = trimesh.load(str(glb), force="mesh", process=False)
    if not isinstance(getattr(g, "visual", None), trimesh.visual.TextureVisuals):
        raise UserError(f"{glb} has no texture", "re-run the texture rule")
    world = np.asarray(g.vertices) @ world_from_gltf[:3, :3].T + world_from_gltf[:3, 3]
    image = g.visual.material.baseColorTexture.convert("RGB")
    v, f, uv, img = display_atlas(
        world, np.asarray(g.faces), np.asarray(g.visual.uv), np.asarray(image), max_faces, size
    )
    rec = _pack(v, f, center, extent, uv=uv)
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=85)
    rec["texture"] = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    return rec


def viewer_html(
    title: str,
    meshes: list[dict[str, Any]],
    framing: dict[str, Any],
    reference: dict[str, Any] | None = None,
) -> str:
    """The page: template + data + script, nothing fetched at run time."""
    assets = resources.files("video2mesh") / "assets"
    page = Template((assets / "viewer.html").read_text())
    data = {"framing": framing, "meshes": meshes, "reference": reference}
    blob = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return page.substitute(
        title=title, data=blob, script=(assets / "viewer.js").read_text().replace("</", "<\\/")
    )


def build_viewer(
    scene: str,
    mesh_paths: list[str | Path],
    output: str | Path,
    transforms: str | Path | None = None,
    reference: str | Path | None = None,
    evals: list[str | Path] = (),  # type: ignore[assignment]
    max_faces: int = DEFAULT_MAX_FACES,
    textured: list[str | Path] = (),  # type: ignore[assignment]
) -> None:
    import numpy as np

    from video2mesh.evaluate import Sphere, crop_to_sphere, load_mesh
    from video2mesh.render import DEFAULT_AZIMUTHS, scene_framing

    if not mesh_paths:
        raise UserError("no meshes for the viewer", "pass --meshes", scene=scene)
    framing = scene_framing(transforms, reference)
    # Quantisation cube: the sphere when known (covers every cropped mesh), else the framing.
    if framing.crop_radius is not None:
        center, extent = np.asarray(framing.crop_center), framing.crop_radius
    else:
        center, extent = np.asarray(framing.center), framing.extent * 1.5
    sphere = Sphere(framing.crop_center, framing.crop_radius) if framing.crop_radius else None  # type: ignore[arg-type]
    from video2mesh.report import parse_mesh_json_path, scored

    metrics = {}
    for path in evals:
        key, _ = parse_mesh_json_path(path)
        metrics[key] = json.loads(Path(path).read_text())
    glbs = {parse_mesh_json_path(Path(p).with_suffix(".json"))[0]: p for p in textured}
    records = []
    for i, path in enumerate(mesh_paths):
        key, _ = parse_mesh_json_path(Path(path).with_suffix(".json"))
        _, run, its, res = key
        mesh = load_mesh(path)
        faces_total = len(mesh.faces)
        mesh = crop_to_sphere(mesh, sphere)
        rec = encode_mesh(mesh, center, extent, max_faces)
        ev = scored(metrics.get(key, {}))
        rec.update(
            id=f"m{i}",
            run=run,
            iterations=its,
            resolution=res,
            stats={
                "faces": faces_total,
                "chamfer_l1": ev.get("chamfer_l1"),
                "fscore_1pct": ev.get("fscore_1pct"),
                "reference_kind": ev.get("reference_kind"),
            },
        )
        if key in glbs:
            # the texture command's JSON beside the GLB: its frame (turn, centre, metres)
            tex = json.loads(Path(glbs[key]).with_suffix(".texture.json").read_text())
            back = np.asarray(tex["world_from_gltf"], float)
            rec["textured"] = encode_textured(glbs[key], back, center, extent, max_faces)
            if tex.get("units") == "m":
                rec["stats"]["dimensions_m"] = tex["dimensions"]
        records.append(rec)
    ref_rec = None
    if reference:
        ref_rec = encode_mesh(
            crop_to_sphere(load_mesh(reference), sphere), center, extent, max_faces
        )
        ref_rec["id"] = "reference"
    # The orbit pivots on the framing (the object); quantisation uses the (larger) sphere.
    framing_json = {
        "center": list(framing.center),
        "extent": framing.extent,
        "up": list(framing.up),
        "home_azimuth": DEFAULT_AZIMUTHS[0] + framing.azimuth_offset,  # the thumbnails' first view
        "quant_center": [float(x) for x in center],
        "quant_extent": float(extent),
    }
    write_text(output, viewer_html(scene, records, framing_json, ref_rec))


def _run(args: argparse.Namespace) -> None:
    build_viewer(
        args.scene,
        args.meshes,
        args.output,
        args.transforms,
        args.reference,
        args.evals or [],
        args.max_faces,
        args.textured or [],
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "viewer",
        help="self-contained interactive 3D viewer (HTML) of a scene's meshes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--scene", required=True, help="title")
    p.add_argument("--meshes", nargs="+", required=True, help="{run}/mesh/it{N}_res{R}.ply files")
    p.add_argument("--evals", nargs="*", help="matching eval JSONs (metrics in the info line)")
    p.add_argument("--textured", nargs="*", help="matching textured GLBs (mesh/it{N}_res{R}.glb)")
    p.add_argument("--transforms", help="transforms.json: sphere (crop) and up axis")
    p.add_argument("--reference", help="reference mesh: framing and an overlay")
    p.add_argument("--max-faces", type=int, default=DEFAULT_MAX_FACES, help="per mesh, for display")
    p.add_argument("--output", required=True, help="viewer HTML")
    p.set_defaults(func=_run)
