"""Official backend jobs end to end on CPU with stand-ins for NVIDIA's scripts (written here, they
mimic only the interface: flags, log directory, checkpoint names, printed lines, block-wise mesh
with unwelded seams): source archive, a chain of two segments, extraction with our weld."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from video2mesh import neuralangelo as na
from video2mesh.official import extract as official_extract
from video2mesh.official import source as official_source
from video2mesh.official import train as official_train

FAKE_TRAIN = r"""
import argparse, json, os, sys
p = argparse.ArgumentParser()
p.add_argument("--config", required=True); p.add_argument("--logdir")
p.add_argument("--resume", action="store_true"); p.add_argument("--single_gpu", action="store_true")
args, rest = p.parse_known_args()
over = dict(a[2:].split("=", 1) for a in rest)
import yaml
cfg = yaml.safe_load(open(args.config))
assert os.path.exists(cfg["_parent_"]), cfg["_parent_"]
assert os.path.isdir(os.path.join(cfg["data"]["root"], "images"))
max_iter = int(over["max_iter"]); save = int(cfg["checkpoint"]["save_iter"])
start = 0
ptr = os.path.join(args.logdir, "latest_checkpoint.txt")
if args.resume and os.path.exists(ptr):
    start = json.load(open(os.path.join(args.logdir, open(ptr).read().strip())))["iteration"]
print("resumed at", start, "anneal", over.get("model.object.s_var.anneal_end"))
yaml.safe_dump(cfg, open(os.path.join(args.logdir, "config.yaml"), "w"))
for it in range(start + 1, max_iter + 1):
    if it % 100 == 0:
        print(f"Iteration: {it}, average iter time: 0.001000.")
    if it % save == 0 or it == max_iter:
        name = f"epoch_{it // 25:05}_iteration_{it:09}_checkpoint.pt"
        json.dump({"iteration": it}, open(os.path.join(args.logdir, name), "w"))
        open(ptr, "w").write(name + "\n")
        print("Saved checkpoint to " + os.path.join(args.logdir, name), flush=True)
print("Done with training!!!")
"""

FAKE_EXTRACT = r"""
import argparse, json, os
import numpy as np, trimesh, yaml
from skimage.measure import marching_cubes
p = argparse.ArgumentParser()
for f in ("--config", "--checkpoint", "--output_file"): p.add_argument(f)
p.add_argument("--resolution", type=int); p.add_argument("--block_res", type=int)
p.add_argument("--textured", action="store_true")
p.add_argument("--single_gpu", action="store_true")
args, _ = p.parse_known_args()
cfg = yaml.safe_load(open(args.config))
meta = json.load(open(os.path.join(cfg["data"]["root"], "transforms.json")))
c, r = np.array(meta["sphere_center"]), meta["sphere_radius"]
b = (np.array(meta["aabb_range"]) - c[:, None]) / r
h = 2.0 / args.resolution
axes = [np.arange(lo, hi, h, dtype=np.float32) for lo, hi in b]  # float32 as torch.arange
n, blocks = args.block_res, []
for i in range(0, len(axes[0]), n):
    for j in range(0, len(axes[1]), n):
        for k in range(0, len(axes[2]), n):
            g = np.stack(np.meshgrid(axes[0][i:i+n+1], axes[1][j:j+n+1], axes[2][k:k+n+1],
                                     indexing="ij"), -1)
            sdf = np.linalg.norm(g - [0.1, 0.0, 0.05], axis=-1) - 0.5
            if sdf.min() > 0 or sdf.max() < 0:
                continue
            v, f, _, _ = marching_cubes(sdf, 0.0)
            v = v * h + g[0, 0, 0]
            col = np.full((len(v), 4), 200, np.uint8) if args.textured else None
            blocks.append(trimesh.Trimesh(v, f, vertex_colors=col, process=False))
mesh = trimesh.util.concatenate(blocks)
print("vertices:", len(mesh.vertices))
mesh.vertices = mesh.vertices * r + c
os.makedirs(os.path.dirname(args.output_file), exist_ok=True)
mesh.export(args.output_file)
"""

# the builtin backend's stats keys (recon/extract.py)
BUILTIN_STATS = {
    "vertices", "faces", "components", "watertight", "area", "bbox_min", "bbox_max",
    "iteration", "resolution", "keep_largest", "blocks_total", "blocks_evaluated",
    "sdf_points", "device", "extract_seconds", "seconds", "peak_host_bytes",
}  # fmt: skip


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A local git repository standing in for NVlabs/neuralangelo, archived at its commit."""
    repo = tmp_path / "upstream"
    (repo / "projects/neuralangelo/scripts").mkdir(parents=True)
    (repo / "projects/neuralangelo/configs").mkdir(parents=True)
    (repo / "imaginaire").mkdir()
    (repo / "train.py").write_text(FAKE_TRAIN)
    (repo / na.EXTRACT_SCRIPT).write_text(FAKE_EXTRACT)
    (repo / na.BASE_CONFIG).write_text("max_iter: 500000\ncheckpoint:\n  save_iter: 20000\n")
    (repo / "imaginaire/config_base.yaml").write_text("logging_iter: 100\n")
    _git(tmp_path, "init", "-q", str(repo))
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "fake")
    sha = _git(repo, "rev-parse", "HEAD")
    out = tmp_path / "src" / "source.tar.gz"
    info = official_source.make_source_archive(str(repo), sha[:7], out)
    assert info["commit"] == sha
    return out


def test_source_archive(source: Path) -> None:
    with tarfile.open(source) as tar:
        names = tar.getnames()
    assert "neuralangelo/train.py" in names
    assert official_source.source_manifest(source)["commit"].startswith(
        official_source.source_manifest(source)["commit"][:7]
    )
    assert official_source.source_keys(source) == {
        "max_iter",
        "checkpoint.save_iter",
        "logging_iter",
    }


def test_source_archive_refuses_a_missing_commit(tmp_path: Path, source: Path) -> None:
    with pytest.raises(na.UserError):
        official_source.make_source_archive(
            str(tmp_path / "upstream"), "deadbeef", tmp_path / "x.tar.gz"
        )


def _scene(tmp_path: Path) -> tuple[Path, Path]:
    meta = {
        "w": 40,
        "h": 30,
        "sphere_center": [0.3, -0.2, 1.0],
        "sphere_radius": 2.0,
        "aabb_range": [[-1.7, 2.3], [-2.2, 1.8], [-1.0, 3.0]],
        "frames": [{"file_path": "images/000000.jpg"}],
    }
    transforms = tmp_path / "transforms.json"
    transforms.write_text(json.dumps(meta))
    images = tmp_path / "images.tar"
    with tarfile.open(images, "w") as tar:
        info = tarfile.TarInfo("images/000000.jpg")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"jpg"))
    return transforms, images


def _chain_config(tmp_path: Path, transforms: Path) -> Path:
    run = na.OfficialRun(schedule="scaled")
    gen = na.generate_config(
        json.loads(transforms.read_text()), "object", 3000, [1000, 3000], run, 80
    )
    path = tmp_path / "results/s/official/neuralangelo.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(na.dump_config(gen))
    return path


def _stub_checkpoint(tmp_path: Path) -> Path:
    """A checkpoint file for the stub extract_mesh.py (which does not read it)."""
    ck = tmp_path / "results/s/official/ckpt/it3000.pt"
    ck.parent.mkdir(parents=True)
    ck.write_text("{}")
    return ck


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_chain_of_segments(tmp_path: Path, source: Path) -> None:
    transforms, images = _scene(tmp_path)
    cfg = _chain_config(tmp_path, transforms)
    ckpt = tmp_path / "results/s/official/ckpt"
    common = dict(source=source, config=cfg, transforms=transforms, images=images, final=3000)
    first = official_train.TrainJob(
        until=1000,
        out=ckpt / "it1000.pt",
        metrics=ckpt / "it1000.csv",
        single_gpu=True,
        python=sys.executable,
        **common,
    )
    s1 = official_train.run_train(first)
    assert json.loads((ckpt / "it1000.pt").read_text()) == {"iteration": 1000}
    assert s1["start"] == 0
    second = official_train.TrainJob(
        until=3000,
        out=ckpt / "it3000.pt",
        metrics=ckpt / "it3000.csv",
        resume=ckpt / "it1000.pt",
        resume_metrics=ckpt / "it1000.csv",
        single_gpu=True,
        python=sys.executable,
        **common,
    )
    s2 = official_train.run_train(second)
    assert s2["start"] == 1000
    assert json.loads((ckpt / "it3000.pt").read_text()) == {"iteration": 3000}
    # scratch removed; superseded in-segment saves gone; earlier sweep point kept
    left = sorted(p.name for p in ckpt.iterdir())
    assert left == ["it1000.csv", "it1000.pt", "it3000.csv", "it3000.pt"]
    rows1 = _rows(ckpt / "it1000.csv")
    rows2 = _rows(ckpt / "it3000.csv")
    assert int(rows2[0]["iteration"]) == 1100
    assert int(rows2[-1]["iteration"]) == 3000
    assert float(rows2[0]["elapsed_s"]) >= float(rows1[-1]["elapsed_s"])  # cumulative
    assert rows2[-1]["active_levels"] == "16"  # scaled schedule: all levels by the end
    assert list(rows1[0])[:13] == official_train.METRIC_COLUMNS[:13]


def test_segment_failure_keeps_its_own_save(tmp_path: Path, source: Path) -> None:
    transforms, images = _scene(tmp_path)
    cfg = _chain_config(tmp_path, transforms)
    ckpt = tmp_path / "results/s/official/ckpt"
    job = official_train.TrainJob(
        source=source,
        config=cfg,
        transforms=transforms,
        images=images,
        until=1000,
        final=3000,
        out=ckpt / "it1000.pt",
        metrics=ckpt / "it1000.csv",
        single_gpu=True,
        python=str(tmp_path / "no-such-python"),
    )
    with pytest.raises((na.UserError, OSError)):
        official_train.run_train(job)
    assert not (ckpt / "it1000.pt").exists()


def test_extraction_welds_block_seams(tmp_path: Path, source: Path) -> None:
    import trimesh

    transforms, _ = _scene(tmp_path)
    cfg = _chain_config(tmp_path, transforms)
    ck = _stub_checkpoint(tmp_path)
    mesh_dir = tmp_path / "results/s/official/mesh"
    stats = {}
    for keep in (False, True):
        job = official_extract.ExtractJob(
            source=source,
            config=cfg,
            transforms=transforms,
            ckpt=ck,
            resolution=64,
            block=16,  # many blocks, many seams
            keep_largest=keep,
            single_gpu=True,
            python=sys.executable,
            out=mesh_dir / f"it3000_res64_{keep}.ply",
            stats=mesh_dir / f"it3000_res64_{keep}.json",
        )
        stats[keep] = official_extract.run_extract(job)
    st = stats[False]
    assert set(st) >= BUILTIN_STATS
    assert st["backend"] == "neuralangelo" and st["schedule"] == "scaled"
    assert st["iteration"] == 3000 and st["resolution"] == 64
    assert st["vertices"] < st["official_vertices"]  # seam copies merged
    assert st["components"] == 1 and st["watertight"]  # one closed sphere after the weld
    assert st["blocks_total"] == 4**3
    m = trimesh.load(mesh_dir / "it3000_res64_False.ply", process=False)
    assert m.is_watertight
    assert np.allclose(m.visual.vertex_colors[:, :3], 200)  # colours follow the weld
    # world units: the sphere of radius 0.5 (normalised) scaled by 2 around the centre
    centre = np.array([0.3, -0.2, 1.0]) + 2.0 * np.array([0.1, 0.0, 0.05])
    radii = np.linalg.norm(m.vertices - centre, axis=1)
    assert radii.min() > 0.95 and radii.max() < 1.05
    assert stats[True]["vertices"] == st["vertices"]  # one component: LCC keeps everything
    assert json.loads((mesh_dir / "it3000_res64_False.json").read_text())["faces"] == st["faces"]
    assert not any(p.name.endswith(".work") for p in mesh_dir.iterdir())


def test_extraction_isolates_an_object_as_the_builtin_backend(tmp_path: Path, source: Path) -> None:
    """`type: object` meshes of the official backend come out alone too: the support plane of
    transforms.json cuts the stub's sphere through its centre."""
    import trimesh

    transforms, _ = _scene(tmp_path)
    meta = json.loads(transforms.read_text())
    centre = np.array([0.5, -0.2, 1.1])  # the stub's sphere in world units (radius 1)
    eye = centre + np.array([0.0, -5.0, 2.0])
    fwd = (centre - eye) / np.linalg.norm(centre - eye)
    right = np.cross(fwd, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, -np.cross(fwd, right), -fwd, eye
    meta["frames"][0]["transform_matrix"] = c2w.tolist()  # OpenGL axes, as transforms.json
    meta.update(fl_x=40.0, fl_y=40.0, cx=20.0, cy=15.0)
    meta["support_plane"] = {"normal": [0, 0, 1], "offset": -1.1, "inliers": 100, "tolerance": 0.01}
    transforms.write_text(json.dumps(meta))
    config = _chain_config(tmp_path, transforms)
    ck = _stub_checkpoint(tmp_path)
    out = tmp_path / "results/s/official/mesh/it3000_res64.ply"
    job = official_extract.ExtractJob(
        source=source,
        config=config,
        transforms=transforms,
        ckpt=ck,
        resolution=64,
        single_gpu=True,
        python=sys.executable,
        out=out,
        stats=out.with_suffix(".json"),
        support="remove",
        floaters="remove",
    )
    st = official_extract.run_extract(job)
    iso = st["isolate"]
    assert iso["support_found"] and 0.5 < iso["support_area_share"] < 0.6
    assert iso["hidden_removed"] == 0  # the camera sees the upper half
    m = trimesh.load(out, process=False)
    assert m.vertices[:, 2].min() > 1.1 + 0.02 * 2.0 - 0.02  # nothing below the cut
    assert st["faces"] == len(m.faces)
