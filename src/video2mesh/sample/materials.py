"""Textures (3-D value noise, the same from every view, as on a real surface) and shading."""

from __future__ import annotations

import numpy as np

LIGHT_DIR = np.array([0.4, -0.3, 0.87]) / np.linalg.norm([0.4, -0.3, 0.87])
SHADOW_DIM = 0.45  # a shadowed support keeps the ambient share of its light
GLOSS = (0.9, 32.0)  # Blinn-Phong: white highlight strength and exponent
SHEEN = 0.18  # glossy: a mirrored sky (bright above, dark below) at grazing angles


class Noise:
    """Value noise: a fixed random lattice, smoothstep-trilinear, three channels."""

    def __init__(self, rng: np.random.Generator, size: int = 64) -> None:
        self.size = size
        self.table = rng.random((size, size, size, 3), dtype=np.float32)

    def __call__(self, p: np.ndarray, freq: float) -> np.ndarray:
        q = (p * freq).astype(np.float32)
        i0 = np.floor(q)
        f = q - i0
        f = f * f * (3 - 2 * f)  # smoothstep: no visible lattice creases
        i0 = i0.astype(np.int64)
        n, mask = self.size, self.size - 1  # size is a power of two
        flat = self.table.reshape(-1, 3)
        out = np.zeros((*p.shape[:-1], 3), np.float32)
        for dx in (0, 1):
            ix = ((i0[..., 0] + dx) & mask) * n * n
            wx = f[..., 0] if dx else 1 - f[..., 0]
            for dy in (0, 1):
                ixy = ix + ((i0[..., 1] + dy) & mask) * n
                wxy = wx * (f[..., 1] if dy else 1 - f[..., 1])
                for dz in (0, 1):
                    w = wxy * (f[..., 2] if dz else 1 - f[..., 2])
                    out += w[..., None] * flat[ixy + ((i0[..., 2] + dz) & mask)]
        return out


class Textures:
    """Every albedo of a scene, deterministic from the seed."""

    def __init__(self, seed: int, object_palette: np.ndarray) -> None:
        rng = np.random.default_rng(seed)
        self.noise = Noise(rng)
        self.palette_obj = np.asarray(object_palette, np.float32)
        self.palette_bg = rng.random((2, 3), dtype=np.float32) * 0.5 + 0.25
        # Drawn after the classic sample's draws, so that its frames stay the same.
        base = np.array([0.55, 0.36, 0.2], np.float32)  # a wood
        self.palette_table = np.stack([base, base * 0.6]) * (
            0.85 + 0.3 * rng.random((2, 3), dtype=np.float32)
        )

    def object_albedo(self, p: np.ndarray) -> np.ndarray:
        n = (
            0.5 * self.noise(p, 5.0)
            + 0.3 * self.noise(p + 17.0, 13.0)
            + 0.2 * self.noise(p + 5.0, 29.0)
        )
        # Two-tone blotches with sharp-ish edges give SIFT corners; the noise adds detail.
        t = np.clip((n[..., :1] - 0.5) * 6.0 + 0.5, 0, 1)
        base = self.palette_obj[0] * (1 - t) + self.palette_obj[1] * t
        return np.clip(base * (0.45 + 1.1 * n), 0, 1)

    def background(self, p: np.ndarray, freq: float) -> np.ndarray:
        n = 0.6 * self.noise(p, freq) + 0.4 * self.noise(p + 31.0, freq * 3.1)
        t = np.clip((n[..., 1:2] - 0.3) * 2.0, 0, 1)
        base = self.palette_bg[0] * (1 - t) + self.palette_bg[1] * t
        return np.clip(base * (0.5 + 0.8 * n), 0, 1)

    def floor(self, p: np.ndarray) -> np.ndarray:
        """A tiled floor: large checker tiles over the background noise."""
        checker = ((np.floor(p[:, 0] * 1.2) + np.floor(p[:, 1] * 1.2)) % 2)[:, None]
        return self.background(p * 0.5, 2.0) * (0.75 + 0.25 * checker)

    def wood(self, p: np.ndarray, scale: float) -> np.ndarray:
        """Planks along x with warped growth rings, staggered ends and fine grain.

        ``scale`` is the table's size: the pattern keeps its look at any size.
        """
        q = (p / scale).astype(np.float32)
        plank_w, plank_l = 0.22, 1.3
        row = np.floor(q[:, 1] / plank_w)
        # Plank ends: each row's joints shifted by a pseudo-random amount.
        shift = (np.sin(row * 12.9898) * 43758.5453) % 1.0
        along = q[:, 0] / plank_l + shift
        plank = row * 7.0 + np.floor(along) * 13.0
        warp = self.noise(q * np.array([0.35, 2.0, 2.0], np.float32) + 41.0, 2.0)[:, 0]
        rings = 0.5 + 0.5 * np.sin(2 * np.pi * (q[:, 1] * 4.0 + 1.5 * warp + plank * 0.37))
        fine = self.noise(q * np.array([0.5, 4.0, 4.0], np.float32) + 59.0, 8.0)
        t = (0.8 * rings)[:, None]
        base = self.palette_table[0] * (1 - t) + self.palette_table[1] * t
        rgb = base * (0.7 + 0.6 * fine) * (0.85 + 0.3 * ((plank * 0.618) % 1.0))[:, None]
        # Dark seams between planks: lines with corners where they meet.
        seam = np.minimum(
            np.abs(q[:, 1] / plank_w - np.round(q[:, 1] / plank_w)) * plank_w,
            np.abs(along - np.round(along)) * plank_l,
        )
        return np.clip(rgb * np.where(seam < 0.006, 0.45, 1.0)[:, None], 0, 1)


def shade_object(
    albedo: np.ndarray,
    normal: np.ndarray,
    view_dir: np.ndarray,
    lit: np.ndarray,
    glossy: bool,
    light: np.ndarray = LIGHT_DIR,
) -> np.ndarray:
    """Lambert with a hemispherical ambient; glossy adds a white Blinn-Phong highlight.

    ``view_dir`` points from the camera to the surface; ``lit`` is False in shadow; ``light``
    points towards the light.
    """
    light = light.astype(np.float32)
    lambert = np.clip(normal @ light, 0, 1)
    lambert = np.where(lit, lambert, 0.0)
    sky = 0.5 + 0.5 * normal[:, 2]  # brighter facing up
    shade = 0.25 + 0.15 * sky + 0.7 * lambert
    rgb = albedo * shade[:, None]
    if glossy:
        half = light - view_dir
        half /= np.linalg.norm(half, axis=-1, keepdims=True)
        strength, exponent = GLOSS
        spec = strength * np.clip(np.einsum("ij,ij->i", normal, half), 0, 1) ** exponent
        cos_v = np.clip(-np.einsum("ij,ij->i", normal, view_dir), 0, 1)
        mirrored_z = view_dir[:, 2] + 2 * cos_v * normal[:, 2]
        fresnel = 0.25 + 0.75 * (1 - cos_v) ** 5  # Schlick, for a glaze
        sheen = SHEEN * fresnel * (0.5 + 0.5 * mirrored_z)
        rgb = rgb * 0.85 + (np.where(lit, spec, 0.0) + sheen)[:, None]
    return rgb
