"""The cut-out silhouettes tell frames SfM put in the wrong place (video2mesh.misplaced)."""

import numpy as np

from video2mesh.misplaced import check_poses
from video2mesh.sample import look_at_c2w
from video2mesh.sphere import Cameras

W, H, F = 120, 90, 110.0


def _sdf(p: np.ndarray) -> np.ndarray:
    """A slab with a post at one end and a ball at one corner: no turn about z maps it onto
    itself."""

    def box(centre: list[float], half: list[float]) -> np.ndarray:
        q = np.abs(p - centre) - half
        return np.linalg.norm(np.maximum(q, 0), axis=-1) + np.minimum(q.max(-1), 0)

    ball = np.linalg.norm(p - [-0.3, 0.15, 0.3], axis=-1) - 0.12
    return np.minimum(
        np.minimum(box([0.0, 0.0, 0.1], [0.45, 0.2, 0.1]), box([0.35, 0.0, 0.4], [0.1, 0.2, 0.3])),
        ball,
    )


def _silhouette(c2w: np.ndarray) -> np.ndarray:
    """Sphere-traced: the pixels whose ray meets the shape (OpenCV camera)."""
    v, u = np.mgrid[0:H, 0:W] + 0.5
    d = np.stack([(u - W / 2) / F, (v - H / 2) / F, np.ones_like(u)], -1) @ c2w[:3, :3].T
    d /= np.linalg.norm(d, axis=-1, keepdims=True)
    t = np.zeros((H, W))
    for _ in range(120):
        t += _sdf(c2w[:3, 3] + t[..., None] * d)
    return _sdf(c2w[:3, 3] + t[..., None] * d) < 1e-3


def _orbit(n: int = 24) -> np.ndarray:
    poses = []
    for a in np.linspace(0, 2 * np.pi, n, endpoint=False):
        eye = 3.0 * np.array([np.cos(a) * np.cos(0.5), np.sin(a) * np.cos(0.5), np.sin(0.5)])
        poses.append(look_at_c2w(eye, np.zeros(3), np.array([0.0, 0.0, 1.0])))
    return np.stack(poses)


def test_frames_placed_half_an_orbit_away_are_told_by_their_silhouettes():
    """3 of 24 frames posed turned 180° about the up axis (what the Lego's studded plate did to
    SfM), each seeing the object as it truly stands: the majority's hull covers much less of
    their silhouettes than of the others'; those 3 alone are left out. (With the hull of 9 in
    10 views, AGREE 0.9, the 3 carved it and every frame's share fell to 0.69-0.81.)"""
    true = _orbit()
    masks = [_silhouette(c2w) for c2w in true]
    turn = np.diag([-1.0, -1.0, 1.0, 1.0])  # 180° about z, the object's up
    placed = true.copy()
    wrong = [5, 6, 7]
    placed[wrong] = turn @ true[wrong]
    names = [f"{i:03d}.jpg" for i in range(len(true))]
    cams = Cameras(placed, F, F, W / 2, H / 2, W, H)

    check = check_poses(cams, names, masks, np.zeros(3), 0.8)

    assert check.misplaced == [names[i] for i in wrong] and check.note is None
    assert max(check.recall[names[i]] for i in wrong) < 0.85
    assert min(r for n, r in check.recall.items() if n not in check.misplaced) > 0.95

    right = Cameras(true, F, F, W / 2, H / 2, W, H)
    fits = check_poses(right, names, masks, np.zeros(3), 0.8)
    assert fits.misplaced == [] and min(fits.recall.values()) > 0.95
    # a sphere that cuts the post's top off (it reaches 0.86 from the centre): the hull is
    # carved in a ball 1.5 times as large and counted where it can be, and no right frame goes
    # (carved in the sphere itself, 2 fell to 0.86 and were left out)
    cut = check_poses(right, names, masks, np.zeros(3), 0.5)
    assert cut.misplaced == [] and min(cut.recall.values()) > 0.95
