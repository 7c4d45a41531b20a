"""Plain-backdrop masks: the backdrop is found, the object and textured backgrounds are not."""

import numpy as np

from video2mesh.recon.plain_background import backdrop_mask, backdrop_masks


def _frame(rng, backdrop: str, shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    h, w = 120, 160
    yy, xx = np.mgrid[:h, :w]
    obj = (yy - 60) ** 2 / 35**2 + (xx - 80 - shift) ** 2 / 30**2 < 1
    if backdrop in ("dark", "table"):
        img = np.full((h, w, 3), 12.0) + rng.normal(0, 2, (h, w, 3))  # sensor noise
    elif backdrop == "bright":  # a studio sweep: vignetting, brighter in the middle
        img = (235 - 25 * ((yy - 60) ** 2 + (xx - 80) ** 2) / 100**2)[..., None].repeat(3, -1)
    else:  # a room: texture everywhere
        img = rng.uniform(0, 255, (h, w, 3))
    tex = rng.uniform(40, 220, (h, w, 3))  # the object's own texture
    img[obj] = tex[obj]
    truth = ~obj
    if backdrop == "table":  # a textured table top across the lower third, the object on it
        table = yy > 80
        img[table & ~obj] = rng.uniform(60, 200, (h, w, 3))[table & ~obj]
        truth &= ~table
    return np.clip(img, 0, 255).astype(np.uint8), truth


def test_dark_and_bright_backdrops_are_masked_and_the_object_is_not():
    rng = np.random.default_rng(0)
    for kind in ("dark", "bright"):
        img, truth = _frame(rng, kind)
        mask = backdrop_mask(img)
        assert mask is not None, kind
        assert (mask & truth).sum() / truth.sum() > 0.95, kind  # most of the backdrop
        assert (mask & ~truth).sum() / (~truth).sum() < 0.02, kind  # almost none of the object


def test_backdrop_behind_a_textured_table_is_masked_but_not_the_table():
    rng = np.random.default_rng(5)
    img, truth = _frame(rng, "table")
    mask = backdrop_mask(img)
    assert mask is not None
    assert (mask & truth).sum() / truth.sum() > 0.9  # all but a band along the edges (blur)
    assert (mask & ~truth).sum() / (~truth).sum() < 0.02  # neither the object nor the table


def test_textured_background_gives_no_masks():
    rng = np.random.default_rng(1)
    frames = np.stack([_frame(rng, "room", s)[0] for s in range(0, 40, 5)])
    assert backdrop_masks(frames) is None


def test_a_capture_counts_as_plain_only_if_most_frames_are():
    rng = np.random.default_rng(2)
    plain = [_frame(rng, "dark", s)[0] for s in range(0, 30, 5)]
    room = [_frame(rng, "room", s)[0] for s in range(0, 30, 5)]
    masks = backdrop_masks(np.stack(plain + room[:2]))
    assert masks is not None and masks.shape == (8, 120, 160)
    assert not masks[-1].any()  # the textured frames get an empty mask
    assert backdrop_masks(np.stack(plain[:2] + room)) is None
