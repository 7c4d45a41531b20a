"""The orbit a phone makes around the object, one camera per frame.

Convention: OpenCV camera-to-world (x right, y down, z forward), world z up.
"""

from __future__ import annotations

import numpy as np

from video2mesh.sample.shapes import SHAPES, coarse_vertices
from video2mesh.sample.spec import SampleSpec


def look_at_c2w(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """OpenCV camera-to-world matrix of a camera at ``eye`` looking at ``target``."""
    z = target - eye
    z = z / np.linalg.norm(z)
    x = np.cross(z, up)
    x = x / np.linalg.norm(x)
    y = np.cross(z, x)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, eye
    return c2w


def orbit_radius(spec: SampleSpec) -> float:
    """The fixed radius, or the distance at which the object fills ``fill`` of the frame height.

    Measured, not guessed: the coarse true mesh's height in the image, averaged over eight
    azimuths at the mean elevation from a first guess, scales that guess (the apparent size
    goes as 1 / distance, closely enough at these distances).
    """
    if spec.orbit_radius is not None:
        return spec.orbit_radius
    shape = SHAPES[spec.object]
    verts = coarse_vertices(spec.object)
    guess = 4.0 * float(np.ptp(verts, axis=0).max())
    elev = np.radians(spec.elevation_deg)
    fy = spec.intrinsics()["fy"]
    heights = []
    for azim in np.linspace(0, 2 * np.pi, 8, endpoint=False):
        eye = np.asarray(shape.trace_center) + guess * np.array(
            [np.cos(elev) * np.cos(azim), np.cos(elev) * np.sin(azim), np.sin(elev)]
        )
        c2w = look_at_c2w(eye, np.asarray(shape.look_at), np.array([0, 0, 1.0]))
        cam = (verts - c2w[:3, 3]) @ c2w[:3, :3]  # world -> camera (rotation is orthonormal)
        v = fy * cam[:, 1] / cam[:, 2]
        heights.append(float(np.ptp(v)) / spec.height)
    return guess * float(np.mean(heights)) / spec.fill


def smooth_noise(rng: np.random.Generator, frames: int, dims: int, knots: int) -> np.ndarray:
    """(frames, dims) unit-variance noise that drifts slowly (linear between random knots)."""
    ctrl = rng.normal(0, 1, size=(knots, dims))
    x = np.linspace(0, knots - 1, frames)
    return np.stack([np.interp(x, np.arange(knots), ctrl[:, d]) for d in range(dims)], axis=1)


def orbit_cameras(spec: SampleSpec) -> list[np.ndarray]:
    """One camera per frame on an orbit whose elevation rises and falls twice.

    Hand-held: the eye drifts by about 4 % of the radius, the camera rolls by about 2°, the pace
    around the object varies and the aim wobbles, slowly, as a walking person's phone does.
    """
    shape = SHAPES[spec.object]
    radius = orbit_radius(spec)
    rng = np.random.default_rng(spec.seed + 1)
    # The aim's wobble: drawn first, so that the classic sample's cameras stay the same.
    jitter = rng.normal(0, 0.03, size=(spec.frames, 3)) * (radius / 3.0)
    knots = max(2, spec.frames // 10)
    if spec.handheld:
        eye_drift = smooth_noise(rng, spec.frames, 3, knots) * 0.04 * radius
        roll = np.radians(2.0) * smooth_noise(rng, spec.frames, 1, knots)[:, 0]
        pace = 0.03 * smooth_noise(rng, spec.frames, 1, knots)[:, 0]
    else:
        eye_drift, roll, pace = (
            np.zeros((spec.frames, 3)),
            np.zeros(spec.frames),
            np.zeros(spec.frames),
        )
    center, target = np.asarray(shape.trace_center), np.asarray(shape.look_at)
    out = []
    for i in range(spec.frames):
        t = i / spec.frames
        azim = 2 * np.pi * spec.turns * (t + pace[i])
        elev = np.radians(spec.elevation_deg + spec.elevation_swing_deg * np.sin(4 * np.pi * t))
        r = radius * (1 + 0.06 * np.sin(6 * np.pi * t))
        eye = center + r * np.array(
            [np.cos(elev) * np.cos(azim), np.cos(elev) * np.sin(azim), np.sin(elev)]
        )
        c2w = look_at_c2w(eye + eye_drift[i], target + jitter[i], np.array([0, 0, 1.0]))
        if roll[i]:
            c, s = np.cos(roll[i]), np.sin(roll[i])
            c2w[:3, :2] = c2w[:3, :2] @ np.array([[c, s], [-s, c]])
        out.append(c2w)
    return out
