"""How the cameras surround an object, and what that leaves unseen.

Measured from the object (the sphere's centre) about the scene's up (the support's normal, or
the cameras' up for a floating object): each camera's azimuth round it and its elevation above
the horizontal through the object. Two ways of filming that the
validation set showed to cost shape (benchmarks/realworld/RESULTS.md, sessions 19–20) get a
note that the scene stage logs and writes into transforms.json and sphere.png:

- a gap in azimuth wider than ``MAX_AZIMUTH_GAP_DEG``: that side is seen by no photo and the
  mesh guesses it (half an orbit left 17 % of a vase unseen). Full orbits of the set leave gaps
  of 9–28°, DTU's front-only hemisphere 240°.
- every camera lower than ``MIN_TOP_ELEVATION_DEG``: tops and the insides of open vessels are
  seen edge-on at best (a cup filmed from 12–22° came out with a lid in its bowl, on the CPU
  and GPU presets alike). The set's orbits reach 42–66° at their highest; the two low orbits
  18° and 22°.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from video2mesh.support import up_frame

MAX_AZIMUTH_GAP_DEG = 90.0
MIN_TOP_ELEVATION_DEG = 30.0


@dataclass
class Coverage:
    views: int
    azimuth_gap_deg: float  # the widest azimuth seen by no camera
    elevation_deg: tuple[float, float, float]  # lowest, median, highest camera
    distance_radii: float  # median camera distance over the sphere's radius
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "views": self.views,
            "azimuth_gap_deg": round(self.azimuth_gap_deg, 1),
            "elevation_deg": [round(e, 1) for e in self.elevation_deg],
            "distance_radii": round(self.distance_radii, 2),
            "notes": self.notes,
        }


def _around(centers: np.ndarray, center: np.ndarray, up: np.ndarray) -> tuple:
    """The cameras in the frame whose rows are two horizontal axes and ``up``, and that frame."""
    frame = up_frame(np.asarray(up, float) / np.linalg.norm(up))  # rows: two across, then up
    return (np.asarray(centers, float) - center) @ frame.T, frame


def _gap(v: np.ndarray, frame: np.ndarray) -> tuple[float, np.ndarray]:
    """The widest azimuth gap of the cameras ``v`` (in ``frame``), and its middle (world)."""
    azimuth = np.sort(np.degrees(np.arctan2(v[:, 1], v[:, 0])) % 360.0)
    steps = np.diff(np.r_[azimuth, azimuth[0] + 360.0])
    i = int(np.argmax(steps))
    middle = np.radians(azimuth[i] + steps[i] / 2)
    return float(steps[i]), np.cos(middle) * frame[0] + np.sin(middle) * frame[1]


def widest_gap(centers: np.ndarray, center: np.ndarray, up: np.ndarray) -> tuple[float, np.ndarray]:
    """The widest azimuth round ``center`` (about ``up``) that no camera stands in, in degrees,
    and the horizontal unit vector to its middle (world)."""
    return _gap(*_around(centers, center, up))


def coverage(centers: np.ndarray, center: np.ndarray, radius: float, up: np.ndarray) -> Coverage:
    """The cameras (centres, world units) round the object at ``center``, about ``up``."""
    v, frame = _around(centers, center, up)
    dist = np.linalg.norm(v, axis=1)
    elevation = np.degrees(np.arcsin(np.clip(v[:, 2] / dist, -1.0, 1.0)))
    gap, _ = _gap(v, frame)
    low, mid, high = (float(x) for x in np.percentile(elevation, [0, 50, 100]))
    notes = []
    if gap > MAX_AZIMUTH_GAP_DEG:
        notes.append(
            f"the photos leave {gap:.0f}° of the way round the object unseen: its side facing "
            "there is guessed, not reconstructed; film all the way round"
        )
    if high < MIN_TOP_ELEVATION_DEG:
        notes.append(
            f"every photo looks at the object from {high:.0f}° above or less: the top and the "
            "inside of an open object (cup, bowl, vase) are seen edge-on at best and may come "
            "out closed or rounded; add a loop from 40–50° above"
        )
    return Coverage(len(v), gap, (low, mid, high), float(np.median(dist)) / radius, notes)
