"""Snakemake resources -> AI Training JobSpec: flavors, timeouts, labels."""

from __future__ import annotations

import re

import pytest
from snakemake_executor_plugin_ovh.emulator.server import _flavor_json
from snakemake_executor_plugin_ovh.flavors import (
    flavor_limits,
    normalise_gpu_model,
    region_gpu_flavors,
)
from snakemake_executor_plugin_ovh.spec import (
    SpecOptions,
    build_job_spec,
    job_labels,
    job_timeout,
    parse_mapping,
    resolve_resources,
    sanitize_label,
)
from snakemake_interface_common.exceptions import WorkflowError

OPTS = SpecOptions(image="img:1", flavor="ai1-1-gpu", cpu_flavor="ai1-1-cpu")


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"gpu": 1}, {"flavor": "ai1-1-gpu", "gpu": 1}),
        ({"gpu": 2, "gpu_model": "H100"}, {"flavor": "h100-1-gpu", "gpu": 2}),
        ({"gpu": 1, "gpu_model": "Tesla-V100S"}, {"flavor": "ai1-1-gpu", "gpu": 1}),
        ({"gpu": 1, "gpu_model": "nvidia-l40s"}, {"flavor": "l40s-1-gpu", "gpu": 1}),
        ({"gpu": 1, "gpu_model": "A100"}, {"flavor": "a100-1-gpu", "gpu": 1}),
        ({"gpu": 1, "gpu_model": "L4"}, {"flavor": "l4-1-gpu", "gpu": 1}),
        ({"nvidia_gpu": 3}, {"flavor": "ai1-1-gpu", "gpu": 3}),
        (
            {"nvidia_gpu": "nvidia-tesla-t4", "ovh_flavor": "l4-1-gpu"},
            {"flavor": "l4-1-gpu", "gpu": 1},
        ),
        (
            {"gpu": 1, "gpu_model": "H100", "ovh_flavor": "l40s-1-gpu"},
            {"flavor": "l40s-1-gpu", "gpu": 1},
        ),
        ({"ovh_flavor": "h100-1-gpu"}, {"flavor": "h100-1-gpu", "gpu": 1}),
        ({"_cores": 4}, {"flavor": "ai1-1-cpu", "cpu": 4}),
        ({"_cores": 64}, {"flavor": "ai1-1-cpu", "cpu": 12}),
        ({}, {"flavor": "ai1-1-cpu", "cpu": 1}),
        ({"gpu": 0, "_cores": 2}, {"flavor": "ai1-1-cpu", "cpu": 2}),
    ],
)
def test_resource_to_flavor(resources: dict, expected: dict) -> None:
    assert resolve_resources(resources, OPTS) == expected


def test_extra_gpu_flavors_and_unknown_models() -> None:
    opts = SpecOptions(image="i", gpu_flavors=parse_mapping("RTX-6000=rtx6000-1-gpu", "x"))
    assert resolve_resources({"gpu": 1, "gpu_model": "rtx6000"}, opts)["flavor"] == "rtx6000-1-gpu"
    with pytest.raises(WorkflowError, match="no OVHcloud flavor"):
        resolve_resources({"gpu": 1, "gpu_model": "K80"}, OPTS)
    with pytest.raises(WorkflowError, match="per job"):
        resolve_resources({"gpu": 5}, OPTS)


def test_normalise_gpu_model() -> None:
    assert normalise_gpu_model("Ampere-A100") == "A100"
    assert normalise_gpu_model("NVIDIA Tesla V100S") == "V100S"
    assert normalise_gpu_model("L40s") == "L40S"
    known = {"A10", "A100", "A10080GB", "H100"}
    assert normalise_gpu_model("NVIDIA H100 80GB HBM3", known) == "H100"
    assert normalise_gpu_model("A100-80GB", known) == "A10080GB"  # exact beats prefix
    assert normalise_gpu_model("A10", known) == "A10"  # not A100
    assert normalise_gpu_model("A10G", known) == "A10G"  # a letter: another model


def test_gpu_models_map_through_the_regions_own_flavor_list() -> None:
    from snakemake_executor_plugin_ovh.emulator.jobs import FLAVORS

    listed = [_flavor_json(f) for f in FLAVORS]
    table = region_gpu_flavors(listed)
    # two V100S flavors: the default one wins; no A10 flavor exists
    assert table == {
        "V100S": "ai1-1-gpu", "A100": "a100-1-gpu", "H100": "h100-1-gpu",
        "L40S": "l40s-1-gpu", "L4": "l4-1-gpu",
    }  # fmt: skip
    opts = SpecOptions(image="i", region_gpu_flavors=table, flavor_max=flavor_limits(listed))
    assert resolve_resources({"gpu": 2, "gpu_model": "H100 80GB"}, opts)["flavor"] == "h100-1-gpu"
    with pytest.raises(WorkflowError, match="this region offers: A100, H100, L4, L40S, V100S"):
        resolve_resources({"gpu": 1, "gpu_model": "A10"}, opts)
    with pytest.raises(WorkflowError, match="at most 2 per job, not 3"):
        resolve_resources({"gpu": 3, "gpu_model": "A100"}, opts)
    with pytest.raises(WorkflowError, match="'a10-1-gpu' is not offered in this region"):
        resolve_resources({"gpu": 1, "ovh_flavor": "a10-1-gpu"}, opts)


def test_timeout_from_runtime_minutes_plus_margin() -> None:
    opts = SpecOptions(image="i", default_timeout=3600, timeout_margin=600)
    assert job_timeout({"runtime": 120}, opts) == 120 * 60 + 600
    assert job_timeout({}, opts) == 3600
    assert job_timeout({"runtime": "n/a"}, opts) == 3600


@pytest.mark.parametrize(
    "value", ["somedir2/subdir", "a b/c", "../../etc", "ü/ñ", "/", "x" * 200, "-lead-", "wc=1,2"]
)
def test_sanitize_label_accepts_anything(value: str) -> None:
    label = sanitize_label(value)
    assert re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?", label), label


def test_labels_name_run_rule_job_attempt() -> None:
    labels = job_labels("run1", "d", "uuid-1/2", 2, {"team": "a/b"})
    assert labels == {
        "team": "a_b",
        "snakemake-run": "run1",
        "snakemake-rule": "d",
        "snakemake-jobid": "uuid-1_2",
        "snakemake-attempt": "2",
    }
    with pytest.raises(WorkflowError):
        job_labels("r", "d", 1, 1, {"ovh/id": "x"})


def test_parse_mapping_rejects_garbage() -> None:
    assert parse_mapping(" a=1, b = 2 ,", "x") == {"a": "1", "b": "2"}
    with pytest.raises(WorkflowError):
        parse_mapping("a", "x")


def test_build_job_spec_shape() -> None:
    spec = build_job_spec(
        name="snakemake-d-3",
        image="img:1",
        command="echo hi",
        envvars={"B": "2", "A": "1"},
        resources={"gpu": 1, "runtime": 10},
        labels={"snakemake-run": "r"},
        options=OPTS,
    )
    assert spec["command"] == ["/bin/sh", "-c", "echo hi"]
    assert spec["envVars"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert spec["resources"] == {"flavor": "ai1-1-gpu", "gpu": 1}
    assert spec["timeout"] == 10 * 60 + 900
