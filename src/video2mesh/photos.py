"""Photos as phones and cameras write them, decoded to upright 8-bit RGB.

Formats: JPEG, PNG (8/16-bit, grey, palette, alpha), TIFF (8/16-bit, grey, RGB, alpha, float),
HEIC/HEIF (iPhones since 2017, through pillow-heif; 10-bit is scaled to 8 by the decoder) and
WebP. EXIF orientation is honoured for each (HEIF's own rotation is applied by libheif, which
then reports orientation 1).

Deep data is scaled to 8 bits, never clipped: 16-bit values map 0–65535 onto 0–255 (Pillow
opens 16-bit grey as mode ``I;16``, whose own conversion to RGB clips everything above 255 to
white). Transparency is composited over neutral grey (128): a cut-out object then stands on a
plain background that gives SfM no features, rather than on whatever colour the transparent
pixels happened to hold; the alpha itself is kept (``decode_photo_alpha``), as the exact mask
of the object's pixels (renders, background-removed product shots). Camera RAW files (DNG and
vendor formats) are not decoded: their look depends on a developer's choices (white balance,
exposure, tone curve) that belong to the photographer; the error says how to export them.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps

from video2mesh.errors import UserError


@functools.cache
def _register_heif() -> None:
    """HEIC/HEIF through pillow-heif, registered on first decode (the CLI starts without it)."""
    import pillow_heif

    pillow_heif.register_heif_opener()


PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif", ".hif", ".webp")
RAW_EXTENSIONS = (
    ".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf",
    ".rw2", ".pef", ".srw", ".x3f", ".3fr", ".iiq", ".erf", ".kdc", ".mrw", ".raw",
)  # fmt: skip
RAW_HINT = (
    "export them from your RAW developer (Lightroom, darktable, RawTherapee, Photos) as JPEG or "
    "16-bit TIFF, all with the same settings, into the photo folder"
)
BACKGROUND = 128  # grey that transparent pixels are composited over
_DEEP_GREY = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def long_side(source: Path | IO[bytes]) -> int:
    """The long side of an image file, in pixels (its header alone is read)."""
    with Image.open(source) as im:
        return max(im.size)


def is_raw(path: Path | str) -> bool:
    return Path(path).suffix.lower() in RAW_EXTENSIONS


def _scale_to_8bit(values: np.ndarray, full_scale: float) -> np.ndarray:
    return np.clip(np.rint(values.astype(np.float64) * (255.0 / full_scale)), 0, 255).astype(
        np.uint8
    )


def _deep_grey(img: Image.Image) -> tuple[np.ndarray, str]:
    """16-bit (or 32-bit integer, or float) single-channel data scaled to 0–255."""
    values = np.asarray(img)
    if img.mode == "F":
        top = float(np.nanmax(values)) if values.size else 1.0
        # float exports are 0–1; brighter data (HDR, linear) is scaled by its peak, not clipped
        full = 1.0 if top <= 1.0 else top
        return _scale_to_8bit(np.nan_to_num(values), full), "32-bit float grey"
    top = int(values.max()) if values.size else 0
    full = 65535.0 if top <= 65535 else float(top)
    return _scale_to_8bit(values, full), "16-bit grey"


def to_rgb8_alpha(img: Image.Image) -> tuple[np.ndarray, str, np.ndarray | None]:
    """An opened image as (H, W, 3) uint8 (no orientation applied), what it was, and its
    (H, W) uint8 alpha where it has transparency that some pixel uses (else None)."""
    mode = img.mode
    if mode in (*_DEEP_GREY, "F"):
        grey, kind = _deep_grey(img)
        return np.repeat(grey[:, :, None], 3, axis=2), kind, None
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB") and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (BACKGROUND, BACKGROUND, BACKGROUND, 255))
        rgb = np.asarray(Image.alpha_composite(base, rgba).convert("RGB"))
        alpha = np.asarray(rgba.getchannel("A"))
        used = alpha if alpha.min() < 255 else None  # an opaque alpha channel is no mask
        return rgb, f"{mode} (transparency composited over grey {BACKGROUND})", used
    bits = img.info.get("bit_depth")  # pillow-heif: 10/12-bit HEIF decoded to 8
    kind = f"{mode}, {bits}-bit scaled to 8" if bits and bits > 8 else mode
    return np.asarray(img.convert("RGB")), kind, None


def decode_photo_alpha(data: bytes, name: str) -> tuple[np.ndarray, str, np.ndarray | None]:
    """Upright (EXIF orientation applied) 8-bit RGB of a photo file's bytes, its kind, and its
    upright alpha where it has transparency (to_rgb8_alpha).

    Raises UserError for RAW files; OSError (Pillow's) for bytes no decoder reads.
    """
    if is_raw(name):
        raise UserError(f"{name} is a camera RAW file, which video2mesh does not develop", RAW_HINT)
    _register_heif()
    img = Image.open(io.BytesIO(data))
    fmt = img.format or "?"
    img = ImageOps.exif_transpose(img)
    rgb, kind, alpha = to_rgb8_alpha(img)
    return rgb, f"{fmt} {kind}", alpha


def decode_photo(data: bytes, name: str) -> tuple[np.ndarray, str]:
    """Upright 8-bit RGB of a photo file's bytes and its kind (decode_photo_alpha)."""
    rgb, kind, _alpha = decode_photo_alpha(data, name)
    return rgb, kind
