"""What a generated scene looks like: the spec, its choices and the named variants."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from video2mesh.errors import UserError

# The choices of each axis of a scene (the first is the default where SampleSpec says so).
OBJECTS = ("cup", "vase", "figurine", "house")
# none: the object floats above a far floor; sheet: a plain floor of one colour (white cloth)
SUPPORTS = ("table", "floor", "none", "stool", "sheet")
BACKGROUNDS = ("room", "dark", "bright")  # dark / bright: a uniform photo-studio backdrop
MATERIALS = ("matte", "glossy")
CAMERAS = ("ideal", "phone")  # phone: exposure and colour drift, noise, motion blur (phone.py)


@dataclass(frozen=True)
class SampleSpec:
    """A generated scene; the defaults are the realistic embedded sample (a cup on a table)."""

    seed: int = 0
    frames: int = 120
    width: int = 480
    height: int = 360
    fps: int = 24
    fov_x_deg: float = 55.0
    object: str = "cup"
    support: str = "table"
    background: str = "room"
    material: str = "matte"
    camera: str = "ideal"
    fill: float = 0.5  # the object's share of the frame height; sets the orbit radius
    orbit_radius: float | None = None  # a fixed radius instead (the classic sample: 3.0)
    elevation_deg: float = 30.0  # mean elevation; varies by ±elevation_swing_deg
    elevation_swing_deg: float = 12.0
    handheld: bool = True  # a phone's wobble: eye, roll and pace jitter
    turns: float = 1.0
    # a turntable in front of a fixed camera: the object stands on a textured disc that turns
    # with it, the table under the disc and the room stay where they are in every frame (so,
    # in the object's frame where the cameras are given, they turn with the camera), and so
    # does the light: the object's shading and its shadow on the disc change as it turns.
    turntable: bool = False
    mesh_resolution: int = 160  # marching-cubes samples across the object's box

    def __post_init__(self) -> None:
        for axis, choices in (
            ("object", OBJECTS),
            ("support", SUPPORTS),
            ("background", BACKGROUNDS),
            ("material", MATERIALS),
            ("camera", CAMERAS),
        ):
            if getattr(self, axis) not in choices:
                raise UserError(
                    f"unknown sample {axis} '{getattr(self, axis)}'",
                    f"use one of {', '.join(choices)}",
                )

    def intrinsics(self) -> dict[str, float]:
        fx = 0.5 * self.width / np.tan(np.radians(self.fov_x_deg) / 2)
        return {
            "fx": fx,
            "fy": fx,
            "cx": self.width / 2,
            "cy": self.height / 2,
            "w": self.width,
            "h": self.height,
        }


# The sample the pipeline was tuned on before issue 12: the cup floating 1.5 units above a
# far floor, a fixed orbit radius, no hand-held wobble. Its frames are unchanged.
CLASSIC = SampleSpec(
    support="none",
    orbit_radius=3.0,
    elevation_deg=22.0,
    elevation_swing_deg=16.0,
    handheld=False,
)

_TOKENS: dict[str, tuple[str, str]] = {
    **{v: ("object", v) for v in OBJECTS},
    **{v: ("support", v) for v in SUPPORTS},
    "floating": ("support", "none"),
    **{v: ("background", v) for v in BACKGROUNDS},
    **{v: ("material", v) for v in MATERIALS},
    "phone": ("camera", "phone"),
}


def variant_spec(variant: str, **overrides: object) -> SampleSpec:
    """The spec of a variant name, then ``overrides`` (spec fields).

    A name is ``classic`` (the floating sample), ``default`` (SampleSpec()), or dash-separated
    choices in any order, each from one axis, the rest default: ``table-glossy-vase``,
    ``floating-dark-figurine``, ``bright-house``, ``table-room-matte-cup-phone``.
    """
    if variant in ("classic", "default"):
        base = CLASSIC if variant == "classic" else SampleSpec()
        return dataclasses.replace(base, **overrides)
    fields: dict[str, object] = {}
    for token in variant.split("-"):
        if token not in _TOKENS:
            raise UserError(
                f"unknown word '{token}' in sample variant '{variant}'",
                "write 'classic', 'default' or dash-separated choices among " + ", ".join(_TOKENS),
            )
        axis, value = _TOKENS[token]
        if axis in fields:
            raise UserError(
                f"sample variant '{variant}' names the {axis} twice",
                f"keep one {axis} word",
            )
        fields[axis] = value
    return SampleSpec(**{**fields, **overrides})


def variant_name(spec: SampleSpec) -> str:
    """The dash-separated name of a spec's choices (camera and size settings aside)."""
    support = "floating" if spec.support == "none" else spec.support
    name = f"{support}-{spec.background}-{spec.material}-{spec.object}"
    return name if spec.camera == "ideal" else f"{name}-{spec.camera}"
