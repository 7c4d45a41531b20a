# Training: one chain of segments per (scene, run), whatever the run's backend (it says what
# the job needs and which extra inputs it takes); segment N resumes from the previous sweep
# point and ends at N under the schedule of the last one. A GPU rule on clusters.
# An interrupted segment resumes from its in-segment save: beside the checkpoint, and in S3 too
# when files live there (a preempted remote job's disk is gone; --retries runs it again).
# The log is appended to: an interrupted and resumed segment keeps both parts.


rule train:
    input:
        unpack(train_inputs),
    output:
        ckpt="results/{scene}/{run}/ckpt/it{iterations}.pt",
        metrics="results/{scene}/{run}/ckpt/it{iterations}.csv",
    log:
        "results/{scene}/{run}/logs/train_it{iterations}.log",
    wildcard_constraints:
        run=one_of(RUNS),
        iterations=r"\d+",
    conda:
        "../envs/video2mesh.yaml"
    container:
        backend_image
    resources:
        gpu=backend_gpus,
        gpu_model=backend_gpu_model,
    params:
        run=run_config,
        type=scene_type,
        final=ITERATIONS[-1],
        resume=resume_arg,
        inputs=backend_input_args,
        partial_store=partial_store_arg,
        save_every=save_every_seconds,
    shell:
        "python -m video2mesh segment --transforms {input.transforms:q} --images {input.images:q}"
        " --run-config {params.run} --scene-type {params.type:q}"
        " --until {wildcards.iterations} --final {params.final} {params.resume} {params.inputs}"
        ' --partial "$(dirname {output.ckpt:q})"/it{wildcards.iterations}.partial.pt'
        " {params.partial_store} --save-every-seconds {params.save_every} --threads {threads}"
        " --out {output.ckpt:q} --metrics {output.metrics:q} >> {log:q} 2>&1"
