"""What a phone's camera does to a hand-held video, applied to the rendered frames.

A phone films an orbit with automatic exposure and white balance: the brightness drifts as a
bright or dark part of the room enters the frame (here ±30 % in linear light, slowly), the colour
balance follows by a few per cent; the sensor adds noise; a walking hand smears some frames
(a few pixels of motion blur, and now and then a much worse one). The renderer's frames are
exact, so without this the validation set never asks whether training copes with a photo
that is brighter or bluer than its neighbours, which real captures always do.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import convolve

from video2mesh.sample.cameras import smooth_noise

EXPOSURE = 0.3  # std of the log gain (linear light): auto exposure's drift
WHITE_BALANCE = 0.04  # std of each channel's log gain around the exposure
NOISE = 2.0  # grey levels of read noise; shot noise adds sqrt(level / 4)
BLUR_PX = 2.0  # typical motion-blur length in pixels
SHAKE_EVERY = 12  # about one frame in this many is badly smeared (6–10 px)


class PhoneCamera:
    """Per-frame exposure, white balance, blur and noise, fixed by the seed."""

    def __init__(self, seed: int, frames: int) -> None:
        rng = np.random.default_rng(seed + 7)
        knots = max(2, frames // 10)
        self.gain = np.exp(EXPOSURE * smooth_noise(rng, frames, 1, knots)[:, 0])
        self.balance = np.exp(WHITE_BALANCE * smooth_noise(rng, frames, 3, knots))
        length = BLUR_PX * (1 + 0.5 * smooth_noise(rng, frames, 1, knots)[:, 0])
        shaken = rng.random(frames) < 1.0 / SHAKE_EVERY
        self.blur = np.where(shaken, rng.uniform(6, 10, frames), np.clip(length, 0, None))
        self.angle = rng.uniform(0, np.pi, frames)
        self.seeds = rng.integers(0, 2**31, frames)

    def __call__(self, frame: np.ndarray, index: int) -> np.ndarray:
        linear = (frame.astype(np.float32) / 255.0) ** 2.2
        linear = linear * (self.gain[index] * self.balance[index]).astype(np.float32)
        linear = _motion_blur(linear, float(self.blur[index]), float(self.angle[index]))
        out = np.clip(linear, 0, 1) ** (1 / 2.2) * 255.0
        rng = np.random.default_rng(self.seeds[index])
        sigma = np.sqrt(NOISE**2 + out / 4.0)
        out = out + rng.normal(0, 1, out.shape).astype(np.float32) * sigma
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _motion_blur(image: np.ndarray, length: float, angle: float) -> np.ndarray:
    """A straight smear of ``length`` pixels at ``angle`` (a line kernel, per channel)."""
    if length < 1.0:
        return image
    half = int(np.ceil(length / 2))
    size = 2 * half + 1
    t = np.linspace(-length / 2, length / 2, 4 * size)
    kernel = np.zeros((size, size), np.float32)
    rows = np.round(half + t * np.sin(angle)).astype(int)
    cols = np.round(half + t * np.cos(angle)).astype(int)
    np.add.at(kernel, (rows, cols), 1.0)
    kernel /= kernel.sum()
    return np.stack(
        [convolve(image[..., c], kernel, mode="nearest") for c in range(image.shape[2])], -1
    )
