import io
import tarfile

import numpy as np
import pytest
from PIL import Image

from video2mesh.errors import UserError
from video2mesh.sfm import keyframe_pairs, run_sfm


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
