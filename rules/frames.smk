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
        "python -m video2mesh frames --scene {wildcards.scene} --input {input}"
        " --count {params.frames[count]} --max-size {params.frames[max_size]}"
        " --out-tar {output.tar} --out-json {output.manifest} > {log} 2>&1"
