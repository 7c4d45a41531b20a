"""A fixed camera before a turntable: still pixels found, kept out of SfM and out of training."""

import io
import tarfile

import numpy as np
import pytest
from PIL import Image
from v2m_testing import first_step

from video2mesh.still import FIXED_SHARE, fixed_camera_mask, fixed_camera_mask_of_files


def _texture(h: int, w: int, seed: int, cell: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(30, 225, size=(h // cell + 1, w // cell + 1, 3))
    return np.kron(small, np.ones((cell, cell, 1)))[:h, :w].astype(np.uint8)


def _turning(n: int = 24, h: int = 120, w: int = 160, shift: int = 0, plain: bool = False):
    """A textured square moving round the middle of a textured (or plain) background that
    stays put, or moves ``shift`` pixels a frame (a hand-held camera)."""
    back = np.full((h, w + n * shift, 3), 128, np.uint8) if plain else _texture(h, w + n * shift, 0)
    thing = _texture(30, 30, 1)
    frames = []
    for i in range(n):
        frame = back[:, i * shift : i * shift + w].copy()
        x = int(w / 2 - 15 + 25 * np.cos(2 * np.pi * i / n))
        frame[45:75, x : x + 30] = np.roll(thing, 3 * i, axis=1)  # it turns as it goes
        frames.append(frame)
    return np.stack(frames)


def test_a_fixed_camera_masks_what_stands_still_and_keeps_what_moves():
    frames = _turning()
    mask = fixed_camera_mask(frames)
    assert mask is not None and mask.shape == frames.shape[1:3]
    assert mask[:40].all() and mask[80:].all()  # above and below the path: still background
    assert not mask[50:70, 45:115].any()  # where the square passes: never still
    assert 0.8 < mask.mean() < 0.9  # the square sweeps 30 × 80 of 120 × 160 pixels


def test_a_fixed_camera_is_still_seen_through_auto_exposure():
    frames = _turning().astype(np.float32)
    gains = 1.0 + 0.2 * np.sin(np.linspace(0, 6, len(frames)))  # a phone's exposure drift
    drifting = np.clip(frames * gains[:, None, None, None], 0, 255).astype(np.uint8)
    mask = fixed_camera_mask(drifting)
    assert mask is not None and mask[:40].mean() > 0.95


@pytest.mark.parametrize(
    "frames",
    [
        pytest.param(_turning(shift=3), id="hand-held: the background moves"),
        pytest.param(_turning(plain=True), id="a plain backdrop: still but not textured"),
        pytest.param(_turning(n=6), id="too few frames"),
    ],
)
def test_no_mask_without_a_fixed_camera_before_texture(frames):
    assert fixed_camera_mask(frames) is None


def test_the_mask_of_large_files_is_measured_small_and_given_at_full_size(tmp_path):
    frames = _turning(h=120, w=160)
    paths = []
    for i, frame in enumerate(frames):
        big = Image.fromarray(frame).resize((1280, 960), Image.Resampling.NEAREST)
        paths.append(tmp_path / f"{i:06d}.png")
        big.save(paths[-1])
    mask = fixed_camera_mask_of_files(paths)
    assert mask is not None and mask.shape == (960, 1280)
    small = fixed_camera_mask(frames)
    assert small is not None
    resized = np.asarray(Image.fromarray(small).resize((1280, 960), Image.Resampling.NEAREST))
    assert (mask == resized).mean() > 0.97


@pytest.fixture(scope="module")
def turntable_frames(tmp_path_factory):
    """A generated figurine turning on a disc on a table in a room before a fixed camera:
    its frames as the frames stage packs them, and its true cameras (the object's frame)."""
    from video2mesh.sample import variant_spec
    from video2mesh.sample.cameras import orbit_cameras
    from video2mesh.sample.raytrace import build_scene, render_frame

    spec = variant_spec(
        "table-room-matte-figurine",
        seed=61,
        frames=36,
        width=480,
        height=360,
        turntable=True,
        handheld=False,
        elevation_deg=25.0,
        elevation_swing_deg=0.0,
    )
    cams, scene = orbit_cameras(spec), build_scene(spec)
    archive = tmp_path_factory.mktemp("turntable") / "frames.tar"
    with tarfile.open(archive, "w") as tar:
        for i, c2w in enumerate(cams):
            buf = io.BytesIO()
            Image.fromarray(render_frame(c2w, scene)).save(buf, format="JPEG", quality=92)
            info = tarfile.TarInfo(f"images/{i:06d}.jpg")
            info.size = buf.tell()
            buf.seek(0)
            tar.addfile(info, buf)
    return archive, {f"{i:06d}": c for i, c in enumerate(cams)}


def test_sfm_poses_a_turntable_from_what_turns(tmp_path, turntable_frames, one_colmap_thread):
    """The still table and room pin every camera to one place: without the masks 2 of these
    36 frames register (and all 100 of session 23's larger capture, 116 % of the orbit's radius
    off); masked, SfM finds the orbit."""
    from video2mesh.scene import align_to_truth, load_model
    from video2mesh.sfm import run_sfm

    archive, truth = turntable_frames
    stats = run_sfm(archive, tmp_path / "sfm", scene="turntable")
    assert stats["still_share"] > FIXED_SHARE
    assert stats["registered"] == stats["total"] == 36
    err = align_to_truth(load_model(tmp_path / "sfm" / "sparse"), truth)
    # COLMAP on one thread (one_colmap_thread); on two, 0.53-0.90 % in 20 draws here and
    # 15.5 % once on CI's machine (all 36 posed): its threads do not repeat a mapping.
    # 36 frames of 480 × 360: 0.57-0.94 % and 0.63-0.87° with both cores busy elsewhere. At
    # 320 × 240 (~250 SIFT features on what turns) 0.8-1.5 % over 34 runs, 3.15 % once on CI's
    # machine and once 57 % (a wrong orbit, all 36 registered) on the loaded 2-core VM: too few
    # features for COLMAP's threads to find the same orbit every time. Failing, it is 116 % off.
    # The 100 frames of 480 × 360 of session 23's turntables: 0.4-0.8 % and 0.4-0.7°
    assert err["median_center_error_rel"] < 0.05, (err, stats)
    assert err["median_rotation_error_deg"] < 5.0, (err, stats)


def test_training_paints_no_still_pixel_and_empties_them(turntable_frames, tmp_path):
    """In training, still pixels flag the backdrop channel with STILL: the colour loss skips
    them and the opacity loss covers them."""
    import torch

    from video2mesh.recon.data import STILL, Dataset
    from video2mesh.recon.train import _Step

    archive, _ = turntable_frames
    with tarfile.open(archive) as tar:
        names = sorted(m.name for m in tar.getmembers() if m.isfile())
        images = np.stack([np.asarray(Image.open(tar.extractfile(n))) for n in names])
    c2w = torch.eye(4)[:3].expand(len(images), -1, -1).clone()
    ds = Dataset(torch.from_numpy(images), c2w, 300.0, 300.0, 160.0, 120.0, [0, 0, 0], 1.0, names)
    share = ds.find_still()
    assert share is not None and 0.3 < share < 0.9 and ds.still
    cfg, model, batch = first_step(ds, 512)
    o, d, rgb, img, *rest = batch
    flags = rgb[:, 3]
    assert set(flags.unique().tolist()) == {0.0, float(STILL)}
    _, parts = _Step(model, cfg, still=True)(*batch)
    # the still pixels' colours do not count: any colour there gives the same loss
    scrambled = rgb.clone()
    scrambled[flags == STILL, :3] = 1.0 - scrambled[flags == STILL, :3]
    _, again = _Step(model, cfg, still=True)(o, d, scrambled, img, *rest)
    assert torch.isclose(parts["rgb_l1"], again["rgb_l1"])
    assert torch.isclose(parts["mse"], again["mse"])  # nor in the PSNR the log shows
    _, plain = _Step(model, cfg)(o, d, scrambled, img, *rest)
    assert not torch.isclose(plain["rgb_l1"], again["rgb_l1"])


def test_a_fixed_camera_trains_a_colour_that_sees_the_view(turntable_frames):
    """The room's light turns with the camera in the object's frame: a colour without view (SH
    degree 0, as a run may set) is raised to fixed_camera_sh_degree; the presets' own degrees
    (CPU 1, GPU 3) stay; a moving camera changes nothing."""
    import torch

    from video2mesh.recon.data import Dataset
    from video2mesh.recon.presets import build_config
    from video2mesh.recon.train import fit_to_fixed_camera

    archive, _ = turntable_frames
    with tarfile.open(archive) as tar:
        names = sorted(m.name for m in tar.getmembers() if m.isfile())
        images = np.stack([np.asarray(Image.open(tar.extractfile(n))) for n in names])

    def dataset(imgs: np.ndarray) -> Dataset:
        c2w = torch.eye(4)[:3].expand(len(imgs), -1, -1).clone()
        return Dataset(
            torch.from_numpy(imgs), c2w, 300.0, 300.0, 160.0, 120.0, [0, 0, 0], 1.0, names
        )

    flat = {"preset": "cpu", "train": {"sh_degree": 0}}
    cpu, _ = build_config(flat, "object")
    assert fit_to_fixed_camera(cpu, dataset(images)) is not None
    assert cpu.sh_degree == cpu.fixed_camera_sh_degree == 1
    for preset, degree in (("cpu", 1), ("gpu", 3)):
        own, _ = build_config({"preset": preset}, "object")
        assert fit_to_fixed_camera(own, dataset(images)) is not None and own.sh_degree == degree
    off, _ = build_config(
        {"preset": "cpu", "train": {"sh_degree": 0, "fixed_camera_sh_degree": 0}}, "object"
    )
    assert fit_to_fixed_camera(off, dataset(images)) is not None and off.sh_degree == 0
    moving = np.stack([np.roll(im, 7 * i, axis=1) for i, im in enumerate(images)])
    again, _ = build_config(flat, "object")
    assert fit_to_fixed_camera(again, dataset(moving)) is None and again.sh_degree == 0
