"""The builtin backend (src/video2mesh/recon): clean-room PyTorch, CPU or CUDA."""

from __future__ import annotations

from typing import Any

from video2mesh.backends import Backend, MeshJob, SegmentJob


class BuiltinBackend(Backend):
    name = "builtin"

    def train_segment(self, job: SegmentJob) -> dict[str, Any]:
        from video2mesh.recon.presets import build_config
        from video2mesh.recon.train import Segment, run_segment

        cfg, preset = build_config(job.run, job.scene_type)
        return run_segment(
            Segment(
                transforms=job.transforms,
                images=job.images,
                cfg=cfg,
                preset=preset,
                scene_type=job.scene_type,
                until=job.until,
                final=job.final,
                out=job.out,
                metrics=job.metrics,
                resume=job.resume,
                partial=job.partial,
                partial_store=job.partial_store,
                save_every_s=job.save_every_s,
                threads=job.threads,
            )
        )

    def extract_mesh(self, job: MeshJob) -> dict[str, Any]:
        import torch

        from video2mesh.recon.extract import extract_checkpoint

        if job.threads:
            torch.set_num_threads(job.threads)
        opts = job.options
        return extract_checkpoint(
            job.ckpt,
            job.resolution,
            job.out,
            job.stats,
            keep_largest_component=bool(opts.get("keep_largest")),
            block=int(opts.get("block", 0)),
            colors=opts.get("colors", True) is not False,
            transforms=job.transforms,
            support=job.support,
            floaters=job.floaters,
        )
