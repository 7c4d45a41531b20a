# SfM: COLMAP (pycolmap) on the frames, undistorted to PINHOLE. A GPU rule on clusters.


# A scene's own cameras (cameras: in the config), checked against its frames here, locally,
# before any GPU job: SfM then triangulates from them instead of mapping.
rule known_cameras:
    input:
        cameras=known_cameras_file,
        frames="results/{scene}/frames.json",
    output:
        "results/{scene}/known_cameras.json",
    log:
        "results/{scene}/logs/known_cameras.log",
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    shell:
        "python -m video2mesh known-cameras --scene {wildcards.scene:q}"
        " --cameras {input.cameras:q} --frames-json {input.frames:q} --out {output:q}"
        " > {log:q} 2>&1"


rule sfm:
    input:
        unpack(sfm_inputs),
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
        known=known_cameras_arg,
    shell:
        "python -m video2mesh sfm --scene {wildcards.scene:q} --frames {input.frames:q}"
        ' --out-dir "$(dirname {output.stats:q})" --matcher {params.matcher:q}'
        " --min-registered {params.sfm[min_registered]}"
        " --camera-model {params.sfm[camera_model]:q} --overlap {params.sfm[overlap]}"
        " --loop-keyframes {params.sfm[loop_keyframes]}"
        " --peak-threshold {params.sfm[peak_threshold]} {params.known}"
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
