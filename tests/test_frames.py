import io
import json
import subprocess
import tarfile

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from video2mesh import frames
from video2mesh.errors import UserError


def _texture(rng, h=120, w=160):
    img = rng.random((h // 8, w // 8, 3))
    img = np.kron(img, np.ones((8, 8, 1)))
    return (gaussian_filter(img, (1, 1, 0)) * 255).astype(np.uint8)


def _write_video(path, imgs, fps=10):
    h, w = imgs[0].shape[:2]
    writer = imageio_ffmpeg.write_frames(
        str(path), (w, h), fps=fps, macro_block_size=8, output_params=["-crf", "10"]
    )
    writer.send(None)
    for im in imgs:
        writer.send(np.ascontiguousarray(im))
    writer.close()


def test_sharpness_ranks_blur_below_detail():
    img = _texture(np.random.default_rng(0))
    blurred = gaussian_filter(img, (3, 3, 0))
    assert frames.sharpness(img) > 5 * frames.sharpness(blurred)


def test_sharpness_is_local_a_sharp_object_on_a_plain_wall_counts_as_sharp():
    img = np.full((240, 320, 3), 128, np.uint8)
    img[80:160, 120:200] = _texture(np.random.default_rng(1), 80, 80)
    blurred = gaussian_filter(img, (3, 3, 0))
    assert frames.sharpness(img) > 5 * frames.sharpness(blurred)


def test_video_selection_spreads_frames_and_rejects_blur(tmp_path):
    rng = np.random.default_rng(0)
    base = _texture(rng, 240, 320)
    imgs = [np.roll(base, 4 * i, axis=1) for i in range(60)]
    blurry = {20, 21, 22, 23, 24, 25}  # one whole bin and more: blur must be caught
    for i in blurry:
        imgs[i] = gaussian_filter(imgs[i], (4, 4, 0))
    video = tmp_path / "v.mp4"
    _write_video(video, imgs)
    out = frames.write_frames(video, tmp_path / "f.tar", tmp_path / "f.json", 20, 160, "t")
    kept = [f for f in out["frames"] if f["kept"]]
    assert 12 <= len(kept) <= 20
    assert not any(f["index"] in blurry for f in kept)
    assert any(f["reason"].startswith("blurry") for f in out["frames"])
    assert out["size"] == [160, 120]
    # a video larger than the frames: finer copies of the kept frames (SfM, the texture)
    assert out["fine_size"] == [268, 200]
    with tarfile.open(tmp_path / "f.tar") as tar:
        names = sorted(n for n in tar.getnames() if n.startswith("images/"))
        fine = sorted(n for n in tar.getnames() if n.startswith("fine/"))
        image = {n: Image.open(io.BytesIO(tar.extractfile(n).read())) for n in names + fine}
    assert names == sorted(f["file_path"] for f in kept)
    assert names[0] == f"images/{kept[0]['index']:06d}.jpg"  # named by frame index
    assert image[names[0]].size == (160, 120)
    assert [n.replace("fine/", "images/") for n in fine] == names
    for name in fine:  # each the finer copy of its own frame (a neighbour differs by ~35)
        finer, frame = image[name], image[name.replace("fine/", "images/")]
        assert finer.size == (268, 200)
        down = np.asarray(finer.resize(frame.size, Image.Resampling.BOX), float)
        assert np.abs(down - np.asarray(frame, float)).mean() < 12, name
    assert json.loads((tmp_path / "f.json").read_text())["kept"] == len(kept)


def test_phone_video_rotated_by_metadata_comes_out_upright_and_unstretched(tmp_path):
    # phones store portrait video as landscape frames plus a 90° display matrix; since ffmpeg 6
    # imageio-ffmpeg no longer reports it, and the frames came out squeezed to landscape
    rng = np.random.default_rng(3)
    base = _texture(rng, 240, 320)
    base[:, :40] = 255  # a white band on the left edge of the stored frames
    landscape = tmp_path / "stored.mp4"
    _write_video(landscape, [np.roll(base, 2 * i, axis=0) for i in range(12)])
    phone = tmp_path / "phone.mp4"
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    cmd = [ffmpeg, "-y", "-loglevel", "error", "-display_rotation:v:0", "90"]
    subprocess.run([*cmd, "-i", str(landscape), "-c", "copy", str(phone)], check=True)
    out = frames.write_frames(phone, tmp_path / "f.tar", tmp_path / "f.json", 8, 160, "t")
    assert out["size"] == [120, 160]  # portrait, the same 3:4 shape, not 160x120
    with tarfile.open(tmp_path / "f.tar") as tar:
        img = np.asarray(Image.open(io.BytesIO(tar.extractfile(tar.getnames()[0]).read())))
    assert img.shape == (160, 120, 3)
    # the white band now runs along the top or bottom edge: the frame was turned, not squeezed
    rows = img.mean(axis=(1, 2))
    assert max(rows[:15].mean(), rows[-15:].mean()) > 235
    assert img[:, :15].mean() < 200


def test_photos_are_oriented_turned_to_the_others_and_odd_sizes_rejected(tmp_path):
    rng = np.random.default_rng(2)
    archive = tmp_path / "input.tar"
    sensor = {}
    with tarfile.open(archive, "w") as tar:
        for i in range(10):
            sensor[i] = _texture(rng, 120, 160)
            img = Image.fromarray(sensor[i])  # landscape pixels
            exif = Image.Exif()
            if i == 3:
                exif[0x0112] = 6  # "rotate 90° CW to display": a portrait photo
            buf = io.BytesIO()
            img.save(buf, format="JPEG", exif=exif)
            if i == 7:  # a different camera: another size entirely
                buf = io.BytesIO()
                Image.fromarray(_texture(rng, 200, 200)).save(buf, format="PNG")
            data = buf.getvalue()
            ti = tarfile.TarInfo(f"IMG_{i:02d}.{'png' if i == 7 else 'jpg'}")
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    records, jpegs, info, fine, _alpha = frames.select_photos(archive, 960)
    by = {r.name: r for r in records}
    # EXIF honoured (portrait), then, the camera held on its side, turned back to the others'
    # orientation: the sensor's own pixels, one shared camera
    assert by["IMG_03"].kept and by["IMG_03"].extra["size"] == [160, 120]
    assert "held on its side" in by["IMG_03"].extra["turned"]
    assert "turned" not in by["IMG_02"].extra

    def error(name: str, want: np.ndarray) -> float:
        return float(np.abs(np.asarray(Image.open(io.BytesIO(jpegs[name]))) - want).mean())

    straight = error("IMG_02", sensor[2].astype(float))  # JPEG twice, as every photo
    assert error("IMG_03", sensor[3].astype(float)) < 1.2 * straight  # the sensor's pixels
    assert error("IMG_03", sensor[3][::-1, ::-1].astype(float)) > 3 * straight  # not the other way
    assert not by["IMG_07"].kept and "differs from the majority" in by["IMG_07"].reason
    assert info["size"] == [160, 120]
    assert sorted(jpegs) == sorted(n for n in by if n != "IMG_07")
    assert fine == {} and "fine_size" not in info  # photos no larger than the frames: no copy

    # Photos larger than the frames keep a finer copy for SfM's last try, of the kept ones only
    # (96 px frames; 160 = min(96 x 5/3, the photos' own 160))
    records, jpegs, info, fine, _alpha = frames.select_photos(archive, 96)
    assert info["size"] == [96, 72] and info["fine_size"] == [160, 120]
    assert sorted(fine) == sorted(jpegs) and len(fine) == 9
    assert Image.open(io.BytesIO(fine["IMG_00"])).size == (160, 120)
    finer = np.asarray(Image.open(io.BytesIO(fine["IMG_03"]))).astype(float)
    assert finer.shape == (120, 160, 3) and np.abs(finer - sensor[3]).mean() < 1.5 * straight


def _photo_archive(path, photos: dict[str, np.ndarray]):
    with tarfile.open(path, "w") as tar:
        for name, arr in photos.items():
            buf = io.BytesIO()
            Image.fromarray(arr).save(buf, format="PNG")
            ti = tarfile.TarInfo(name)
            ti.size = buf.tell()
            buf.seek(0)
            tar.addfile(ti, buf)
    return path


def test_cut_out_photos_keep_their_alpha_at_the_frames_size_all_or_none(tmp_path, caplog):
    """Every photo transparent around the object: each kept frame gets its alpha, resized
    with it (a disc of radius 48 of 192 px is one of 20 at 80 px); one photo without
    transparency among them: no masks at all, and a warning that says why; transparent corners
    alone are no cut-out."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:144, 0:192]
    disc = np.where(np.hypot(xx + 0.5 - 96, yy + 0.5 - 72) < 48, 255, 0).astype(np.uint8)
    cut = {f"c{i}.png": np.dstack([_texture(rng, 144, 192), disc]) for i in range(4)}
    _records, jpegs, info, _fine, alpha = frames.select_photos(
        _photo_archive(tmp_path / "cut.tar", cut), 80
    )
    assert info["alpha_masks"] and sorted(alpha) == sorted(jpegs) == ["c0", "c1", "c2", "c3"]
    mask = np.asarray(Image.open(io.BytesIO(alpha["c2"])))
    assert mask.shape == (60, 80)
    yy, xx = np.mgrid[0:60, 0:80] + 0.5
    inside = np.hypot(xx - 40, yy - 30) < 20
    assert ((mask >= 128) == inside).mean() > 0.98

    mixed = {**cut, "plain.png": _texture(rng, 144, 192)}
    _r, jpegs, info, _fine, alpha = frames.select_photos(
        _photo_archive(tmp_path / "mixed.tar", mixed), 80
    )
    assert len(jpegs) == 5 and alpha == {} and not info["alpha_masks"]
    assert "4 of 5 photos have a transparent background" in caplog.text

    # rounded transparent corners (a screenshot's, an export's) cut nothing out
    corners = np.full((144, 192), 255, np.uint8)
    corners[:6, :6] = corners[:6, -6:] = corners[-6:, :6] = corners[-6:, -6:] = 0
    rounded = {f"s{i}.png": np.dstack([_texture(rng, 144, 192), corners]) for i in range(3)}
    _r, jpegs, info, _fine, alpha = frames.select_photos(
        _photo_archive(tmp_path / "rounded.tar", rounded), 80
    )
    assert len(jpegs) == 3 and alpha == {} and not info["alpha_masks"]


def _refusal(video, tmp_path, scene: str) -> str:
    """The frames stage's error on ``video``, having written nothing."""
    with pytest.raises(UserError) as err:
        frames.write_frames(video, tmp_path / "f.tar", tmp_path / "f.json", 20, 160, scene)
    assert not (tmp_path / "f.tar").exists() and not (tmp_path / "f.json").exists()
    return str(err.value)


def test_too_few_usable_frames_is_a_clear_error_and_writes_nothing(tmp_path):
    video = tmp_path / "short.mp4"
    _write_video(video, [_texture(np.random.default_rng(i)) for i in range(5)])
    msg = _refusal(video, tmp_path, "short")
    assert "scene 'short'" in msg and "only 5 usable frames out of 5" in msg
    assert "What to do" in msg


def test_a_video_where_nothing_moves_is_refused_before_sfm(tmp_path):
    """A camera left standing before a still object: every frame the same picture (SfM would
    fail minutes later, blaming overlap and texture)."""
    still = _texture(np.random.default_rng(3), 240, 320)
    video = tmp_path / "still.mp4"
    _write_video(video, [still] * 40)
    msg = _refusal(video, tmp_path, "still")
    assert "scene 'still'" in msg and "all but the same picture" in msg
    assert "walking all the way round" in msg
    # the same texture panned: every pixel changes, and the frames are written
    _write_video(video, [np.roll(still, 6 * i, axis=1) for i in range(40)])
    frames.write_frames(video, tmp_path / "f.tar", tmp_path / "f.json", 20, 160, "still")
    assert (tmp_path / "f.tar").exists()
