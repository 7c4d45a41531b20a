"""Photo formats as phones and cameras write them, each made by a real encoder (Pillow,
pillow-heif's libheif/x265, tifffile, ffmpeg): decoded upright, 16-bit scaled (not clipped),
transparency over grey, RAW refused with how to export; then the same files through the real
`ingest` and `frames` CLI, asserting the frames' pixels."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pillow_heif
import pytest
import tifffile
from PIL import Image
from v2m_testing import run_cli

from video2mesh import photos
from video2mesh.errors import UserError

H, W = 64, 48  # upright size: portrait, so that a missed EXIF rotation changes the shape
ROTATE_CW = 6  # EXIF orientation: "rotate 90° clockwise to display"


def _upright16() -> np.ndarray:
    """(H, W, 3) uint16: a horizontal ramp over the 16-bit range in red, a vertical one in
    green, and grey 8-px checks on top so that the frames stage finds texture."""
    x = np.linspace(0, 1, W)[None, :].repeat(H, 0)
    y = np.linspace(0, 1, H)[:, None].repeat(W, 1)
    checks = ((np.arange(H)[:, None] // 8 + np.arange(W)[None, :] // 8) % 2).astype(float)
    r = 0.8 * x + 0.2 * checks
    g = 0.8 * y + 0.2 * checks
    b = 0.3 + 0.2 * checks
    return np.rint(np.stack([r, g, b], -1) * 65535).astype(np.uint16)


UP16 = _upright16()
UP8 = np.rint(UP16 / 257).astype(np.uint8)  # what 8-bit output must be (within 1 level)
GREY16 = UP16[..., 0]
GREY8 = UP8[..., 0]


def _stored(up: np.ndarray) -> np.ndarray:
    """The pixels a camera stores for an upright image shown with orientation 6."""
    return np.ascontiguousarray(np.rot90(up, 1))


def _exif() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = ROTATE_CW
    return exif.tobytes()


def _pillow(arr: np.ndarray, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt, exif=_exif(), **kw)
    return buf.getvalue()


def _ffmpeg_png16(arr: np.ndarray) -> bytes:
    """48-bit RGB PNG (Pillow cannot write one): ffmpeg's png encoder, rgb48be."""
    h, w = arr.shape[:2]
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "rawvideo"]
    cmd += ["-pix_fmt", "rgb48le", "-s", f"{w}x{h}", "-i", "-", "-frames:v", "1"]
    cmd += ["-pix_fmt", "rgb48be", "-f", "image2pipe", "-c:v", "png", "-"]
    return subprocess.run(cmd, input=arr.astype("<u2").tobytes(), capture_output=True).stdout


def _tifffile(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    photometric = "rgb" if arr.ndim == 3 else "minisblack"
    tifffile.imwrite(buf, arr, photometric=photometric, extratags=[(274, "H", 1, ROTATE_CW, True)])
    return buf.getvalue()


def _heif(arr: np.ndarray, mode: str, **kw) -> bytes:
    heif = pillow_heif.from_bytes(mode=mode, size=(arr.shape[1], arr.shape[0]), data=arr.tobytes())
    buf = io.BytesIO()
    heif.save(buf, exif=_exif(), **kw)
    return buf.getvalue()


def _rgba_png() -> bytes:
    """Left half transparent over magenta: must come out neutral grey, not magenta."""
    rgba = np.dstack([UP8, np.full((H, W), 255, np.uint8)])
    rgba[:, : W // 2] = (255, 0, 255, 0)
    return _pillow(_stored(rgba), "PNG")


RGBA_EXPECTED = UP8.copy()
RGBA_EXPECTED[:, : W // 2] = photos.BACKGROUND

# name -> (file bytes, expected upright 8-bit RGB, largest allowed error, kind reported);
# lossy codecs (error None) must be within 3 levels on average (a wrong turn is ~60 off)
CASES: dict[str, tuple[Callable[[], bytes], np.ndarray, int | None, str]] = {
    "jpeg.jpg": (
        lambda: _pillow(_stored(UP8), "JPEG", quality=98, subsampling=0),
        UP8,
        None,
        "JPEG RGB",
    ),
    "png8.png": (lambda: _pillow(_stored(UP8), "PNG"), UP8, 0, "PNG RGB"),
    "grey8.png": (lambda: _pillow(_stored(GREY8), "PNG"), GREY8[..., None], 0, "PNG L"),
    "png_grey16.png": (lambda: _pillow(_stored(GREY16), "PNG"), GREY8[..., None], 1, "16-bit grey"),
    "png_rgb16.png": (lambda: _ffmpeg_png16(UP16), UP8, 1, "PNG RGB"),  # ffmpeg writes no EXIF
    "rgba.png": (_rgba_png, RGBA_EXPECTED, 0, "composited over grey"),
    "tiff8.tif": (lambda: _pillow(_stored(UP8), "TIFF"), UP8, 0, "TIFF RGB"),
    "tiff_grey16.tiff": (lambda: _tifffile(_stored(GREY16)), GREY8[..., None], 1, "16-bit grey"),
    "tiff_rgb16.tif": (lambda: _tifffile(_stored(UP16)), UP8, 1, "TIFF RGB"),
    "webp.webp": (lambda: _pillow(_stored(UP8), "WEBP", lossless=True), UP8, 0, "WEBP RGB"),
    "heic8.heic": (lambda: _heif(_stored(UP8), "RGB", quality=-1), UP8, None, "HEIF RGB"),
    "heic10.heic": (lambda: _heif(_stored(UP16), "RGB;16", quality=-1), UP8, None, "10-bit"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_format_decodes_upright_and_scaled(name):
    make, expected, tol, kind = CASES[name]
    rgb, got_kind = photos.decode_photo(make(), name)
    assert rgb.dtype == np.uint8 and rgb.shape == (H, W, 3)  # upright: EXIF 6 applied
    err = np.abs(rgb.astype(int) - expected.astype(int))
    if tol is None:
        assert err.mean() <= 3, f"{name}: mean error {err.mean():.1f}"
    else:
        assert err.max() <= tol, f"{name}: max error {err.max()} > {tol}"
    assert kind in got_kind


def test_a_cut_out_photo_keeps_its_alpha_upright_and_an_opaque_one_has_none():
    rgb, _kind, alpha = photos.decode_photo_alpha(_rgba_png(), "rgba.png")
    assert alpha is not None and alpha.shape == (H, W)  # turned with the photo (EXIF 6)
    assert (alpha[:, : W // 2] == 0).all() and (alpha[:, W // 2 :] == 255).all()
    assert (rgb[:, : W // 2] == photos.BACKGROUND).all()
    opaque = np.dstack([UP8, np.full((H, W), 255, np.uint8)])
    assert photos.decode_photo_alpha(_pillow(opaque, "PNG"), "opaque.png")[2] is None
    assert photos.decode_photo_alpha(_pillow(UP8, "PNG"), "rgb.png")[2] is None


def test_16bit_grey_keeps_its_gradient_instead_of_turning_white():
    """The reported failure: a 16-bit PNG whose mean grey was 191 instead of 33."""
    dark = np.rint(np.linspace(0, 0.25, W)[None, :].repeat(H, 0) * 65535).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(dark).save(buf, format="PNG")
    rgb, _ = photos.decode_photo(buf.getvalue(), "dark.png")
    assert np.abs(rgb[0, :, 0].astype(int) - np.rint(dark[0] / 257)).max() <= 1
    assert abs(rgb.mean() - dark.mean() / 257) < 0.5  # ≈ 32, not nearly white


def test_raw_is_refused_with_how_to_export():
    with pytest.raises(UserError, match=r"RAW.*What to do: export them .* as JPEG or 16-bit TIFF"):
        photos.decode_photo(_tifffile(GREY16), "IMG_0001.DNG")


def _frames_of(folder: Path, tmp: Path) -> tuple[dict[str, np.ndarray], dict]:
    """ingest + frames through the CLI as the rules run them: frames by stem, and the manifest."""
    out = tmp / "results"
    proc = run_cli("ingest", "--scene", "s", "--images", str(folder), "--out", str(out / "in.tar"))
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(
        "frames", "--scene", "s", "--input", str(out / "in.tar"), "--max-size", "960",
        "--out-tar", str(out / "frames.tar"), "--out-json", str(out / "frames.json"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(out / "frames.tar") as tar:
        frames = {
            Path(m.name).stem: np.asarray(Image.open(tar.extractfile(m)).convert("RGB"))
            for m in tar.getmembers()
            if m.name.startswith("images/")
        }
    return frames, json.loads((out / "frames.json").read_text())


def test_every_format_through_ingest_and_frames_cli(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, (make, *_rest) in CASES.items():
        (folder / name).write_bytes(make())
    (folder / "jpeg.dng").write_bytes(_tifffile(GREY16))  # RAW+JPEG pair: the RAW is skipped
    frames, manifest = _frames_of(folder, tmp_path)
    assert sorted(frames) == sorted(Path(n).stem for n in CASES)
    by_name = {f["name"]: f for f in manifest["frames"]}
    for name, (_make, expected, _tol, kind) in CASES.items():
        stem = Path(name).stem
        assert kind in by_name[stem]["format"]
        frame = frames[stem].astype(float)
        assert frame.shape == (H, W, 3), name
        # frames are JPEGs: compare 8x8 block means (JPEG keeps them within a level or two)
        want = np.broadcast_to(expected, (H, W, 3)).astype(float)
        blocks = (H // 8, 8, W // 8, 8, 3)
        diff = frame.reshape(blocks).mean((1, 3)) - want.reshape(blocks).mean((1, 3))
        assert np.abs(diff).max() <= 3, f"{name}: block means off by {np.abs(diff).max():.1f}"


def test_a_folder_of_raw_files_is_one_line_saying_how_to_export(tmp_path):
    folder = tmp_path / "raw"
    folder.mkdir()
    for i in range(3):
        (folder / f"DSC_{i:04d}.NEF").write_bytes(_tifffile(GREY16))
    proc = run_cli("ingest", "--scene", "s", "--images", str(folder), "--out", str(tmp_path / "i"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "3 camera RAW file(s)" in lines[0] and "DSC_0000.NEF" in lines[0]
    assert "export them from your RAW developer" in lines[0]
    assert not (tmp_path / "i").exists()
