"""Unit tests of the builtin backend's pieces: hash grid, schedule, presets, gradients."""

from __future__ import annotations

import math

import pytest
import torch
from v2m_testing import first_step

from video2mesh.errors import UserError
from video2mesh.recon import encoding, schedule
from video2mesh.recon.encoding import PRIMES, HashGrid, hash_grid_reference
from video2mesh.recon.fields import (
    CameraCorrection,
    ColorNet,
    Model,
    SDFNet,
    spherical_harmonics,
)
from video2mesh.recon.presets import TrainConfig, build_config, config_keys
from video2mesh.recon.renderer import render_rays


def _brute_force(grid: HashGrid, x: torch.Tensor, active: int) -> torch.Tensor:
    """Point-by-point trilinear lookup written independently of the vectorised code."""
    out = torch.zeros(x.shape[0], grid.n_levels * grid.features, dtype=torch.float64)
    table = grid.table.detach().double()
    for p in range(x.shape[0]):
        u = [min(max((float(x[p, k]) + grid.bound) / (2 * grid.bound), 0.0), 1.0) for k in range(3)]
        for lvl, (res, dense, size, offset) in enumerate(grid.levels[:active]):
            pos = [c * res for c in u]
            base = [min(max(math.floor(c), 0), res - 1) for c in pos]
            acc = torch.zeros(grid.features, dtype=torch.float64)
            for c in range(8):
                corner = [base[k] + ((c >> k) & 1) for k in range(3)]
                w = 1.0
                for k in range(3):
                    f = pos[k] - base[k]
                    w *= f if (c >> k) & 1 else 1 - f
                if dense:
                    row = corner[0] + (res + 1) * (corner[1] + (res + 1) * corner[2])
                else:
                    row = (
                        (corner[0] * PRIMES[0]) ^ (corner[1] * PRIMES[1]) ^ (corner[2] * PRIMES[2])
                    )
                    row %= size
                acc += w * table[offset + row]
            out[p, lvl * grid.features : (lvl + 1) * grid.features] = acc
    return out


def test_hash_grid_matches_brute_force_and_masks_levels() -> None:
    torch.manual_seed(0)
    grid = HashGrid(levels=6, features=2, log2_size=10, base_res=4, max_res=64, bound=2.0)
    assert [lv[1] for lv in grid.levels] == [True, True, False, False, False, False]
    with torch.no_grad():
        grid.table.normal_()
    x = torch.rand(40, 3) * 4.4 - 2.2  # a few points outside the grid range are clamped
    for active in (2, 6):
        got = grid(x, active).double()
        want = _brute_force(grid, x, active)
        assert torch.allclose(got, want, atol=1e-5)
        assert torch.all(got[:, active * 2 :] == 0)


def test_hash_grid_gradient_matches_autograd_reference() -> None:
    torch.manual_seed(1)
    grid = HashGrid(levels=5, features=2, log2_size=9, base_res=4, max_res=40)
    x = torch.rand(300, 3) * 4 - 2
    weights = torch.randn(300, 10)
    g1 = torch.autograd.grad((grid(x, 4) * weights).sum(), grid.table)[0]
    g2 = torch.autograd.grad((hash_grid_reference(grid, x, 4) * weights).sum(), grid.table)[0]
    assert torch.allclose(g1, g2, atol=1e-5)


def test_geometric_init_is_a_sphere_and_numerical_gradient() -> None:
    torch.manual_seed(0)
    cfg = TrainConfig(hash_levels=4, hash_max_res=64, hash_log2_size=12, sdf_hidden=256)
    net = SDFNet(cfg)
    x = torch.nn.functional.normalize(torch.randn(200, 3), dim=-1) * (
        0.4 + 0.5 * torch.rand(200, 1)
    )
    f, _feat, grad, lap = net.with_gradient(x, 4, 1e-3)
    # ≈ |x| − 0.5 up to the random spread of 256 units (~9%) and softplus's offset at 0
    assert float((f - (x.norm(dim=-1) - 0.5)).abs().mean().detach()) < 0.1
    assert float(net.sdf(torch.zeros(1, 3), 4)) < 0
    unit = torch.nn.functional.normalize(x, dim=-1)
    assert (torch.nn.functional.cosine_similarity(grad, unit) > 0.9).float().mean() > 0.9
    assert lap.shape == f.shape


def test_numerical_gradient_and_laplacian_of_a_quadratic() -> None:
    """The 4-tap stencil is exact for a quadratic: grad and trace of the Hessian."""
    from video2mesh.recon.fields import TAPS

    x = torch.randn(10, 3, dtype=torch.float64)
    a = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    hdiag = torch.tensor([1.0, 2.0, -0.5], dtype=torch.float64)

    def f(p: torch.Tensor) -> torch.Tensor:
        return (p * a).sum(-1) + 0.5 * (hdiag * p * p).sum(-1)

    e = 0.01
    taps = torch.tensor(TAPS, dtype=torch.float64) * e
    ft = torch.stack([f(x + t) for t in taps])
    grad = (ft[..., None] * taps[:, None] / e).sum(0) / (4 * e)
    lap = (ft.sum(0) / 2 - 2 * f(x)) / e**2
    assert torch.allclose(grad, a + hdiag * x, atol=1e-9)
    assert torch.allclose(lap, hdiag.sum().expand(10), atol=1e-6)


def test_schedule_is_relative_to_the_final_iteration() -> None:
    cfg = TrainConfig(hash_levels=16, init_active_level=4, hash_max_res=2048)
    # official at 500k: 4 levels until 30k, 5 at 30k, all 16 at 85k; eps 1/33 → 1/2049
    assert schedule.state(cfg, 29_999, 500_000).active_levels == 4
    assert schedule.state(cfg, 30_000, 500_000).active_levels == 5
    assert schedule.state(cfg, 85_000, 500_000).active_levels == 16
    assert schedule.state(cfg, 0, 500_000).eps == pytest.approx(1 / 33)
    assert schedule.state(cfg, 85_000, 500_000).eps == pytest.approx(1 / 2049)
    assert schedule.state(cfg, 2_500, 500_000).lr_factor == pytest.approx(0.5)
    assert schedule.state(cfg, 300_000, 500_000).lr_factor == pytest.approx(0.1)
    assert schedule.state(cfg, 400_000, 500_000).lr_factor == pytest.approx(0.01)
    assert schedule.state(cfg, 85_000, 500_000).curvature_weight == pytest.approx(
        5e-4 / 64, rel=1e-3
    )
    # the same shape at 1/100 of the length
    for it in (0, 299, 300, 850, 3000, 4000):
        a, b = schedule.state(cfg, it, 5000), schedule.state(cfg, it * 100, 500_000)
        assert (a.active_levels, a.lr_factor) == (b.active_levels, pytest.approx(b.lr_factor))


def test_presets_and_overrides() -> None:
    cfg, preset = build_config(
        {"backend": "builtin", "preset": "cpu", "train": {"rays": 128}}, "object"
    )
    assert preset == "cpu" and cfg.rays == 128 and cfg.init_active_level == 4
    cfg, _ = build_config('{"preset": "gpu", "extract": {"keep_largest": true}}', "scene")
    assert cfg.background == "nerf" and cfg.init_active_level == 8
    with pytest.raises(UserError, match="nosuchkey"):
        build_config({"train": {"nosuchkey": 1}}, "object")
    with pytest.raises(UserError, match="integer"):
        build_config({"preset": "cpu", "train": {"rays": "many"}}, "object")
    assert "rays" in config_keys() and "background" in config_keys()


def test_model_builds_with_background_and_appearance() -> None:
    cfg, _ = build_config(
        {"preset": "cpu", "train": {"appearance_dim": 4, "background": "nerf"}}, "object"
    )
    model = Model(cfg, n_images=3)
    assert model.background is not None and model.appearance is not None


def test_gpu_gather_layout_matches_cpu_layout(monkeypatch: pytest.MonkeyPatch) -> None:
    """The row-major (GPU) code path, exercised on CPU, equals the feature-major one."""
    import video2mesh.recon.encoding as enc

    torch.manual_seed(2)
    grid = HashGrid(levels=5, features=4, log2_size=10, base_res=4, max_res=64)
    x = torch.rand(500, 3) * 4 - 2
    weights = torch.randn(500, 20)
    a = grid(x, 4)
    ga = torch.autograd.grad((a * weights).sum(), grid.table)[0]
    monkeypatch.setattr(enc, "_row_major", lambda u: True)
    b = grid(x, 4)
    gb = torch.autograd.grad((b * weights).sum(), grid.table)[0]
    assert torch.allclose(a, b, atol=1e-6)
    assert torch.allclose(ga, gb, atol=1e-5)


def test_focus_on_sphere_draws_its_share_from_pixels_that_see_the_sphere(tmp_path) -> None:
    from video2mesh.recon.data import load_dataset
    from video2mesh.recon.synthetic import sphere_sdf, write_scene

    tf, tar = write_scene(tmp_path, sphere_sdf(0.5), n_views=6, size=32, cam_dist=3.0)
    ds = load_dataset(tf, tar)

    def meets(o: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        along = (o * d).sum(-1)
        return ((o * o).sum(-1) - along * along <= 1.0) & (along < 0)

    gen = torch.Generator().manual_seed(0)
    uniform = ds.sample(4000, gen)
    share = ds.focus_on_sphere(0.75)
    # cameras at 3 radii with a 50° field of view: the sphere covers ~40 % of each image
    assert 0.25 < share < 0.6
    assert abs(meets(*uniform[:2]).float().mean().item() - share) < 0.04
    o, d, rgb, img = ds.sample(4000, gen)
    got = meets(o, d).float().mean().item()
    assert abs(got - (0.75 + 0.25 * share)) < 0.04
    # each colour is that of the pixel its ray goes through (the flat-index arithmetic)
    cam = (ds.c2w[img, :, :3].transpose(1, 2) @ d[..., None])[..., 0]
    x = (ds.fx * cam[:, 0] / cam[:, 2] + ds.cx).floor().long()
    y = (ds.fy * cam[:, 1] / cam[:, 2] + ds.cy).floor().long()
    assert torch.equal(rgb, ds.images[img, y, x].float() / 255.0)


def test_finest_grid_follows_the_images_pixel_footprint(tmp_path) -> None:
    from video2mesh.recon.data import load_dataset
    from video2mesh.recon.presets import MAX_GRID_RES, grid_resolution_for
    from video2mesh.recon.synthetic import sphere_sdf, write_scene

    gpu, _ = build_config({"preset": "gpu"}, "object")
    assert gpu.hash_max_res == 0  # the GPU default follows the images
    assert gpu.hash_pixels_per_cell == 2  # on two pixels' footprint (RESULTS.md, session 34)
    cfg, _ = build_config({"preset": "gpu", "train": {"hash_pixels_per_cell": 1}}, "object")
    tf, tar = write_scene(tmp_path, sphere_sdf(0.5), n_views=2, size=256, cam_dist=3.0)
    f = 256 / (2 * math.tan(math.radians(25)))  # write_scene's 50° field of view
    # at half a radius in front of the centre, the median camera 3 radii away
    full = load_dataset(tf, tar).pixel_footprint()
    assert full == pytest.approx(2.5 / f, rel=1e-4)
    # one cell per pixel over the grid's [-2, 2] (4 / 0.0091 = 439 cells), to the nearest
    # power of two; images downscaled by 2 get a grid half as fine
    assert grid_resolution_for(full, cfg) == 512
    half = load_dataset(tf, tar, max_side=128).pixel_footprint()
    assert half == pytest.approx(2 * full, rel=1e-3)
    assert grid_resolution_for(half, cfg) == 256
    # the validation set's footprints (benchmarks/realworld/RESULTS.md): 480-px renders, the
    # Middlebury temple at 640 px, DTU at 957 and 1600 px
    assert [grid_resolution_for(fp, cfg) for fp in (0.0069, 0.0032, 0.0031, 0.0023)] == [
        512,
        1024,
        1024,
        2048,
    ]
    # never coarser than 4× the coarsest level, never finer than the official 2048
    assert grid_resolution_for(1.0, cfg) == 4 * cfg.hash_base_res
    assert grid_resolution_for(1e-5, cfg) == MAX_GRID_RES
    with pytest.raises(UserError, match="hash_max_res"):
        build_config({"preset": "gpu", "train": {"hash_max_res": -1}}, "object")
    # the GPU preset's cell on every two pixels' footprint: each grid one power of two coarser
    assert [grid_resolution_for(fp, gpu) for fp in (0.0069, 0.0032, 0.0023)] == [256, 512, 1024]
    with pytest.raises(UserError, match="hash_pixels_per_cell"):
        build_config({"preset": "gpu", "train": {"hash_pixels_per_cell": 0}}, "object")


def test_reflected_colour_direction_mirrors_the_view_about_the_normal() -> None:
    torch.manual_seed(0)
    cfg, _ = build_config({"preset": "gpu", "train": {"color_direction": "reflected"}}, "object")
    reflected = ColorNet(cfg)
    view_train = {"preset": "gpu", "train": {"color_direction": "view"}}
    plain = ColorNet(build_config(view_train, "object")[0])  # SH degree 3: the view counts
    plain.load_state_dict(reflected.state_dict())
    x, feat = torch.randn(64, 3), torch.randn(64, cfg.sdf_feature_dim)
    n = torch.nn.functional.normalize(torch.randn(64, 3), dim=-1)
    v = torch.nn.functional.normalize(torch.randn(64, 3), dim=-1)
    mirrored = v - 2 * (v * n).sum(-1, keepdim=True) * n
    # the reflected net seeing v is the plain net seeing v mirrored, and differs from it seeing v
    assert torch.allclose(reflected(x, v, n, feat), plain(x, mirrored, n, feat), atol=1e-6)
    assert not torch.allclose(reflected(x, v, n, feat), plain(x, v, n, feat), atol=1e-3)
    with pytest.raises(UserError, match="color_direction"):
        build_config({"train": {"color_direction": "sideways"}}, "object")
    both_cfg, _ = build_config({"preset": "gpu", "train": {"color_direction": "both"}}, "object")
    both = ColorNet(both_cfg)
    n_sh = (cfg.sh_degree + 1) ** 2
    assert both.hidden[0].v.shape[1] == plain.hidden[0].v.shape[1] + n_sh  # reflection's SH
    assert both(x, v, n, feat).shape == (64, 3)


def test_detached_reflection_moves_no_gradient_into_the_normal() -> None:
    torch.manual_seed(0)
    gpu, _ = build_config({"preset": "gpu"}, "object")
    assert (gpu.color_direction, gpu.reflection_detach) == ("both", True)  # the GPU default
    cpu, _ = build_config({"preset": "cpu"}, "object")
    assert (cpu.sh_degree, cpu.color_direction, cpu.reflection_detach) == (1, "both", True)
    attached_cfg, _ = build_config(
        {"preset": "gpu", "train": {"reflection_detach": False}}, "object"
    )
    detached, attached = ColorNet(gpu), ColorNet(attached_cfg)
    attached.load_state_dict(detached.state_dict())
    x, feat = torch.randn(32, 3), torch.randn(32, gpu.sdf_feature_dim)
    v = torch.nn.functional.normalize(torch.randn(32, 3), dim=-1)
    n0 = torch.nn.functional.normalize(torch.randn(32, 3), dim=-1)

    def normal_grad(net: ColorNet) -> torch.Tensor:
        n = n0.clone().requires_grad_(True)
        net(x, v, n, feat).sum().backward()
        return n.grad

    # same colours; the detached net's normal gradient is only the direct input's (the
    # reflection's part is zeroed), so it differs from the attached net's
    assert torch.allclose(detached(x, v, n0, feat), attached(x, v, n0, feat))
    # the forward by hand with the mirrored view a constant: its normal gradient is the one
    n = n0.clone().requires_grad_(True)
    mirrored = v - 2.0 * (v * n0).sum(-1, keepdim=True) * n0
    sh = [spherical_harmonics(d, gpu.sh_degree) for d in (v, mirrored)]
    h = torch.cat([x, *sh, n, feat], -1)
    for layer in detached.hidden:
        h = torch.relu(layer(h))
    torch.sigmoid(detached.out(h).float()).sum().backward()
    assert torch.allclose(normal_grad(detached), n.grad, atol=1e-6)
    assert not torch.allclose(normal_grad(attached), n.grad, atol=1e-4)


def test_camera_correction_rotates_about_the_camera_and_starts_as_the_identity() -> None:
    cams = CameraCorrection(n_images=2)
    o = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    d = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    img = torch.tensor([0, 1])
    o0, d0 = cams(o, d, img)
    assert torch.equal(o0, o) and torch.allclose(d0, d)  # zero corrections: SfM's rays
    with torch.no_grad():
        cams.delta[1] = torch.tensor([0.0, 0.0, math.pi / 2, 0.1, 0.0, -0.2])
    o1, d1 = cams(o, d, img)
    assert torch.allclose(d1[1], torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)  # 90° about z
    assert torch.allclose(o1[1], torch.tensor([1.1, 2.0, 2.8]))
    assert torch.allclose(d1[0], d[0]) and torch.allclose(d1.norm(dim=-1), torch.ones(2))
    # the photometric loss reaches the corrections, also from zero (the Rodrigues axis at 0)
    cams.zero_grad()
    o2, d2 = cams(o, d, torch.tensor([0, 0]))
    (o2.sum() + d2[:, 1].sum()).backward()
    grad = cams.delta.grad
    assert grad is not None and grad[0, :3].abs().sum() > 0 and grad[0, 3:].abs().sum() > 0
    assert grad[1].abs().sum() == 0
    # a small rotation, between the series and the closed form: still a rotation
    with torch.no_grad():
        cams.delta[0] = torch.tensor([1e-4, -2e-4, 5e-4, 0.0, 0.0, 0.0])
    _, d3 = cams(o, d, img)
    assert torch.allclose(d3.norm(dim=-1), torch.ones(2), atol=1e-6)
    assert torch.allclose(d3[0], torch.tensor([1.0, 5e-4, 2e-4]), atol=1e-6)


@pytest.mark.parametrize("row_major", [False, True])
def test_hash_grid_gives_the_points_their_gradient_when_they_need_one(
    row_major: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # camera refinement moves the sample points: the encoding must pass their gradient on (the
    # kernels give the table's only), checked against central differences in float64, in the
    # CPU's gather layout and in the GPU's (row-major)
    monkeypatch.setattr(encoding, "_row_major", lambda u: row_major)
    torch.manual_seed(0)
    grid = HashGrid(8, 2, 12, 4, 256, 1.0).double()
    with torch.no_grad():
        grid.table.normal_(0.0, 0.1)
    x = (torch.rand(32, 3, dtype=torch.float64) * 1.6 - 0.8).requires_grad_(True)
    w = torch.randn(32, grid.out_dim, dtype=torch.float64)
    (grid(x, 8) * w).sum().backward()
    assert x.grad is not None
    num = torch.zeros_like(x)
    with torch.no_grad():
        for k in range(3):
            e = torch.zeros(1, 3, dtype=torch.float64)
            e[0, k] = 1e-9  # small: no difference may straddle a cell face
            num[:, k] = ((grid(x + e, 8) - grid(x - e, 8)) * w).sum(1) / 2e-9
    assert torch.allclose(x.grad, num, rtol=1e-5, atol=1e-6 * num.abs().max().item())
    assert num.abs().max() > 1.0  # not a vacuous match


def test_a_learned_pose_gets_a_finite_gradient_also_from_a_ray_that_grazes_the_sphere() -> None:
    cfg, _ = build_config({"preset": "cpu", "train": {"lr_cameras": 1e-4}}, "object")
    model = Model(cfg, n_images=1)
    o = torch.tensor([[0.0, 0.0, -3.0], [0.0, 1.0, -3.0], [0.0, 2.0, -3.0]])
    d = torch.tensor([[0.0, 0.0, 1.0]]).expand(3, 3)  # through the centre, tangent, a miss
    img = torch.zeros(3, dtype=torch.long)
    o2, d2 = model.cameras(o, d, img)
    out = render_rays(model, o2, d2, schedule.state(cfg, 100, 1000))
    out.rgb.sum().backward()
    grad = model.cameras.delta.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_camera_refinement_is_off_by_default_and_its_own_group_when_on() -> None:
    assert build_config({"preset": "gpu"}, "object")[0].lr_cameras == 0
    cfg, _ = build_config({"preset": "cpu"}, "object")
    model = Model(cfg, n_images=3)
    assert model.cameras is None
    names = [g["name"] for g in model.parameter_groups(cfg)]
    assert names[:3] == ["mlp", "encoding", "s_var"] and "cameras" not in names
    cfg, _ = build_config({"preset": "cpu", "train": {"lr_cameras": 1e-3}}, "object")
    groups = Model(cfg, n_images=3).parameter_groups(cfg)
    cam = next(g for g in groups if g["name"] == "cameras")
    assert cam["lr"] == 1e-3 and cam["weight_decay"] == 0.0
    assert cam["params"][0].shape == (3, 6)
    assert all(p is not cam["params"][0] for g in groups if g is not cam for p in g["params"])


def test_the_background_learns_at_its_own_rate_in_a_group_of_its_own() -> None:
    from video2mesh.recon.loop import set_learning_rates

    cfg, _ = build_config({"preset": "cpu", "train": {"lr_background": 2e-4}}, "object")
    model = Model(cfg, n_images=3)
    groups = model.parameter_groups(cfg)
    bg = next(g for g in groups if g["name"] == "background")
    assert bg["lr"] == 2e-4
    assert {id(p) for p in bg["params"]} == {id(p) for p in model.background.parameters()}
    others = {id(p) for g in groups if g is not bg for p in g["params"]}
    assert not others & {id(p) for p in bg["params"]}
    assert len(others) + len(bg["params"]) == len(list(model.parameters()))
    # the schedule scales it with the others (×0.1 after the first step)
    opt = torch.optim.AdamW(groups)
    set_learning_rates(opt, cfg, schedule.state(cfg, 2500, 3000))  # after the first step
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs["background"] == pytest.approx(2e-5) and lrs["mlp"] == pytest.approx(cfg.lr * 0.1)
    # 0: the MLP rate, in the MLP group (checkpoints from before the key resume) unless the
    # background guard may give it a warm-up of its own (recon.background_guard)
    train = {"lr_background": 0, "background_warmup": 0, "background_guard": False}
    cfg, _ = build_config({"preset": "cpu", "train": train}, "object")
    assert "background" not in [g["name"] for g in Model(cfg, 3).parameter_groups(cfg)]


def test_the_background_warms_up_over_its_own_share_of_the_run() -> None:
    from video2mesh.recon.loop import set_learning_rates

    cfg, _ = build_config({"preset": "cpu", "train": {"background_warmup": 0.05}}, "object")
    final = 3000  # the common warm-up is 1 % (30 iterations), the background's 5 % (150)
    ramp = [schedule.state(cfg, it, final) for it in (15, 75, 150, 2000, 2900)]
    assert [round(s.bg_lr_factor, 3) for s in ramp] == [0.05, 0.5, 1.0, 1.0, 0.01]
    assert [round(s.lr_factor, 3) for s in ramp] == [0.5, 1.0, 1.0, 1.0, 0.01]
    model = Model(cfg, n_images=3)
    opt = torch.optim.AdamW(model.parameter_groups(cfg))
    st = schedule.state(cfg, 75, final)
    set_learning_rates(opt, cfg, st)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs["background"] == pytest.approx(cfg.lr * 0.5)
    assert lrs["mlp"] == pytest.approx(cfg.lr) and lrs["encoding"] == pytest.approx(cfg.lr_encoding)
    # off: one factor for every group
    off, _ = build_config({"preset": "cpu", "train": {"background_warmup": 0}}, "object")
    assert all(
        schedule.state(off, it, final).bg_lr_factor == schedule.state(off, it, final).lr_factor
        for it in (1, 15, 75, 2900)
    )


def _ring_meta(distance: float, radius: float = 1.0, w: int = 1600, h: int = 900) -> dict:
    """transforms.json content: 12 cameras on a ring at ``distance`` from a sphere of ``radius``
    (a 60° horizontal field of view)."""
    frames = []
    for a in [2 * math.pi * i / 12 for i in range(12)]:
        m = [[1, 0, 0, distance * math.cos(a)], [0, 1, 0, distance * math.sin(a)]]
        frames.append({"transform_matrix": [*m, [0, 0, 1, 0], [0, 0, 0, 1]]})
    f = 0.5 * w / math.tan(math.radians(30))
    return {"w": w, "h": h, "fl_x": f, "sphere_center": [0, 0, 0], "sphere_radius": radius,
            "frames": frames}  # fmt: skip


def test_a_small_object_keeps_its_pixels_when_the_images_are_downscaled() -> None:
    from video2mesh.recon.data import image_scale, sphere_span

    near, far = _ring_meta(3.0), _ring_meta(12.0)
    f = 0.5 * 1600 / math.tan(math.radians(30))
    span = 2 * f * math.tan(math.asin(1 / 12)) / 1600  # the far sphere: 0.12 of the long side
    assert sphere_span(far) == pytest.approx(span)
    # the near sphere spans 0.61 of the long side, 98 px at 160: the long side goes to 160
    assert image_scale(near, 160, 80) == pytest.approx(0.1)
    # the far one would span 19 px: the images stay large enough for 80
    scale = image_scale(far, 160, 80)
    assert sphere_span(far) * 1600 * scale == pytest.approx(80)
    assert image_scale(far, 160) == pytest.approx(0.1)  # no floor: as before
    assert image_scale(far, 160, 5000) == 1.0  # never up
    assert image_scale(far, 0, 80) == 1.0 and image_scale(far, 2000, 80) == 1.0


def test_images_stored_smaller_than_transforms_scale_to_max_side_by_their_own_size(
    tmp_path,
) -> None:
    """An archive of copies smaller than transforms.json's w × h (the validation set's 720-px
    re-encodes of DTU's 957-px frames) goes to ``max_side`` from its own size, with the
    intrinsics that size has: before, the scale meant for 957 px was applied to 720 (the CPU
    preset trained DTU 65 at 120 px, not 160)."""
    import io
    import tarfile

    from PIL import Image

    from video2mesh.recon.data import load_dataset
    from video2mesh.recon.synthetic import sphere_sdf, write_scene

    tf, tar = write_scene(tmp_path, sphere_sdf(0.5), n_views=3, size=256, cam_dist=3.0)
    small = tmp_path / "small.tar"
    with tarfile.open(tar) as tin, tarfile.open(small, "w") as tout:
        for m in tin.getmembers():
            f = tin.extractfile(m)
            if f is None:
                continue
            with Image.open(f) as im:
                buf = io.BytesIO()
                im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS).save(
                    buf, format=im.format or "PNG"
                )
            info = tarfile.TarInfo(m.name)
            info.size = buf.tell()
            buf.seek(0)
            tout.addfile(info, buf)
    full = load_dataset(tf, tar, max_side=96)
    halved = load_dataset(tf, small, max_side=96)
    assert max(full.width, full.height) == 96
    assert (halved.width, halved.height) == (full.width, full.height)
    assert halved.fx == pytest.approx(full.fx) and halved.cx == pytest.approx(full.cx)
    assert load_dataset(tf, small).width == 128  # no max_side: as stored


def test_cut_out_photos_mask_their_transparent_pixels_even_inside_the_silhouette(
    tmp_path,
) -> None:
    """Photos cut out by their transparency (images.tar's alpha/, sfm.undistort_alpha): the
    backdrop mask is their alpha at the training size, exactly, the hole inside the silhouette
    too (no flood fill from the border reaches it), and whatever SfM's points say of the
    background (a cut-out's backdrop is known, not guessed); the rest is the object, whose
    rays training makes opaque."""
    import io
    import tarfile

    import numpy as np
    from PIL import Image

    from video2mesh.recon.data import OBJECT, load_dataset
    from video2mesh.recon.synthetic import sphere_sdf, write_scene

    tf, tar = write_scene(tmp_path, sphere_sdf(0.5), n_views=3, size=64, cam_dist=3.0)
    first = load_dataset(tf, tar)
    alphas = {}
    with tarfile.open(tar, "a") as t:
        for i, name in enumerate(first.names):
            o, d = first._pixel_rays(i)
            along = (o * d).sum(-1)
            meets = (o * o).sum(-1) - along * along <= 0.25  # the sphere of radius 0.5
            alpha = np.where(meets.numpy(), 255, 0).astype(np.uint8)
            alpha[28:36, 28:36] = 0  # a hole through the object's middle
            alpha[:3] = 100  # a background remover's soft shadow along the top: neither side
            alphas[i] = alpha
            buf = io.BytesIO()
            Image.fromarray(alpha).save(buf, format="PNG")
            info = tarfile.TarInfo(f"alpha/{name.split('/')[-1].replace('.jpg', '.png')}")
            info.size = buf.tell()
            buf.seek(0)
            t.addfile(info, buf)

    ds = load_dataset(tf, tar)
    ds.background_points = 0.05  # SfM calling the background textured changes nothing
    share = ds.find_backdrop()
    assert ds.backdrop is not None and ds.alpha is not None
    stack = np.stack([alphas[i] for i in range(3)])
    want = stack < 64
    # backdrop 1, the object OBJECT: both sides of a cut-out's silhouette are known, and what
    # is half transparent (0) neither
    flags = np.where(want, 1, np.where(stack >= 192, OBJECT, 0)).astype(np.int8)
    assert torch.equal(ds.backdrop, torch.from_numpy(flags))
    assert share == pytest.approx(want.mean()) and 0.7 < share < 0.95
    assert (ds.backdrop[:, 30:34, 30:34] == 1).all()  # the hole, which is no border's
    assert (ds.backdrop[:, :3] == 0).all() and (ds.backdrop == OBJECT).sum() > 300
    assert not ds.still

    # training: the object's pixels add BCE(opacity, 1) at object_weight, the backdrop's
    # BCE(opacity, 0) at backdrop_weight, each a mean over its own pixels
    from video2mesh.recon.renderer import render_rays
    from video2mesh.recon.train import _Step

    cfg, model, batch = first_step(ds, 256)
    o, d, rgb, _, jit_c, jit_b, st = batch
    flags = rgb[:, 3]
    assert {1.0, float(OBJECT)} <= set(flags.unique().tolist()) <= {1.0, 0.0, float(OBJECT)}
    losses = {}
    for weight in (0.0, 0.1):
        cfg.object_weight = weight
        losses[weight] = float(_Step(model, cfg)(*batch)[0])
    with torch.no_grad():
        opacity = render_rays(model, o, d, st, (jit_c, jit_b), None).opacity
    full = -torch.log(opacity[flags < 0].clamp_min(1e-4)).mean()
    assert full > 0.05  # the initial sphere leaves the object's rays far from opaque
    assert losses[0.1] - losses[0.0] == pytest.approx(0.1 * float(full), rel=1e-3)

    half = load_dataset(tf, tar, max_side=32)  # scaled with the photos
    assert half.alpha is not None and half.alpha.shape == (3, 32, 32)
    assert (half.alpha[:, 15:17, 15:17] < 128).all()
    down = (stack < 128).reshape(3, 32, 2, 32, 2).mean((2, 4))
    agree = (half.alpha < 128) == (down > 0.5)
    assert agree[down != 0.5].mean() > 0.98
