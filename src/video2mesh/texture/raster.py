"""A small triangle rasteriser in torch (CPU or CUDA): which face covers each pixel centre.

Used twice: in UV space (texel → face and barycentric coordinates, no depth) and in each camera
(depth buffer for the visibility test, and the evaluation renders). Pixel ``(i, j)`` has its
centre at ``(j + 0.5, i + 0.5)``, the convention of transforms.json's intrinsics.

Vectorised by bucketing faces by the size of their pixel bounding box: a bucket of faces with
boxes of at most k×k pixels tests k² candidate pixels per face, so the work follows the covered
area, and the few large faces of a decimated mesh do not blow up the small ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

# candidate pixels tested per chunk (bounds the memory of one step: ~40 bytes each)
CHUNK = 1 << 22


class Pinhole(Protocol):
    """Intrinsics of a set of pinhole cameras sharing one image size (recon.data.Dataset,
    sphere.Cameras)."""

    fx: float
    fy: float
    cx: float
    cy: float

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...


@dataclass
class Raster:
    face: torch.Tensor  # (H, W) int64, -1 where no face covers the pixel centre
    bary: torch.Tensor  # (H, W, 3) float32 barycentric coordinates (zeros where face is -1)
    depth: torch.Tensor | None  # (H, W) float32, +inf where empty (only with depth)


def rasterize(
    xy: torch.Tensor, height: int, width: int, depth: torch.Tensor | None = None
) -> Raster:
    """Rasterise triangles ``xy`` (F, 3, 2) in pixel units; nearest ``depth`` (F, 3) wins."""
    dev = xy.device
    xy = xy.float()
    lo = torch.ceil(xy.min(dim=1).values - 0.5).long()
    hi = torch.floor(xy.max(dim=1).values - 0.5).long()
    lo[:, 0].clamp_(min=0)
    lo[:, 1].clamp_(min=0)
    hi[:, 0].clamp_(max=width - 1)
    hi[:, 1].clamp_(max=height - 1)
    span = (hi - lo + 1).clamp(min=0)
    a, b, c = xy[:, 0], xy[:, 1], xy[:, 2]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    keep = (span.min(dim=1).values > 0) & (area.abs() > 1e-12)
    if depth is not None:
        keep &= torch.isfinite(depth).all(dim=1)
    ids = torch.nonzero(keep)[:, 0]
    size = span[ids].max(dim=1).values
    bucket = torch.ceil(torch.log2(size.float())).long()  # box side ≤ 2^bucket

    pix_all, face_all, bary_all, z_all = [], [], [], []
    for k in torch.unique(bucket).tolist():
        side = 1 << int(k)
        f_k = ids[bucket == k]
        oy, ox = torch.meshgrid(
            torch.arange(side, device=dev), torch.arange(side, device=dev), indexing="ij"
        )
        ox, oy = ox.reshape(-1), oy.reshape(-1)
        per_chunk = max(1, CHUNK // (side * side))
        for s in range(0, len(f_k), per_chunk):
            f = f_k[s : s + per_chunk]
            px = lo[f, 0:1] + ox  # (n, side²)
            py = lo[f, 1:2] + oy
            inside_box = (px <= hi[f, 0:1]) & (py <= hi[f, 1:2])
            cx, cy = px.float() + 0.5, py.float() + 0.5
            fa, fb, fc, ar = a[f], b[f], c[f], area[f][:, None]
            w0 = (
                (fb[:, 0:1] - cx) * (fc[:, 1:2] - cy) - (fb[:, 1:2] - cy) * (fc[:, 0:1] - cx)
            ) / ar
            w1 = (
                (fc[:, 0:1] - cx) * (fa[:, 1:2] - cy) - (fc[:, 1:2] - cy) * (fa[:, 0:1] - cx)
            ) / ar
            w2 = 1.0 - w0 - w1
            hit = inside_box & (w0 >= -1e-6) & (w1 >= -1e-6) & (w2 >= -1e-6)
            rows, cols = torch.nonzero(hit, as_tuple=True)
            face = f[rows]
            bary = torch.stack([w0[rows, cols], w1[rows, cols], w2[rows, cols]], -1)
            pix_all.append(py[rows, cols] * width + px[rows, cols])
            face_all.append(face)
            bary_all.append(bary)
            if depth is not None:
                z_all.append((bary * depth[face]).sum(-1))

    n = height * width
    out_face = torch.full((n,), -1, dtype=torch.long, device=dev)
    out_bary = torch.zeros((n, 3), dtype=torch.float32, device=dev)
    out_depth = None
    if pix_all:
        pix, face, bary = torch.cat(pix_all), torch.cat(face_all), torch.cat(bary_all)
        if depth is not None:
            z = torch.cat(z_all)
            zbuf = torch.full((n,), float("inf"), device=dev)
            zbuf.scatter_reduce_(0, pix, z, reduce="amin")
            win = z <= zbuf[pix]  # ties: whichever write lands last
            pix, face, bary = pix[win], face[win], bary[win]
            out_depth = zbuf.reshape(height, width)
        out_face[pix] = face
        out_bary[pix] = bary
    elif depth is not None:
        out_depth = torch.full((height, width), float("inf"), device=dev)
    return Raster(out_face.reshape(height, width), out_bary.reshape(height, width, 3), out_depth)
