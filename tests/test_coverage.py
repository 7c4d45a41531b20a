"""video2mesh.coverage: how the cameras surround an object about the scene's up, and the notes
on what they leave unseen (a gap in azimuth, no view from above)."""

from __future__ import annotations

import numpy as np
import pytest

from video2mesh.coverage import coverage
from video2mesh.support import up_frame

# an up tilted in the world and an object away from the origin, as SfM leaves them
NORMAL = np.array([0.2, -0.5, 0.84]) / np.linalg.norm([0.2, -0.5, 0.84])
FRAME = up_frame(NORMAL)
OBJECT = np.array([0.3, -1.0, 2.0])


def orbit(elevations: np.ndarray, azimuths: np.ndarray, distance: float = 4.0) -> np.ndarray:
    e, a = np.radians(elevations), np.radians(azimuths)
    local = np.c_[np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)] * distance
    return OBJECT + local @ FRAME


def test_full_orbit_at_thirty_degrees_has_no_notes() -> None:
    az = np.linspace(0, 360, 100, endpoint=False)
    cov = coverage(orbit(30 + 15 * np.sin(np.radians(2 * az)), az), OBJECT, 1.0, NORMAL)
    assert cov.views == 100 and cov.notes == []
    assert cov.azimuth_gap_deg == pytest.approx(3.6, abs=0.01)
    assert np.allclose(cov.elevation_deg, [15, 30, 45], atol=0.1)
    assert cov.distance_radii == pytest.approx(4.0)


def test_half_orbit_names_the_unseen_side() -> None:
    az = np.linspace(20, 200, 60)
    cov = coverage(orbit(np.full(60, 30.0), az), OBJECT, 1.0, NORMAL)
    assert cov.azimuth_gap_deg == pytest.approx(180.0)
    assert len(cov.notes) == 1 and "180° of the way round" in cov.notes[0]


def test_low_orbit_warns_about_tops_and_open_vessels() -> None:
    az = np.linspace(0, 360, 80, endpoint=False)
    low = coverage(orbit(np.linspace(12, 22, 80), az), OBJECT, 1.0, NORMAL)
    assert (
        len(low.notes) == 1
        and "from 22° above or less" in low.notes[0]
        and "40–50°" in low.notes[0]
    )
    # one loop higher up is enough
    both = np.r_[orbit(np.full(80, 15.0), az), orbit(np.full(20, 45.0), az[::4])]
    assert coverage(both, OBJECT, 1.0, NORMAL).notes == []
    # the frame matters: the same cameras measured against the opposite up are below
    assert coverage(orbit(np.full(80, 30.0), az), OBJECT, 1.0, -NORMAL).elevation_deg[2] < 0
