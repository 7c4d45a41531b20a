"""Texture quality: a mesh rendered into a photo's camera, compared with the photo on the object.

The render uses the same rasteriser as the baker; a textured mesh samples its image bilinearly at
the interpolated UV, a vertex-coloured mesh interpolates its colours. PSNR and SSIM are taken on
the pixels the mesh covers (away from its silhouette, where a pixel mixes object and background
in the photo but not in the render), so that both colourings of one mesh are scored on the same
pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from video2mesh.recon.data import Dataset
from video2mesh.texture.bake import project
from video2mesh.texture.raster import rasterize


@dataclass
class Score:
    psnr: float
    ssim: float
    pixels: int


def render_view(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    ds: Dataset,
    view: int,
    uv: torch.Tensor | None = None,
    texture: torch.Tensor | None = None,
    colors: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """RGB (H, W, 3) in 0..1 and coverage mask of a mesh in the normalised frame."""
    x, y, z = project(vertices, ds.c2w[view], ds)
    z = torch.where(z > 1e-6, z, torch.full_like(z, float("nan")))
    r = rasterize(torch.stack([x, y], -1)[faces], ds.height, ds.width, depth=z[faces])
    mask = r.face >= 0
    face = r.face[mask]
    bary = r.bary[mask]
    corners = faces[face]
    out = torch.zeros((ds.height, ds.width, 3), device=vertices.device)
    if texture is not None and uv is not None:
        t = (bary[..., None] * uv[corners]).sum(1)
        grid = torch.stack([t[:, 0] * 2 - 1, (1 - t[:, 1]) * 2 - 1], -1)[None, None]
        img = texture.permute(2, 0, 1)[None].float()
        out[mask] = F.grid_sample(img, grid, align_corners=False, padding_mode="border")[0, :, 0].T
    elif colors is not None:
        out[mask] = (bary[..., None] * colors[corners]).sum(1)
    return out, mask


def score(render: np.ndarray, photo: np.ndarray, mask: np.ndarray, erode: int = 2) -> Score:
    """PSNR and mean SSIM (7×7 windows) over the mask, eroded by ``erode`` pixels."""
    from scipy.ndimage import binary_erosion
    from skimage.metrics import structural_similarity

    inner = binary_erosion(mask, iterations=erode) if erode else mask
    n = int(inner.sum())
    if n == 0:
        return Score(float("nan"), float("nan"), 0)
    mse = float(((render[inner] - photo[inner]) ** 2).mean())
    psnr = 10 * np.log10(1.0 / max(mse, 1e-12))
    _, ssim_map = structural_similarity(
        render, photo, channel_axis=2, data_range=1.0, full=True, win_size=7
    )
    return Score(psnr, float(ssim_map[inner].mean()), n)
