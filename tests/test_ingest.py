import subprocess

import imageio_ffmpeg
import pytest
from v2m_testing import run_cli

from video2mesh import ingest
from video2mesh.errors import UserError


def test_truncated_video_is_rejected_with_the_scene_cause_and_hint(tmp_path, tiny_sample):
    data = tiny_sample["video"].read_bytes()
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(data[: len(data) // 3])  # the moov atom is at the end: unreadable
    out = tmp_path / "results" / "input.mp4"
    proc = run_cli("ingest", "--scene", "lego", "--video", str(bad), "--out", str(out))
    assert proc.returncode == 2
    line = proc.stderr.strip().splitlines()[-1]
    assert "scene 'lego'" in line and "What to do" in line
    assert not out.exists()


def test_audio_only_and_empty_files_are_rejected(tmp_path):
    audio = tmp_path / "voice.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=1",
            str(audio),
        ],
        check=True,
    )
    with pytest.raises(UserError, match=r"cannot read a video stream|no decodable frame"):
        ingest.probe_video(audio)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(UserError, match="empty"):
        ingest.probe_video(empty)


def test_wrong_extension_and_empty_photo_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match="video extension"):
        ingest.ingest_video(tmp_path / "notes.txt", tmp_path / "out.mp4")
    with pytest.raises(UserError, match=r"holds no photo \(jpg/jpeg/png/tif/tiff/heic"):
        ingest.ingest_photos(tmp_path, tmp_path / "out.tar")
