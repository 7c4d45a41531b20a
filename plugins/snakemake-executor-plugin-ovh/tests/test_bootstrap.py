"""The job script: writable workdir, Python with the exact pins, project step, --directory."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

from snakemake_executor_plugin_ovh.bootstrap import (
    PROJECT_STEP,
    insert_project_step,
    job_script,
    rewrite_directory,
)

VENV_BIN = str(Path(sys.executable).parent)


def run_script(script: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    return subprocess.run(
        ["/bin/sh", "-c", script], cwd="/", env=env, capture_output=True, text=True, timeout=60
    )


# what a workflow with a src/ layout may put in --ovh-project-setup
SRC_FIRST = 'export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"'


def script_for(
    exec_command: str, precommand: str = "", bootstrap: bool = True, setup: str | None = None
) -> str:
    return job_script(
        exec_command,
        precommand=precommand,
        bootstrap=bootstrap,
        job_workdir=None,
        snakemake_version=metadata.version("snakemake"),
        s3_plugin_version=metadata.version("snakemake-storage-plugin-s3"),
        project_setup=setup,
    )


def test_bootstrap_uses_a_python_that_already_has_the_pins(tmp_path: Path) -> None:
    precommand = "mkdir -p src"
    command = (
        f"{precommand} && python -c 'import os, sys, snakemake; "
        'print(os.getcwd()); print(os.environ["PYTHONPATH"])\''
    )
    result = run_script(script_for(command, precommand, setup=SRC_FIRST), tmp_path)
    assert result.returncode == 0, result.stderr
    cwd, pythonpath = result.stdout.split()
    assert cwd == str(tmp_path / "snakemake-job")  # a writable dir under $HOME
    assert pythonpath.startswith(f"{cwd}/src")  # the setup ran after the sources came
    assert "as is" in result.stderr and "project setup" in result.stderr
    assert (tmp_path / "snakemake-job" / ".ovh-bin" / "python").exists()


def test_without_bootstrap_or_setup_only_the_workdir_is_prepared(tmp_path: Path) -> None:
    precommand = "mkdir -p src && touch pyproject.toml"
    command = f'{precommand} && pwd && echo "PP=$PYTHONPATH"; exit 3'
    result = run_script(script_for(command, precommand, bootstrap=False), tmp_path)
    assert result.returncode == 3  # the job's exit code is the script's
    cwd, pythonpath = result.stdout.split()
    assert cwd == str(tmp_path / "snakemake-job") and pythonpath == "PP="  # no layout assumed
    assert "ovh-bootstrap" not in result.stderr
    assert not (tmp_path / "snakemake-job" / ".ovh-bin").exists()


def test_a_failing_project_setup_fails_the_job(tmp_path: Path) -> None:
    command = "true && echo never"
    result = run_script(script_for(command, "true", bootstrap=False, setup="exit 9"), tmp_path)
    assert result.returncode == 9 and "never" not in result.stdout


def test_unwritable_home_falls_back(tmp_path: Path) -> None:
    home = tmp_path / "ro"
    home.mkdir()
    home.chmod(0o500)
    try:
        result = run_script(script_for("pwd", bootstrap=False), home)
    finally:
        home.chmod(0o700)
    assert result.returncode == 0
    if not (home / "snakemake-job").exists():  # root ignores the mode bits
        assert result.stdout.strip().endswith("/snakemake-job")


def test_project_step_follows_the_source_deployment() -> None:
    pre = "python -m snakemake --deploy-sources s3://b/p/x.tar.xz abc"
    cmd = f"{pre} && python -m snakemake --target-jobs 'a:'"
    assert insert_project_step(cmd, pre) == (
        f"{pre} && {PROJECT_STEP} && python -m snakemake --target-jobs 'a:'"
    )
    assert (
        insert_project_step("python -m snakemake", "") == f"{PROJECT_STEP} && python -m snakemake"
    )


def test_submitter_directory_is_replaced_by_the_job_directory() -> None:
    assert rewrite_directory("snakemake --directory '/home/a b/x' --nolock") == (
        'snakemake --directory "$PWD" --nolock'
    )
    assert rewrite_directory("snakemake --directory /tmp/x") == 'snakemake --directory "$PWD"'
    assert rewrite_directory("snakemake --cores 1") == "snakemake --cores 1"
