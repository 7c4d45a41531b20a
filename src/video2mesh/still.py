"""Pixels that stay the same in every frame: a fixed camera before a turntable.

Why: filmed on a tripod while the object turns on a turntable, the table under the turntable
and the room behind it stand still in the frames while the object turns. SfM sees two motions
and the background's many features win: every camera lands at nearly one place (a generated
turntable in a room: camera centres 116 % of the orbit's radius off, the sphere 9000 units
across). And in the object's frame the still background turns with the camera, which no field
can paint. So pixels that hold their colour in every frame are masked out of SIFT (the SfM
stage) and, in training, count as background the object's opacity is pushed to zero on, with
no colour loss (no ray through them ever met the turning object: it would have changed them).

A capture counts as filmed by a fixed camera when textured pixels stand still over a share of
the frame (FIXED_SHARE): a hand-held orbit leaves none (everything moves), a plain backdrop is
still but smooth (left to recon.plain_background). The one case this cannot tell apart is a
smooth object that looks the same from every side (a plain white vase turning): its pixels are
still too; no method recovers such an object from a turntable's frames.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# levels (of 255) from the pixel's median over the frames that a still pixel stays within in
# most frames (STILL_QUANTILE): compression noise and a phone's sensor noise at 2×2 binning
STILL_TOL = 10.0
STILL_QUANTILE = 0.9  # a hand passing through a tenth of the frames leaves a pixel still
TEXTURE_TOL = 3.0  # mean absolute Laplacian (levels) of a 3×3 patch that counts as textured
FIXED_SHARE = 0.05  # share of the frame that is still and textured: a fixed camera
GROW = 2  # pixels of moving area added round the object (its blurred edges, motion blur)
MIN_FRAMES = 8
MAX_FRAMES = 60
MAX_SIDE = 480


def _grey(frames: np.ndarray) -> np.ndarray:
    """(N, H, W) float32 luma, each frame scaled to the median brightness of all of them (a
    phone's auto exposure moves every pixel together while the object turns)."""
    grey = frames[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    level = np.median(grey.reshape(len(grey), -1), axis=1)
    return grey * (np.median(level) / np.maximum(level, 1.0))[:, None, None]


def still_pixels(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) bool of pixels that keep their colour through the frames (N, H, W, 3 uint8), and
    (H, W) bool of those among them in textured areas."""
    from scipy import ndimage

    grey = _grey(frames)
    median = np.median(grey, axis=0)
    spread = np.quantile(np.abs(grey - median), STILL_QUANTILE, axis=0)
    still = ~ndimage.binary_dilation(spread > STILL_TOL, iterations=GROW)
    texture = ndimage.uniform_filter(np.abs(ndimage.laplace(median)), 3)  # mean over 3×3
    return still, still & (texture > TEXTURE_TOL)


def _spread(n: int) -> np.ndarray:
    """Indices of at most MAX_FRAMES of n frames, spread over the capture."""
    return np.unique(np.linspace(0, n - 1, min(n, MAX_FRAMES)).round()).astype(int)


def _reduction(height: int, width: int) -> int:
    """The integer factor that brings an image to at most MAX_SIDE pixels across."""
    return max(1, -(-max(height, width) // MAX_SIDE))


def fixed_camera_mask(frames: np.ndarray) -> np.ndarray | None:
    """(H, W) bool mask of the still pixels when the frames (N, H, W, 3 uint8) come from a
    fixed camera, else None. Measured on at most MAX_FRAMES frames spread over the capture, at
    most MAX_SIDE pixels across; needs MIN_FRAMES: fewer say little about what moves."""
    if len(frames) < MIN_FRAMES:
        return None
    h, w = frames.shape[1:3]
    step = _reduction(h, w)
    still, textured = still_pixels(frames[_spread(len(frames)), ::step, ::step])
    if textured.mean() < FIXED_SHARE or still.all():
        return None
    return np.repeat(np.repeat(still, step, axis=0), step, axis=1)[:h, :w]


def reduced_frames(sources: list[Path] | list[bytes]) -> tuple[np.ndarray, tuple[int, int]]:
    """At most MAX_FRAMES of the image files (or encoded images) spread over the list, each
    reduced to at most MAX_SIDE pixels across, so that a long capture of large photos fits in
    memory; and their full size (width, height). Images of other sizes are left out."""
    import io

    from PIL import Image

    frames, size = [], (0, 0)
    for i in _spread(len(sources)):
        src = sources[i]
        with Image.open(io.BytesIO(src) if isinstance(src, bytes) else src) as img:
            if frames and img.size != size:
                continue
            size = img.size
            frames.append(np.asarray(img.convert("RGB").reduce(_reduction(*size))))
    return np.stack(frames) if frames else np.zeros((0, 1, 1, 3), np.uint8), size


def fixed_camera_mask_of_files(paths: list[Path]) -> np.ndarray | None:
    """fixed_camera_mask of image files of one size, at their full size."""
    from PIL import Image

    frames, (w, h) = reduced_frames(paths)
    mask = fixed_camera_mask(frames)
    if mask is None:
        return None
    big = Image.fromarray(mask.astype(np.uint8) * 255).resize((w, h), Image.Resampling.NEAREST)
    return np.asarray(big) > 127


def moving_share(frames: np.ndarray) -> float:
    """Share of the pixels that change somewhere in the frames (N, H, W, 3): 0 when neither
    the camera nor anything before it moved."""
    still, _ = still_pixels(frames)
    return float(1.0 - still.mean())
