# Ingest: bring each scene's source into results/ (local rules: sources are local files).


rule sample:
    output:
        video="results/{scene}/input.mp4",
        cameras="results/{scene}/sample_cameras.json",
        mesh="results/{scene}/sample_truth.ply",
    log:
        "results/{scene}/logs/sample.log",
    wildcard_constraints:
        scene=one_of(SAMPLE_SCENES),
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    threads: 8  # frames render in parallel (snakemake lowers it to --cores)
    params:
        spec=sample_args,
    shell:
        "python -m video2mesh sample --video {output.video:q} --cameras {output.cameras:q}"
        " --mesh {output.mesh:q} {params.spec} --workers {threads} > {log:q} 2>&1"


rule ingest_video:
    input:
        source_video,
    output:
        "results/{scene}/input.{ext}",
    log:
        "results/{scene}/logs/ingest.{ext}.log",
    wildcard_constraints:
        scene=one_of(VIDEO_SCENES),
        ext="mp4|mov|mkv|webm|m4v|avi",
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    shell:
        "python -m video2mesh ingest --scene {wildcards.scene:q} --video {input:q}"
        " --out {output:q} > {log:q} 2>&1"


rule ingest_photos:
    input:
        source_photos,
    output:
        "results/{scene}/input.tar",
    log:
        "results/{scene}/logs/ingest.log",
    wildcard_constraints:
        scene=one_of(PHOTO_SCENES),
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    shell:
        "python -m video2mesh ingest --scene {wildcards.scene:q} --images {input:q}"
        " --out {output:q} > {log:q} 2>&1"
