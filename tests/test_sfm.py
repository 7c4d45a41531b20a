import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from video2mesh.errors import UserError
from video2mesh.sfm import PEAK_THRESHOLD, extract, keyframe_pairs, run_sfm


def test_frames_without_overlap_fail_clearly_and_write_nothing(tmp_path):
    rng = np.random.default_rng(0)
    archive = tmp_path / "frames.tar"
    with tarfile.open(archive, "w") as tar:
        for i in range(10):  # unrelated random textures: features, but no shared scene
            img = Image.fromarray((rng.random((120, 160, 3)) * 255).astype(np.uint8))
            buf = io.BytesIO()
            img.resize((320, 240), Image.Resampling.NEAREST).save(buf, format="JPEG")
            ti = tarfile.TarInfo(f"images/{i:06d}.jpg")
            ti.size = buf.tell()
            buf.seek(0)
            tar.addfile(ti, buf)
    out = tmp_path / "sfm"
    with pytest.raises(UserError) as err:
        run_sfm(archive, out, scene="noise")
    msg = str(err.value)
    assert "scene 'noise'" in msg and "registered only" in msg
    assert "sequential then exhaustive" in msg  # the fallback was tried
    assert "frames.count" in msg  # and the hint says what to change
    assert not out.exists() or not any(out.rglob("*"))


def test_keyframe_pairs_close_the_loop_and_stay_few():
    names = [f"{i:06d}.jpg" for i in range(100)]
    pairs = keyframe_pairs(names, 25)
    assert len(pairs) == 25 * 24 // 2
    assert ("000000.jpg", "000099.jpg") in pairs  # the orbit's ends meet
    used = sorted({n for p in pairs for n in p})
    gaps = np.diff([int(n[:6]) for n in used])
    assert gaps.min() >= 4 and gaps.max() <= 5  # spread evenly
    assert keyframe_pairs(names, 0) == [] and keyframe_pairs(names[:1], 25) == []
    assert len(keyframe_pairs(names[:10], 25)) == 45  # fewer frames than keyframes: all pairs


def _keypoints(tmp_path, image: np.ndarray, peak_threshold: float) -> int:
    import pycolmap

    images = tmp_path / f"images_{peak_threshold}"
    images.mkdir()
    Image.fromarray(image).save(images / "000000.jpg", quality=95)
    database = tmp_path / f"db_{peak_threshold}.db"
    extract(database, images, "SIMPLE_RADIAL", peak_threshold)
    db = pycolmap.Database.open(database)
    try:
        return db.num_keypoints()
    finally:
        db.close()


def test_a_lower_sift_threshold_finds_faint_texture_the_default_misses(tmp_path):
    # A dark object's faint texture: blobs of ±4 levels on near-black (sfm.peak_threshold).
    rng = np.random.default_rng(1)
    noise = np.kron(rng.random((60, 80)), np.ones((4, 4)))
    img = np.clip(20 + 8 * (noise - 0.5), 0, 255).astype(np.uint8)
    img = np.repeat(img[..., None], 3, axis=2)
    default = _keypoints(tmp_path, img, PEAK_THRESHOLD)
    lower = _keypoints(tmp_path, img, 0.002)
    assert default < 50 and lower > 500, (default, lower)  # 0 and 1886
