"""Official Neuralangelo adapter: config keys and command lines against the official names recorded
at the pinned commit (tests/data/neuralangelo_94390b6.json), schedules, images, log directory."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest

from video2mesh import neuralangelo as na
from video2mesh.errors import UserError
from video2mesh.official import train as official_train

DATA = Path(__file__).parent / "data" / "neuralangelo_94390b6.json"
RECORD = json.loads(DATA.read_text())
KEYS = {k for keys in RECORD["config_keys"].values() for k in keys}
TRANSFORMS = {
    "w": 537,
    "h": 957,
    "fl_x": 692.6,
    "fl_y": 692.6,
    "cx": 268.5,
    "cy": 478.5,
    "sphere_center": [0.1, 1.2, 0.8],
    "sphere_radius": 1.1,
    "aabb_range": [[-1.0, 1.2], [0.1, 2.3], [-0.3, 1.9]],
    "frames": [{"file_path": f"images/{i:06d}.jpg"} for i in range(50)],
}


def official_parser(script: str) -> argparse.ArgumentParser:
    """A parser with the official script's recorded flags (names and whether they take a value)."""
    p = argparse.ArgumentParser(add_help=False)
    for f in RECORD["argparse_flags"][script]:
        if f["takes_value"]:
            p.add_argument(f["flag"], required=f["required"])
        else:
            p.add_argument(f["flag"], action="store_true")
    return p


def parse_official(argv: list[str], script: str) -> tuple[argparse.Namespace, dict[str, str]]:
    """Parse like the official scripts (parse_known_args; the rest are --dotted.key=value)."""
    i = argv.index(script)
    args, rest = official_parser(script).parse_known_args(argv[i + 1 :])
    overrides = {}
    for item in rest:
        assert item.startswith("--") and "=" in item, item
        key, value = item[2:].split("=", 1)
        overrides[key] = value
    return args, overrides


def test_record_is_the_pinned_commit() -> None:
    assert RECORD["commit"] == na.OFFICIAL_COMMIT
    assert "how" in RECORD and "git show" in RECORD["how"]
    assert {"max_iter", "checkpoint.save_iter", "model.object.s_var.anneal_end"} <= KEYS


@pytest.mark.parametrize("scene_type", ["object", "scene"])
@pytest.mark.parametrize("mem", [8, 12, 16, 24, 80])
@pytest.mark.parametrize("schedule", ["official", "scaled"])
def test_generated_config_keys_exist_officially(scene_type: str, mem: float, schedule: str) -> None:
    run = na.OfficialRun(schedule=schedule, train={"model.appear_embed.enabled": True})
    gen = na.generate_config(TRANSFORMS, scene_type, 3000, [1000, 3000], run, mem)
    na.check_keys(gen.config, KEYS)  # raises on any key the official config lacks
    flat = na.flatten(gen.config)
    assert flat["data.train.image_size"] == [957, 537]
    assert flat["data.val.image_size"] == [534, 300]  # generate_config.py's rule, short side 300
    assert flat["max_iter"] == 3000 and flat["checkpoint.save_iter"] == 1000
    assert flat["data.num_images"] == 50  # appearance embedding on: number of images
    assert gen.config["_parent_"] == na.BASE_CONFIG
    init = flat["model.object.sdf.encoding.coarse2fine.init_active_level"]
    assert init == (4 if scene_type == "object" else 8)
    assert flat["model.object.sdf.mlp.inside_out"] is False  # scene -> outdoor preset


def test_unknown_override_is_refused() -> None:
    run = na.OfficialRun(train={"model.object.sdf.encoding.hashgrid.dictsize": 20})
    gen = na.generate_config(TRANSFORMS, "object", 1000, [1000], run, 24)
    with pytest.raises(UserError, match="dictsize"):
        na.check_keys(gen.config, KEYS)


def test_memory_table_follows_the_faq() -> None:
    hg = "model.object.sdf.encoding.hashgrid"
    assert na.memory_settings(80) == {} and na.memory_settings(23.6) == {}
    assert na.memory_settings(16)[f"{hg}.dict_size"] == 21
    assert na.memory_settings(16)[f"{hg}.dim"] == 8
    assert (na.memory_settings(12)[f"{hg}.dict_size"], na.memory_settings(12)[f"{hg}.dim"]) == (
        21,
        4,
    )
    assert (na.memory_settings(8)[f"{hg}.dict_size"], na.memory_settings(8)[f"{hg}.dim"]) == (20, 4)
    assert na.gpu_memory_gb(na.OfficialRun(gpu_model="H100"), detect=False)[0] == 80
    assert na.gpu_memory_gb(na.OfficialRun(gpu_memory_gb=12), detect=False)[0] == 12
    assert na.gpu_memory_gb(na.OfficialRun(), detect=False)[0] == 24


def test_scaled_schedule_math() -> None:
    assert na.schedule_overrides("official", 10_000) == {}
    s = na.schedule_overrides("scaled", 10_000)
    assert s["optim.sched.warm_up_end"] == 100
    assert s["model.object.sdf.encoding.coarse2fine.step"] == 100
    assert s["optim.sched.two_steps"] == [6000, 8000]
    # at the design length the scaled schedule is the official one
    full = na.schedule_overrides("scaled", na.OFFICIAL_LENGTH)
    assert full == {
        "optim.sched.warm_up_end": 5000,
        "optim.sched.two_steps": [300000, 400000],
        "model.object.sdf.encoding.coarse2fine.step": 5000,
    }
    # official at 10k: 4 of 16 levels all run long (the H100 reference run); scaled: all 16
    assert na.active_levels(10_000, 5000, 5000, 4) == 4
    assert na.active_levels(10_000, 100, 100, 4) == 16
    gen = na.generate_config(TRANSFORMS, "object", 10_000, [10_000], na.OfficialRun("x", "y"), 80)
    assert gen.notes["active_levels_at_final"] == 4 and gen.notes["schedule"] == "official"
    run = na.OfficialRun(schedule="scaled")
    gen = na.generate_config(TRANSFORMS, "object", 10_000, [10_000], run, 80)
    assert gen.notes["active_levels_at_final"] == 16 and gen.notes["schedule"] == "scaled"
    assert na.read_notes(na.dump_config(gen))["schedule"] == "scaled"
    with pytest.raises(UserError):
        na.OfficialRun.from_config({"backend": "neuralangelo", "schedule": "fast"})


def test_tiny_scaled_schedule_never_divides_by_zero() -> None:
    s = na.schedule_overrides("scaled", 20)
    assert (
        s["optim.sched.warm_up_end"] >= 1 and s["model.object.sdf.encoding.coarse2fine.step"] >= 1
    )


def test_segment_annealing_matches_the_chain() -> None:
    final, a = 30_000, 0.1
    for until in (1000, 10_000, 30_000):
        o = na.segment_overrides(until, final, a)
        assert o["max_iter"] == until
        a_seg = o.get("model.object.s_var.anneal_end", a)
        for it in range(0, until + 1, 250):
            # official: progress = it / max_iter; anneal_ratio = min(progress / anneal_end, 1)
            seg = min((it / until) / a_seg, 1.0)
            chain = min((it / final) / a, 1.0)
            assert seg == pytest.approx(chain, abs=1e-12)


def test_save_iter_from_the_sweep() -> None:
    assert na.save_iter([1000, 3000]) == 1000
    assert na.save_iter([5000, 20000, 50000]) == 5000
    assert na.save_iter([100_000, 500_000]) == 20_000  # capped at the official period


def test_train_command_parses_with_the_official_flags() -> None:
    argv = na.train_argv("/usr/bin/python3", Path("/w/logs"), Path("/w/chain.yaml"), 1000, 3000)
    assert argv[:5] == [
        "/usr/bin/python3",
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=1",
    ]
    args, overrides = parse_official(argv, na.TRAIN_SCRIPT)
    assert args.resume and args.logdir == "/w/logs" and args.config == "/w/chain.yaml"
    assert not args.single_gpu
    assert set(overrides) <= KEYS
    assert overrides["max_iter"] == "1000"
    assert float(overrides["model.object.s_var.anneal_end"]) == pytest.approx(0.3)
    last = na.train_argv("py", Path("l"), Path("c"), 3000, 3000, gpus=1, single_gpu=True)
    args, overrides = parse_official(last, na.TRAIN_SCRIPT)
    assert last[1] == na.TRAIN_SCRIPT and args.single_gpu and overrides == {"max_iter": "3000"}
    four = na.train_argv("py", Path("l"), Path("c"), 3000, 3000, gpus=4)
    assert "--nproc_per_node=4" in four
    with pytest.raises(UserError):
        na.train_argv("py", Path("l"), Path("c"), 3000, 3000, gpus=2, single_gpu=True)


@pytest.mark.parametrize("out", ["/tmp/m/mesh.ply", "mesh.ply", "sub/mesh.ply"])
def test_extract_command_parses_and_has_a_directory(out: str) -> None:
    argv = na.extract_argv("py", Path("/w/chain.yaml"), Path("/r/it1000.pt"), Path(out), 2048)
    args, overrides = parse_official(argv, na.EXTRACT_SCRIPT)
    assert overrides == {}
    assert args.resolution == "2048" and args.block_res == "128" and args.textured
    assert args.checkpoint == "/r/it1000.pt" and not args.keep_lcc  # LCC is ours, after welding
    assert os.path.dirname(args.output_file) != ""  # a bare name crashes os.makedirs (#140)
    plain = na.extract_argv("py", Path("c"), Path("k"), Path("/o/m.ply"), 512, 64, textured=False)
    assert not parse_official(plain, na.EXTRACT_SCRIPT)[0].textured


@pytest.mark.parametrize(
    ("model", "image"),
    [
        ("V100S", na.NVIDIA_IMAGE),
        ("Tesla V100S", na.NVIDIA_IMAGE),
        ("A100", na.NVIDIA_IMAGE),
        ("a10", na.NVIDIA_IMAGE),
        ("H100", na.SM90_IMAGE),
        ("NVIDIA H100 80GB HBM3", na.SM90_IMAGE),
        ("L40S", na.SM90_IMAGE),
        ("L4", na.SM90_IMAGE),
        ("B200", na.SM90_IMAGE),  # unknown new model: the newer image
        ("", na.NVIDIA_IMAGE),  # the executor's default flavor is a V100S
    ],
)
def test_image_by_gpu_model(model: str, image: str) -> None:
    assert na.job_image(na.OfficialRun(gpu_model=model)) == image


def test_image_settings_win() -> None:
    assert na.job_image(na.OfficialRun(gpu_model="H100", image="my/img:1")) == "my/img:1"
    run = na.OfficialRun(gpu_model="L40S", image_sm90="reg/na:sm90")
    assert na.job_image(run) == "reg/na:sm90"
    assert na.job_image(run, gpu_model="A100") == na.NVIDIA_IMAGE


def test_run_entry_validation() -> None:
    run = na.OfficialRun.from_config(
        '{"backend": "neuralangelo", "preset": "auto", "train": {}, "extract": {"block": 64},'
        ' "flavor": "h100-1-gpu"}'
    )
    assert run.commit == na.OFFICIAL_COMMIT and run.extract == {"block": 64}
    with pytest.raises(UserError, match="colour"):
        na.OfficialRun.from_config({"backend": "neuralangelo", "colour": 1})
    with pytest.raises(UserError):
        na.OfficialRun.from_config({"backend": "builtin"})


def test_restore_layout(tmp_path: Path) -> None:
    ckpt = tmp_path / "results" / "it1000.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"state")
    cfg = tmp_path / "chain.yaml"
    cfg.write_text("max_iter: 3000\n")
    logdir = tmp_path / "work" / "logs"
    official_train.restore_logdir(logdir, cfg, ckpt, None)
    name = (logdir / "latest_checkpoint.txt").read_text()
    assert name.endswith("\n")
    assert official_train.read_pointer(logdir) == "epoch_00000_iteration_000001000_checkpoint.pt"
    assert (logdir / name.strip()).resolve() == ckpt.resolve()
    assert (logdir / name.strip()).read_bytes() == b"state"
    assert (logdir / "config.yaml").read_text() == "max_iter: 3000\n"
    assert official_train.iteration_of(name.strip()) == 1000
    # the first segment: no pointer, train.py --resume starts from scratch
    official_train.restore_logdir(logdir, cfg, None, None)
    assert official_train.read_pointer(logdir) is None and ckpt.exists()


def test_prune_keeps_the_latest_and_inputs(tmp_path: Path) -> None:
    src = tmp_path / "it1000.pt"
    src.write_bytes(b"x")
    logdir = tmp_path / "logs"
    official_train.restore_logdir(logdir, src, src, 1000)
    for it in (2000, 3000, 4000):
        (logdir / f"epoch_00009_iteration_{it:09d}_checkpoint.pt").write_bytes(b"y")
    removed = official_train.prune_checkpoints(
        logdir, "epoch_00009_iteration_000003000_checkpoint.pt"
    )
    assert sorted(removed) == [
        "epoch_00000_iteration_000001000_checkpoint.pt",
        "epoch_00009_iteration_000002000_checkpoint.pt",
    ]
    left = sorted(p.name for p in logdir.glob("*_checkpoint.pt"))
    assert left == [
        "epoch_00009_iteration_000003000_checkpoint.pt",
        "epoch_00009_iteration_000004000_checkpoint.pt",  # newer: may still be being written
    ]
    assert src.read_bytes() == b"x"  # the rule input behind the link is untouched
