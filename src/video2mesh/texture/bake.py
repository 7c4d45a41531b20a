"""Bake a texture into a UV atlas: from the registered photos, or from the colour network.

Photos (the default): every texel's surface point is projected into every photo. A photo sees
the point when the point lies in front of that photo's depth buffer (the mesh rasterised into
the camera) within ``DEPTH_TOLERANCE``. Each seeing photo gets a weight: cos² of the angle
between the surface normal and the line of sight (either side, so that meshes of either winding
bake) times (f / depth)², i.e. how many of its pixels the texel covers; pixels within
``EDGE_PIXELS`` of a depth discontinuity (silhouettes, where a slightly too large mesh would
pick up background) weigh 1 %, as do those a cut-out photo's alpha calls backdrop (where the
mesh overhangs the object). The ``top_k`` best photos per texel are blended by weight: a single
best photo would show every change of photo as a seam, all photos blur. Texels no photo sees
take the mesh's vertex colour (or grey).

Field: the colour network of the run's checkpoint at the texel's point, seen along −normal, as
extraction does for vertex colours (reference §4); the fallback when photos are not at hand.

Works in the normalised frame of transforms.json (sphere centre at 0, radius 1), where the
training images and cameras are loaded: the tolerances are fractions of the sphere's radius.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from video2mesh.recon.data import ALPHA_BACKDROP, Dataset
from video2mesh.texture.raster import Pinhole, rasterize

log = logging.getLogger(__name__)

DEPTH_TOLERANCE = 0.01  # of the sphere radius; the res-256 lattice spacing is 0.008
MIN_COSINE = 0.1  # grazing views smear a texel over many pixels' worth of surface
EDGE_PIXELS = 2
EDGE_JUMP = 0.05  # depth step (sphere radii) between neighbouring pixels that marks an edge


@dataclass
class Texels:
    """The texels covered by a face of the atlas (all of them lie on the surface)."""

    index: torch.Tensor  # (T,) int64 row-major index into the size² image
    position: torch.Tensor  # (T, 3) float32 surface point
    normal: torch.Tensor  # (T, 3) float32 unit normal (interpolated vertex normals)
    size: int


def atlas_texels(
    vertices: np.ndarray,
    faces: np.ndarray,
    uv: np.ndarray,
    vertex_normals: np.ndarray,
    size: int,
    device: torch.device,
) -> Texels:
    """Rasterise the atlas: image row 0 is v = 1 (OBJ convention)."""
    uvt = torch.as_tensor(uv, dtype=torch.float32, device=device)
    xy = torch.stack([uvt[:, 0] * size, (1.0 - uvt[:, 1]) * size], -1)
    f = torch.as_tensor(faces, device=device)
    r = rasterize(xy[f], size, size)
    index = torch.nonzero(r.face.reshape(-1) >= 0)[:, 0]
    face = r.face.reshape(-1)[index]
    bary = r.bary.reshape(-1, 3)[index]
    corners = f[face]  # (T, 3)
    verts = torch.as_tensor(vertices, dtype=torch.float32, device=device)
    normals = torch.as_tensor(vertex_normals, dtype=torch.float32, device=device)
    pos = (bary[..., None] * verts[corners]).sum(1)
    nrm = F.normalize((bary[..., None] * normals[corners]).sum(1), dim=-1)
    return Texels(index=index, position=pos, normal=nrm, size=size)


def _edge_mask(depth: torch.Tensor) -> torch.Tensor:
    """Pixels within EDGE_PIXELS of a depth jump or of the silhouette."""
    z = torch.where(torch.isfinite(depth), depth, torch.full_like(depth, 1e3))[None, None]
    hi = F.max_pool2d(z, 3, 1, 1)
    lo = -F.max_pool2d(-z, 3, 1, 1)
    jump = ((hi - lo) > EDGE_JUMP).float()
    k = 2 * EDGE_PIXELS + 1
    return F.max_pool2d(jump, k, 1, EDGE_PIXELS)[0, 0] > 0


def project(points: torch.Tensor, c2w: torch.Tensor, ds: Pinhole) -> tuple[torch.Tensor, ...]:
    """Pixel coordinates (x, y) and depth of points in an OpenCV camera-to-world ``c2w``."""
    cam = (points - c2w[:, 3]) @ c2w[:, :3]
    z = cam[:, 2]
    safe = torch.where(z > 1e-6, z, torch.full_like(z, 1e-6))
    x = ds.fx * cam[:, 0] / safe + ds.cx
    y = ds.fy * cam[:, 1] / safe + ds.cy
    return x, y, z


def depth_buffer(
    vertices: torch.Tensor, faces: torch.Tensor, c2w: torch.Tensor, ds: Pinhole
) -> torch.Tensor:
    """(H, W) depth of the nearest surface in a camera, +inf where the mesh is not."""
    x, y, z = project(vertices, c2w, ds)
    z = torch.where(z > 1e-6, z, torch.full_like(z, float("nan")))  # behind: dropped
    xy = torch.stack([x, y], -1)[faces]
    r = rasterize(xy, ds.height, ds.width, depth=z[faces])
    assert r.depth is not None
    return r.depth


def in_frame(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, ds: Pinhole) -> torch.Tensor:
    """Whether projected points (`project`) fall on the image, in front of the camera."""
    return (z > 1e-6) & (x >= 0) & (y >= 0) & (x < ds.width) & (y < ds.height)


def visible(
    points: torch.Tensor, c2w: torch.Tensor, ds: Pinhole, depth: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    """Pixel coordinates (x, y), depth and a mask of the points a camera sees: in its frame, in
    front of it and not behind the surface of its ``depth`` buffer."""
    x, y, z = project(points, c2w, ds)
    ix, iy = x.floor().long(), y.floor().long()
    inside = in_frame(x, y, z, ds)
    nearest = torch.full_like(z, -1.0)
    nearest[inside] = depth[iy[inside], ix[inside]]
    return x, y, z, inside & (z <= nearest + DEPTH_TOLERANCE)


def sample_image(image: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear RGB (0..1) of a uint8 (H, W, 3) image at pixel coordinates."""
    h, w = image.shape[:2]
    img = image.permute(2, 0, 1)[None].float() / 255.0
    grid = torch.stack([2 * x / w - 1, 2 * y / h - 1], -1)[None, None]
    return F.grid_sample(img, grid, align_corners=False, padding_mode="border")[0, :, 0].T


@torch.no_grad()
def bake_photos(
    texels: Texels,
    vertices: torch.Tensor,
    faces: torch.Tensor,
    ds: Dataset,
    views: list[int],
    top_k: int = 3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blended colour (T, 3) in 0..1 and a mask of the texels that some photo sees."""
    t = len(texels.index)
    dev = texels.position.device
    best_w = torch.zeros((t, top_k), device=dev)
    best_c = torch.zeros((t, top_k, 3), device=dev)
    for i in views:
        c2w = ds.c2w[i]
        depth = depth_buffer(vertices, faces, c2w, ds)
        edge = _edge_mask(depth)
        to_cam = F.normalize(c2w[:, 3] - texels.position, dim=-1)
        cos = (to_cam * texels.normal).sum(-1).abs()  # either winding: the depth test decides
        cand = torch.nonzero(cos > MIN_COSINE)[:, 0]
        x, y, z, seen = visible(texels.position[cand], c2w, ds, depth)
        cand, x, y, z = (a[seen] for a in (cand, x, y, z))
        ix, iy = x.floor().long(), y.floor().long()
        w = cos[cand] ** 2 * (ds.fx / z) ** 2
        off = edge[iy, ix]
        if ds.alpha is not None:  # a cut-out: where its alpha says backdrop, the mesh overhangs
            backdrop = torch.from_numpy(ds.alpha[i] < ALPHA_BACKDROP).to(dev)
            off = off | backdrop[iy, ix]
        w = torch.where(off, w * 0.01, w)
        slot = best_w[cand].argmin(dim=1)
        better = w > best_w[cand, slot]
        cand, slot, w, x, y = cand[better], slot[better], w[better], x[better], y[better]
        best_w[cand, slot] = w
        best_c[cand, slot] = sample_image(ds.images[i], x, y)
        log.debug("view %s: %d texels updated", ds.names[i], len(cand))
    total = best_w.sum(1)
    rgb = (best_w[..., None] * best_c).sum(1) / total.clamp(min=1e-12)[:, None]
    return rgb, total > 0


@torch.no_grad()
def bake_field(
    texels: Texels, ckpt: str, device: torch.device, eyes: np.ndarray | None = None
) -> torch.Tensor:
    """Colour (T, 3) in 0..1 from the colour network of a builtin checkpoint, as the cameras
    (centres ``eyes``, normalised frame) facing each texel most nearly saw it."""
    from video2mesh.recon import schedule
    from video2mesh.recon.extract import vertex_colors
    from video2mesh.recon.train import load_checkpoint, model_from_checkpoint

    ck = load_checkpoint(ckpt, "cpu")
    model = model_from_checkpoint(ck, device).eval()
    st = schedule.state(model.cfg, int(ck["iteration"]), int(ck["final"]))
    pts = texels.position.double().cpu().numpy()
    rgba = vertex_colors(model, pts, st, device, eyes)
    return torch.from_numpy(rgba[:, :3]).float().to(texels.position.device) / 255.0


def texture_image(
    texels: Texels, rgb: torch.Tensor, known: torch.Tensor, fallback: torch.Tensor | None
) -> np.ndarray:
    """(size, size, 3) uint8: baked texels; unseen texels from ``fallback``; the rest of the
    image (gutters between charts) filled with the nearest texel's colour, so that filtered
    lookups across a seam never read black."""
    from scipy.ndimage import distance_transform_edt

    size = texels.size
    colour = rgb.clone()
    if fallback is not None:
        colour[~known] = fallback[~known]
    else:
        colour[~known] = 0.5
    img = np.zeros((size * size, 3), dtype=np.float32)
    valid = np.zeros(size * size, dtype=bool)
    index = texels.index.cpu().numpy()
    img[index] = colour.clamp(0, 1).cpu().numpy()
    valid[index] = True
    img, valid = img.reshape(size, size, 3), valid.reshape(size, size)
    if valid.any() and not valid.all():
        _, (iy, ix) = distance_transform_edt(~valid, return_indices=True)
        img = img[iy, ix]
    return (img * 255.0 + 0.5).astype(np.uint8)
