# Frames: sharp, evenly spread frames, resized, as one archive plus a manifest.


rule frames:
    input:
        input_file,
    output:
        tar="results/{scene}/frames.tar",
        manifest=report(
            "results/{scene}/frames.json",
            category="1. Frames",
            labels={"scene": "{scene}"},
        ),
    log:
        "results/{scene}/logs/frames.log",
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    params:
        frames=frames_settings,
    shell:
        "python -m video2mesh frames --scene {wildcards.scene:q} --input {input:q}"
        " --count {params.frames[count]} --max-size {params.frames[max_size]}"
        " --out-tar {output.tar:q} --out-json {output.manifest:q} > {log:q} 2>&1"
