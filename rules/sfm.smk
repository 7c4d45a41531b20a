# SfM: COLMAP (pycolmap) on the frames, undistorted to PINHOLE. A GPU rule on clusters.


rule sfm:
    input:
        "results/{scene}/frames.tar",
    output:
        cameras="results/{scene}/sfm/sparse/cameras.bin",
        images="results/{scene}/sfm/sparse/images.bin",
        points="results/{scene}/sfm/sparse/points3D.bin",
        undistorted="results/{scene}/sfm/images.tar",
        stats=report(
            "results/{scene}/sfm/sfm.json",
            category="2. Structure from motion",
            labels={"scene": "{scene}"},
        ),
    log:
        "results/{scene}/logs/sfm.log",
    conda:
        "../envs/video2mesh.yaml"
    resources:
        gpu=1,
    params:
        matcher=sfm_matcher,
        sfm=sfm_settings,
    shell:
        "python -m video2mesh sfm --scene {wildcards.scene:q} --frames {input:q}"
        ' --out-dir "$(dirname {output.stats:q})" --matcher {params.matcher:q}'
        " --min-registered {params.sfm[min_registered]}"
        " --camera-model {params.sfm[camera_model]:q} --overlap {params.sfm[overlap]}"
        " --loop-keyframes {params.sfm[loop_keyframes]}"
        " --peak-threshold {params.sfm[peak_threshold]}"
        " > {log:q} 2>&1"


# The finer copies of the frames (photos or video larger than frames.max_size) undistorted by
# SfM's model, for the texture; a light rule of its own, so that SfM's outputs stay as they were.
rule fine_photos:
    input:
        frames="results/{scene}/frames.tar",
        cameras="results/{scene}/sfm/sparse/cameras.bin",
        images="results/{scene}/sfm/sparse/images.bin",
        points="results/{scene}/sfm/sparse/points3D.bin",
        stats="results/{scene}/sfm/sfm.json",
    output:
        "results/{scene}/sfm/images_fine.tar",
    log:
        "results/{scene}/logs/fine_photos.log",
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    shell:
        "python -m video2mesh fine-photos --scene {wildcards.scene:q} --frames {input.frames:q}"
        ' --sparse "$(dirname {input.cameras:q})" --sfm-json {input.stats:q} --out {output:q}'
        " > {log:q} 2>&1"
