"""video2mesh.workflow: what the rule files compute, on a config with every kind of scene and
both backends (the rules only bind wildcards to it; a dry run of the workflow uses it too)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

from video2mesh.workflow import (
    Plan,
    closing_lines,
    config_error,
    did_you_mean,
    one_of,
    quoted,
    report_command,
    typed_values,
)

REPO = Path(__file__).resolve().parents[1]

CONFIG = {
    "scenes": {
        "sample": {"source": "sample", "type": "object", "sample": {"frames": 30}},
        "clip": {"video": "data/Clip.MOV", "type": "scene"},
        "statue": {
            "images": "data/st",
            "reference": "scan.ply",
            "reference_cameras": "c.json",
            "reference_masks": "data/st_masks",
            "real_size": {"height": 0.42},
            "object": {"support": "mesh"},  # a small plain support SfM may miss
        },
    },
    "frames": {"count": 100, "max_size": 960},
    "sfm": {"matcher": "auto"},
    "object": {"support": "remove", "floaters": "remove", "find_support": True},
    "sphere": {"clip": {"radius": 2.0}},
    "runs": {
        "builtin": {"backend": "builtin", "extract": {"keep_largest": True}},
        "official": {"backend": "neuralangelo", "gpus": 2, "extract": {"colors": False}},
    },
    "sweep": {"iterations": [300, 100], "resolutions": [128, 64]},
    "report": {"flavor": "ai1-1-gpu", "prices": {"ai1-1-gpu": 1.93}},
}


@pytest.fixture
def plan() -> Plan:
    return Plan(CONFIG)


def test_scene_kinds_and_references(plan: Plan) -> None:
    assert plan.sample_scenes == ["sample"]
    assert plan.video_scenes == ["clip"] and plan.photo_scenes == ["statue"]
    # one notion of "has a reference" for the scene rules and the evaluation
    assert plan.reference_scenes == ["sample", "statue"]
    assert plan.eval_reference("clip", "builtin") == "results/clip/builtin/mesh/it300_res128.ply"
    assert plan.eval_reference("statue", "official") == "results/statue/reference.ply"
    assert plan.reference_kind("clip") == "finest-mesh"
    assert plan.if_reference("clip", "alignment.json") == []
    assert plan.if_reference("sample", "alignment.json") == ["results/sample/alignment.json"]
    assert plan.reference_inputs("statue", lambda p: f"local:{p}") == {
        "mesh": "local:scan.ply",
        "cameras": "local:c.json",
    }
    assert plan.reference_inputs("sample", lambda p: 1 / 0)["mesh"].startswith("results/")
    # object masks: each mesh's silhouette JSON feeds its evaluation, under the masks' cameras
    assert plan.if_masks("statue", "builtin", "300", "128") == [
        "results/statue/builtin/eval/it300_res128.silhouette.json"
    ]
    assert plan.if_masks("clip", "builtin", "300", "128") == []
    assert plan.silhouette_inputs("statue", lambda p: f"local:{p}") == {
        "cameras": "local:c.json",
        "model": [f"results/statue/sfm/sparse/{n}.bin" for n in ("cameras", "images", "points3D")],
    }


def test_scene_settings(plan: Plan) -> None:
    assert plan.input_file("clip") == "results/clip/input.mov"
    assert plan.input_file("statue") == "results/statue/input.tar"
    assert plan.input_file("sample") == "results/sample/input.mp4"
    assert plan.sample_args("sample") == "--frames 30"
    assert plan.sfm_matcher("clip") == "sequential" and plan.sfm_matcher("statue") == "exhaustive"
    assert plan.isolate_args("clip") == "--object-support keep --object-floaters keep"
    assert plan.isolate_args("sample") == "--object-support remove --object-floaters remove"
    assert plan.isolate_args("statue") == "--object-support mesh --object-floaters remove"
    assert plan.support_arg("clip") == "--no-support" and plan.support_arg("sample") == ""
    assert plan.sphere_overrides("clip") == '{"radius": 2.0}'
    assert plan.scene_type("statue") == "object"
    # the texture command's metres: one measured length, none where the user gave none
    assert plan.real_size_args("statue") == "--real-height 0.42"
    assert plan.real_size_args("clip") == ""


def test_training_chain_inputs(plan: Plan) -> None:
    assert plan.iterations == [100, 300]
    assert plan.previous_iteration("100") == 0 and plan.previous_iteration(300) == 100
    with pytest.raises(ValueError, match="200"):
        plan.previous_iteration(200)
    first = plan.train_inputs("clip", "builtin", 100)
    assert first == {
        "transforms": "results/clip/transforms.json",
        "images": "results/clip/sfm/images.tar",
    }
    assert (
        plan.train_inputs("clip", "builtin", 300)["resume"] == "results/clip/builtin/ckpt/it100.pt"
    )
    official = plan.train_inputs("clip", "official", "300")
    assert official["source"] == "results/neuralangelo/official/source.tar.gz"
    assert official["resume_metrics"] == "results/clip/official/ckpt/it100.csv"
    assert plan.runs_of("builtin") == ["builtin"] and plan.runs_of("neuralangelo") == ["official"]
    assert plan.save_every_seconds("builtin") == 300.0


def test_shell_arguments_are_quoted(plan: Plan) -> None:
    assert shlex.split(plan.run_config_arg("builtin")) == [
        '{"backend": "builtin", "extract": {"keep_largest": true}}'
    ]
    assert quoted("--resume", "My Drive/it1.pt") == "--resume 'My Drive/it1.pt'"
    assert quoted("--resume", None) == ""
    url = plan.partial_store_arg("s3", "s3://b/my runs/", "clip", "builtin", 300)
    assert shlex.split(url) == [
        "--partial-store",
        "s3://b/my runs/results/clip/builtin/ckpt/it300.partial.pt",
    ]
    assert plan.partial_store_arg(None, "s3://b/x", "clip", "builtin", 300) == ""
    assert plan.partial_store_arg("s3", None, "clip", "builtin", 300) == ""


def test_backends_say_what_their_jobs_need(plan: Plan) -> None:
    assert plan.needs("builtin").gpus == 1 and plan.needs("builtin").image is None
    official = plan.needs("official")
    assert official.gpus == 2 and official.image  # the official code's container
    assert plan.extract_inputs("clip", "official", 300) == {
        "ckpt": "results/clip/official/ckpt/it300.pt",
        "transforms": "results/clip/transforms.json",
        "source": "results/neuralangelo/official/source.tar.gz",
        "config": "results/clip/official/neuralangelo.yaml",
    }
    # only a backend's own inputs become --input NAME=PATH
    inputs = plan.train_inputs("clip", "official", 300).items()
    assert shlex.split(plan.backend_input_args(inputs)) == [
        "--input", "source=results/neuralangelo/official/source.tar.gz",
        "--input", "config=results/clip/official/neuralangelo.yaml",
        "--input", "resume_metrics=results/clip/official/ckpt/it100.csv",
    ]  # fmt: skip
    assert plan.backend_input_args(plan.train_inputs("clip", "builtin", 300).items()) == ""


def test_sweep_targets_each_once(plan: Plan) -> None:
    meshes = plan.mesh_targets()
    assert len(meshes) == len(set(meshes)) == 3 * 2 * 2 * 2
    assert meshes[0] == "results/sample/builtin/mesh/it100_res64.ply"
    # a pattern without {resolution} is not repeated per resolution
    csvs = plan.sweep("results/{scene}/{run}/ckpt/it{iterations}.csv", scene="clip")
    assert csvs == [
        f"results/clip/{r}/ckpt/it{n}.csv" for r in ("builtin", "official") for n in (100, 300)
    ]
    report = plan.report_targets()
    assert "results/statue/curves/time.png" in report and "results/clip/viewer.html" in report
    final = plan.final_targets()
    assert "results/statue/reference.ply" in final and "results/clip/reference.ply" not in final
    assert set(meshes) <= set(final)


def test_auto_values_are_sized_for_where_training_runs() -> None:
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    def sized(config: dict) -> tuple:
        plan = Plan({**CONFIG, **config})
        return plan.iterations, plan.resolutions, plan.texture["size"], plan.texture["faces"]

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    assert sized(config) == ([1000, 3000], [128, 256], 1024, 100_000)  # make run, on a CPU
    # `--profile ovh`: its --config line, parsed and merged over the config as Snakemake does
    profile = yaml.safe_load((REPO / "profiles" / "ovh" / "config.yaml").read_text())
    update_config(config, parse_config(profile["config"]))
    assert sized(config) == ([5000, 10000], [256, 512], 2048, 200_000)
    # what the user gives stays as given (sorted), auto or not beside it
    config["sweep"]["iterations"] = [20000, 2000]
    config["texture"]["faces"] = 0
    assert sized(config) == ([2000, 20000], [256, 512], 2048, 0)
    assert config["sweep"]["iterations"] == [20000, 2000]  # the config itself is left alone


def test_summary_options(plan: Plan) -> None:
    assert shlex.split(plan.report_summary_options()) == [
        "--backend", "builtin=builtin", "--backend", "official=neuralangelo",
        "--flavor", "*=ai1-1-gpu", "--price", "ai1-1-gpu=1.93",
    ]  # fmt: skip


def test_one_of() -> None:
    assert re.fullmatch(one_of(["a.b", "c"]), "a.b") and not re.fullmatch(one_of(["a.b"]), "axb")
    assert not re.fullmatch(one_of([]), "")


def test_nested_command_line_config_values_get_their_types_back() -> None:
    from snakemake.cli import parse_config

    given = parse_config(
        [
            "sweep={iterations: [1000, 3000], resolutions: [64]}",
            "sphere={sample: {radius: 1.5, center: [0, -0.25, 1e-2]}}",
            "object={support: keep}",
            "scenes={clip: {video: data/2024.mp4, type: object}}",
            "runs={fast: {backend: builtin, train: {fused_hash: false}}}",
        ]
    )
    assert given["sweep"]["iterations"] == ["1000", "3000"]  # what Snakemake hands over
    config = typed_values(given)
    assert config["sweep"] == {"iterations": [1000, 3000], "resolutions": [64]}
    assert config["sphere"]["sample"] == {"radius": 1.5, "center": [0, -0.25, 0.01]}
    assert config["object"] == {"support": "keep"}
    assert config["scenes"]["clip"] == {"video": "data/2024.mp4", "type": "object"}
    assert config["runs"]["fast"]["train"]["fused_hash"] is False
    # the sweep then builds the targets the user asked for
    plan = Plan({**CONFIG, **config, "scenes": {"sample": {"source": "sample"}}})
    assert plan.iterations == [1000, 3000] and plan.resolutions == [64]


def test_the_closing_lines_name_the_glbs_and_the_capture_notes_found(tmp_path) -> None:
    (tmp_path / "cup").mkdir()
    note = "every photo looks at the object from 16° above or less: add a loop from 40–50° above"
    (tmp_path / "cup" / "transforms.json").write_text(json.dumps({"capture": {"notes": [note]}}))
    glbs = {"cup": ["results/cup/b/mesh/it9_res8.glb"], "remote": ["results/remote/b/x.glb"]}
    lines = closing_lines(glbs, str(tmp_path)).splitlines()
    assert lines[0] == "video2mesh: done"
    assert "  cup: results/cup/b/mesh/it9_res8.glb" in lines
    assert f"  cup: capture note: {note}" in lines
    assert not any("remote: capture note" in line for line in lines)  # its file is elsewhere
    assert lines[-1].endswith("snakemake --report results/report.html")


def test_the_report_command_repeats_the_runs_config_options() -> None:
    # a report built without the run's --config shows another sweep (a new user's trial)
    argv = [
        "/venv/bin/snakemake",
        "--cores",
        "all",
        "--config",
        "sweep={iterations: [1000, 3000], resolutions: [64, 256]}",
        "sized_for=cpu",
        "-n",
        "--configfile=my run.yaml",
        "--profile",
        "ovh",
    ]
    assert report_command(argv) == (
        "snakemake --report results/report.html --config "
        "'sweep={iterations: [1000, 3000], resolutions: [64, 256]}' sized_for=cpu "
        "'--configfile=my run.yaml' --profile ovh"
    )
    assert report_command(["snakemake", "--cores", "2"]) == "snakemake --report results/report.html"
    lines = closing_lines({}, argv=argv).splitlines()
    assert lines[-1] == f"  the report with every mesh: {report_command(argv)}"


def test_a_misspelt_key_gets_the_key_it_resembles() -> None:
    known = ["matcher", "min_registered", "overlap", "loop_keyframes", "peak_threshold"]
    assert did_you_mean({"min_registred": 0.5, "matcher": "auto"}, known) == (
        " (did you mean 'min_registered' for 'min_registred'?)"
    )
    assert did_you_mean(["colour"], known) == ""  # nothing like it: no guess
    assert did_you_mean(["matcher"], known) == ""


def test_a_config_error_names_the_key_what_it_takes_and_the_key_it_resembles() -> None:
    import jsonschema

    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"sfm": {"type": "object", "additionalProperties": False,
                               "description": "SfM settings", "properties": {
                                   "min_registered": {"type": "number"}}}},
    }  # fmt: skip
    error = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(schema).iter_errors({"sfm": {"min_registred": 0.5}})
    )
    assert config_error(error) == (
        "Error validating config file: sfm: Additional properties are not allowed "
        "('min_registred' was unexpected) (did you mean 'min_registered' for 'min_registred'?) "
        "(sfm takes: SfM settings). What to do: fix that key in your config (every key is "
        "documented in config/schema.yaml)"
    )
