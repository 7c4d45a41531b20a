"""Paths as users have them ("My Drive", "OneDrive - Société", a folder named with quotes)
reach every shell command of the workflow quoted: a photo scene from such a folder, run by a
checkout and in a project folder whose paths hold spaces, quotes and non-ASCII characters,
goes through ingest, frames, SfM, scene, training and extraction to a mesh.

Scene names themselves are identifiers (config/schema.yaml: letters, digits, `_`, `-`): they
name S3 keys, job labels and report entries, and a bad one is refused before anything runs.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest
import trimesh
from v2m_testing import ROOT, snakemake

ODD = 'it\'s "odd" – café ünï 写真 $HOME `x` (1)'


def _copy_checkout(dest: Path) -> Path:
    """The workflow's own files in ``dest``: rules must not assume a tame checkout path."""
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("Snakefile", "rules", "config", "report", "envs", "src", "profiles"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest / "Snakefile"


def _photos_from_frames(frames_tar: Path, folder: Path) -> int:
    """The tiny run's frames as photos, named as a phone or Windows would (all 100: every
    other one registers only 22 of 50 in sequential matching, and exhaustive costs minutes)."""
    folder.mkdir(parents=True)
    with tarfile.open(frames_tar) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
        for n, member in enumerate(members):
            (folder / f"IMG {n:03d} (copie) 'é'.jpg").write_bytes(tar.extractfile(member).read())
    return len(members)


@pytest.mark.slow
def test_photo_scene_from_odd_paths_reaches_a_mesh(tmp_path, tiny_pipeline):
    snakefile = _copy_checkout(tmp_path / f"checkout {ODD}")
    photos = tmp_path / f"My Drive {ODD}" / "mug photos"
    n_photos = _photos_from_frames(tiny_pipeline / "results/sample/frames.tar", photos)
    work = tmp_path / f"project {ODD}"
    work.mkdir()
    config = {
        "scenes": {"mug": {"images": str(photos), "type": "object"}},
        "frames": {"count": 100, "max_size": 960},
        "sfm": {"matcher": "sequential"},  # photos in orbit order: fewer pairs than exhaustive
        "runs": {"builtin": {"backend": "builtin", "preset": "cpu"}},
        "sweep": {"iterations": [20], "resolutions": [32]},
    }
    cfg = work / f"config {ODD}.yaml"
    cfg.write_text(json.dumps(config, ensure_ascii=False))  # YAML reads JSON
    mesh = "results/mug/builtin/mesh/it20_res32.ply"
    targets = [mesh, "results/mug/sphere.png"]
    proc = snakemake(work, "--cores", "2", f"--configfile={cfg}", *targets, snakefile=snakefile)
    assert proc.returncode == 0, proc.stderr[-4000:]

    results = work / "results" / "mug"
    with tarfile.open(results / "input.tar") as tar:
        assert len(tar.getnames()) == n_photos
    t = json.loads((results / "transforms.json").read_text())
    # every photo keeps its stem, quotes and accents included, and most are registered
    assert all(f["file_path"].startswith("images/IMG ") for f in t["frames"])
    assert all(f["file_path"].endswith(" (copie) 'é'.jpg") for f in t["frames"])
    assert len(t["frames"]) >= 0.6 * n_photos
    m = trimesh.load(work / mesh)
    assert len(m.faces) > 0
