"""Everything around the object: its support (a table or a floor) and the background.

- support ``table``: a finite wooden table whose top touches the object's lowest point, on
  four legs standing on the room's floor; ``floor``: an infinite tiled floor touching the
  object; ``none``: the object floats 2.2 units above the room's floor (the classic sample);
  ``stool``: a small plain blue stool (a square top a little wider than the object, on one
  column) standing on the room's floor, as a figurine filmed on a plastic stool: SfM finds few
  points on it; ``sheet``: an infinite plain floor of one colour (a white cloth or a studio's
  paper sweep): SfM finds no points on it, nothing is seen under it.
- background ``room``: a textured dome (and floor, unless the floor is the support);
  ``dark`` / ``bright``: a uniform near-black / near-white backdrop, as in a photo studio.

The table scales with the orbit, so it fills the lower part of the frame as a real one does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from video2mesh.errors import UserError
from video2mesh.sample.materials import Textures
from video2mesh.sample.shapes import Shape
from video2mesh.sample.spec import SampleSpec

DOME_RADIUS = 14.0
FLOAT_DROP = 2.2  # floating: the room's floor this far below the object's centre
BACKDROPS = {"dark": (0.05, 0.05, 0.055), "bright": (0.93, 0.93, 0.92)}
STOOL_COLOUR = (0.16, 0.36, 0.72)  # plain blue plastic
STOOL_HALF = 0.22  # of the horizontal orbit radius: half the stool's top
STOOL_HEIGHT = 1.1  # of the horizontal orbit radius, top to the floor
SHEET_COLOUR = (0.86, 0.86, 0.84)  # a white cloth, a little darker than a bright backdrop

# What a pixel shows: the backdrop (DOME, ROOM_FLOOR), the support, or the object itself.
DOME, ROOM_FLOOR, SUPPORT_TOP, TABLE_SIDE, OBJECT = range(5)


@dataclass(frozen=True)
class World:
    background: str
    support_z: float | None  # the plane the object stands on (table top or floor)
    room_floor_z: float | None  # the room's floor, where one is seen
    boxes: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...]  # the table: top, legs
    texture_scale: float  # the table's grain follows its size
    # a turntable's disc (turntable scenes): centre x, y, top z, radius; it turns with the
    # object, everything else here stays fixed in front of the camera
    disc: tuple[float, float, float, float] | None = None
    plain: tuple[float, float, float] | None = None  # the support's one colour (stool, sheet)

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Distance and kind (DOME, ROOM_FLOOR, ...) of the first hit of each ray."""
        oc = float(origin @ origin)
        bd = dirs @ origin
        t = -bd + np.sqrt(np.maximum(bd**2 - (oc - DOME_RADIUS**2), 0.0))
        kind = np.full(len(dirs), DOME, np.int8)
        planes = [(self.room_floor_z, ROOM_FLOOR)]
        if not self.boxes:  # the support, if any, is an infinite floor
            planes.append((self.support_z, SUPPORT_TOP))
        for z, k in planes:
            if z is None:
                continue
            t_plane = np.where(
                dirs[:, 2] < -1e-6, (z - origin[2]) / np.minimum(dirs[:, 2], -1e-6), np.inf
            )
            closer = t_plane < t
            t, kind = np.where(closer, t_plane, t), np.where(closer, k, kind).astype(np.int8)
        if self.boxes:
            self._intersect_table(origin, dirs, t, kind)
        return t.astype(np.float32), kind

    def _intersect_table(
        self, origin: np.ndarray, dirs: np.ndarray, t: np.ndarray, kind: np.ndarray
    ) -> None:
        """Nearer hits on the table, in place: its top, then its edge and legs (below the top)."""
        (lo, hi), legs = self.boxes[0], self.boxes[1:]
        down = np.nonzero(dirs[:, 2] < -1e-6)[0]
        t_top = (hi[2] - origin[2]) / dirs[down, 2]
        x, y = origin[0] + t_top * dirs[down, 0], origin[1] + t_top * dirs[down, 1]
        on_top = (x >= lo[0]) & (x <= hi[0]) & (y >= lo[1]) & (y <= hi[1]) & (t_top < t[down])
        t[down[on_top]] = t_top[on_top]
        kind[down[on_top]] = SUPPORT_TOP
        # The rest can only meet the table's edge or legs: those inside its overall box.
        rest = down[~on_top]
        whole_lo = (lo[0], lo[1], min(leg[0][2] for leg in legs))
        t_whole = _ray_box(origin, dirs[rest], np.asarray(whole_lo), np.asarray(hi))
        rest = rest[t_whole < t[rest]]
        for box_lo, box_hi in self.boxes:
            t_box = _ray_box(origin, dirs[rest], np.asarray(box_lo), np.asarray(box_hi))
            closer = t_box < t[rest]
            t[rest[closer]] = t_box[closer]
            kind[rest[closer]] = TABLE_SIDE

    def albedo(self, points: np.ndarray, kind: np.ndarray, tex: Textures) -> np.ndarray:
        """Colour of environment points of the given kinds (never OBJECT)."""
        rgb = np.zeros((len(points), 3), np.float32)
        dome = kind == DOME
        if self.background in BACKDROPS:
            rgb[dome] = BACKDROPS[self.background]
        else:
            rgb[dome] = tex.background(points[dome] / DOME_RADIUS + 3.0, 5.0) * 0.9
        floor_top = (kind == SUPPORT_TOP) & (not self.boxes)  # the support is a floor
        if self.plain is not None:  # a plain sheet: one colour, no tiles
            rgb[floor_top] = self.plain
        floors = (kind == ROOM_FLOOR) | (floor_top & (self.plain is None))
        rgb[floors] = tex.floor(points[floors])
        if self.boxes:
            top, side = kind == SUPPORT_TOP, kind == TABLE_SIDE
            if self.plain is not None:
                rgb[top] = self.plain
                rgb[side] = np.asarray(self.plain, np.float32) * 0.6
            else:
                rgb[top] = tex.wood(points[top], self.texture_scale)
                rgb[side] = tex.wood(points[side], self.texture_scale) * 0.6
        return rgb


def _ray_box(origin: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Entry distance of rays from outside into an axis-aligned box (inf on a miss)."""
    safe = np.where(dirs == 0, 1e-12, dirs)  # an axis-parallel ray: a huge slab distance
    t1, t2 = (lo - origin) / safe, (hi - origin) / safe
    near, far = np.minimum(t1, t2), np.maximum(t1, t2)
    t_in, t_out = near.max(axis=1), far.min(axis=1)
    hit = (t_out >= t_in) & (t_in > 0)
    return np.where(hit, t_in, np.inf)


def build_world(spec: SampleSpec, shape: Shape, orbit_radius: float) -> World:
    plain = spec.background in BACKDROPS
    if spec.turntable and spec.support != "table":
        raise UserError("a turntable sample stands on a table", "use support 'table'")
    if spec.support == "none":
        floor = None if plain else shape.trace_center[2] - FLOAT_DROP
        return World(spec.background, None, floor, (), 1.0)
    if spec.support == "floor":
        return World(spec.background, shape.bottom_z, None, (), 1.0)
    if spec.support == "sheet":
        return World(spec.background, shape.bottom_z, None, (), 1.0, None, SHEET_COLOUR)
    # A table 1.9 x 1.3 horizontal orbit radii, 2.2 high: the camera stands at its side.
    r = orbit_radius * np.cos(np.radians(spec.elevation_deg))
    cx, cy, top = shape.look_at[0], shape.look_at[1], shape.bottom_z
    disc, colour = None, None
    if spec.support == "stool":
        half, thick, column = STOOL_HALF * r, 0.04 * r, 0.07 * r
        floor = top - STOOL_HEIGHT * r
        boxes = [
            ((cx - half, cy - half, top - thick), (cx + half, cy + half, top)),
            ((cx - column, cy - column, floor), (cx + column, cy + column, top - thick)),
        ]
        colour = STOOL_COLOUR
    else:
        if spec.turntable:  # the object stands on a disc 0.35 orbit radii across, on the table
            disc = (float(cx), float(cy), float(top), 0.35 * r)
            top = top - 0.02 * r
        half_x, half_y, thick, leg = 0.95 * r, 0.65 * r, 0.04 * r, 0.05 * r
        floor = top - 2.2 * r
        boxes = [((cx - half_x, cy - half_y, top - thick), (cx + half_x, cy + half_y, top))]
        for sx in (-1, 1):
            for sy in (-1, 1):
                x, y = cx + sx * (half_x - 2 * leg), cy + sy * (half_y - 2 * leg)
                boxes.append(((x - leg, y - leg, floor), (x + leg, y + leg, top - thick)))
    return World(
        spec.background,
        disc[2] if disc else top,  # where the object stands
        None if plain else floor,
        tuple((tuple(map(float, lo)), tuple(map(float, hi))) for lo, hi in boxes),
        r / 3.0,
        disc,
        colour,
    )
