"""The background guard: a NeRF++ background collapsed to one saturated colour early on makes
training start again with the background warming up slowly; a live one changes nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from v2m_testing import tiny_segment

from video2mesh.recon import background_guard as guard
from video2mesh.recon import schedule
from video2mesh.recon.data import load_dataset
from video2mesh.recon.fields import Model
from video2mesh.recon.loop import set_learning_rates
from video2mesh.recon.presets import build_config
from video2mesh.recon.synthetic import sphere_sdf, write_scene
from video2mesh.recon.train import run_segment


def _model_and_optimiser(seed: int = 0) -> tuple[Model, torch.optim.Optimizer]:
    cfg, _ = build_config({"preset": "cpu", "train": {"seed": seed}}, "object")
    torch.manual_seed(seed)
    model = Model(cfg, n_images=3)
    opt = torch.optim.AdamW(model.parameter_groups(cfg))
    # one step, so that every parameter has moved and has optimiser moments
    sum(p.square().sum() for p in model.parameters()).backward()
    opt.step()
    return model, opt


def _collapse(model: Model) -> None:
    """What DTU 65 under seed 27 showed: black (logits far below 0) and opaque."""
    assert model.background is not None
    with torch.no_grad():
        model.background.rgb2.bias.fill_(-30.0)
        model.background.density.bias.fill_(100.0)


def test_one_saturated_colour_unlike_the_photos_is_a_collapse_and_a_fresh_one_is_not() -> None:
    table, black = torch.tensor([0.30, 0.20, 0.13]), torch.tensor([0.04, 0.03, 0.02])
    model, _ = _model_and_optimiser()
    assert model.background is not None
    assert guard.colour_stats(model)[0] > 0.1  # 0.25 at most
    assert not guard.collapsed(model, table)
    _collapse(model)
    slope, rgb = guard.colour_stats(model)
    assert slope < 1e-9 and float(rgb.max()) < 1e-9
    assert guard.collapsed(model, table)  # DTU 65: its off-sphere pixels show the table
    assert not guard.collapsed(model, black)  # the temple's black backdrop: rightly black


def test_a_background_with_appearance_codes_is_watched_too() -> None:
    cfg, _ = build_config({"preset": "cpu", "train": {"appearance_dim": 8}}, "object")
    model = Model(cfg, n_images=3)
    assert model.bg_appearance is not None and guard.colour_stats(model)[0] > 0.1
    _collapse(model)
    assert guard.collapsed(model, torch.tensor([0.30, 0.20, 0.13]))


def test_the_restart_is_the_fresh_start_with_the_background_warming_up() -> None:
    model, opt = _model_and_optimiser(seed=5)
    _collapse(model)
    gen = torch.Generator()
    gen.manual_seed(123)
    assert guard.restart_warmup(opt) is None
    guard.restart(model, opt, gen, n_images=3, iteration=30)
    torch.manual_seed(5)
    fresh = Model(model.cfg, n_images=3)
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert all(float(v.abs().sum()) == 0.0 for s in opt.state.values() for v in s.values())
    assert torch.equal(gen.get_state(), torch.Generator().manual_seed(5).get_state())
    assert guard.restart_warmup(opt) == guard.RESTART_WARMUP == 0.05
    # the background's rate ramps over 5 % of the run (150 of 3000), the others do not
    cfg, final = model.cfg, 3000
    states = [schedule.state(cfg, it, final, guard.restart_warmup(opt)) for it in (15, 75, 150)]
    assert [round(st.bg_lr_factor, 3) for st in states] == [0.05, 0.5, 1.0]
    assert [round(st.lr_factor, 3) for st in states] == [0.5, 1.0, 1.0]
    set_learning_rates(opt, cfg, states[1])
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs["background"] == pytest.approx(0.5 * lrs["mlp"])
    # watched no more, and a checkpoint's optimiser state carries it to a resumed chain
    assert not guard.due(cfg, opt, 40, final)
    _, opt2 = _model_and_optimiser(seed=5)
    opt2.load_state_dict(opt.state_dict())
    assert guard.restart_warmup(opt2) == 0.05


def test_it_watches_the_warm_up_and_the_hundred_iterations_after_it() -> None:
    model, opt = _model_and_optimiser()
    cfg = model.cfg
    assert cfg.background == "nerf" and cfg.background_guard
    final = 3000  # warm-up: 1 % = 30 iterations
    watched = [it for it in range(1, 400) if guard.due(cfg, opt, it, final)]
    assert watched == list(range(10, 131, 10))
    off = dataclasses.replace(cfg, background_guard=False)
    assert not any(guard.due(off, opt, it, final) for it in range(1, 400))
    plain = dataclasses.replace(cfg, background="color")
    assert not any(guard.due(plain, opt, it, final) for it in range(1, 400))
    # a run that ramps its background as a restart would is not restarted
    ramped = dataclasses.replace(cfg, background_warmup=guard.RESTART_WARMUP)
    assert not guard.watched(ramped) and guard.watched(
        dataclasses.replace(ramped, background_warmup=0.02)
    )


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_scene(tmp_path_factory.mktemp("sphere"), sphere_sdf(0.5), n_views=8, size=32)


def _run(
    scene: tuple[Path, Path], out: Path, until: int = 60, resume: Path | None = None, **train
) -> dict:
    train = {"background": "nerf", "backdrop_weight": 0.0, **train}
    seg = tiny_segment(scene, out, until, 60, train, resume=resume)
    run_segment(seg)
    return torch.load(out / f"it{until}.pt", weights_only=False)


def _same_model(a: dict, b: dict) -> None:
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    assert torch.equal(a["rng"]["generator"], b["rng"]["generator"])


def test_a_run_whose_background_stays_live_is_the_same_with_and_without_the_guard(
    scene, tmp_path: Path
) -> None:
    on = _run(scene, tmp_path / "on", background_guard=True)
    off = _run(scene, tmp_path / "off", background_guard=False)
    assert on["config"]["background_guard"] and not off["config"]["background_guard"]
    _same_model(on, off)


def test_a_collapse_restarts_the_run_as_one_with_the_slow_background(
    scene, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[tuple[float, torch.Tensor]] = []
    live = guard.colour_stats

    def first_check_collapsed(model) -> tuple[float, torch.Tensor]:  # tested above
        checks.append(live(model))
        return (0.0, torch.zeros(3)) if len(checks) == 1 else checks[-1]

    monkeypatch.setattr(guard, "colour_stats", first_check_collapsed)
    restarted = _run(scene, tmp_path / "restarted", background_guard=True)
    assert len(checks) == 1  # watched no more after the restart
    monkeypatch.undo()
    slow = _run(scene, tmp_path / "slow", background_guard=False, background_warmup=0.05)
    _same_model(restarted, slow)
    groups = restarted["optimizer"]["param_groups"]
    assert [g.get("restart_warmup") for g in groups if g["name"] == "background"] == [0.05]
    rows = (tmp_path / "restarted" / "it60.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(10, 61, 10))
    # a chain of two segments, the first restarted: the second resumes the ramp, unwatched
    checks.clear()
    monkeypatch.setattr(guard, "colour_stats", first_check_collapsed)
    chain = tmp_path / "chain"
    _run(scene, chain, until=30, background_guard=True)
    second = _run(scene, chain, until=60, resume=chain / "it30.pt", background_guard=True)
    assert len(checks) == 1
    _same_model(second, restarted)


def test_what_only_the_background_draws_is_measured_and_a_collapse_to_it_is_kept(
    scene, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = load_dataset(scene[0], scene[1], 32)
    colour = ds.off_sphere_colour()
    assert colour is not None  # the sample sphere's backdrop is grey 0.3 (recon.synthetic)
    assert torch.allclose(colour, torch.full((3,), 0.3), atol=0.01)
    checks: list[int] = []

    def grey(model) -> tuple[float, torch.Tensor]:
        checks.append(1)
        return 0.0, torch.full((3,), 0.32)

    monkeypatch.setattr(guard, "colour_stats", grey)
    run = _run(scene, tmp_path / "grey", background_guard=True)
    assert len(checks) == 6  # every 10 iterations of 60 (the warm-up is 1)
    assert all("restart_warmup" not in g for g in run["optimizer"]["param_groups"])


def _white_then_table(padding: float) -> tuple[float, float, float]:
    """A background fitted to saturated white (a white table at 255), then to the table's grey:
    its mean colour after each, and the guard's slope while white."""
    cfg, _ = build_config({"preset": "cpu", "train": {"bg_colour_padding": padding}}, "object")
    torch.manual_seed(0)
    model = Model(cfg, n_images=3)
    background = model.background
    assert background is not None
    x, view = (t[:256] for t in guard.probe_points(torch.device("cpu")))
    opt = torch.optim.Adam(background.parameters(), lr=1e-3)
    means = []
    for target in (1.0, 0.3):
        for _ in range(100):
            loss = (background(x, view)[1] - target).abs().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            means.append(float(background(x, view)[1].mean()))
        if target == 1.0:
            slope, drawn = guard.colour_stats(model)
            assert float(drawn.max()) <= 1.0  # compared as drawn: clamped to the pixels' range
    return means[0], means[1], slope


def test_a_padded_background_comes_back_from_saturated_white_and_a_plain_one_stays_dead() -> None:
    white, table, slope = _white_then_table(0.0)
    assert white > 0.999 and table > 0.99 and slope < 1e-3  # dead: no gradient reaches it
    white, table, slope = _white_then_table(0.05)
    assert white > 1.0  # past white: the padded sigmoid's slope there pulls it back
    assert abs(table - 0.3) < 0.05
