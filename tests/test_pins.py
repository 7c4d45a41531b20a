"""constraints.txt is the one place that pins versions: every dependency declared in
pyproject.toml (project and plugin) is pinned there within its declared range, and the conda env
and the OVH job image follow it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# conda-forge names of the pip distributions
CONDA_NAMES = {"pytorch": "torch", "matplotlib-base": "matplotlib"}


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: '{line}' is not name==version"
            pins[canonicalize_name(name)] = version
    return pins


def _declared() -> list[Requirement]:
    reqs = []
    for path in (
        ROOT / "pyproject.toml",
        ROOT / "plugins/snakemake-executor-plugin-ovh/pyproject.toml",
    ):
        project = tomllib.loads(path.read_text())["project"]
        reqs += [Requirement(r) for r in project["dependencies"]]
        if path.parent == ROOT:
            reqs += [Requirement(r) for r in project["optional-dependencies"]["dev"]]
    return reqs


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    pins = _pins()
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is declared but not pinned in constraints.txt"
        assert req.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {req}"
    torch = next(r for r in _declared() if r.name == "torch")
    assert any(s.operator == "<" for s in torch.specifier), "torch needs an upper bound"


def test_conda_env_follows_the_pins() -> None:
    env = yaml.safe_load((ROOT / "envs/video2mesh.yaml").read_text())
    pins = _pins()
    in_env = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # PyPI-only packages: the exact pins of constraints.txt
            for line in dep["pip"]:
                name, _, version = line.partition("==")
                assert pins.get(canonicalize_name(name)) == version, f"envs pip: {line}"
                in_env.add(canonicalize_name(name))
            continue
        name, _, version = dep.partition("=")
        if name in ("python", "pip"):
            continue
        pip_name = canonicalize_name(CONDA_NAMES.get(name, name))
        assert pip_name in pins, f"envs/video2mesh.yaml: {name} is not in constraints.txt"
        major_minor = ".".join(pins[pip_name].split(".")[:2])
        assert version == major_minor, f"envs/video2mesh.yaml: {dep}, constraints {major_minor}"
        in_env.add(pip_name)
    runtime = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for req in map(Requirement, runtime):
        if req.name != "snakemake":  # the rules' env runs under Snakemake, it does not hold it
            assert canonicalize_name(req.name) in in_env, f"{req.name} is missing in the conda env"


def test_job_image_and_makefile_install_with_the_constraints() -> None:
    pins = _pins()
    docker = (ROOT / "envs/ovh-job.Dockerfile").read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", docker, re.M))
    assert args["SNAKEMAKE_VERSION"] == pins["snakemake"]
    assert args["S3_PLUGIN_VERSION"] == pins["snakemake-storage-plugin-s3"]
    assert "pip install -c /tmp/constraints.txt" in docker
    makefile = (ROOT / "Makefile").read_text()
    assert makefile.count("pip install -q -c $(CONSTRAINTS)") == 2
