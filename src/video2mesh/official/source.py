"""The official code as data: its source archive at a pinned commit, unpacked into a job's
scratch directory with the images and the chain config (see video2mesh.official)."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from video2mesh import neuralangelo as na
from video2mesh.atomic import atomic_path
from video2mesh.errors import UserError

log = logging.getLogger(__name__)


def _git(*args: str, cwd: Path | None = None) -> str:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    res = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if res.returncode:
        raise subprocess.CalledProcessError(res.returncode, ["git", *args], res.stdout, res.stderr)
    return res.stdout.strip()


def make_source_archive(repo: str, commit: str, out: Path) -> dict[str, Any]:
    """Fetch ``commit`` of ``repo`` (URL or local path) and write its tree as ``out`` (.tar.gz),
    with a manifest member naming the repository and the full commit."""
    if not re.fullmatch(r"[0-9a-fA-F]{7,40}", commit):
        raise UserError(f"commit {commit!r} is not a hexadecimal commit id", "pin a commit")
    if shutil.which("git") is None:
        raise UserError("git is not installed", "install git on the submitting machine")
    with tempfile.TemporaryDirectory(prefix="v2m-na-src-") as tmp:
        g = Path(tmp) / "git"
        _git("init", "-q", "--bare", str(g))
        try:  # one commit only (servers allow a full id in `want`)
            _git("fetch", "-q", "--depth", "1", repo, commit, cwd=g)
            sha = _git("rev-parse", "FETCH_HEAD^{commit}", cwd=g)
        except subprocess.CalledProcessError:
            try:  # a short id: fetch everything, then resolve it
                _git(
                    "fetch",
                    "-q",
                    repo,
                    "+refs/heads/*:refs/heads/*",
                    "+refs/tags/*:refs/tags/*",
                    cwd=g,
                )
                sha = _git("rev-parse", "--verify", f"{commit}^{{commit}}", cwd=g)
            except subprocess.CalledProcessError as exc:
                raise UserError(
                    f"cannot fetch commit {commit} of {repo}: {exc.stderr.strip()[-300:]}",
                    "check runs.<run>.repo and commit, and network access from this machine",
                ) from None
        if not sha.lower().startswith(commit.lower()):
            raise UserError(f"{commit} resolved to {sha}", "pin the commit unambiguously")
        raw = subprocess.run(
            ["git", "archive", "--format=tar", "--prefix=neuralangelo/", sha],
            cwd=g,
            capture_output=True,
            check=True,
        ).stdout
    manifest = {"repo": repo, "commit": sha, "created_by": "video2mesh official-source"}
    data = json.dumps(manifest, indent=1).encode()
    with (
        atomic_path(out) as tmp_out,
        tarfile.open(tmp_out, "w:gz") as dst,
        tarfile.open(fileobj=io.BytesIO(raw)) as src,
    ):
        for member in src:
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo(f"neuralangelo/{na.SOURCE_MANIFEST}")
        info.size, info.mtime = len(data), 0
        dst.addfile(info, io.BytesIO(data))
    return {**manifest, "bytes": out.stat().st_size, "out": str(out)}


def _member_text(archive: Path, rel: str) -> str:
    with tarfile.open(archive) as tar:
        fh = tar.extractfile(f"neuralangelo/{rel}")
        if fh is None:
            raise UserError(f"{archive} has no neuralangelo/{rel}", "rebuild the source archive")
        return fh.read().decode()


def source_keys(archive: Path) -> set[str]:
    """Dotted config keys of the archived base.yaml over imaginaire/config_base.yaml."""
    import yaml

    keys: set[str] = set()
    for rel in ("imaginaire/config_base.yaml", na.BASE_CONFIG):
        keys |= set(na.flatten(yaml.safe_load(_member_text(archive, rel)) or {}))
    return keys


def source_manifest(archive: Path) -> dict[str, Any]:
    try:
        return json.loads(_member_text(archive, na.SOURCE_MANIFEST))
    except (KeyError, UserError):
        return {}


def unpack_source(archive: Path, dest: Path) -> Path:
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    code = dest / "neuralangelo"
    if not (code / na.TRAIN_SCRIPT).exists():
        raise UserError(f"{archive} holds no neuralangelo/{na.TRAIN_SCRIPT}", "rebuild it")
    return code


def prepare_data(dest: Path, transforms: Path, images: Path | None) -> Path:
    """data.root: transforms.json beside images/ (the images only for training)."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copyfile(transforms, dest / "transforms.json")
    if images is not None:
        with tarfile.open(images) as tar:
            tar.extractall(dest, filter="data")
        if not (dest / "images").is_dir():
            raise UserError(
                f"{images} has no images/ folder", "pass results/{scene}/sfm/images.tar"
            )
    return dest


def write_chain_config(chain_text: str, code: Path, data: Path, path: Path) -> dict[str, Any]:
    import yaml

    cfg = na.materialise(yaml.safe_load(chain_text), code, data)
    path.write_text(yaml.safe_dump(cfg, default_flow_style=None, sort_keys=True))
    return cfg
