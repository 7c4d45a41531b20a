"""Prepare the real captures of the validation set from fetched git snapshots (never downloads).

    python benchmarks/realworld/prepare_real.py GIT_DIR [GIT_DIR ...] [--out DIR] [--only NAME]

Each GIT_DIR is a bare (or ``.git``) directory of a public repository snapshot, as the session
tool ``fetch`` brings them to /work/.mirror/<owner>+<name>/. Every capture below names its
repository and the commit its files are read at (SOURCES.md says what each one is and under which
licence); a capture whose commit is in none of the given directories is skipped with a note.

Writes, per capture, ``<out>/<name>/`` (default out: benchmarks/_work/realworld):

    images/<stem>.jpg    the photos, longest side <= 1600 px, EXIF orientation applied
    video.<ext>          or, for a video capture, the video file itself, byte for byte
    masks/<stem>.png     object masks (0 / 255) at the image size, where the capture has them
    cameras.json         true cameras, where the capture is calibrated (format below)
    scene.yaml           a `scenes:` entry for config/config.yaml (paths from the repository root)
    source.json          provenance: repository, commit, folder, licence, files used and missing

and ``<out>/scenes.yaml`` with every prepared scene that the default pipeline can run (a capture
with a caveat keeps only its own scene.yaml; the dino, which SfM could not pose until its
relaxed mapping (session 27), no longer has one).

cameras.json is the sample's format (src/video2mesh/sample.py ``generate``) with per-image
intrinsics, so that ``scene.load_true_cameras`` and ``silhouette`` read it::

    {"convention": "OpenCV camera-to-world (x right, y down, z forward) ...",
     "intrinsics": {fx, fy, cx, cy, w, h},            # present when every image shares them
     "frames": [{"name": "<stem>.jpg", "c2w": 4x4,
                 "intrinsics": {fx, fy, cx, cy, w, h, skew}}, ...]}

Pixel coordinates have their origin at the top-left corner of the top-left pixel (a pixel's
centre is at +0.5), so resizing by s scales fx, fy, cx, cy and skew by s. The world frame is the
capture's own calibration frame (metres for Middlebury, millimetres for DTU), never normalised.

Masks: DTU comes with object masks (the IDR/NeuS preprocessing). Middlebury's objects stand in
front of black cloth, so a mask is a threshold of the brightest channel (the dataset's README
recipe: 0.19 of full scale for the dino's dark shadows; 0.1 for the temple, plus a warm-colour
test that drops the grey folds of cloth its views show), a 2-pixel opening (specks) and closing,
keeping the components of at least 5 % of the largest one's area; holes are kept, since the
temple's colonnade shows background between its columns.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageOps

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "src"))

from video2mesh.atomic import atomic_path, write_json  # noqa: E402

MAX_SIDE = 1600
JPEG_QUALITY = 93
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "_work" / "realworld"
CONVENTION = (
    "OpenCV camera-to-world (x right, y down, z forward) in the capture's calibration frame; "
    "frame name = image file name; pixel origin at the top-left corner of the top-left pixel"
)


class Snapshot:
    """Read-only access to a bare git snapshot at one commit (large files may be absent)."""

    def __init__(self, git_dir: Path, commit: str) -> None:
        self.git_dir, self.commit = git_dir, commit

    def _git(self, *args: str, data: bytes | None = None) -> bytes:
        return subprocess.run(
            ["git", f"--git-dir={self.git_dir}", *args],
            input=data,
            capture_output=True,
            check=True,
        ).stdout

    def files(self, folder: str) -> list[str]:
        out = self._git("ls-tree", "-r", "--name-only", self.commit, "--", folder)
        return sorted(out.decode().splitlines())

    def present(self, paths: list[str]) -> set[str]:
        """The paths whose content the snapshot really holds (files >= 4 MiB may be left out)."""
        query = "".join(f"{self.commit}:{p}\n" for p in paths).encode()
        lines = self._git("cat-file", "--batch-check", data=query).decode().splitlines()
        return {p for p, line in zip(paths, lines, strict=True) if not line.endswith("missing")}

    def read(self, path: str) -> bytes:
        return self._git("cat-file", "blob", f"{self.commit}:{path}")


def has_commit(git_dir: Path, commit: str) -> bool:
    probe = subprocess.run(
        ["git", f"--git-dir={git_dir}", "cat-file", "-e", f"{commit}^{{commit}}"],
        capture_output=True,
    )
    return probe.returncode == 0


# --- cameras ----------------------------------------------------------------------------------


@dataclass
class View:
    """One photo: its name (stem), pixels, optional mask and optional true camera."""

    stem: str
    image: Image.Image
    mask: np.ndarray | None = None
    k: np.ndarray | None = None  # 3x3 intrinsics at the image's size
    w2c: np.ndarray | None = None  # 4x4 world-to-camera, OpenCV


def decompose_projection(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """K (positive diagonal, K[2,2] = 1) and 4x4 world-to-camera from a 3x4 P = K [R | t]."""
    from scipy.linalg import rq

    k, r = rq(p[:, :3])
    flip = np.diag(np.sign(np.diag(k)))  # RQ is unique up to signs: make K's diagonal positive
    k, r = k @ flip, flip @ r
    t = np.linalg.solve(k, p[:, 3])
    if np.linalg.det(r) < 0:  # P was given up to a negative scale
        r, t = -r, -t
    w2c = np.eye(4)
    w2c[:3, :3], w2c[:3, 3] = r, t
    return k / k[2, 2], w2c


def intrinsics_dict(k: np.ndarray, size: tuple[int, int]) -> dict[str, float]:
    return {
        "fx": float(k[0, 0]),
        "fy": float(k[1, 1]),
        "cx": float(k[0, 2]),
        "cy": float(k[1, 2]),
        "w": size[0],
        "h": size[1],
        "skew": float(k[0, 1]),
    }


# --- masks ---------------------------------------------------------------------------------------


def threshold_mask(
    image: Image.Image, threshold: float, min_chroma: float = 0.0, min_share: float = 0.05
) -> np.ndarray:
    """Object mask of a bright object on a black background (see the module docstring).

    ``min_chroma``: also require (R - B) >= min_chroma * max(R, G, B), which keeps a warm-coloured
    object (the plaster temple) and drops the neutral grey cloth draped behind it.
    """

    rgb = np.asarray(image.convert("RGB"), np.float32) / 255.0
    brightest = rgb.max(axis=2)
    mask = brightest > threshold
    if min_chroma > 0:
        mask &= rgb[..., 0] - rgb[..., 2] >= min_chroma * brightest
    return _cleaned(mask, min_share)


def _cleaned(mask: np.ndarray, min_share: float = 0.05) -> np.ndarray:
    """A 2-pixel opening (specks) and closing, then the components of at least ``min_share``
    of the largest one's area."""
    from scipy import ndimage

    mask = ndimage.binary_closing(ndimage.binary_opening(mask, iterations=2), iterations=2)
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    areas = np.bincount(labels.ravel())[1:]
    return np.isin(labels, np.flatnonzero(areas >= min_share * areas.max()) + 1)


def blue_screen_mask(image: Image.Image, margin: int = 15, min_bright: float = 0.25) -> np.ndarray:
    """Object mask of a warm or white object before a blue backdrop and turntable: a pixel is
    the object where its red is no more than ``margin`` under its blue and it is not dark (the
    black strips at some frames' edges); then the same clean-up as ``threshold_mask``."""
    rgb = np.asarray(image.convert("RGB"), np.int16)
    return _cleaned((rgb[..., 0] - rgb[..., 2] > -margin) & (rgb.max(axis=2) > min_bright * 255))


# --- capture readers ----------------------------------------------------------------------------


def read_middlebury(
    snap: Snapshot, folder: str, threshold: float, min_chroma: float = 0.0
) -> Iterator[View]:
    """Middlebury multi-view: <name>_par.txt lines 'img.png K(9) R(9) t(3)', x = K (R X + t)."""
    par = next(p for p in snap.files(folder) if p.endswith("_par.txt"))
    lines = snap.read(par).decode().split("\n")[1:]
    for line in filter(str.strip, lines):
        fields = line.split()
        values = np.array(fields[1:], float)
        w2c = np.eye(4)
        w2c[:3, :3], w2c[:3, 3] = values[9:18].reshape(3, 3), values[18:21]
        image = Image.open(io.BytesIO(snap.read(f"{folder}/{fields[0]}"))).convert("RGB")
        yield View(
            Path(fields[0]).stem,
            image,
            threshold_mask(image, threshold, min_chroma),
            values[:9].reshape(3, 3),
            w2c,
        )


def read_idr(
    snap: Snapshot,
    folder: str,
    cameras: str = "cameras_sphere.npz",
    suffix: str = ".png",
    pixel_map: np.ndarray | None = None,
    image_dir: str = "image",
) -> Iterator[View]:
    """IDR/NeuS/MonoSDF layout: images <folder>/<image_dir>/*.png (or <folder>/*<suffix>), masks
    in <folder>/mask/ when there are any, <cameras> with world_mat_i = K [R | t] for image i.

    ``pixel_map`` (3x3) maps the calibration's pixels to the stored images' (a resize and crop
    that the preprocessing applied to the images but left to its loader for the cameras).
    """
    cams = np.load(io.BytesIO(snap.read(f"{folder}/{cameras}")))
    images = [p for p in snap.files(f"{folder}/{image_dir}") if p.endswith(".png")] or [
        p for p in snap.files(folder) if p.endswith(suffix)
    ]
    masks = [p for p in snap.files(f"{folder}/mask") if p.endswith(".png")]
    for i, img_path in enumerate(images):
        k, w2c = decompose_projection(cams[f"world_mat_{i}"][:3, :4])
        if pixel_map is not None:
            k = pixel_map @ k
        image = Image.open(io.BytesIO(snap.read(img_path))).convert("RGB")
        mask = None
        if masks:
            mask = np.asarray(Image.open(io.BytesIO(snap.read(masks[i]))).convert("L")) > 127
        yield View(Path(img_path).stem.removesuffix("_rgb"), image, mask, k, w2c)


def read_keyed_photos(snap: Snapshot, folder: str, count: int) -> Iterator[View]:
    """The first ``count`` images in name order with their blue-screen masks. The Oxford
    dinosaur's projection matrices (dino_Ps.mat) are left out: they decompose into no metric
    camera (fx/fy 1.4, the principal point 1600 px above the frame), a projective frame that no
    similarity maps onto SfM's; score under the SfM cameras instead (sfm_cameras.py)."""
    images = [p for p in snap.files(folder) if p.endswith((".ppm", ".png", ".jpg"))]
    for path in images[:count]:
        image = Image.open(io.BytesIO(snap.read(path))).convert("RGB")
        yield View(Path(path).stem, image, blue_screen_mask(image))


def read_photos_with_masks(snap: Snapshot, folder: str, masks: str) -> Iterator[View]:
    """Photos with an object mask each, ``<masks>/<stem>.png`` (object > 127), where the
    snapshot holds one of the photo's size (an empty one is left out: no object drawn)."""
    held = set(snap.files(masks))
    for view in read_photos(snap, folder):
        path = f"{masks}/{view.stem}.png"
        if path in held:
            mask = np.asarray(Image.open(io.BytesIO(snap.read(path))).convert("L")) > 127
            if mask.shape == view.image.size[::-1] and mask.any():
                view.mask = mask
        yield view


def read_nerf_synthetic(
    snap: Snapshot, folder: str, background: int | None = 255
) -> Iterator[View]:
    """NeRF's Blender renders: RGBA PNGs listed in <folder>/transforms_train.json with their
    camera-to-world matrices (OpenGL: y up, z back) and one horizontal field of view. The
    alpha is the object mask; the photos are composited over ``background`` (white, as NeRF
    trains on them), since a JPEG holds no alpha, or kept as RGBA (``None``: written as PNG,
    as a user would give the renders)."""
    meta = json.loads(snap.read(f"{folder}/transforms_train.json"))
    held = set(snap.files(f"{folder}/train"))
    for frame in meta["frames"]:
        path = f"{folder}/{frame['file_path'].removeprefix('./')}.png"
        if path not in held:
            continue
        rgba = Image.open(io.BytesIO(snap.read(path))).convert("RGBA")
        image = rgba
        if background is not None:
            base = Image.new("RGBA", rgba.size, (background,) * 3 + (255,))
            image = Image.alpha_composite(base, rgba).convert("RGB")
        w, h = image.size
        f = 0.5 * w / np.tan(0.5 * meta["camera_angle_x"])
        k = np.array([[f, 0.0, w / 2], [0.0, f, h / 2], [0.0, 0.0, 1.0]])
        c2w = np.asarray(frame["transform_matrix"], float) @ np.diag([1.0, -1.0, -1.0, 1.0])
        mask = np.asarray(rgba)[..., 3] > 127
        yield View(Path(path).stem, image, mask, k, np.linalg.inv(c2w))


def _foot_ellipse(mask: np.ndarray) -> np.ndarray:
    """A flat ellipse under an object mask's foot (its contact shadow on what it stands on):
    half the object's width, 8 % of its height."""
    ys, xs = np.nonzero(mask)
    cy, cx = ys.max(), xs.mean()
    ry, rx = 0.08 * (ys.max() - ys.min()), 0.25 * (xs.max() - xs.min())
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def cut_out(views: Iterator[View], rough: bool = False, soft: bool = False) -> Iterator[View]:
    """The photos as a background remover (rembg, a phone's "lift subject") gives them: RGBA,
    the object mask as the alpha, so that the pipeline meets real photos as cut-outs.

    ``rough``: with a remover's errors, the same for every run: each mask grown by 0–6 pixels
    (a halo of background), and every 5th keeps a flat ellipse of what the object stands on
    under its foot (its contact shadow). ``soft``: a soft alpha as a matting model gives it,
    the edge feathered (a Gaussian of 3 px) and the contact shadow kept half opaque (alpha 160)
    in every photo. The true mask stays ``view.mask`` (the score's)."""
    from scipy.ndimage import binary_dilation, gaussian_filter

    rng = np.random.default_rng(43)
    for i, view in enumerate(views):
        if view.mask is not None:
            alpha = view.mask.astype(np.float32)
            if rough:
                grow = int(rng.integers(0, 7))
                if grow:
                    alpha = binary_dilation(view.mask, iterations=grow).astype(np.float32)
                if i % 5 == 0 and view.mask.any():
                    alpha = np.maximum(alpha, _foot_ellipse(view.mask))
            if soft:
                alpha = gaussian_filter(alpha, 3.0)
                if view.mask.any():
                    alpha = np.maximum(alpha, _foot_ellipse(view.mask) * (160 / 255))
            view.image = view.image.convert("RGB")
            view.image.putalpha(Image.fromarray(np.round(alpha * 255).astype(np.uint8)))
        yield view


def read_photos(snap: Snapshot, folder: str, every: int = 1) -> Iterator[View]:
    """A plain photo set: every image the snapshot holds (or every ``every``-th in name
    order: frames of videos), EXIF orientation applied."""
    for path in snap.files(folder)[::every]:
        if Path(path).suffix.lower() in {".jpg", ".jpeg", ".png"}:
            image = ImageOps.exif_transpose(Image.open(io.BytesIO(snap.read(path))))
            yield View(Path(path).stem, image.convert("RGB"))


# --- the captures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capture:
    name: str
    repo: str  # owner/name on GitHub
    commit: str  # the snapshot commit the files are read at
    folder: str
    licence: str
    what: str
    reader: Callable[[Snapshot], Iterator[View]]
    scene: dict = field(default_factory=dict)  # extra keys of the scenes: entry
    caveat: str = ""  # what a run should expect; such a capture stays out of scenes.yaml
    # threshold masks that take in lit background (the temple's cloth): cut each to the visual
    # hull's silhouette (check_calibration.py --refine), or every silhouette IoU is ~0.09 low
    refine_masks: bool = False
    video: str = ""  # a video file in the folder: copied as it is, the scene reads it (no images/)


# MonoSDF's DTU images: 1600x1200 resized to 512x384, then the central 384x384 (x from 64).
MONOSDF_DTU_PIXELS = np.array([[0.32, 0.0, -64.0], [0.0, 0.32, 0.0], [0.0, 0.0, 1.0]])

DTU_LICENCE = (
    "no licence stated in the repository; DTU MVS data (Jensen et al., CVPR 2014, "
    "roboimagedata.compute.dtu.dk), research use: cite the paper"
)
VGGSFM_LICENCE = (
    "the repository's LICENSE.txt: CC BY-NC 4.0 (the photos' own licence is not stated); "
    "local validation only, never redistributed"
)

MIDDLEBURY_LICENCE = (
    "no licence stated; Middlebury multi-view stereo data (Seitz, Curless, Diebel, Scharstein, "
    "Szeliski, CVPR 2006), published for research and evaluation: cite the paper"
)

CAPTURES = [
    Capture(
        "temple_ring",
        "cs-9/PBA",
        "05c7ff9ae94395b9bde7f35f8f64927a1d219698",
        "datasets/templeRing",
        MIDDLEBURY_LICENCE,
        "Middlebury templeRing: plaster temple replica, 47 calibrated views on a ring, black "
        "background",
        lambda s: read_middlebury(s, "datasets/templeRing", threshold=0.1, min_chroma=0.3),
        refine_masks=True,
    ),
    Capture(
        "dino_ring",
        "cs-9/PBA",
        "05c7ff9ae94395b9bde7f35f8f64927a1d219698",
        "datasets/dinoRing",
        MIDDLEBURY_LICENCE,
        "Middlebury dinoRing: matte white ceramic dinosaur, untextured, 48 calibrated views on a "
        "ring, black background",
        lambda s: read_middlebury(s, "datasets/dinoRing", threshold=0.19),
    ),
    Capture(
        "dtu_scan65",
        "jingz666/NeuF",
        "ebe501dc192622e74410776a4b79e1ee3a5f01ed",
        "data/DTU/dtu_scan65",
        DTU_LICENCE,
        "DTU scan 65 (a skull model on a table), 49 calibrated views (1600x1200) with object masks "
        "from the IDR/NeuS preprocessing",
        lambda s: read_idr(s, "data/DTU/dtu_scan65"),
    ),
    Capture(
        "monstree",
        "alicevision/dataset_monstree",
        "c697b936be47d6b78ce58d7eb4188e6908503ee2",
        "full",
        "no licence file in the repository (README: 'Images dataset for 3D reconstruction'); "
        "Meshroom's official sample data set: local validation only, never redistributed",
        "AliceVision monstree (Meshroom's sample): a gnarled tree trunk with a face-like hollow, "
        "outdoors, hand-held iPhone 7 photos (4032x3024, 19 portrait and 4 landscape); the "
        "snapshot holds 23 of the 41 (files >= 4 MiB left out)",
        lambda s: read_photos(s, "full"),
    ),
    Capture(
        "dtu_scan24",
        "jingz666/NeuF",
        "ebe501dc192622e74410776a4b79e1ee3a5f01ed",
        "data/monosdf_DTU/scan24",
        DTU_LICENCE,
        "DTU scan 24 (a model house on a table) as MonoSDF preprocessed it: 49 calibrated views, "
        "384x384 centre crops, no masks",
        lambda s: read_idr(
            s, "data/monosdf_DTU/scan24", "cameras.npz", "_rgb.png", MONOSDF_DTU_PIXELS
        ),
    ),
    # Session 24's held-out real captures: prepared and run with the defaults as found, never
    # tuned on (benchmarks/realworld/RESULTS.md, session 24).
    Capture(
        "dtu_scan37",
        "wqrray/nerf_baseline",
        "eb0777530a09baf4451da3e3688ba5d7820d6e8d",
        "data/dtu_scan37",
        DTU_LICENCE,
        "DTU scan 37 (scissors and tools lying on two bricks, white background), 49 calibrated "
        "views (1600x1200) with object masks from the IDR/NeuS preprocessing",
        lambda s: read_idr(s, "data/dtu_scan37", image_dir="images"),
    ),
    # Session 28, held out: the model house (scan 24) at full size with its masks, run
    # with the defaults as found, never tuned on.
    Capture(
        "dtu_scan24_full",
        "wqrray/nerf_baseline",
        "eb0777530a09baf4451da3e3688ba5d7820d6e8d",
        "data/dtu_scan24",
        DTU_LICENCE,
        "DTU scan 24 (a red-brick model house with grey roofs on a white table), 49 calibrated "
        "views (1600x1200) with object masks from the IDR/NeuS preprocessing",
        lambda s: read_idr(s, "data/dtu_scan24", image_dir="images"),
    ),
    Capture(
        "skull_flash",
        "KarmenKei/HiimelOyunUhaan",
        "51865e8bb73d958ba349cff455bf397a99370d76",
        "bd2/photogrammetry_backend/jobs/skull01/images",
        "CC BY 4.0: 'Photogrammetry Test Set: Skull - Cameramoves - Flash - No Background' by "
        "alansartlog (https://github.com/AlansCodeLog/photogrammetry-test-sets), per the "
        "folder's README.md",
        "a sculpted skull on a thin stand in a dim room, 66 hand-held photos (4272x2848) with "
        "the camera's flash, from all round and from above; no cameras, no masks",
        lambda s: read_photos(s, "bd2/photogrammetry_backend/jobs/skull01/images"),
    ),
    Capture(
        "lego_kitchen",
        "facebookresearch/vggsfm",
        "e1d9d2eb2b3575525792206fb94b2c749c58dc50",
        "examples/kitchen/images",
        VGGSFM_LICENCE,
        "a yellow LEGO bulldozer on a wooden table with mats in a kitchen, 25 photos "
        "(1558x1039) from all round: Mip-NeRF 360's 'kitchen' cut down; no cameras, no masks",
        lambda s: read_photos(s, "examples/kitchen/images"),
    ),
    Capture(
        "apple_table",
        "facebookresearch/vggsfm",
        "60d7a1aa15172a54270cd329ab178212eee8020f",
        "examples/apple/images",
        VGGSFM_LICENCE + " (CO3D is CC BY-NC)",
        "a red apple on a wooden coffee table, 20 portrait phone frames (1066x1896) from all "
        "round: a CO3D sequence; no cameras, no masks",
        lambda s: read_photos(s, "examples/apple/images"),
    ),
    # Session 35, held out: two more real captures found with the search tools, run once with
    # the defaults as found (RESULTS.md, session 35), never tuned on.
    Capture(
        "viking_black",
        "rshilliday/sfm",
        "ca0eead387ba68582bf166c9a0780adcd99e3bf3",
        "datasets/Viking",
        "the repository's LICENSE: Apache-2.0; README: 'Viking image set was created by me' "
        "(the author's own photos); local validation only, never redistributed",
        "a painted ceramic Viking figurine on a black surface before a black backdrop, 49 "
        "portrait photos (504x672) from all round on a tilted ring (a turntable); no cameras, "
        "no masks",
        lambda s: read_photos(s, "datasets/Viking"),
    ),
    Capture(
        "miku_stool",
        "LiYu0524/Nerf-nerfacto-3Dgauss",
        "c73689eaf25c8ad8efb480dbed47173d765d1158",
        "nerf-pytorch/miku_data/train",
        "no licence stated in the repository; frames of the author's own phone video (README); "
        "local validation only, never redistributed",
        "an anime figurine sitting on a printed tin box on a round blue plastic stool in a "
        "tiled room (doors, shelves, a broom), 112 landscape frames (1278x716) of a hand-held "
        "phone video from all round; no cameras, no masks",
        lambda s: read_photos(s, "nerf-pytorch/miku_data/train"),
    ),
    # Session 37, held out: frames of phone-video passes round a toy on a plain white table
    Capture(
        "deerq_toy",
        "yangyvning/cv3_task2",
        "418a99358047db806f764b0105a9600866b12532",
        "data/deerq/images",
        "the repository's LICENSE.md is Inria's non-commercial licence of the 3DGS code; none "
        "stated for the data (a course project's own capture): local validation only, never "
        "redistributed",
        "a small vinyl toy (a penguin in a reindeer costume) on a plain white cloth before white "
        "curtains, frames of several hand-held phone passes round it (rings low and higher, a "
        "few from above); every 5th of the 491 frames (720x540 PNG); the repository's COLMAP "
        "cameras not used",
        lambda s: read_photos(s, "data/deerq/images", every=5),
    ),
    # Session 37, held out: two real hand-held phone videos (HEVC, portrait, with sound), run
    # once with the defaults as found, never tuned on.
    Capture(
        "bear_video",
        "OLIVERLARY/CV_project",
        "3fb946656181200c702019046607c7542bb972fa",
        "2DGS",
        "no licence stated in the repository (a course project's own video); local validation "
        "only, never redistributed",
        "a pink plush bear sitting on a concrete floor outdoors (a garden, bamboo behind), one "
        "hand-held phone video all round it: 6.5 s, 540x960 portrait, HEVC, 30 fps",
        lambda s: iter(()),
        video="bear.mp4",
    ),
    Capture(
        "mug_video",
        "OLIVERLARY/CV_project",
        "3fb946656181200c702019046607c7542bb972fa",
        "PGSR",
        "no licence stated in the repository (a course project's own video); local validation "
        "only, never redistributed",
        "a painted ceramic mug on a glass coaster on an engraved gold tray on patterned cloth "
        "before a black backdrop, a hand-held phone video round it: 5.6 s, 720x1280 portrait, "
        "HEVC, 30 fps",
        lambda s: iter(()),
        video="mug (2).mp4",
    ),
    # Session 39, held out: a calibrated turntable set before a blue backdrop, run once with the
    # defaults as found, never tuned on.
    Capture(
        "oxford_dino",
        "zinsmatt/SpaceCarving",
        "7c279df72fc5bd00f04a68fe9b2bf28085b62c11",
        "data",
        "no licence stated in the repository; the Oxford VGG multi-view 'Dinosaur' sequence "
        "(robots.ox.ac.uk/~vgg/data/mview), published for research: local validation only, "
        "never redistributed",
        "the Oxford VGG dinosaur: an orange-and-yellow toy dinosaur standing on a plain blue "
        "turntable before a dark blue backdrop, 36 frames (720x576) of one turn; masks "
        "keyed on the blue (blue_screen_mask); the backdrop stays still while the "
        "object turns",
        lambda s: read_keyed_photos(s, "data", 36),  # viff.036 repeats viff.000
    ),
    Capture(
        "duplo_lab",
        "Kudo510/VoxelCarving",
        "a4aaf5deef679cb50730e644ece7db882655481b",
        "assets/red_block_AR",
        "no licence stated in the repository (a course project's own robot-arm photos); local "
        "validation only, never redistributed",
        "a glossy red Duplo 2x2 brick on a white sheet of ArUco markers on a wooden board in a "
        "cluttered lab, 49 photos (1280x720) from a robot arm all round and from above, with "
        "the project's object masks; its poses are not used",
        lambda s: read_photos_with_masks(
            s, "assets/red_block_AR/original_images", "assets/red_block_AR/segmented_images"
        ),
    ),
    *(
        Capture(
            name,
            "AlexZhang028/voxel-carving-with-aruco",
            "eae95bef5cbfc4a3bf0978cccbbe2c18dc369028",
            f"InputData/{folder}",
            "no licence stated in the repository (a course project's own phone photos); local "
            "validation only, never redistributed",
            f"{what} on a white sheet of ArUco markers on a table, {count} hand-held phone "
            "photos (1280x720) all round it from above; no cameras, no masks",
            lambda s, folder=folder: read_photos(s, f"InputData/{folder}"),
        )
        for name, folder, count, what in (
            (
                "aruco_tapebox",
                "board02-hezi-40",
                40,
                "a red box of Scotch tape, printed, on its end",
            ),
            ("aruco_redcase", "board02-png-22", 22, "a plain glossy red plastic case"),
            ("aruco_stone", "board02-shitou-36", 36, "a grey stone"),
        )
    ),
    Capture(
        "nerf_lego",
        "shouxieai/nerf",
        "a25eb85d70ca991441a102054ba655f633f0de14",
        "data/nerf_synthetic/lego",
        "the repository's MIT licence (a copy of NeRF's Blender scene renders, Mildenhall et "
        "al., ECCV 2020; the original data is CC BY 3.0): local validation only",
        "NeRF's synthetic Lego bulldozer on its base plate, 100 Blender renders (800x800) from "
        "the upper hemisphere, transparent background composited over white; the true cameras "
        "and the alpha masks",
        lambda s: read_nerf_synthetic(s, "data/nerf_synthetic/lego"),
    ),
    Capture(
        "nerf_lego_rgba",
        "shouxieai/nerf",
        "a25eb85d70ca991441a102054ba655f633f0de14",
        "data/nerf_synthetic/lego",
        "the repository's MIT licence (a copy of NeRF's Blender scene renders, Mildenhall et "
        "al., ECCV 2020; the original data is CC BY 3.0): local validation only",
        "NeRF's synthetic Lego as nerf_lego, the RGBA PNGs as they are (transparent "
        "background: the pipeline takes the alpha as the object's mask)",
        lambda s: read_nerf_synthetic(s, "data/nerf_synthetic/lego", background=None),
    ),
    Capture(
        "dtu_scan65_cutout",
        "jingz666/NeuF",
        "ebe501dc192622e74410776a4b79e1ee3a5f01ed",
        "data/DTU/dtu_scan65",
        DTU_LICENCE,
        "DTU scan 65 as dtu_scan65, each photo cut out by its object mask (RGBA PNGs, the table "
        "transparent): real photos as a background remover gives them",
        lambda s: cut_out(read_idr(s, "data/DTU/dtu_scan65")),
    ),
    Capture(
        "dtu_scan65_cutout_rough",
        "jingz666/NeuF",
        "ebe501dc192622e74410776a4b79e1ee3a5f01ed",
        "data/DTU/dtu_scan65",
        DTU_LICENCE,
        "DTU scan 65 cut out as dtu_scan65_cutout, with a background remover's errors: each "
        "alpha grown by 0-6 px, every 5th with a flat ellipse of table under the skull's foot "
        "(masks/ holds the true masks)",
        lambda s: cut_out(read_idr(s, "data/DTU/dtu_scan65"), rough=True),
    ),
    Capture(
        "dtu_scan65_cutout_soft",
        "jingz666/NeuF",
        "ebe501dc192622e74410776a4b79e1ee3a5f01ed",
        "data/DTU/dtu_scan65",
        DTU_LICENCE,
        "DTU scan 65 cut out as dtu_scan65_cutout, with a matting model's soft alpha: the edge "
        "feathered (3 px), the contact shadow under the skull's foot half opaque (alpha 160) in "
        "every photo (masks/ holds the true masks)",
        lambda s: cut_out(read_idr(s, "data/DTU/dtu_scan65"), soft=True),
    ),
    Capture(
        "weight_purple",
        "Hellsice/object-volume",
        "acc39e1a3aabde9509ddb095c9e2718624d72941",
        "images/set 1",
        "no licence stated in the repository (a project's own phone photos); local validation "
        "only, never redistributed",
        "a dark cast-iron 2 kg weight standing on plain lilac paper before a lilac backdrop, "
        "40 hand-held phone photos (4608x3456, portrait after EXIF) all round it from low; no "
        "cameras, no masks",
        lambda s: read_photos(s, "images/set 1"),
    ),
]


# --- writing -------------------------------------------------------------------------------------


def _resized(view: View) -> View:
    w, h = view.image.size
    scale = min(1.0, MAX_SIDE / max(w, h))
    if scale == 1.0:
        return view
    size = (round(w * scale), round(h * scale))
    image = view.image.resize(size, Image.Resampling.LANCZOS)
    mask = None
    if view.mask is not None:
        mask_img = Image.fromarray(view.mask.astype(np.uint8) * 255).resize(
            size, Image.Resampling.BILINEAR
        )
        mask = np.asarray(mask_img) > 127
    k = None
    if view.k is not None:
        k = np.diag([size[0] / w, size[1] / h, 1.0]) @ view.k
    return View(view.stem, image, mask, k, view.w2c)


def provenance(capture: Capture) -> dict:
    """What a capture is and where it came from, as source.json records it."""
    return {
        "name": capture.name,
        "what": capture.what,
        "repository": f"https://github.com/{capture.repo}",
        "commit": capture.commit,
        "folder": capture.folder,
        "licence": capture.licence,
    }


def prepare(capture: Capture, snap: Snapshot, out: Path) -> dict:
    """Write one capture's folder; returns its source.json record."""
    folder = out / capture.name
    listed = [p for p in snap.files(capture.folder)]
    held = snap.present(listed)
    missing = sorted(set(listed) - held)
    # Readers skip files the snapshot does not hold.
    if capture.video:
        return _prepare_video(capture, snap, folder, missing)
    snap_view = _PresentOnly(snap, held)
    frames, intrinsics, masks = [], [], 0
    for raw in capture.reader(snap_view):  # type: ignore[arg-type]
        view = _resized(raw)
        if view.image.mode == "RGBA":  # renders with their transparency, as PNG
            with atomic_path(folder / "images" / f"{view.stem}.png") as tmp:
                view.image.save(tmp, format="PNG")
        else:
            with atomic_path(folder / "images" / f"{view.stem}.jpg") as tmp:
                view.image.save(tmp, format="JPEG", quality=JPEG_QUALITY)
        if view.mask is not None:
            masks += 1
            with atomic_path(folder / "masks" / f"{view.stem}.png") as tmp:
                Image.fromarray(view.mask.astype(np.uint8) * 255).save(tmp, format="PNG")
        if view.k is not None and view.w2c is not None:
            k = intrinsics_dict(view.k, view.image.size)
            intrinsics.append(k)
            frames.append(
                {
                    "name": f"{view.stem}.jpg",
                    "c2w": np.linalg.inv(view.w2c).tolist(),
                    "intrinsics": k,
                }
            )
    images = sorted((folder / "images").glob("*.[jp][pn]g"))
    if frames:
        cameras = {"convention": CONVENTION, "frames": frames}
        if all(k == intrinsics[0] for k in intrinsics):
            cameras["intrinsics"] = intrinsics[0]
        write_json(folder / "cameras.json", cameras)
    scene = {"images": str((folder / "images").relative_to(REPO_ROOT)), "type": "object"}
    scene.update(capture.scene)
    write_scene_yaml(folder / "scene.yaml", capture, scene, bool(frames), masks > 0)
    record = {
        **provenance(capture),
        "images": len(images),
        "image_size": list(Image.open(images[0]).size) if images else None,
        "cameras": len(frames),
        "masks": masks,
        "missing_in_snapshot": missing,
        "bytes": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
    }
    if capture.refine_masks and masks:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from check_calibration import check

        shutil.rmtree(folder / "masks_raw", ignore_errors=True)  # the masks just written are raw
        record["refined_masks"] = check(folder, grid=200, refine=True)["refined_masks"]
    write_json(folder / "source.json", record)
    return record


def _prepare_video(capture: Capture, snap: Snapshot, folder: Path, missing: list[str]) -> dict:
    """A video capture's folder: the file as the phone wrote it (codec, rotation, audio), so
    that the pipeline's frames stage meets it as a user's would."""
    path = f"{capture.folder}/{capture.video}"
    if path in missing:
        raise SystemExit(f"{capture.name}: {path} is not in the snapshot (files >= 4 MiB are not)")
    video = folder / f"video{Path(capture.video).suffix.lower()}"
    with atomic_path(video) as tmp:
        tmp.write_bytes(snap.read(path))
    scene = {"video": str(video.relative_to(REPO_ROOT)), "type": "object", **capture.scene}
    write_scene_yaml(folder / "scene.yaml", capture, scene, False, False)
    record = {
        **provenance(capture),
        "video": path,
        "images": 0,
        "image_size": None,
        "cameras": 0,
        "masks": 0,
        "missing_in_snapshot": missing,
        "bytes": video.stat().st_size,
    }
    write_json(folder / "source.json", record)
    return record


class _PresentOnly(Snapshot):
    """A snapshot view that lists only the files whose content it holds."""

    def __init__(self, snap: Snapshot, held: set[str]) -> None:
        super().__init__(snap.git_dir, snap.commit)
        self._held = held

    def files(self, folder: str) -> list[str]:
        return [p for p in super().files(folder) if p in self._held]


def write_scene_yaml(
    path: Path, capture: Capture, scene: dict, has_cameras: bool, has_masks: bool
) -> None:
    notes = [f"# {capture.name}: {capture.what}", f"# from {capture.repo}@{capture.commit[:12]}"]
    if capture.caveat:
        notes.append(f"# caveat: {capture.caveat}")
    if has_cameras:
        scored = " and masks/" if has_masks else ""
        notes.append(
            f"# cameras.json{scored} (beside images/) score a mesh: "
            "python -m video2mesh silhouette --help"
        )
    text = "\n".join(notes) + "\n" + yaml.safe_dump({"scenes": {capture.name: scene}})
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("git_dirs", nargs="+", type=Path, help="fetched snapshot git directories")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--only", action="append", help="prepare only this capture (repeatable)")
    args = ap.parse_args(argv)

    records, scenes = [], {}
    for capture in CAPTURES:
        if args.only and capture.name not in args.only:
            continue
        git_dir = next((d for d in args.git_dirs if has_commit(d, capture.commit)), None)
        if git_dir is None:
            print(
                f"{capture.name}: skipped, no given snapshot holds {capture.repo}@{capture.commit}"
            )
            continue
        record = prepare(capture, Snapshot(git_dir, capture.commit), args.out)
        records.append(record)
        print(
            f"{capture.name}: {record['images']} images {record['image_size']}, "
            f"{record['cameras']} cameras, {record['masks']} masks, "
            f"{record['bytes'] / 1e6:.1f} MB"
        )
    caveats = {c.name for c in CAPTURES if c.caveat}
    for capture in CAPTURES:  # every real capture prepared so far (not the generated ones)
        scene_yaml = args.out / capture.name / "scene.yaml"
        if scene_yaml.exists() and capture.name not in caveats:
            scenes.update(yaml.safe_load(scene_yaml.read_text())["scenes"])
    if scenes:
        with atomic_path(args.out / "scenes.yaml") as tmp:
            tmp.write_text(yaml.safe_dump({"scenes": scenes}))
    print(json.dumps([{k: r[k] for k in ("name", "images", "cameras", "masks")} for r in records]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
