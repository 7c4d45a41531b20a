"""Reading SfM's undistorted photos at 3-D points: where they fall, what colour they show, and
whether two colours are one colour under different shading (``standing``, ``carve``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

HUE_DEG = 8.0  # the largest angle between the RGB vectors of one colour
DARK = 10.0  # grey added to both colours (of 255) before the angle is taken
BRIGHTNESS = 2.5  # the largest brightness ratio of one colour (shading of a side vs its top)

Photo = Callable[[int], np.ndarray]  # camera index -> its undistorted photo, (h, w, 3) uint8
Pinhole = tuple[float, float, float, float]  # fx, fy, cx, cy


def same_colour(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Whether two arrays of RGB colours are one colour under different shading: their RGB
    directions within ``HUE_DEG`` (a little grey added steadies dark pixels' directions) and
    their brightness within a factor ``BRIGHTNESS``."""
    a, b = a + DARK, b + DARK
    na, nb = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    cos = (a * b).sum(-1) / (na * nb)
    return (cos > np.cos(np.radians(HUE_DEG))) & (np.abs(np.log(na / nb)) < np.log(BRIGHTNESS))


def pixels(
    x: np.ndarray,
    w2c: np.ndarray,
    k: Pinhole,
    shape: tuple[int, ...],
    step: int = 1,
    border: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where points fall (u, v) in a photo of ``shape`` shrunk ``step`` times, and whether they
    fall in it, in front of the camera and ``border`` pixels or more inside its edges."""
    fx, fy, cx, cy = k
    c = x @ w2c[:3, :3].T + w2c[:3, 3]
    z = np.where(c[:, 2] > 1e-9, c[:, 2], np.nan)
    u, v = (fx * c[:, 0] / z + cx) / step, (fy * c[:, 1] / z + cy) / step
    hgt, wid = shape[0] - 1 - border, shape[1] - 1 - border
    ok = np.isfinite(u) & (u >= border) & (u <= wid) & (v >= border) & (v <= hgt)
    return u, v, ok


def colours(
    x: np.ndarray, w2c: np.ndarray, k: Pinhole, img: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The mean colour of the 3×3 pixels where each point lies in the photo, and whether it
    lies in it (in front of the camera, inside the frame)."""
    u, v, ok = pixels(x, w2c, k, img.shape, border=1)
    ok &= (u < img.shape[1] - 2) & (v < img.shape[0] - 2)  # int(u) + 1 inside
    ui, vi = np.where(ok, u, 1).astype(int), np.where(ok, v, 1).astype(int)
    patch = sum(img[vi + dv, ui + du].astype(float) for dv in (-1, 0, 1) for du in (-1, 0, 1))
    return patch / 9.0, ok
