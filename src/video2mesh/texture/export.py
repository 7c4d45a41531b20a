"""Textured mesh files: binary glTF with the texture embedded, and OBJ + MTL + PNG.

glTF wants +Y up (glTF 2.0 spec, "Coordinate System and Units"); the pipeline's world is the SfM
frame, whose up is arbitrary. The files are therefore in the *glTF frame*: the world rotated by
the smallest rotation that takes the scene's up (`support.scene_up`, as the report's renders use)
to +Y, translated so that the object stands on the origin (the centre of its footprint on the
support plane, or at its lowest point: where AR viewers and scene editors put a model's floor;
real_size.UprightBox.foot), and scaled to metres when
the user gave one real length of the object (``real_size``, video2mesh/real_size.py); else the
units stay the world's (a monocular capture has no metric scale; the sample's units are its
generator's). The 4×4 ``world_from_gltf`` in the texture JSON undoes it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from video2mesh.atomic import atomic_path

if TYPE_CHECKING:
    import trimesh


def gltf_from_world(up: np.ndarray, center: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """4×4: rotate ``up`` onto +Y (smallest rotation), move ``center`` to the origin, scale."""
    u = np.asarray(up, float) / np.linalg.norm(up)
    y = np.array([0.0, 1.0, 0.0])
    axis = np.cross(u, y)
    s, c = float(np.linalg.norm(axis)), float(u @ y)
    if s < 1e-9:  # already up, or exactly down: half a turn about x
        rot = np.eye(3) if c > 0 else np.diag([1.0, -1.0, -1.0])
    else:
        k = axis / s
        kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        rot = np.eye(3) + s * kx + (1 - c) * kx @ kx  # Rodrigues
    out = np.eye(4)
    out[:3, :3] = scale * rot
    out[:3, 3] = -scale * rot @ np.asarray(center, float)
    return out


def textured_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    uv: np.ndarray,
    normals: np.ndarray,
    image: np.ndarray,
    transform: np.ndarray,
) -> trimesh.Trimesh:
    """A trimesh with a PBR base-colour texture (matte, not metallic), moved by ``transform``."""
    import trimesh
    from PIL import Image

    material = trimesh.visual.material.PBRMaterial(
        name="baked",
        baseColorTexture=Image.fromarray(image),
        metallicFactor=0.0,
        roughnessFactor=1.0,
    )
    rot, shift = transform[:3, :3], transform[:3, 3]
    turn = rot / np.cbrt(np.linalg.det(rot))  # normals turn, they do not scale
    return trimesh.Trimesh(
        vertices=vertices @ rot.T + shift,
        faces=faces,
        vertex_normals=normals @ turn.T,
        visual=trimesh.visual.TextureVisuals(uv=uv, material=material),
        process=False,
    )


def write_glb(mesh: trimesh.Trimesh, path: str | Path) -> None:
    from trimesh.exchange.gltf import export_glb

    data = export_glb(mesh, include_normals=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def write_obj(mesh: trimesh.Trimesh, path: str | Path) -> list[Path]:
    """``path`` (.obj) plus ``.mtl`` and ``.png`` of the same stem beside it; returns all three."""
    from PIL import Image

    path = Path(path)
    mtl, png = path.with_suffix(".mtl"), path.with_suffix(".png")
    lines = [f"mtllib {mtl.name}", "usemtl baked"]
    lines += [f"v {x:.6g} {y:.6g} {z:.6g}" for x, y, z in mesh.vertices]
    lines += [f"vt {u:.6g} {v:.6g}" for u, v in mesh.visual.uv]
    lines += [f"vn {x:.4g} {y:.4g} {z:.4g}" for x, y, z in mesh.vertex_normals]
    lines += [f"f {a}/{a}/{a} {b}/{b}/{b} {c}/{c}/{c}" for a, b, c in mesh.faces + 1]
    material = f"newmtl baked\nKa 1 1 1\nKd 1 1 1\nKs 0 0 0\nd 1\nillum 1\nmap_Kd {png.name}\n"
    buf = io.BytesIO()
    image = mesh.visual.material.baseColorTexture
    assert isinstance(image, Image.Image)
    image.save(buf, format="PNG")
    for target, data in ((png, buf.getvalue()), (mtl, material.encode()), (path, None)):
        with atomic_path(target) as tmp:
            if data is None:
                Path(tmp).write_text("\n".join(lines) + "\n")
            else:
                Path(tmp).write_bytes(data)
    return [path, mtl, png]
