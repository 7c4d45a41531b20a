"""Videos as phones record them, made with the ffmpeg that imageio-ffmpeg ships (libx265,
zscale): HDR HEVC 10-bit (PQ, HLG) comes out tone-mapped, not washed out; variable frame rate
gives frames spread over the whole clip without the decoder's repeated frames. Portrait with
a rotation matrix: tests/test_frames.py."""

from __future__ import annotations

import itertools
import json
import subprocess
import tarfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image
from v2m_testing import run_cli

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SOURCE = "testsrc2=size=320x240:rate=10:duration=3"  # colour bars, moving shapes, text


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-y", "-loglevel", "error", *args], check=True)


def _hdr_clip(path: Path, transfer: str) -> None:
    """The SDR test pattern as a phone's 10-bit HDR HEVC (BT.2020, PQ or HLG), SDR white at
    100 nits, tagged as phones tag it."""
    vf = f"zscale=t={transfer}:m=bt2020nc:p=bt2020:tin=bt709:min=bt709:pin=bt709:npl=100"
    x265 = f"log-level=error:colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc"
    _ffmpeg("-f", "lavfi", "-i", SOURCE, "-vf", f"{vf},format=yuv420p10le", "-c:v", "libx265",
            "-x265-params", x265, "-color_primaries", "bt2020", "-color_trc", transfer,
            "-colorspace", "bt2020nc", "-tag:v", "hvc1", str(path))  # fmt: skip


def _decode(path: Path, vf: str = "null") -> np.ndarray:
    gen = imageio_ffmpeg.read_frames(str(path), output_params=["-vf", vf])
    w, h = next(gen)["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in gen]).astype(float)


def _frames_stage(video: Path, tmp: Path, count: int) -> tuple[dict, list[np.ndarray]]:
    ingested = tmp / f"input{video.suffix}"
    run_cli("ingest", "--scene", "p", "--video", str(video), "--out", str(ingested), check=True)
    proc = run_cli(
        "frames", "--scene", "p", "--input", str(ingested), "--count", str(count),
        "--max-size", "320", "--out-tar", str(tmp / "f.tar"), "--out-json", str(tmp / "f.json"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(tmp / "f.tar") as tar:
        imgs = [np.asarray(Image.open(tar.extractfile(m))).astype(float) for m in tar]
    return json.loads((tmp / "f.json").read_text()), imgs


@pytest.mark.parametrize("transfer", ["smpte2084", "arib-std-b67"], ids=["PQ", "HLG"])
def test_hdr_video_is_tone_mapped_not_washed_out(tmp_path, transfer):
    hdr = tmp_path / "hdr.mov"
    _hdr_clip(hdr, transfer)
    sdr = tmp_path / "sdr.mp4"
    _ffmpeg("-f", "lavfi", "-i", SOURCE, "-c:v", "libx264", "-crf", "12", str(sdr))
    reference = _decode(sdr)
    manifest, frames = _frames_stage(hdr, tmp_path, count=8)
    assert manifest["hdr"] == transfer
    got = np.stack(frames)
    # the pattern's contrast and brightness survive (the tone curve compresses the top end)
    assert got.std() >= 0.7 * reference.std(), (got.std(), reference.std())
    assert abs(got.mean() - reference.mean()) <= 0.2 * reference.mean()
    if transfer == "smpte2084":  # control: read as SDR, PQ is grey (std 31 against 121)
        assert _decode(hdr).std() < 0.4 * reference.std()


def test_variable_frame_rate_spreads_frames_and_skips_repeats(tmp_path):
    """3 s at 30 fps with frames 30-59 dropped: a one-second gap in the timestamps (the
    container says 20 fps on average, ffmpeg outputs 30 unless told)."""
    vfr = tmp_path / "vfr.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=3",
            "-vf", "select='not(between(n,30,59))'", "-fps_mode", "vfr",
            "-c:v", "libx264", "-crf", "18", str(vfr))  # fmt: skip
    manifest, frames = _frames_stage(vfr, tmp_path, count=12)
    records = manifest["frames"]
    repeats = [r for r in records if r["reason"].startswith("repeat")]
    kept = [r for r in records if r["kept"]]
    assert manifest["fps"] == 20 and len(records) == 60  # 3 s at the average rate
    assert 15 <= len(repeats) <= 21  # the gap, filled by the decoder: not frames
    assert not any(r["kept"] for r in repeats)
    times = sorted(r["time"] for r in kept)
    assert times[0] < 0.3 and times[-1] > 2.6  # from the start to the end of the clip
    assert len(kept) >= 8  # one per bin (5 frames) except the bins inside the gap
    for a, b in itertools.pairwise(frames):  # no two kept frames are the same picture
        assert np.abs(a - b).mean() > 1


def test_video_without_duration_is_counted_and_spread(tmp_path):
    """A WebM written to a pipe (a browser's MediaRecorder does the same) has no duration."""
    live = tmp_path / "live.webm"
    cmd = [FFMPEG, "-loglevel", "error", "-f", "lavfi", "-i", SOURCE, "-c:v", "libvpx",
           "-deadline", "realtime", "-f", "webm", "-"]  # fmt: skip
    live.write_bytes(subprocess.run(cmd, capture_output=True, check=True).stdout)
    assert imageio_ffmpeg.read_frames(str(live)).__next__()["duration"] == 0
    manifest, _ = _frames_stage(live, tmp_path, count=10)
    kept = sorted(r["index"] for r in manifest["frames"] if r["kept"])
    assert manifest["decoded_frames"] == 30 and len(kept) == 10
    assert kept[0] <= 2 and kept[-1] >= 27  # bins over the whole clip, not all in the first
