# SfM: COLMAP (pycolmap) on the frames, undistorted to PINHOLE. A GPU rule on clusters.


rule sfm:
    input:
        "results/{scene}/frames.tar",
    output:
        cameras="results/{scene}/sfm/sparse/cameras.bin",
        images="results/{scene}/sfm/sparse/images.bin",
        points="results/{scene}/sfm/sparse/points3D.bin",
        undistorted="results/{scene}/sfm/images.tar",
        undistorted_fine="results/{scene}/sfm/images_fine.tar",
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
