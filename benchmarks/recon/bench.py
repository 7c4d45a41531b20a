"""Benchmark of the builtin backend on the sample scene from its TRUE cameras (no COLMAP).

    python benchmarks/recon/bench.py prepare --out DIR [--frames 60 --width 240 --height 180]
    python benchmarks/recon/bench.py run --dir DIR --run-config JSON --iters 500,1500 \
        --resolutions 128,256 [--device cpu --threads 2] [--json OUT]

`prepare` renders the sample object (video2mesh.sample) from its exact orbit cameras straight to
JPEGs (no video codec), writes transforms.json (Neuralangelo format; sphere = centre of the true
mesh's box, radius = 1.1 × its farthest vertex) + images.tar + reference.ply (the true mesh).
`run` trains one chain of segments through the CLI code path (one segment per --iters value),
extracts each checkpoint at each resolution and evaluates Chamfer-L1 against the reference, as a
fraction of the reference's bounding-box diagonal. It prints one JSON line per mesh.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def prepare(out: Path, frames: int, width: int, height: int, seed: int = 0) -> None:
    from video2mesh.recon.synthetic import write_sample_scene

    t0 = time.perf_counter()
    write_sample_scene(out, frames, width, height, seed)
    print(json.dumps({"prepared": str(out), "frames": frames, "seconds": time.perf_counter() - t0}))


def run(args: argparse.Namespace) -> list[dict]:
    import torch

    from video2mesh.evaluate import evaluate_file
    from video2mesh.recon.extract import extract_checkpoint
    from video2mesh.recon.presets import build_config
    from video2mesh.recon.train import Segment, run_segment

    if args.threads:
        torch.set_num_threads(args.threads)
    d = Path(args.dir)
    work = Path(args.work or d / "run")
    iters = [int(x) for x in args.iters.split(",")]
    resolutions = [int(x) for x in args.resolutions.split(",")]
    cfg, preset = build_config(args.run_config, "object")
    results = []
    prev = None
    train_total = 0.0
    for n in iters:
        seg = Segment(
            transforms=d / "transforms.json",
            images=d / "images.tar",
            cfg=cfg,
            preset=preset,
            scene_type="object",
            until=n,
            final=iters[-1],
            out=work / f"it{n}.pt",
            metrics=work / f"it{n}.csv",
            resume=prev,
            device=args.device,
            threads=args.threads,
        )
        s = run_segment(seg)
        train_total += s["seconds"]
        prev = seg.out
        for r in resolutions:
            mesh = work / f"it{n}_res{r}.ply"
            st = extract_checkpoint(
                seg.out,
                r,
                mesh,
                work / f"it{n}_res{r}.json",
                device_name=args.device,
                keep_largest_component=args.keep_largest,
            )
            ev = evaluate_file(
                mesh,
                d / "reference.ply",
                work / f"it{n}_res{r}.eval.json",
                transforms=d / "transforms.json",
                samples=args.samples,
            )
            row = {
                "iteration": n,
                "resolution": r,
                "train_seconds_cum": round(train_total, 2),
                "its_per_s": round(s["its_per_s"], 2),
                "psnr": s["last"]["psnr"] if s["last"] else None,
                "inv_s": s["last"]["inv_s"] if s["last"] else None,
                "peak_gpu_gib": round(s.get("peak_gpu_bytes", 0) / 2**30, 3),
                "extract_seconds": round(st["seconds"], 2),
                "extract_peak_host_gib": round(st["peak_host_bytes"] / 2**30, 3),
                "vertices": st["vertices"],
                "components": st["components"],
                "chamfer_l1": ev.get("chamfer_l1"),
                "chamfer_pct_diag": 100 * ev["chamfer_l1"] / ev["reference_diagonal"],
                "accuracy": ev.get("accuracy"),
                "completeness": ev.get("completeness"),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("prepare")
    a.add_argument("--out", required=True, type=Path)
    a.add_argument("--frames", type=int, default=60)
    a.add_argument("--width", type=int, default=240)
    a.add_argument("--height", type=int, default=180)
    b = sub.add_parser("run")
    b.add_argument("--dir", required=True)
    b.add_argument("--work")
    b.add_argument("--run-config", default='{"preset": "auto"}')
    b.add_argument("--iters", default="1000,2000")
    b.add_argument("--resolutions", default="128")
    b.add_argument("--device", default="auto")
    b.add_argument("--threads", type=int, default=0)
    b.add_argument("--samples", type=int, default=50_000)
    b.add_argument("--keep-largest", action="store_true")
    b.add_argument("--json")
    args = p.parse_args(argv)
    if args.cmd == "prepare":
        prepare(args.out, args.frames, args.width, args.height)
    else:
        run(args)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    main()
