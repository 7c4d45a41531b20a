# ruff: noqa: E501  (the shell template reads better unwrapped)
"""POSIX shell run inside the job before Snakemake: working directory, Python, pinned packages.

The job command is ``<workdir> <bootstrap> <format_job_exec with project install>``:

1. ``cd`` into a writable directory (OVHcloud runs containers as UID 42420; stock images'
   WORKDIR is often root-owned).
2. Bootstrap (unless ``bootstrap: false``): find a Python >= 3.11; if it already carries the
   submitter's exact snakemake and snakemake-storage-plugin-s3 versions use it as is, else make
   a venv (``--system-site-packages``, so an image's torch is reused) and pip-install the pins;
   with no Python >= 3.11 at all, get ``uv`` (pip from PyPI, else its installer) and let it
   fetch a standalone CPython 3.11. A ``python`` shim is put first on PATH because Snakemake
   calls ``python -m snakemake``.
3. After ``--deploy-sources`` unpacked the workflow (also with ``bootstrap: false``): the
   ``project-setup`` setting's shell commands, if any (the plugin assumes nothing about the
   workflow's layout; e.g. put its ``src/`` first on PYTHONPATH, ``pip install .``).
"""

from __future__ import annotations

import re
import shlex
from importlib import metadata

PROJECT_STEP = "ovh_install_project"
_DIRECTORY_ARG = re.compile(r"--directory(?:=|\s+)(?:'[^']*'|\"[^\"]*\"|\S+)")


def rewrite_directory(command: str) -> str:
    """``--directory <submitter path>`` (set when the submitter used a workdir) would send the
    job to a fresh, empty copy of that path, away from where ``--deploy-sources`` unpacked the
    workflow: run in the job's own working directory instead."""
    return _DIRECTORY_ARG.sub('--directory "$PWD"', command)


def installed_version(distribution: str) -> str:
    return metadata.version(distribution)


def workdir_script(job_workdir: str | None) -> str:
    if job_workdir:
        target = shlex.quote(job_workdir)
        return f"set -e\nmkdir -p {target}\ncd {target}\n"
    return (
        "set -e\n"
        'for ovh_d in "$HOME" /workspace "${TMPDIR:-/tmp}" /tmp; do\n'
        '  if [ -n "$ovh_d" ] && mkdir -p "$ovh_d/snakemake-job" 2>/dev/null'
        ' && [ -w "$ovh_d/snakemake-job" ]; then cd "$ovh_d/snakemake-job"; break; fi\n'
        "done\n"
    )


def bootstrap_script(snakemake_version: str, s3_plugin_version: str) -> str:
    pins = (
        shlex.quote(f"snakemake=={snakemake_version}")
        + " "
        + shlex.quote(f"snakemake-storage-plugin-s3=={s3_plugin_version}")
    )
    check = (
        "import importlib.metadata as m, sys; "
        f"sys.exit(0 if m.version('snakemake') == '{snakemake_version}' and "
        f"m.version('snakemake-storage-plugin-s3') == '{s3_plugin_version}' else 1)"
    )
    return f"""\
ovh_log() {{ echo "[ovh-bootstrap] $*" >&2; }}
OVH_HOME="$PWD"
OVH_PY=""
for ovh_c in python3.13 python3.12 python3.11 python3 python; do
  if command -v "$ovh_c" >/dev/null 2>&1 && "$ovh_c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    OVH_PY="$(command -v "$ovh_c")"; break
  fi
done
ovh_has_pins() {{ "$1" -c {shlex.quote(check)} 2>/dev/null; }}
ovh_get_uv() {{
  if command -v uv >/dev/null 2>&1; then OVH_UV="$(command -v uv)"; return 0; fi
  OVH_UV="$OVH_HOME/.ovh-uv/bin/uv"
  for ovh_p in python3 python; do
    if command -v "$ovh_p" >/dev/null 2>&1 && "$ovh_p" -m pip --version >/dev/null 2>&1; then
      "$ovh_p" -m pip install -q --disable-pip-version-check --target "$OVH_HOME/.ovh-uv" uv && return 0
    fi
  done
  if command -v curl >/dev/null 2>&1; then
    curl -LsSf https://astral.sh/uv/install.sh | env UV_INSTALL_DIR="$OVH_HOME/.ovh-uv/bin" UV_NO_MODIFY_PATH=1 sh && return 0
  elif command -v wget >/dev/null 2>&1; then
    wget -qO- https://astral.sh/uv/install.sh | env UV_INSTALL_DIR="$OVH_HOME/.ovh-uv/bin" UV_NO_MODIFY_PATH=1 sh && return 0
  fi
  ovh_log "no Python >= 3.11, no pip, curl or wget in this image: use bootstrap: false with a prepared image"
  return 1
}}
if [ -n "$OVH_PY" ] && ovh_has_pins "$OVH_PY"; then
  ovh_log "using $OVH_PY as is"
else
  OVH_VENV="$OVH_HOME/.ovh-venv"
  if [ -n "$OVH_PY" ] && "$OVH_PY" -m venv --system-site-packages "$OVH_VENV" >/dev/null 2>&1; then
    ovh_log "venv from $OVH_PY"
    "$OVH_VENV/bin/python" -m pip install -q --disable-pip-version-check {pins}
  else
    ovh_log "fetching Python 3.11 with uv"
    ovh_get_uv
    export UV_PYTHON_INSTALL_DIR="$OVH_HOME/.ovh-uv/python" UV_CACHE_DIR="$OVH_HOME/.ovh-uv/cache"
    "$OVH_UV" venv -q --seed --python 3.11 "$OVH_VENV"
    "$OVH_UV" pip install -q --python "$OVH_VENV/bin/python" {pins}
  fi
  OVH_PY="$OVH_VENV/bin/python"
fi
mkdir -p "$OVH_HOME/.ovh-bin"
printf '#!/bin/sh\\nexec "%s" "$@"\\n' "$OVH_PY" > "$OVH_HOME/.ovh-bin/python"
chmod +x "$OVH_HOME/.ovh-bin/python"
export PATH="$OVH_HOME/.ovh-bin:$PATH"
"""


def project_script(setup: str | None) -> str:
    """Shell function run after the sources are deployed: the workflow's own setup commands
    (``--ovh-project-setup``), or nothing."""
    if not setup or not setup.strip():
        return f"{PROJECT_STEP}() {{ :; }}\n"
    return f'{PROJECT_STEP}() {{\n  echo "[ovh-bootstrap] project setup" >&2\n{setup.strip()}\n}}\n'


def insert_project_step(exec_command: str, precommand: str) -> str:
    """Run the project install right after ``--deploy-sources`` (the precommand) unpacked it."""
    if precommand and precommand in exec_command:
        return exec_command.replace(precommand, f"{precommand} && {PROJECT_STEP}", 1)
    return f"{PROJECT_STEP} && {exec_command}"


def job_script(
    exec_command: str,
    *,
    precommand: str,
    bootstrap: bool,
    job_workdir: str | None,
    snakemake_version: str,
    s3_plugin_version: str,
    project_setup: str | None = None,
) -> str:
    parts = [workdir_script(job_workdir)]
    if bootstrap:
        parts.append(bootstrap_script(snakemake_version, s3_plugin_version))
    parts.append(project_script(project_setup))
    exec_command = insert_project_step(exec_command, precommand)
    parts.append(rewrite_directory(exec_command) + "\n")
    return "".join(parts)
