"""Which faces of a mesh the registered photos see.

Each camera of transforms.json renders the mesh's depth buffer at a small size (the long side
``MAX_SIDE`` pixels: enough to tell a part that some photo shows from one that none does), and a
face is seen when its centre lies in a camera's frame, in front of it and not behind the depth
buffer (the texture baker's test, `texture.bake.visible`). The isolation uses it to drop parts no
photo shows (`isolate`: surfaces the SDF closed inside the object), and the extraction to find
the empty space no photo's ray reaches (`recon.cavities`: hollows inside the object).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from video2mesh.recon.data import camera_to_world, read_transforms
from video2mesh.sphere import Cameras

MAX_SIDE = 160
MAX_CAMERAS = 60  # evenly spread over the registered ones


@dataclass
class Views:
    cameras: Cameras  # OpenCV camera-to-world in the sphere-normalised frame, at the small size
    center: np.ndarray  # the sphere's centre and radius (world units)
    radius: float


def read_cameras(
    transforms: str | Path | dict, max_side: int = MAX_SIDE, max_cameras: int = MAX_CAMERAS
) -> Views:
    """The cameras of transforms.json (a path, or its content) at an image size whose long side
    is at most ``max_side``, at most ``max_cameras`` of them evenly spread."""
    meta = transforms if isinstance(transforms, dict) else read_transforms(transforms)
    w, h = int(meta["w"]), int(meta["h"])
    scale = min(1.0, max_side / max(w, h))
    width, height = max(1, round(w * scale)), max(1, round(h * scale))
    sx, sy = width / w, height / h
    center = np.asarray(meta["sphere_center"], dtype=np.float64)
    radius = float(meta["sphere_radius"])
    frames = meta["frames"]
    if len(frames) > max_cameras:
        pick = np.linspace(0, len(frames) - 1, max_cameras).round().astype(int)
        frames = [frames[i] for i in pick]
    mats = np.tile(np.eye(4), (len(frames), 1, 1))
    mats[:, :3] = [camera_to_world(f, center, radius) for f in frames]
    cams = Cameras(
        c2w=mats,
        fx=float(meta["fl_x"]) * sx,
        fy=float(meta["fl_y"]) * sy,
        cx=float(meta["cx"]) * sx,  # as recon.data.load_dataset scales them
        cy=float(meta["cy"]) * sy,
        width=width,
        height=height,
    )
    return Views(cams, center, radius)


@torch.no_grad()
def _counts(
    mesh: Any, points: np.ndarray, views: Views, device: torch.device | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per point (world units): how many cameras have it in their frame (in front of them), and
    how many of those see it unoccluded by ``mesh``."""
    from video2mesh.texture.bake import depth_buffer, in_frame, visible

    dev = device or torch.device("cpu")

    def normalised(x: np.ndarray) -> torch.Tensor:
        return torch.tensor((np.asarray(x) - views.center) / views.radius, device=dev).float()

    v, p = normalised(mesh.vertices), normalised(points)
    f = torch.tensor(np.asarray(mesh.faces), dtype=torch.long, device=dev)
    framed = torch.zeros(len(p), dtype=torch.int32, device=dev)
    seen = torch.zeros(len(p), dtype=torch.int32, device=dev)
    cams = views.cameras
    for c2w in torch.tensor(cams.c2w[:, :3], dtype=torch.float32, device=dev):
        depth = depth_buffer(v, f, c2w, cams)
        x, y, z, sees = visible(p, c2w, cams, depth)
        framed += in_frame(x, y, z, cams).int()
        seen += sees.int()
    return framed.cpu().numpy(), seen.cpu().numpy()


def view_counts(
    mesh: Any, points: np.ndarray, views: Views, device: torch.device | None = None
) -> np.ndarray:
    """Per point (world units), how many of the cameras see it unoccluded by ``mesh``."""
    return _counts(mesh, points, views, device)[1]


def hidden_points(
    mesh: Any, points: np.ndarray, views: Views, device: torch.device | None = None
) -> np.ndarray:
    """Per point (world units), whether some camera looks toward it and ``mesh`` hides it from
    every such camera (space no photo's ray reaches; a point out of every frame is not hidden:
    nothing is known of it)."""
    framed, seen = _counts(mesh, points, views, device)
    return (framed > 0) & (seen == 0)


def seen_faces(mesh: Any, views: Views, device: torch.device | None = None) -> np.ndarray:
    """Per face of ``mesh`` (trimesh, world units), whether some camera sees its centre."""
    return view_counts(mesh, np.asarray(mesh.triangles_center), views, device) > 0
