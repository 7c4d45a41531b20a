"""rules/neuralangelo.smk through a Snakemake dry run: the official chain beside the builtin one,
resume inputs, GPU resources and the job image (no schema: it lists the run keys separately)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from v2m_testing import ROOT, cli_env

# The run keys the schema needs for this backend (config/schema.yaml, runs.additionalProperties).
RUN_SCHEMA_KEYS = {
    "repo": {
        "type": "string",
        "description": "neuralangelo: git URL or path of NVlabs/neuralangelo",
    },
    "commit": {
        "type": "string",
        "pattern": "^[0-9a-fA-F]{7,40}$",
        "description": "neuralangelo: pinned commit (default 94390b6…)",
    },
    "image": {"type": "string", "description": "neuralangelo: job image for every GPU, or auto"},
    "image_sm90": {"type": "string", "description": "neuralangelo: auto's image for L4/L40S/H100"},
    "gpu_model": {"type": "string", "description": "GPU model: flavor, memory, image"},
    "gpus": {"type": "integer", "minimum": 1, "description": "GPUs per job (torchrun)"},
    "gpu_memory_gb": {"type": "number", "minimum": 0, "description": "size the hash table for"},
    "schedule": {"enum": ["official", "scaled"], "description": "neuralangelo: schedule"},
}

SNAKEFILE = """
from snakemake.utils import validate
configfile: "{root}/config/config.yaml"
validate(config, "schema.yaml")
include: "{root}/rules/common.smk"
include: "{root}/rules/ingest.smk"
include: "{root}/rules/frames.smk"
include: "{root}/rules/sfm.smk"
include: "{root}/rules/scene.smk"
include: "{root}/rules/train.smk"
include: "{root}/rules/mesh.smk"
include: "{root}/rules/neuralangelo.smk"
rule all:
    input: W.mesh_targets()
"""


def test_dry_run_plans_the_official_chain(tmp_path: Path) -> None:
    (tmp_path / "Snakefile").write_text(SNAKEFILE.format(root=ROOT))
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    run = schema["properties"]["runs"]["additionalProperties"]
    run["properties"].update(
        {k: v for k, v in RUN_SCHEMA_KEYS.items() if k not in run["properties"]}
    )
    (tmp_path / "schema.yaml").write_text(yaml.safe_dump(schema))
    cfg = {
        "runs": {
            "builtin": {"backend": "builtin"},
            "official": {"backend": "neuralangelo", "gpu_model": "H100", "gpus": 2},
        },
        "sweep": {"iterations": [1000, 3000], "resolutions": [512]},
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "-s", "Snakefile", "-n", "-p", "--cores", "1"]
    proc = subprocess.run(
        [*cmd, "--configfile", "cfg.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    for rule, count in [
        ("neuralangelo_source", 1),
        ("neuralangelo_config", 1),
        ("train", 4),  # one train and one extract rule for both backends' chains
        ("extract", 4),
    ]:
        assert any(line.split() == [rule, str(count)] for line in out.splitlines()), rule
    assert "gpu_model=H100" in out and "gpu=2" in out
    assert "--until 3000 --final 3000 --resume results/sample/official/ckpt/it1000.pt" in out
    assert "--input resume_metrics=results/sample/official/ckpt/it1000.csv" in out
    assert "--input source=results/neuralangelo/official/source.tar.gz" in out
    assert "video2mesh mesh --run-config" in out and "gpu=1" in out  # the builtin run's jobs
