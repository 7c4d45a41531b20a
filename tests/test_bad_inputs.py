"""Bad inputs through the real CLI stages and `snakemake -n`: one clear line, nothing touched.

Each case runs the stage as the rules do (`python -m video2mesh <cmd>` in a subprocess) next
to a results/ folder holding another scene's finished files, and checks:

- exit status 2 and exactly one error line, ``video2mesh <cmd>: error: scene '<name>':
  <cause>. What to do: <hint>``, with no traceback;
- nothing under results/ changed: the other scene's files are byte-identical, the failing
  scene's outputs are absent and no temporary file was left behind.

Cases that already have a unit test elsewhere are not repeated here (see
docs/reliability.md): truncated video (tests/test_ingest.py, through the CLI), empty file,
black video (tests/test_frames.py), EXIF orientation and odd photo sizes
(tests/test_frames.py), frames without overlap (tests/test_sfm.py), sphere overrides that
leave no point inside (tests/test_sphere.py), a top-level config typo and a negative sphere
scale in the config (tests/test_workflow.py).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image
from v2m_testing import cli_env, run_cli, snakemake

GIB = 1024**3


# --- helpers -----------------------------------------------------------------------------------


def _texture(rng: np.random.Generator, h: int, w: int, block: int = 8) -> np.ndarray:
    img = rng.integers(0, 256, (h // block, w // block, 3), dtype=np.uint8)
    return img.repeat(block, axis=0).repeat(block, axis=1)


def _write_video(path: Path, imgs: list[np.ndarray], fps: int = 10, fast: bool = False) -> None:
    h, w = imgs[0].shape[:2]
    params = ["-preset", "ultrafast", "-crf", "28"] if fast else ["-crf", "10"]
    writer = imageio_ffmpeg.write_frames(
        str(path), (w, h), fps=fps, macro_block_size=8, output_params=params
    )
    writer.send(None)
    for im in imgs:
        writer.send(np.ascontiguousarray(im))
    writer.close()


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden temporaries included) with its content hash."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def results(tmp_path: Path) -> Path:
    """A results/ folder with another scene already finished, to prove it stays untouched."""
    res = tmp_path / "results"
    done = res / "done"
    (done / "logs").mkdir(parents=True)
    (done / "transforms.json").write_text('{"frames": []}\n')
    (done / "frames.tar").write_bytes(b"\0" * 1024)
    (done / "logs" / "frames.log").write_text("kept 60 of 60 frames\n")
    return res


def assert_one_clear_line(stderr: str, command: str, scene: str, cause: str, hint: str) -> str:
    """The single error line: names the scene, says the cause and what to do; no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr  # not even a warning beside it
    line = lines[0]
    assert len(line) < 400, line  # a sentence, not a page
    prefix = f"video2mesh {command}: error: scene '{scene}': "
    assert line.startswith(prefix), line
    assert ". What to do: " in line, line
    got_cause, got_hint = line[len(prefix) :].split(". What to do: ", 1)
    assert re.search(cause, got_cause), line
    assert re.search(hint, got_hint), line
    return line


def assert_untouched(results: Path, before: dict[str, str], *absent: Path) -> None:
    assert _snapshot(results) == before, "results/ changed"
    for path in absent:
        assert not path.exists(), path


# --- ingest ------------------------------------------------------------------------------------


def _audio_only(path: Path) -> None:
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
         "sine=frequency=440:duration=1", str(path)],
        check=True,
    )  # fmt: skip


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(4096))  # an mp4 header, then noise


def _real_video_named_gif(path: Path) -> None:
    mp4 = path.with_suffix(".mp4")
    _write_video(mp4, [_texture(np.random.default_rng(0), 64, 64)] * 3, fast=True)
    mp4.rename(path)  # a good H.264 video, only its name is wrong


@pytest.mark.parametrize(
    ("name", "make", "cause", "hint"),
    [
        ("voice.mp4", _audio_only, r": it holds none, only Audio", r"not a sound"),
        ("corrupt.mp4", _garbage, r"cannot read a video stream", r"re-export"),
        ("clip.gif", _real_video_named_gif, r"does not have a video extension", r"video:"),
    ],
    ids=["audio-only", "corrupt", "wrong-extension"],
)
def test_ingest_rejects_a_bad_video_in_one_line(
    tmp_path: Path, results: Path, name: str, make, cause: str, hint: str
) -> None:
    src = tmp_path / name
    make(src)
    before = _snapshot(results)
    out = results / "chair" / f"input{Path(name).suffix}"
    proc = run_cli("ingest", "--scene", "chair", "--video", str(src), "--out", str(out))
    assert proc.returncode == 2, proc.stderr
    assert_one_clear_line(proc.stderr, "ingest", "chair", cause, hint)
    assert_untouched(results, before, out)


# --- frames ------------------------------------------------------------------------------------


def _frames_cli(source: Path, results: Path, scene: str, *extra: str) -> subprocess.Popen:
    tar, js = results / scene / "frames.tar", results / scene / "frames.json"
    return [
        sys.executable, "-m", "video2mesh", "frames", "--scene", scene, "--input", str(source),
        "--out-tar", str(tar), "--out-json", str(js), *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("frames", "cause", "hint"),
    [
        (1, r"only 1 usable frames out of 1 \(need at least 8; rejected as: none\)$", r"longer"),
        (30, r"^frames are nearly black \(median frame: mean grey 0/255, 100% of pixels black\): "
         r"lens cap on", r"good light; if the video is HDR"),
    ],
    ids=["one-frame", "black"],
)  # fmt: skip
def test_one_frame_or_black_video_passes_ingest_and_fails_frames_clearly(
    tmp_path: Path, results: Path, frames: int, cause: str, hint: str
) -> None:
    """The black video's unit test is tests/test_frames.py; here the line is checked short."""
    src = tmp_path / "still.mp4"
    still = (
        _texture(np.random.default_rng(1), 120, 160)
        if frames == 1
        else np.zeros((120, 160, 3), np.uint8)
    )
    _write_video(src, [still] * frames, fast=True)
    ingested = results / "still" / "input.mp4"
    assert run_cli("ingest", "--scene", "still", "--video", str(src), "--out", str(ingested),
                   check=True).returncode == 0  # fmt: skip
    before = _snapshot(results)
    proc = subprocess.run(
        _frames_cli(ingested, results, "still", "--count", "20", "--max-size", "160"),
        capture_output=True, text=True, env=cli_env(),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert_one_clear_line(proc.stderr, "frames", "still", cause, hint)
    assert_untouched(
        results, before, results / "still" / "frames.tar", results / "still" / "frames.json"
    )


def test_8k_video_is_downscaled_with_bounded_memory(tmp_path: Path, results: Path) -> None:
    """7680×4320: ffmpeg scales while decoding, so peak memory stays far below 8K frames × n."""
    rng = np.random.default_rng(2)
    base = _texture(rng, 4320, 7680 + 16 * 9, block=16)  # coarse blocks: cheap to encode
    src = tmp_path / "input.mp4"
    _write_video(src, [base[:, 16 * i : 16 * i + 7680] for i in range(9)], fast=True)
    del base
    before = _snapshot(results)
    cmd = _frames_cli(src, results, "big", "--count", "9", "--max-size", "960")
    with open(tmp_path / "stderr", "w") as err:
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=cli_env())
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0, (tmp_path / "stderr").read_text()
    peak = usage.ru_maxrss * 1024  # Linux: KiB; the child's own waited-for ffmpeg included
    print(f"frames on 8K: peak RSS {peak / GIB:.2f} GiB")
    # One 8K frame in RGB is 100 MB, and ffmpeg converting one to RGB peaks near 1 GiB.
    assert peak < 1.0 * GIB, f"frames peaked at {peak / GIB:.2f} GiB on an 8K video"
    import json

    info = json.loads((results / "big" / "frames.json").read_text())
    assert info["source_size"] == [7680, 4320] and info["size"] == [960, 540]
    assert info["kept"] >= 8
    with tarfile.open(results / "big" / "frames.tar") as tar:
        first = tar.getmembers()[0]
        assert Image.open(io.BytesIO(tar.extractfile(first).read())).size == (960, 540)
    after = _snapshot(results)
    assert {k: v for k, v in after.items() if not k.startswith("big/")} == before


def test_photo_folder_of_mixed_sizes_and_orientations_names_the_fix(
    tmp_path: Path, results: Path
) -> None:
    """Half of one camera, half of another (another shape), one more: no size has 8 photos
    (a photo merely held on its side is turned, not refused: test_frames)."""
    rng = np.random.default_rng(3)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(11):
        exif = Image.Exif()
        if i % 2:
            exif[0x0112] = 6  # shown rotated: a portrait photo, turned back to the others
        size = (200, 150) if i == 10 else (160, 100) if i % 2 else (160, 120)
        Image.fromarray(_texture(rng, size[1], size[0])).save(
            photos / f"IMG_{i:02d}.jpg", exif=exif
        )
    ingested = results / "desk" / "input.tar"
    assert run_cli("ingest", "--scene", "desk", "--images", str(photos), "--out", str(ingested),
                   check=True).returncode == 0  # fmt: skip
    before = _snapshot(results)
    proc = subprocess.run(
        _frames_cli(ingested, results, "desk", "--max-size", "160"),
        capture_output=True, text=True, env=cli_env(),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert_one_clear_line(
        proc.stderr, "frames", "desk", r"only 5 usable frames out of 11.*other size",
        r"one size \(one camera",
    )  # fmt: skip
    assert_untouched(
        results, before, results / "desk" / "frames.tar", results / "desk" / "frames.json"
    )


# --- scene: sphere overrides -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sphere", "cause"),
    [
        ("{center: [0, 0, 0]}", r"not valid JSON"),
        ('{"centre": [0, 0, 0]}', r"unknown sphere override key\(s\): centre"),
        ('{"center": [1, 2]}', r"center \[1, 2\] is not 3 numbers"),
        ('{"scale": -1}', r"scale -1 is not a positive number"),
        ('{"radius": "big"}', r"radius 'big' is not a positive number"),
        ("[1, 2, 3]", r"must be a mapping"),
    ],
    ids=["not-json", "typo-key", "short-center", "negative-scale", "string-radius", "list"],
)
def test_invalid_sphere_overrides_fail_before_any_work(
    tmp_path: Path, results: Path, sphere: str, cause: str
) -> None:
    """Checked before the model is read: the (absent) sparse folder is never reached."""
    before = _snapshot(results)
    out = results / "lego" / "transforms.json"
    proc = run_cli(
        "scene", "--scene", "lego", "--sparse", str(tmp_path / "nowhere"), "--sphere", sphere,
        "--out-transforms", str(out), "--out-png", str(results / "lego" / "sphere.png"),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert_one_clear_line(proc.stderr, "scene", "lego", cause, r"sphere: \{scene: \{center")
    assert_untouched(results, before, out, results / "lego")


# --- the workflow: config typos and a missing reference ----------------------------------------


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ("scenes:\n  s: {source: sample, sfm: {matcher: exhastive}}\n",
         r"'exhastive' is not one of \['auto', 'sequential', 'exhaustive'\]"),
        ("scenes:\n  s: {source: sample}\nsphere:\n  s: {centre: [0, 0, 1]}\n",
         r"Additional properties are not allowed \('centre' was unexpected\) "
         r"\(did you mean 'center' for 'centre'\?\)"),
        ("scenes:\n  s: {source: sample, real_size: {height: 9.5cm}}\n",
         r"'9.5cm' is not of type 'number'"),
    ],
    ids=["enum-typo", "sphere-typo-key", "real-size-with-unit"],
)  # fmt: skip
def test_config_typos_are_named_before_anything_runs(
    tmp_path: Path, results: Path, config: str, says: str
) -> None:
    """Schema validation names the key in its first lines; nothing is created or run.

    A top-level typo and a negative sphere scale are tests/test_workflow.py's
    test_config_typo_names_the_key and test_invalid_sphere_override_is_refused.

    rules/common.smk re-raises the schema error as one line naming the key's path.
    """
    cfg = tmp_path / "typo.yaml"
    cfg.write_text(config)
    before = _snapshot(results)
    proc = snakemake(tmp_path, "-n", f"--configfile={cfg}", timeout=120)
    assert proc.returncode != 0
    head = "\n".join(proc.stderr.splitlines()[:8])
    assert "Error validating config file" in head, proc.stderr[:2000]
    assert re.search(says, head), head
    assert len(proc.stderr.splitlines()) < 15, proc.stderr  # not the whole schema
    assert "Traceback" not in proc.stderr
    assert_untouched(results, before)
    assert not (tmp_path / ".snakemake" / "log").exists() or not any(
        (tmp_path / ".snakemake" / "log").iterdir()
    )


def test_missing_reference_mesh_is_one_clear_line(tmp_path: Path, results: Path) -> None:
    video = tmp_path / "chair.mp4"
    video.write_bytes(b"")  # never read by -n
    cfg = tmp_path / "ref.yaml"
    cfg.write_text(f"scenes:\n  chair: {{video: {video}, reference: {tmp_path / 'nowhere.ply'}}}\n")
    before = _snapshot(results)
    proc = snakemake(tmp_path, "-n", f"--configfile={cfg}", timeout=120)
    assert proc.returncode != 0
    line = f"scene 'chair': reference: {tmp_path / 'nowhere.ply'} does not exist. What to do:"
    assert line in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert_untouched(results, before)


def test_masks_without_their_cameras_is_one_clear_line(tmp_path: Path, results: Path) -> None:
    """Object masks score a mesh only under the cameras that saw them."""
    video = tmp_path / "chair.mp4"
    video.write_bytes(b"")  # never read by -n
    (tmp_path / "masks").mkdir()
    cfg = tmp_path / "masks.yaml"
    cfg.write_text(f"scenes:\n  chair: {{video: {video}, reference_masks: {tmp_path / 'masks'}}}\n")
    before = _snapshot(results)
    proc = snakemake(tmp_path, "-n", f"--configfile={cfg}", timeout=120)
    assert proc.returncode != 0
    line = "scene 'chair': reference_masks needs the cameras they were seen by. What to do:"
    assert line in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert_untouched(results, before)
