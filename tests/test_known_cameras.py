"""A scene's own cameras (cameras: in the config) instead of SfM's mapping: the files read,
the frames matched to them, and COLMAP's triangulation from the known poses."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
from PIL import Image
from test_sfm import _frames_tar, _long_lens_ring
from v2m_testing import TINY_CONFIG, snakemake

from video2mesh.errors import UserError
from video2mesh.known_cameras import for_frames, read_cameras
from video2mesh.scene import CV_TO_GL, camera_poses, load_model
from video2mesh.sfm import run_sfm

W, H = 320, 240
F = 0.5 * W / np.tan(np.radians(3))  # _long_lens_ring's lens


def _cameras_json(path, truth: dict, scale: float = 1.0, **per_frame) -> None:
    """video2mesh's format: OpenCV c2w by photo name, intrinsics for a ``scale``× larger image."""
    k = {"fx": F * scale, "fy": F * scale, "cx": W / 2 * scale, "cy": H / 2 * scale}
    k.update(w=W * scale, h=H * scale)
    frames = [
        {"name": f"{n}.jpg", "c2w": c2w.tolist(), **per_frame.get(n, {})}
        for n, c2w in truth.items()
    ]
    path.write_text(json.dumps({"intrinsics": k, "frames": frames}))


def _manifest(names, turned=()) -> dict:
    frames = [{"name": n, "kept": True} | ({"turned": "yes"} if n in turned else {}) for n in names]
    return {"size": [W, H], "frames": frames}


def test_a_nerf_transforms_json_and_a_cameras_json_give_the_same_frames(tmp_path):
    """NeRF's convention (OpenGL poses, a horizontal field of view, a ``file_path`` without its
    extension) reads as the same cameras as video2mesh's OpenCV one, scaled to the frames."""
    _frames, truth = _long_lens_ring(n=6)
    _cameras_json(tmp_path / "cameras.json", truth, scale=2.5)  # for 800×600 photos
    nerf = {
        "camera_angle_x": 2 * math.atan(W / (2 * F)),
        "frames": [
            {"file_path": f"./train/{n}", "transform_matrix": (c2w @ CV_TO_GL).tolist()}
            for n, c2w in truth.items()
        ],
    }
    (tmp_path / "transforms.json").write_text(json.dumps(nerf))

    ours = for_frames(read_cameras(tmp_path / "cameras.json"), _manifest(truth))
    theirs = for_frames(read_cameras(tmp_path / "transforms.json"), _manifest(truth))

    assert ours["camera"] == {
        "model": "PINHOLE",
        "width": W,
        "height": H,
        "params": ours["camera"]["params"],
    }
    assert np.allclose(ours["camera"]["params"], [F, F, W / 2, H / 2])
    assert np.allclose(theirs["camera"]["params"], ours["camera"]["params"])
    for name, c2w in truth.items():
        assert np.allclose(ours["frames"][name], c2w) and np.allclose(theirs["frames"][name], c2w)


def test_frames_without_a_camera_are_left_out_and_bad_files_say_what_is_wrong(tmp_path, caplog):
    _frames, truth = _long_lens_ring(n=6)
    names = list(truth)
    path = tmp_path / "cameras.json"
    _cameras_json(path, {n: truth[n] for n in names[:5]})
    with caplog.at_level(logging.WARNING):
        known = for_frames(read_cameras(path), _manifest(names, turned={names[0]}))
    # the last has no camera, the first was turned a quarter by the frames stage
    assert known["missing"] == [names[0], names[5]] and sorted(known["frames"]) == names[1:5]
    assert "2 of 6 frames have no known camera" in caplog.text

    with pytest.raises(UserError, match="names 0 of the 6 frames"):
        for_frames(read_cameras(path), _manifest([f"IMG_{i}" for i in range(6)]))
    _cameras_json(path, truth, scale=1.0, **{names[2]: {"intrinsics": {"w": 240, "h": 240}}})
    with pytest.raises(UserError, match=r"aspect 1\.000, the photos' is 1\.333"):
        for_frames(read_cameras(path), _manifest(names))
    _cameras_json(path, truth, **{names[2]: {"intrinsics": {"fx": 1.05 * F, "w": W, "h": H}}})
    with pytest.raises(UserError, match="models one camera for all frames"):
        for_frames(read_cameras(path), _manifest(names))
    # a video's frames are named by their index in the video, as the sample's cameras.json has it
    video = {"intrinsics": {"fx": F, "w": W, "h": H}}
    video["frames"] = [
        {"index": 12 * i, "c2w": c2w.tolist()} for i, c2w in enumerate(truth.values())
    ]
    path.write_text(json.dumps(video))
    by_index = for_frames(read_cameras(path), _manifest([f"{12 * i:06d}" for i in range(6)]))
    assert sorted(by_index["frames"]) == [
        "000000",
        "000012",
        "000024",
        "000036",
        "000048",
        "000060",
    ]
    assert np.allclose(by_index["camera"]["params"], [F, F, W / 2, H / 2])
    path.write_text(json.dumps({"frames": [{"name": "a.jpg", "c2w": (2 * np.eye(4)).tolist()}]}))
    with pytest.raises(UserError, match="not a rotation"):
        read_cameras(path)


def test_known_cameras_pose_a_ring_sfm_cannot_map_as_is_and_triangulate_the_object(tmp_path):
    """The long-lens ring that COLMAP's mapping poses 3 of 24 frames of as is: from the known
    cameras every frame is placed exactly where they say and the points lie on the unit ball;
    the same poses in the wrong convention (OpenGL read as OpenCV: cameras looking away)
    triangulate nothing, and the error says to check the convention."""
    frames, truth = _long_lens_ring()
    archive = _frames_tar(tmp_path / "frames.tar", {"images": frames})
    _cameras_json(tmp_path / "cameras.json", truth)
    known = for_frames(read_cameras(tmp_path / "cameras.json"), _manifest(truth))

    stats = run_sfm(archive, tmp_path / "sfm", scene="ring", matcher="exhaustive", known=known)

    assert stats["registered"] == stats["total"] == 24 and stats["known_cameras"] == "cameras"
    assert len(stats["attempts"]) == 1 and not stats["attempts"][0]["relaxed"]
    model = load_model(tmp_path / "sfm" / "sparse")
    for name, c2w in camera_poses(model).items():
        assert np.allclose(c2w, truth[name.removesuffix(".jpg")], atol=1e-6)
    radii = np.linalg.norm([p.xyz for p in model.points3D.values()], axis=1)
    assert len(radii) > 200 and np.median(np.abs(radii - 1)) < 0.01

    # the model folder (COLMAP's own files) reads back as the same cameras; SIMPLE_RADIAL's
    # k as OpenCV's k1
    again = for_frames(read_cameras(tmp_path / "sfm" / "sparse"), _manifest(truth))
    assert again["camera"] == known["camera"] and again["frames"].keys() == known["frames"].keys()
    assert all(np.allclose(again["frames"][n], known["frames"][n]) for n in truth)
    camera = next(iter(model.cameras.values()))
    camera.model, camera.params = "SIMPLE_RADIAL", [F, W / 2, H / 2, 0.01]
    model.write(tmp_path / "sfm" / "sparse")
    radial = for_frames(read_cameras(tmp_path / "sfm" / "sparse"), _manifest(truth))["camera"]
    assert radial["model"] == "OPENCV" and np.allclose(
        radial["params"], [F, F, W / 2, H / 2, 0.01, 0, 0, 0]
    )

    flipped = {n: c2w @ CV_TO_GL for n, c2w in truth.items()}
    _cameras_json(tmp_path / "cameras.json", flipped)
    wrong = for_frames(read_cameras(tmp_path / "cameras.json"), _manifest(truth))
    with pytest.raises(UserError, match=r"the poses and the photos disagree.*convention"):
        run_sfm(archive, tmp_path / "wrong", scene="ring", matcher="exhaustive", known=wrong)
    assert not (tmp_path / "wrong" / "sfm.json").exists()


def test_a_scene_with_cameras_is_posed_by_them_through_the_workflow(tmp_path):
    """The user's path: photos and their cameras.json in the config; the known_cameras rule
    checks the file against the frames, SfM triangulates from it."""
    frames, truth = _long_lens_ring()
    photos = tmp_path / "photos"
    photos.mkdir()
    for (name, _c2w), frame in zip(truth.items(), frames, strict=True):
        Image.fromarray(frame).save(photos / f"{name}.jpg", quality=95)
    _cameras_json(tmp_path / "cameras.json", truth, scale=2.0)  # calibrated at 640×480
    config = TINY_CONFIG.read_text().split("\nframes:")[1]
    (tmp_path / "config.yaml").write_text(
        f"scenes:\n  ring:\n    images: {photos}\n    cameras: {tmp_path / 'cameras.json'}\n"
        f"frames:{config}"
    )

    proc = snakemake(
        tmp_path,
        "--cores",
        "2",
        f"--configfile={tmp_path / 'config.yaml'}",
        "results/ring/sfm/sfm.json",
    )

    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads((tmp_path / "results/ring/sfm/sfm.json").read_text())
    assert stats["registered"] == 24 and stats["known_cameras"] == "cameras.json"
    assert np.allclose(stats["undistorted_camera"]["params"], [F, F, W / 2, H / 2], rtol=1e-6)
