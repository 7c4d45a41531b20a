"""Generated scenes: a textured object with a known ground-truth mesh and exact cameras.

An object (a cup, a vase, a figurine, a house: :mod:`.shapes`) is a signed distance function,
textured with 3-D value noise (the same from every view, as on a real object) and lit by a
fixed light, matte or glossy (:mod:`.materials`). It stands on a textured table or floor, or
floats, in a textured room or before a plain dark or bright backdrop (:mod:`.world`); a phone
orbits it (:mod:`.cameras`). Frames are sphere-traced on the CPU with numpy (:mod:`.raytrace`),
written to an H.264 MP4, and the exact cameras and the ground-truth mesh of the object alone
(marching cubes of its SDF) are saved beside it (:mod:`.cli`). Everything is deterministic
from the seed; :func:`variant_spec` names the variants (``table-glossy-vase``, ``classic``).

Camera convention in ``cameras.json``: OpenCV camera-to-world (x right, y down, z forward),
world z up.
"""

from video2mesh.sample.cameras import look_at_c2w, orbit_cameras
from video2mesh.sample.cli import generate, register
from video2mesh.sample.raytrace import Scene, build_scene, render, render_frame
from video2mesh.sample.shapes import SHAPES, ground_truth_mesh, without_support_contact
from video2mesh.sample.spec import CLASSIC, SampleSpec, variant_name, variant_spec

__all__ = [
    "CLASSIC",
    "SHAPES",
    "SampleSpec",
    "Scene",
    "build_scene",
    "generate",
    "ground_truth_mesh",
    "look_at_c2w",
    "orbit_cameras",
    "register",
    "render",
    "render_frame",
    "variant_name",
    "variant_spec",
    "without_support_contact",
]
