"""Mesh extraction: block-wise SDF lattice, marching cubes, one global weld, world units.

The lattice has ``resolution`` cells across the unit sphere's diameter (spacing 2/R over
[-1, 1]^3, as the official ``extract_mesh.py``). It is split into blocks of ``block`` cells
(+1 shared plane); each block's SDF is evaluated in bounded chunks on the device and
marching-cubed on the host. Vertices are keyed by the lattice edge they lie on, so the copies
that two neighbouring blocks produce on their shared plane become one vertex: the mesh has no
seams. Faces outside the unit sphere are dropped (the SDF is not trained there).

Narrow band (default; ``dense=True`` turns it off): a coarse lattice first (spacing ``h_c``) marks
blocks whose coarse samples come within ``band · h_c`` of the zero level; only those blocks are
evaluated at full resolution. This assumes |∇f| ≈ 1 (the eikonal loss) up to the factor ``band``;
it is what makes R = 2048 cheap, since the surface touches few blocks.
"""

from __future__ import annotations

import json
import logging
import math
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from video2mesh.atomic import atomic_path, write_json
from video2mesh.errors import UserError

log = logging.getLogger(__name__)

SdfFn = Any  # Callable[[torch.Tensor (N,3) normalised], torch.Tensor (N,)]


@dataclass
class Extracted:
    vertices: np.ndarray  # (V, 3) float64, normalised frame
    faces: np.ndarray  # (F, 3) int64
    blocks_total: int
    blocks_evaluated: int
    sdf_points: int


def default_chunk(device: torch.device) -> int:
    """SDF points per evaluation: bounded device memory, few launches on a GPU."""
    return 1 << 21 if device.type == "cuda" else 1 << 17


def _eval_chunks(fn: SdfFn, pts: torch.Tensor, chunk: int) -> torch.Tensor:
    out = torch.empty(pts.shape[0], dtype=torch.float32, device=pts.device)
    for i in range(0, pts.shape[0], chunk):
        out[i : i + chunk] = fn(pts[i : i + chunk]).float()
    return out


def _axis_points(n0: int, n: int, h: float, device: torch.device) -> torch.Tensor:
    return -1.0 + (torch.arange(n0, n0 + n, device=device, dtype=torch.float64) * h)


def _block_points(
    i0: tuple[int, int, int], size: tuple[int, int, int], h: float, device: torch.device
) -> torch.Tensor:
    xs, ys, zs = (_axis_points(i0[k], size[k], h, device) for k in range(3))
    g = torch.stack(torch.meshgrid(xs, ys, zs, indexing="ij"), -1)
    return g.reshape(-1, 3).float()


def marching_cubes(vol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (in lattice index units) and faces of an SDF lattice's zero level; none when
    the lattice does not change sign."""
    from skimage import measure

    if vol.min() > 0 or vol.max() < 0:
        return np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64)
    # with an SDF (negative inside) "descent" winds faces so that normals point outwards
    v, f, _, _ = measure.marching_cubes(
        vol, 0.0, gradient_direction="descent", allow_degenerate=True
    )
    return v.astype(np.float64), f.astype(np.int64)


def extract_lattice(
    fn: SdfFn,
    resolution: int,
    device: torch.device,
    block: int = 0,
    chunk: int = 0,
    dense: bool = False,
    band: float = 3.0,
    workers: int = 0,
) -> Extracted:
    """Zero level set of ``fn`` on the lattice; vertices in lattice units converted to [-1, 1]."""
    r = int(resolution)
    chunk = chunk or default_chunk(device)
    # smaller blocks on CPU: the narrow band then skips more of the (slow) SDF evaluations
    block = block or (128 if device.type == "cuda" else 32)
    if r < 8:
        raise UserError(f"resolution {r} is too small", "use at least 8 samples across the sphere")
    h = 2.0 / r
    npts = r + 1
    nb = math.ceil(r / block)
    blocks = [(i, j, k) for i in range(nb) for j in range(nb) for k in range(nb)]

    # keep blocks that intersect the unit sphere
    def block_range(b: tuple[int, int, int]) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        i0 = tuple(c * block for c in b)
        size = tuple(min(block + 1, npts - s) for s in i0)
        return i0, size  # type: ignore[return-value]

    def touches_sphere(b: tuple[int, int, int]) -> bool:
        i0, size = block_range(b)
        lo = np.array([-1 + i0[k] * h for k in range(3)])
        hi = np.array([-1 + (i0[k] + size[k] - 1) * h for k in range(3)])
        closest = np.clip(0.0, lo, hi)
        return float(np.linalg.norm(closest)) <= 1.0 + 1e-9

    blocks = [b for b in blocks if touches_sphere(b)]
    total = len(blocks)
    # the band pays off with several blocks per axis (its coarse lattice is ≥ 2× coarser)
    if not dense and nb >= 4:
        blocks = _band_blocks(fn, r, block, blocks, device, chunk, band)
    sdf_points = 0

    def evaluate(b: tuple[int, int, int]) -> tuple[tuple[int, int, int], np.ndarray]:
        i0, size = block_range(b)
        pts = _block_points(i0, size, h, device)
        vals = _eval_chunks(fn, pts, chunk).view(*size).cpu().numpy()
        return i0, vals

    verts_l: list[np.ndarray] = []
    faces_l: list[np.ndarray] = []
    nv = 0
    n_workers = workers or min(8, max(1, (torch.get_num_threads() or 1)))
    with ThreadPoolExecutor(n_workers) as pool:
        pending = []

        def drain(limit: int) -> None:
            nonlocal nv
            while len(pending) > limit:
                i0, fut = pending.pop(0)
                v, f = fut.result()
                if len(f):
                    verts_l.append(v + np.asarray(i0, dtype=np.float64))
                    faces_l.append(f + nv)
                    nv += len(v)

        for b in blocks:
            i0, vals = evaluate(b)
            sdf_points += vals.size
            pending.append((i0, pool.submit(marching_cubes, vals)))
            drain(2 * n_workers)  # bounds the host memory held by queued blocks
        drain(0)
    if not faces_l:
        return Extracted(
            np.zeros((0, 3)), np.zeros((0, 3), np.int64), total, len(blocks), sdf_points
        )
    verts = np.concatenate(verts_l)
    faces = np.concatenate(faces_l)
    verts_l.clear()
    faces_l.clear()
    verts, faces = weld(verts, faces, r)
    verts = verts * h - 1.0
    # drop faces outside the unit sphere (untrained region), then unused vertices
    inside = (np.linalg.norm(verts, axis=1) < 1.0)[faces].all(1)
    faces = faces[inside]
    verts, faces = compact(verts, faces)
    return Extracted(verts, faces, total, len(blocks), sdf_points)


def sdf_lattice(fn: SdfFn, n: int, h: float, device: torch.device, chunk: int) -> np.ndarray:
    """(n, n, n) float32 SDF on the lattice -1 + i·h per axis, evaluated one plane at a time
    (device memory O(n²))."""
    xs = _axis_points(0, n, h, device)
    out = np.empty((n, n, n), np.float32)
    for i in range(n):
        g = torch.stack(torch.meshgrid(xs[i : i + 1], xs, xs, indexing="ij"), -1).reshape(-1, 3)
        out[i] = _eval_chunks(fn, g.float(), chunk).view(n, n).cpu().numpy()
    return out


def _band_blocks(
    fn: SdfFn,
    r: int,
    block: int,
    blocks: list[tuple[int, int, int]],
    device: torch.device,
    chunk: int,
    band: float,
) -> list[tuple[int, int, int]]:
    """Blocks whose coarse SDF samples come within ``band`` coarse spacings of zero."""
    # coarse lattice: at most 256 cells across, at least 4 per block
    step = max(2, min(block // 4, math.ceil(r / 256)))
    rc = math.ceil(r / step)
    hc = 2.0 / r * step
    n = rc + 1
    near = np.abs(sdf_lattice(fn, n, hc, device, chunk)) <= band * hc
    keep = []
    per = block // step  # coarse cells per block
    for b in blocks:
        lo = [max(c * per - 1, 0) for c in b]
        hi = [min((c + 1) * per + 2, n) for c in b]
        if near[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]].any():
            keep.append(b)
    return keep


def _drop_pockets(
    sdf_fn: SdfFn,
    verts: np.ndarray,
    faces: np.ndarray,
    device: torch.device,
    meta: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """The mesh without the surfaces of pockets closed inside the object, and what went; with
    transforms.json's content, also of the hollows its cameras cannot see into
    (`cavities.hollows`)."""
    from video2mesh.recon.cavities import CELLS, hidden_space, hollows, label_lattice, pocket_faces

    t0 = time.perf_counter()
    n = CELLS + 1
    lattice = sdf_lattice(sdf_fn, n, 2 / CELLS, device, default_chunk(device))
    labels = label_lattice(lattice)
    if meta is not None:
        labels = hollows(labels, *hidden_space(lattice, meta, device))
    on_pocket = pocket_faces(verts, faces, labels)
    tri = verts[faces]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    stats = {
        "faces_removed": int(on_pocket.sum()),
        "area_share": float(area[on_pocket].sum() / max(area.sum(), 1e-12)),
        "seconds": time.perf_counter() - t0,
    }
    if on_pocket.any():
        verts, faces = compact(verts, faces[~on_pocket])
    return verts, faces, stats


def weld(verts: np.ndarray, faces: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge vertices that lie on the same lattice edge (or lattice point); drop degenerate faces.

    A marching-cubes vertex lies on a lattice edge: two of its coordinates are integers. The key
    (edge start, axis) identifies it whatever block produced it, with no position tolerance.
    """
    rounded = np.rint(verts)
    off = np.abs(verts - rounded)
    axis = np.argmax(off, axis=1)
    on_point = off.max(1) < 1e-6
    base = rounded.astype(np.int64)
    along = np.floor(verts[np.arange(len(verts)), axis]).astype(np.int64)
    base[np.arange(len(verts)), axis] = np.where(on_point, base[np.arange(len(verts)), axis], along)
    axis = np.where(on_point, 3, axis).astype(np.int64)
    side = np.int64(r + 2)
    key = ((base[:, 0] * side + base[:, 1]) * side + base[:, 2]) * 4 + axis
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    faces = inverse[faces]
    ok = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    return verts[first], faces[ok]


def compact(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    used = np.zeros(len(verts), dtype=bool)
    used[faces.ravel()] = True
    remap = np.cumsum(used) - 1
    return verts[used], remap[faces]


def components(n_verts: int, faces: np.ndarray) -> tuple[int, np.ndarray]:
    """Connected components over shared vertices: (count, label per vertex)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if len(faces) == 0:
        return 0, np.zeros(n_verts, dtype=np.int64)
    a = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2]])
    b = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0]])
    g = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n_verts, n_verts))
    _, labels = connected_components(g, directed=False)
    used = np.zeros(n_verts, dtype=bool)
    used[faces.ravel()] = True
    return len(np.unique(labels[used])), labels


def mesh_stats(mesh) -> dict:  # mesh: trimesh.Trimesh, in world units
    """The geometry part of a mesh's stats JSON (the same for both backends)."""
    verts = np.asarray(mesh.vertices)
    return {
        "vertices": len(verts),
        "faces": len(mesh.faces),
        "components": components(len(verts), np.asarray(mesh.faces))[0],
        "watertight": bool(mesh.is_watertight),
        "area": float(mesh.area),
        "bbox_min": verts.min(0).tolist(),
        "bbox_max": verts.max(0).tolist(),
    }


def keep_largest(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The component with the most faces, over the whole welded mesh."""
    _, labels = components(len(verts), faces)
    flab = labels[faces[:, 0]]
    best = np.bincount(flab).argmax()
    return compact(verts, faces[flab == best])


def _peak_host_bytes() -> int:
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def extract_checkpoint(
    ckpt: Path,
    resolution: int,
    out: Path,
    stats_path: Path,
    keep_largest_component: bool = False,
    block: int = 0,
    device_name: str = "auto",
    colors: bool = True,
    dense: bool = False,
    transforms: Path | None = None,
    support: str = "keep",
    floaters: str = "keep",
) -> dict[str, Any]:
    from video2mesh.recon import schedule
    from video2mesh.recon.train import load_checkpoint, model_from_checkpoint, pick_device

    t0 = time.perf_counter()
    device = pick_device(device_name)
    ck = load_checkpoint(ckpt, "cpu")
    model = model_from_checkpoint(ck, device).eval()
    cfg = model.cfg
    it = int(ck["iteration"])
    st = schedule.state(cfg, it, int(ck["final"]))  # coarse-to-fine as at that iteration
    center = np.asarray(ck["normalisation"]["sphere_center"], dtype=np.float64)
    radius = float(ck["normalisation"]["sphere_radius"])
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    @torch.no_grad()
    def sdf_fn(x: torch.Tensor) -> torch.Tensor:
        return model.sdf.sdf(x, st.active_levels)

    res = extract_lattice(sdf_fn, resolution, device, block=block, dense=dense)
    if len(res.faces) == 0:
        raise UserError(
            f"the SDF of {ckpt} (iteration {it}) has no zero level set inside the unit sphere",
            "the bounding sphere may miss the object (check sphere.png and sphere_* in config) "
            "or the training diverged (check the metrics CSV: PSNR, inv_s)",
        )
    verts, faces = res.vertices, res.faces
    meta = json.loads(transforms.read_text()) if transforms is not None else None
    raw: dict[str, Any] = {
        "raw_faces": len(faces),
        "raw_components": components(len(verts), faces)[0],
    }
    if floaters == "remove":  # surfaces closed inside the object (recon/cavities.py)
        verts, faces, raw["pockets"] = _drop_pockets(sdf_fn, verts, faces, device, meta)
    if keep_largest_component:
        verts, faces = keep_largest(verts, faces)
    eyes = camera_centres(meta, center, radius) if meta is not None else None
    rgb = vertex_colors(model, verts, st, device, eyes) if colors else None
    t_mc = time.perf_counter() - t0

    import trimesh

    world = verts * radius + center
    mesh = trimesh.Trimesh(world, faces, vertex_colors=rgb, process=False)
    if meta is not None and (support != "keep" or floaters == "remove"):
        from video2mesh.isolate import isolate_scene_mesh

        mesh, raw["isolate"] = isolate_scene_mesh(mesh, meta, support, floaters, device)
    stats = {
        **mesh_stats(mesh),
        **raw,
        "iteration": it,
        "resolution": int(resolution),
        "keep_largest": bool(keep_largest_component),
        "blocks_total": res.blocks_total,
        "blocks_evaluated": res.blocks_evaluated,
        "sdf_points": res.sdf_points,
        "device": str(device),
        "extract_seconds": t_mc,
    }
    with atomic_path(out) as tmp:
        mesh.export(tmp)
    stats["seconds"] = time.perf_counter() - t0
    stats["peak_host_bytes"] = _peak_host_bytes()
    if device.type == "cuda":
        stats["peak_gpu_bytes"] = int(torch.cuda.max_memory_allocated(device))
    write_json(stats_path, stats)
    return stats


# Vertex colours are the colour network's as the cameras most nearly facing each vertex saw it
# (their mean): the network's view-dependent part is learnt for the photos' directions only, and
# along −normal (head-on, as before) it extrapolates. On a real plush bear (GPU preset, SH
# degree 3) the head-on colours scored 16.1 dB on held-back photos (benchmarks/texture/RESULTS.md).
VIEWS_PER_VERTEX = 4


def camera_centres(meta: dict, center: np.ndarray, radius: float) -> np.ndarray:
    """The cameras' centres of transforms.json content ``meta`` in the sphere-normalised frame."""
    from video2mesh.support import camera_poses

    return (camera_poses(meta)[:, :3, 3] - center) / radius


@torch.no_grad()
def vertex_colors(
    model: Any,
    verts: np.ndarray,
    st: Any,
    device: torch.device,
    eyes: np.ndarray | None = None,
    chunk: int = 1 << 16,
) -> np.ndarray:
    """Colour-net RGB at the vertices, appearance zero: the mean over the ``VIEWS_PER_VERTEX``
    cameras (centres ``eyes``, sphere-normalised) that face each vertex most nearly head-on,
    as they look at it; viewed along −normal where no camera is in front (or none is given)."""
    import torch.nn.functional as F

    cfg = model.cfg
    out = np.empty((len(verts), 4), dtype=np.uint8)
    out[:, 3] = 255
    eps = max(st.eps, 1e-4)
    cams = None if eyes is None or not len(eyes) else torch.from_numpy(eyes).float().to(device)
    for i in range(0, len(verts), chunk):
        x = torch.from_numpy(verts[i : i + chunk]).float().to(device)
        _, feat, grad, _ = model.sdf.with_gradient(x, st.active_levels, eps)
        n = F.normalize(grad, dim=-1)
        app = torch.zeros(len(x), cfg.appearance_dim, device=device) if cfg.appearance_dim else None
        rgb = model.color(x, -n, n, feat, app)
        if cams is not None:
            to_eye = F.normalize(cams[None] - x[:, None], dim=-1)  # (N, cameras, 3)
            facing = (to_eye * n[:, None]).sum(-1)
            cos, pick = facing.topk(min(VIEWS_PER_VERTEX, len(cams)), dim=1)
            seen = (cos > 0).float()
            total = torch.zeros_like(rgb)
            for k in range(pick.shape[1]):
                view = -to_eye[torch.arange(len(x), device=device), pick[:, k]]
                total += seen[:, k : k + 1] * model.color(x, view, n, feat, app)
            count = seen.sum(1, keepdim=True)
            rgb = torch.where(count > 0, total / count.clamp_min(1.0), rgb)
        out[i : i + chunk, :3] = (rgb.clamp(0, 1) * 255 + 0.5).byte().cpu().numpy()
    return out
