# Scene: transforms.json with the bounding sphere, its preview, and the reference mesh.


rule scene:
    input:
        cameras="results/{scene}/sfm/sparse/cameras.bin",
        images="results/{scene}/sfm/sparse/images.bin",
        points="results/{scene}/sfm/sparse/points3D.bin",
        photos="results/{scene}/sfm/images.tar",
    output:
        transforms="results/{scene}/transforms.json",
        preview=report(
            "results/{scene}/sphere.png",
            caption="../report/sphere.rst",
            category="3. Scene",
            labels={"scene": "{scene}"},
        ),
    log:
        "results/{scene}/logs/scene.log",
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    params:
        type=scene_type,
        sphere=sphere_overrides,
        support=support_arg,
    shell:
        "python -m video2mesh scene --scene {wildcards.scene:q}"
        ' --sparse "$(dirname {input.cameras:q})"'
        " --type {params.type:q} --sphere {params.sphere:q} {params.support}"
        " --photos {input.photos:q}"
        " --out-transforms {output.transforms:q} --out-png {output.preview:q} > {log:q} 2>&1"


rule reference:
    input:
        unpack(reference_inputs),
        cameras_bin="results/{scene}/sfm/sparse/cameras.bin",
        images_bin="results/{scene}/sfm/sparse/images.bin",
        points_bin="results/{scene}/sfm/sparse/points3D.bin",
        transforms="results/{scene}/transforms.json",
    output:
        mesh="results/{scene}/reference.ply",
        alignment="results/{scene}/alignment.json",
    log:
        "results/{scene}/logs/reference.log",
    wildcard_constraints:
        scene=one_of(REFERENCE_SCENES),
    localrule: True
    conda:
        "../envs/video2mesh.yaml"
    params:
        cameras=reference_camera_arg,
    shell:
        "python -m video2mesh reference --scene {wildcards.scene:q}"
        ' --sparse "$(dirname {input.cameras_bin:q})"'
        " --transforms {input.transforms:q} --reference {input.mesh:q} {params.cameras}"
        " --out {output.mesh:q} --out-alignment {output.alignment:q} > {log:q} 2>&1"
