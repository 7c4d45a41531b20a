"""Training rays from a Neuralangelo transforms.json and an uncompressed tar of its images.

Reference §1.5 and §1.7: one PINHOLE camera (fl_x, fl_y, cx, cy, w, h); OpenGL camera-to-world
matrices, flipped to OpenCV; the bounding sphere (sphere_center, sphere_radius, world units)
becomes the unit sphere: t ← (t − center) / radius. Pixel centres are at +0.5.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from video2mesh.errors import UserError
from video2mesh.frames import ALPHA
from video2mesh.photos import long_side
from video2mesh.recon.renderer import sphere_near_far
from video2mesh.sfm import FINE_CAMERA
from video2mesh.support import Plane, camera_poses

STILL = 2  # the backdrop channel's flag of a still pixel: opacity to zero, no colour loss
OBJECT = -1  # its flag of a cut-out photo's object pixel: the ray must meet the object
ALPHA_BACKDROP = 128  # alpha below which a cut-out photo's pixel is backdrop (half covered)
# Training trusts a cut-out's alpha only where it is clearly one side: under ALPHA_CLEAR backdrop,
# from ALPHA_SOLID object; between (edges mixed by the resize to the training size, a background
# remover's soft shadow or hair) neither, the colour alone decides.
ALPHA_CLEAR, ALPHA_SOLID = 64, 192


@dataclass
class Dataset:
    images: torch.Tensor  # (N, H, W, 3) uint8
    c2w: torch.Tensor  # (N, 3, 4) float32, OpenCV, normalised frame
    fx: float
    fy: float
    cx: float
    cy: float
    center: list[float]
    radius: float
    names: list[str]
    # rays drawn from pixels whose ray meets the unit sphere (focus_on_sphere); 0: all uniform
    fg_fraction: float = 0.0
    fg_pixels: torch.Tensor | None = None  # flat (image, y, x) indices of those pixels
    # (N, H, W): pixels whose rays must not meet the object: plain-backdrop pixels (bool,
    # find_backdrop), cut-out photos' (int8: 1 backdrop, OBJECT where the alpha is the object's)
    # or, for a fixed camera, still ones (uint8 STILL, find_still: no colour loss)
    backdrop: torch.Tensor | None = None
    # (N, H, W) uint8: the photos' own alpha (images.tar's alpha/: cut-out photos), or None
    alpha: np.ndarray | None = None
    support: Plane | None = None  # the support plane in the normalised frame (None: not found)
    # share of the SfM points on the background (scene stage; None in older transforms.json)
    background_points: float | None = None
    _meets_sphere: torch.Tensor | None = field(default=None, init=False, repr=False)

    @property
    def n_images(self) -> int:
        return int(self.images.shape[0])

    @property
    def height(self) -> int:
        return int(self.images.shape[1])

    @property
    def width(self) -> int:
        return int(self.images.shape[2])

    def to(self, device: torch.device) -> Dataset:
        self.images = self.images.to(device)
        self.c2w = self.c2w.to(device)
        if self.fg_pixels is not None:
            self.fg_pixels = self.fg_pixels.to(device)
        if self.backdrop is not None:
            self.backdrop = self.backdrop.to(device)
        if self._meets_sphere is not None:
            self._meets_sphere = self._meets_sphere.to(device)
        return self

    @property
    def still(self) -> bool:
        """Whether the backdrop channel holds a fixed camera's still pixels (find_still)."""
        return self.backdrop is not None and self.backdrop.dtype == torch.uint8

    def find_still(self) -> float | None:
        """Mask what a fixed camera saw stand still while the object turned (video2mesh.still);
        returns its pixel share, or None when the camera moved."""
        from video2mesh.still import fixed_camera_mask

        mask = fixed_camera_mask(self.images.cpu().numpy())
        if mask is None:
            return None
        flags = torch.from_numpy(mask.astype(np.uint8) * STILL)
        self.backdrop = flags.expand(self.n_images, -1, -1).contiguous().to(self.images.device)
        return float(mask.mean())

    def find_backdrop(self) -> float | None:
        """Mask a plain backdrop (recon.plain_background), or take the photos' transparency
        where they were cut out (exact: gaps inside the silhouette too, which no flood fill
        from the border reaches; the opaque rest is the object, flagged OBJECT, and the
        half-transparent pixels between neither); returns the backdrop's pixel share, or None."""
        from video2mesh.recon.plain_background import TEXTURED_POINTS, backdrop_masks

        if self.alpha is not None:
            masks = self.alpha < ALPHA_CLEAR
            flags = np.where(masks, 1, np.where(self.alpha >= ALPHA_SOLID, OBJECT, 0))
            self.backdrop = torch.from_numpy(flags.astype(np.int8)).to(self.images.device)
            return float(masks.mean())
        if self.background_points is not None and self.background_points > TEXTURED_POINTS:
            return None  # SfM triangulated the background: it is textured, not a backdrop
        masks = backdrop_masks(self.images.cpu().numpy(), self.support_hits())
        if masks is None:
            return None
        self.backdrop = torch.from_numpy(masks).to(self.images.device)
        return float(masks.mean())

    def _pixel_rays(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Origins and directions of every pixel centre of image i, (H, W, 3) each."""
        dev = self.c2w.device
        ys, xs = torch.meshgrid(
            torch.arange(self.height, dtype=torch.float32, device=dev) + 0.5,
            torch.arange(self.width, dtype=torch.float32, device=dev) + 0.5,
            indexing="ij",
        )
        return self.rays(torch.full(xs.shape, i, dtype=torch.long, device=dev), xs, ys)

    def pixel_footprint(self) -> float:
        """Normalised units one pixel spans on the object: at half a radius in front of the
        sphere's centre, for the median camera (objects fill about the inner half of it)."""
        dist = self.c2w[:, :, 3].norm(dim=-1).median().item()
        return max(dist - 0.5, 0.05) / max(self.fx, self.fy)

    def support_hits(self) -> np.ndarray | None:
        """(N, H, W) bool: pixels whose ray meets the support plane before it leaves the unit
        sphere (the table under the object, or the floor in front of it with the sphere's cap
        below); None without a support plane."""
        if self.support is None:
            return None
        normal = torch.tensor(self.support.normal, dtype=torch.float32, device=self.c2w.device)
        hits = []
        for i in range(self.n_images):
            o, d = self._pixel_rays(i)
            along = d @ normal
            t = -(o @ normal + self.support.offset) / torch.where(along.abs() > 1e-9, along, 1e-9)
            _, far, meets_sphere = sphere_near_far(o, d)
            hits.append((t > 0) & meets_sphere & (t < far))
        return torch.stack(hits).cpu().numpy()

    def meets_sphere(self) -> torch.Tensor:
        """(N, H·W) bool: whether each pixel's ray meets the unit sphere (the renderer's own
        test: a segment ahead). Computed once."""
        if self._meets_sphere is None:
            hits = [sphere_near_far(*self._pixel_rays(i))[2] for i in range(self.n_images)]
            self._meets_sphere = torch.stack(hits).reshape(self.n_images, -1)
        return self._meets_sphere

    def off_sphere_colour(self) -> torch.Tensor | None:
        """Mean RGB (0-1) of the pixels whose ray misses the unit sphere: what the background
        model alone draws (recon.background_guard). None when every ray meets the sphere."""
        total, count = torch.zeros(3, dtype=torch.float64), 0
        for image, meets in zip(self.images, self.meets_sphere(), strict=True):
            px = image.reshape(-1, 3)[~meets.to(image.device)]
            total += px.double().sum(0).cpu() / 255.0
            count += int(px.shape[0])
        return (total / count).float() if count else None

    def focus_on_sphere(self, fraction: float) -> float:
        """Draw ``fraction`` of each batch from pixels whose ray meets the unit sphere.

        A ray that misses the sphere trains only the background model, yet fills a batch slot
        whose SDF samples are computed all the same (the batch has a fixed shape); on the
        sample about 40 % of the pixels are such. The rest of the batch stays uniform over all
        pixels, so the background keeps being trained. Returns the share of pixels that meet it.
        """
        mask = self.meets_sphere().reshape(-1)
        self.fg_pixels = torch.nonzero(mask)[:, 0]
        self.fg_fraction = fraction if len(self.fg_pixels) else 0.0
        return float(mask.float().mean())

    def rays(
        self, img: torch.Tensor, px: torch.Tensor, py: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Origins and unit directions of pixels (px, py may be fractional pixel centres)."""
        dirs = torch.stack(
            [(px - self.cx) / self.fx, (py - self.cy) / self.fy, torch.ones_like(px)], -1
        )
        rot = self.c2w[img, :, :3]
        d = (rot @ dirs[..., None])[..., 0]
        d = d / d.norm(dim=-1, keepdim=True)
        return self.c2w[img, :, 3], d

    def sample(
        self, n: int, gen: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """n random training rays: origins, directions, colours (0..1), image indices.

        With a backdrop mask the colours have a 4th channel: 1 where the pixel is backdrop,
        STILL where it stood still before a fixed camera, OBJECT on a cut-out's object."""
        dev = self.images.device
        n_fg = round(self.fg_fraction * n)  # 0 unless focus_on_sphere found such pixels
        img = torch.randint(0, self.n_images, (n - n_fg,), generator=gen, device=dev)
        x = torch.randint(0, self.width, (n - n_fg,), generator=gen, device=dev)
        y = torch.randint(0, self.height, (n - n_fg,), generator=gen, device=dev)
        if n_fg:
            assert self.fg_pixels is not None
            pick = torch.randint(0, len(self.fg_pixels), (n_fg,), generator=gen, device=dev)
            flat = self.fg_pixels[pick]
            per_image = self.height * self.width
            img = torch.cat([img, flat // per_image])
            y = torch.cat([y, flat % per_image // self.width])
            x = torch.cat([x, flat % self.width])
        o, d = self.rays(img, x.float() + 0.5, y.float() + 0.5)
        rgb = self.images[img, y, x].float() / 255.0
        if self.backdrop is not None:  # a 4th channel: 1, STILL or OBJECT (train._Step)
            rgb = torch.cat([rgb, self.backdrop[img, y, x].float()[:, None]], dim=-1)
        return o, d, rgb, img


def _decode(data: bytes, scale: float, size: tuple[int, int] | None = None) -> np.ndarray:
    """An archived image as (H, W, 3) uint8, scaled by ``scale`` (or to ``size``, w × h)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
        if size is None and scale != 1.0:
            size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        if size is not None and size != im.size:
            im = im.resize(size, Image.Resampling.LANCZOS)
        return np.asarray(im, dtype=np.uint8).copy()


def read_transforms(path: str | Path) -> dict:
    try:
        meta = json.loads(Path(path).read_text())
    except FileNotFoundError as exc:
        raise UserError(f"{path} does not exist", "run the scene stage first") from exc
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc})", "regenerate it") from exc
    missing = [
        k
        for k in ("fl_x", "fl_y", "cx", "cy", "w", "h", "sphere_center", "sphere_radius", "frames")
        if k not in meta
    ]
    if missing:
        raise UserError(
            f"{path} lacks {missing}", "write it in Neuralangelo's format (reference §1.5)"
        )
    if not meta["frames"]:
        raise UserError(f"{path} has no frames", "check the SfM stage registered images")
    if float(meta["sphere_radius"]) <= 0:
        raise UserError(f"{path}: sphere_radius must be positive", "fix the sphere in config")
    return meta


def camera_to_world(frame: dict, center: np.ndarray, radius: float) -> np.ndarray:
    """(3, 4) OpenCV camera-to-world of a transforms.json frame, in the sphere-normalised frame."""
    m = np.asarray(frame["transform_matrix"], dtype=np.float64)[:3, :4].copy()
    m[:, 1:3] *= -1.0  # OpenGL → OpenCV camera axes
    m[:, 3] = (m[:, 3] - center) / radius
    return m


def sphere_span(meta: dict) -> float:
    """The bounding sphere's projected diameter over the images' long side, the median over
    the cameras of transforms.json ``meta`` (pinhole; a camera inside the sphere counts as 1)."""
    center = np.asarray(meta["sphere_center"], dtype=np.float64)
    radius = float(meta["sphere_radius"])
    eyes = camera_poses(meta)[:, :3, 3]
    dist = np.maximum(np.linalg.norm(eyes - center, axis=1), radius * (1 + 1e-9))
    half = np.arcsin(radius / dist)
    diameter = 2 * float(meta["fl_x"]) * np.tan(half)
    return float(np.median(diameter)) / max(int(meta["w"]), int(meta["h"]))


def image_scale(
    meta: dict, max_side: int = 0, object_min_pixels: int = 0, long_side: int = 0
) -> float:
    """How much to downscale the images: to ``max_side`` on the long side, but no further than
    the sphere keeps ``object_min_pixels`` across (never up). ``long_side``: the stored images'
    own (0: transforms.json's ``w`` × ``h``)."""
    long_side = long_side or max(int(meta["w"]), int(meta["h"]))
    if not max_side or long_side <= max_side:
        return 1.0
    scale = max_side / long_side
    if object_min_pixels and meta.get("frames"):
        scale = max(scale, object_min_pixels / (sphere_span(meta) * long_side))
    return min(scale, 1.0)


def load_dataset(
    transforms: str | Path, images: str | Path, max_side: int = 0, object_min_pixels: int = 0
) -> Dataset:
    """Read the cameras and images; downscale so the long side is at most ``max_side`` unless
    the sphere would then span fewer than ``object_min_pixels`` (``image_scale``). An archive
    with its own camera (FINE_CAMERA: SfM's finer photos) is read with those intrinsics."""
    meta = read_transforms(transforms)
    center = np.asarray(meta["sphere_center"], dtype=np.float64)
    radius = float(meta["sphere_radius"])
    try:
        tar = tarfile.open(images, "r:")  # noqa: SIM115 (closed by the with below)
    except FileNotFoundError as exc:
        raise UserError(f"{images} does not exist", "run the SfM stage first") from exc
    except tarfile.TarError as exc:
        raise UserError(f"{images} is not an uncompressed tar ({exc})", "rebuild it") from exc
    with tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
        if FINE_CAMERA in members:  # photos at another size than the frames (sfm.py)
            f = tar.extractfile(members[FINE_CAMERA])
            assert f is not None
            meta = {**meta, **json.load(f)}
        frames = meta["frames"]
        first = members.get(frames[0]["file_path"].removeprefix("./")) if frames else None
        # the archive may hold copies smaller than w × h (re-encoded for a transfer): their
        # scale to max_side follows their own size, as the intrinsics do below
        stored = tar.extractfile(first) if first is not None else None
        scale = image_scale(meta, max_side, object_min_pixels, long_side(stored) if stored else 0)
        imgs, mats, names, alphas = [], [], [], []
        for frame in frames:
            name = frame["file_path"].removeprefix("./")
            if name not in members:
                raise UserError(
                    f"{images} has no member '{name}' listed in {transforms}",
                    "rebuild the images archive from the same SfM run",
                )
            f = tar.extractfile(members[name])
            assert f is not None
            im = _decode(f.read(), scale)
            if imgs and im.shape != imgs[0].shape:
                raise UserError(f"image {name} has size {im.shape[:2]}", "all images must match")
            imgs.append(im)
            alpha = members.get(f"{ALPHA}/{Path(name).stem}.png")
            if alpha is not None and (a := tar.extractfile(alpha)) is not None:
                alphas.append(_decode(a.read(), scale, size=(im.shape[1], im.shape[0]))[..., 0])
            mats.append(camera_to_world(frame, center, radius))
            names.append(name)
    arr = np.stack(imgs)
    sx, sy = arr.shape[2] / int(meta["w"]), arr.shape[1] / int(meta["h"])
    plane = meta.get("support_plane")
    support = Plane.from_json(plane).normalised(center, radius) if plane else None
    return Dataset(
        images=torch.from_numpy(arr),
        c2w=torch.from_numpy(np.stack(mats)).float(),
        fx=float(meta["fl_x"]) * sx,
        fy=float(meta["fl_y"]) * sy,
        cx=float(meta["cx"]) * sx,
        cy=float(meta["cy"]) * sy,
        center=center.tolist(),
        radius=radius,
        names=names,
        support=support,
        background_points=meta.get("background_points"),
        # every frame's or none: a mask missing for some would call their backdrop object
        alpha=np.stack(alphas) if alphas and len(alphas) == len(imgs) else None,
    )


def camera_outside_fraction(ds: Dataset) -> float:
    """Fraction of cameras outside the unit sphere (objects expect all of them outside)."""
    dist = ds.c2w[:, :, 3].norm(dim=-1)
    return float((dist > 1.0).float().mean())
