"""The official backend: NVIDIA's Neuralangelo as an external tool (video2mesh.neuralangelo for
its config and image, video2mesh.official for running its scripts). Its source archive
and generated config come from the rules of rules/neuralangelo.smk."""

from __future__ import annotations

from typing import Any

from video2mesh.backends import Backend, MeshJob, Needs, SegmentJob


class OfficialBackend(Backend):
    name = "neuralangelo"

    def needs(self, run: dict[str, Any]) -> Needs:
        from video2mesh.neuralangelo import OfficialRun, job_image

        base = super().needs(run)
        return Needs(base.gpus, base.gpu_model, job_image(OfficialRun.from_config(run)))

    def train_inputs(self, scene: str, run_name: str, previous: int) -> dict[str, str]:
        out = {
            "source": f"results/neuralangelo/{run_name}/source.tar.gz",
            "config": f"results/{scene}/{run_name}/neuralangelo.yaml",
        }
        if previous:  # the metrics CSV continues the previous segment's (cumulative time)
            out["resume_metrics"] = f"results/{scene}/{run_name}/ckpt/it{previous}.csv"
        return out

    def extract_inputs(self, scene: str, run_name: str) -> dict[str, str]:
        return self.train_inputs(scene, run_name, 0)  # its source and config

    def train_segment(self, job: SegmentJob) -> dict[str, Any]:
        from video2mesh.official.train import TrainJob, run_train

        return run_train(
            TrainJob(
                source=job.inputs["source"],
                config=job.inputs["config"],
                transforms=job.transforms,
                images=job.images,
                until=job.until,
                final=job.final,
                resume=job.resume,
                resume_metrics=job.inputs.get("resume_metrics"),
                gpus=self.needs(job.run).gpus,
                out=job.out,
                metrics=job.metrics,
            )
        )

    def extract_mesh(self, job: MeshJob) -> dict[str, Any]:
        from video2mesh.official.extract import ExtractJob, run_extract

        opts = job.options
        return run_extract(
            ExtractJob(
                source=job.inputs["source"],
                config=job.inputs["config"],
                transforms=job.transforms,
                ckpt=job.ckpt,
                resolution=job.resolution,
                block=int(opts.get("block", 128)),
                keep_largest=bool(opts.get("keep_largest")),
                colors=opts.get("colors", True) is not False,
                gpus=self.needs(job.run).gpus,
                out=job.out,
                stats=job.stats,
                support=job.support,
                floaters=job.floaters,
            )
        )
