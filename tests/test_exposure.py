"""Frame sets that SfM cannot use are refused by the frames stage (through the CLI) with the
cause named; dim or bright but textured captures pass."""

from __future__ import annotations

import json
import re
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image
from v2m_testing import run_cli


def _texture(seed: int, h: int = 120, w: int = 160) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)


def _photos(folder: Path, imgs: list[np.ndarray]) -> Path:
    folder.mkdir()
    for i, img in enumerate(imgs):
        Image.fromarray(img).save(folder / f"IMG_{i:02d}.png")
    return folder


def _frames_cli(tmp: Path, *, images: Path | None = None, video: Path | None = None):
    src = ["--images", str(images)] if images else ["--video", str(video)]
    ingested = tmp / ("in.tar" if images else "in.mp4")
    run_cli("ingest", "--scene", "s", *src, "--out", str(ingested), check=True)
    return run_cli(
        "frames", "--scene", "s", "--input", str(ingested), "--count", "12", "--max-size", "160",
        "--out-tar", str(tmp / "f.tar"), "--out-json", str(tmp / "f.json"),
    )  # fmt: skip


def _blown_out(seed: int) -> np.ndarray:
    """What clipped 16-bit data looks like: white but for a few dark specks."""
    img = np.full((120, 160, 3), 255, np.uint8)
    img[40:48, 60 + seed : 68 + seed] = 30
    return img


def _fog(seed: int) -> np.ndarray:
    """Texture at 1/100 of its contrast over mid-grey: nothing for a feature detector."""
    t = _texture(seed).astype(float)
    return np.rint(128 + (t - 128) / 100).astype(np.uint8)


@pytest.mark.parametrize(
    ("make", "cause"),
    [
        (_blown_out, r"frames are nearly white \(median frame: mean grey 25\d/255, \d+% of "
         r"pixels saturated\): 16-bit or HDR data read as 8-bit"),
        (_fog, r"frames have almost no contrast \(median frame: mean grey 128/255, texture in 0%"),
    ],
    ids=["white", "fog"],
)  # fmt: skip
def test_hopeless_photo_sets_are_named_by_the_frames_stage(tmp_path, make, cause):
    folder = _photos(tmp_path / "photos", [make(i) for i in range(10)])
    proc = _frames_cli(tmp_path, images=folder)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert re.search(cause, lines[0]), lines[0]
    assert "What to do: look at one photo" in lines[0] or "What to do: clean the lens" in lines[0]
    assert "export the photos as 8-bit JPEG or full-range 16-bit TIFF" in lines[0]
    assert not (tmp_path / "f.tar").exists()


def test_12bit_data_in_16bit_files_is_named(tmp_path):
    """A 12-bit camera's 16-bit PNGs (values 0-4095): scaled as 16-bit they are grey 0-16."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(10):
        twelve = np.rint(_texture(i)[..., 0] / 255 * 4095).astype(np.uint16)
        Image.fromarray(twelve).save(folder / f"IMG_{i:02d}.png")
    proc = _frames_cli(tmp_path, images=folder)
    assert proc.returncode == 2
    assert re.search(r"frames are nearly black \(median frame: mean grey [6-9]/255, .*10/12-bit "
                     r"data stored in 16-bit files", proc.stderr), proc.stderr  # fmt: skip


def test_fog_video_is_named_with_the_hdr_hint(tmp_path):
    video = tmp_path / "fog.mp4"
    writer = imageio_ffmpeg.write_frames(str(video), (160, 120), fps=10, quality=10)
    writer.send(None)
    for i in range(20):
        writer.send(_fog(i))
    writer.close()
    proc = _frames_cli(tmp_path, video=video)
    assert proc.returncode == 2
    assert "frames have almost no contrast" in proc.stderr
    assert "if the video is HDR (HLG/PQ, 10-bit), export it as SDR" in proc.stderr


def test_dim_and_bright_textured_photos_pass_with_their_exposure_recorded(tmp_path):
    dim = [(_texture(i) // 5).astype(np.uint8) for i in range(5)]  # grey 0-51
    bright = [(205 + _texture(i + 5) // 5).astype(np.uint8) for i in range(5)]  # grey 205-255
    proc = _frames_cli(tmp_path, images=_photos(tmp_path / "photos", dim + bright))
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "f.json").read_text())
    assert manifest["kept"] == 10
    assert manifest["exposure"]["textured"] > 0.5  # 8-px blocks: some tiles lie in one
