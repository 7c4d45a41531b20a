"""The object's size in metres, from one length the user measured (``real_size`` in the config).

A monocular capture has no metric scale: SfM's unit is arbitrary and changes between runs. The
user knows one length of the object, e.g. a mug's height of 9.5 cm, and the textured files (glTF
is in metres by its spec) are scaled so that the mesh has it. Lengths are measured on the mesh
in its upright box: ``height`` along the scene's up, from the support plane where there is one
(the mesh's foot is cut just above it; with ``support: keep`` the table's top is that plane) or
from the mesh's lowest point, to its highest point; ``longest`` is the longest side of the box
(the two horizontal sides are those of the smallest rectangle round the footprint).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from video2mesh.errors import UserError
from video2mesh.support import Plane, up_frame

LENGTHS = ("height", "longest")
HINT = "set real_size: {height: <metres>} or {longest: <metres>} under the scene in the config"


@dataclass(frozen=True)
class UprightBox:
    """Sides of the mesh's upright box in world units: two horizontal (longer first), height."""

    width: float
    depth: float
    height: float
    # where the object stands: the footprint rectangle's centre at the base (the support plane,
    # or the lowest vertex), world units; the textured files' origin
    foot: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def longest(self) -> float:
        return max(self.width, self.depth, self.height)

    def sides(self) -> list[float]:
        return [self.width, self.depth, self.height]


def upright_box(vertices: np.ndarray, up: np.ndarray, support: Plane | None = None) -> UprightBox:
    """The upright box of ``vertices`` (world units). With a ``support`` plane, its normal is
    the up and the height is counted from it; else ``up`` and the lowest vertex."""
    import trimesh

    vertices = np.asarray(vertices, float)
    if support is not None:
        u, h = support.normal, support.height(vertices)
        bottom, base = 0.0, -support.offset  # along u: the plane's own position
    else:
        u = np.asarray(up, float) / np.linalg.norm(up)
        h = vertices @ u
        bottom = base = float(h.min())
    # the footprint: vertices projected across u, and the smallest rectangle round them
    across = up_frame(u)[:2]
    to_rect, extents = trimesh.bounds.oriented_bounds_2D(vertices @ across.T)
    w, d = sorted((float(e) for e in extents), reverse=True)
    middle = np.linalg.inv(to_rect) @ np.array([0.0, 0.0, 1.0])  # the rectangle's centre
    foot = across.T @ middle[:2] + base * u
    return UprightBox(w, d, float(h.max()) - bottom, tuple(float(x) for x in foot))


def parse(real_size: dict[str, Any] | None) -> tuple[str, float] | None:
    """``{height: 0.095}`` -> ("height", 0.095); None when the user gave no size."""
    if not real_size:
        return None
    unknown = sorted(set(real_size) - set(LENGTHS))
    if unknown or len(real_size) != 1:
        raise UserError(f"real_size takes one of {', '.join(LENGTHS)}, not {real_size!r:.80}", HINT)
    ((name, value),) = real_size.items()
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise UserError(f"real_size {name} {value!r:.40} is not a positive length in metres", HINT)
    return name, float(value)


def metres_per_unit(box: UprightBox, length: tuple[str, float]) -> float:
    """The scale that gives the mesh the measured ``length`` (name, metres)."""
    name, metres = length
    measured = getattr(box, name)
    if not measured > 0:
        raise UserError(f"the mesh has no {name} to scale (it is flat or empty)", HINT)
    return metres / measured
