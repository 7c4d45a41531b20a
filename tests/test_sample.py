import json

import imageio_ffmpeg
import numpy as np
import trimesh

from video2mesh import sample


def test_sdf_is_negative_inside_and_zero_on_the_true_mesh(tiny_sample):
    mesh = trimesh.load(tiny_sample["mesh"])
    assert mesh.is_watertight
    on_surface = sample.object_sdf(np.asarray(mesh.sample(2000, seed=0)))
    step = float((sample.OBJECT_BOUNDS[1] - sample.OBJECT_BOUNDS[0]).max()) / 64
    assert np.abs(on_surface).max() < step  # marching cubes is exact to within one voxel
    assert sample.object_sdf(np.array([[0.0, 0.0, -0.2]]))[0] < 0  # the bowl's floor
    assert sample.object_sdf(np.array([[0.0, 0.0, 0.2]]))[0] > 0  # the bowl is open: a cavity
    # The handle is a thin ring with a hole: its centre is outside the solid.
    assert sample.object_sdf(np.array([[0.6, 0.0, 0.08]]))[0] > 0


def test_video_has_one_frame_per_camera(tiny_sample):
    cams = json.loads(tiny_sample["cameras"].read_text())
    n, _ = imageio_ffmpeg.count_frames_and_secs(str(tiny_sample["video"]))
    assert n == len(cams["frames"]) == 32
    c2w = np.array(cams["frames"][5]["c2w"])
    assert np.allclose(c2w[:3, :3] @ c2w[:3, :3].T, np.eye(3), atol=1e-9)
    # Every camera looks at the object: its optical axis passes near the origin.
    eye, axis = c2w[:3, 3], c2w[:3, 2]
    closest = eye + axis * np.dot(-eye, axis)
    assert np.linalg.norm(closest) < 0.3


def test_rendering_is_deterministic_and_textured():
    spec = sample.SampleSpec(frames=4, width=64, height=48)
    cams = sample.orbit_cameras(spec)
    a = sample.render_frame(cams[1], spec, sample._Textures(spec.seed))
    b = sample.render_frame(cams[1], spec, sample._Textures(spec.seed))
    c = sample.render_frame(cams[1], spec, sample._Textures(spec.seed + 1))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.std() > 20  # texture, not a flat image
