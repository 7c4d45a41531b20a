"""The Backend interface: a third backend (a sphere SDF) added through the interface alone,
as its own module named in the config, runs the workflow's one `train` and one `extract` rule to
a mesh: a chain of two segments, then the mesh in world units. No rule file knows about it."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import trimesh
import yaml
from v2m_testing import cli_env, snakemake

from video2mesh.backends import get_backend
from video2mesh.errors import UserError
from video2mesh.recon.synthetic import sphere_sdf, write_scene

SPHERE_BACKEND = '''
    """A trivial backend: its model is a sphere SDF of the run's radius (normalised frame)."""

    import json

    import trimesh

    from video2mesh.atomic import atomic_path, write_text
    from video2mesh.backends import Backend, Needs
    from video2mesh.recon.presets import METRIC_COLUMNS


    class SphereBackend(Backend):
        def needs(self, run):
            return Needs(gpus=0)

        def train_segment(self, job):
            start = json.loads(job.resume.read_text())["iteration"] if job.resume else 0
            radius = float(job.run["train"]["radius"])
            ck = {"iteration": job.until, "final": job.final, "radius": radius, "start": start}
            write_text(job.out, json.dumps(ck))
            row = [str(job.until)] + ["0"] * (len(METRIC_COLUMNS) - 1)
            write_text(job.metrics, ",".join(METRIC_COLUMNS) + "\\n" + ",".join(row) + "\\n")
            return ck

        def extract_mesh(self, job):
            ck = json.loads(job.ckpt.read_text())
            meta = json.loads(job.transforms.read_text())
            mesh = trimesh.creation.icosphere(3, radius=ck["radius"] * meta["sphere_radius"])
            mesh.apply_translation(meta["sphere_center"])
            with atomic_path(job.out) as tmp:
                mesh.export(tmp, file_type="ply")
            stats = {"vertices": len(mesh.vertices), "resolution": job.resolution}
            write_text(job.stats, json.dumps(stats))
            return stats
'''


def test_a_third_backend_runs_the_workflow_to_a_mesh(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "sphere_backend.py").write_text(textwrap.dedent(SPHERE_BACKEND))
    wd = tmp_path / "run"
    transforms, _ = write_scene(wd / "results" / "s", sphere_sdf(0.5), n_views=4, size=16)
    (wd / "results" / "s" / "sfm").mkdir()
    (wd / "results" / "s" / "images.tar").rename(wd / "results" / "s" / "sfm" / "images.tar")
    config = {
        "scenes": {"s": {"source": "sample", "type": "object"}},
        "runs": {"ball": {"backend": "sphere_backend:SphereBackend", "train": {"radius": 0.4}}},
        "sweep": {"iterations": [10, 20], "resolutions": [16]},
    }
    (wd / "cfg.yaml").write_text(yaml.safe_dump(config))
    env = cli_env()
    env["PYTHONPATH"] = f"{lib}:{env['PYTHONPATH']}"
    mesh_path = "results/s/ball/mesh/it20_res16.ply"
    proc = snakemake(
        wd, mesh_path, "--cores", "1", "--configfile", str(wd / "cfg.yaml"),
        "--allowed-rules", "train", "extract", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    # the chain: segment 20 resumed from segment 10
    assert json.loads((wd / "results/s/ball/ckpt/it20.pt").read_text())["start"] == 10
    meta = json.loads(transforms.read_text())
    mesh = trimesh.load(wd / mesh_path)
    dist = np.linalg.norm(mesh.vertices - np.asarray(meta["sphere_center"]), axis=1)
    assert dist == pytest.approx(0.4 * meta["sphere_radius"], rel=1e-6)
    assert json.loads((wd / "results/s/ball/mesh/it20_res16.json").read_text())["resolution"] == 16


def test_unknown_or_foreign_backends_are_refused() -> None:
    with pytest.raises(UserError, match="unknown backend 'nerfacto'"):
        get_backend("nerfacto")
    with pytest.raises(UserError, match="cannot be loaded"):
        get_backend("no_such_module:Backend")
    with pytest.raises(UserError, match="is not a video2mesh Backend"):
        get_backend("json:JSONDecoder")
    assert get_backend("builtin").name == "builtin"
