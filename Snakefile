# video2mesh: video → frames → COLMAP → transforms.json → checkpoints → meshes → report.
# The stages live in rules/*.smk; every computation is a `video2mesh <command>` call.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


# common.smk validates the config first (one clear line on error) and holds the helpers.
include: "rules/common.smk"
include: "rules/ingest.smk"
include: "rules/frames.smk"
include: "rules/sfm.smk"
include: "rules/scene.smk"
include: "rules/train.smk"
include: "rules/mesh.smk"
include: "rules/neuralangelo.smk"
include: "rules/evaluate.smk"
include: "rules/texture.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),


onsuccess:
    print(
        closing_lines(
            {scene: texture_targets(scene) for scene in SCENES}, argv=sys.argv
        )
    )
