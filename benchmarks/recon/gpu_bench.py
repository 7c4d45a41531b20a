"""One-call GPU benchmark of the builtin backend (run on the device; writes $OUT/*.json).

    python benchmarks/recon/gpu_bench.py --data benchmarks/_work/sample480 --out $OUT \
        [--final 10000 --sweep 1000,2000,4000,7000,10000 --budget 540]

Steps (each guarded, results written as they come): environment; CUDA hash grid == CPU hash
grid; steady-state iterations/s at 1024 rays with every hash level active, peak GPU memory, and a
kernel profile; a training chain on the sample (true cameras) with a res-512 mesh + Chamfer-L1
after each segment (time to ≤ 0.5% of the reference diagonal); extraction at 512 and 2048 in
fresh processes (seconds, peak host memory).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
T0 = time.perf_counter()
RESULTS: dict = {}


def save(out: Path) -> None:
    (out / "gpu_results.json").write_text(json.dumps(RESULTS, indent=1, default=str))


def left(budget: float) -> float:
    return budget - (time.perf_counter() - T0)


def env() -> dict:
    import torch

    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "gpu": torch.cuda.get_device_name(0),
        "python": sys.version.split()[0],
    }


def check_hash_grid() -> dict:
    import torch

    from video2mesh.recon.encoding import HashGrid

    torch.manual_seed(0)
    g = HashGrid(16, 4, 20, 32, 2048, 2.0)
    with torch.no_grad():
        g.table.normal_()
    x = torch.rand(50_000, 3) * 4 - 2
    w = torch.randn(50_000, 64)
    a = g(x, 16)
    ga = torch.autograd.grad((a * w).sum(), g.table)[0]
    gc = HashGrid(16, 4, 20, 32, 2048, 2.0).cuda()
    with torch.no_grad():
        gc.table.copy_(g.table)
    out = {}
    for fused in (False, True):
        gc.fused = fused
        b = gc(x.cuda(), 16)
        gb = torch.autograd.grad((b * w.cuda()).sum(), gc.table)[0]
        out["fused" if fused else "eager"] = {
            "fwd_max_abs": float((a - b.cpu()).abs().max()),
            "grad_rel": float((ga - gb.cpu()).norm() / ga.norm()),
        }
    # speed of the encoding alone: 1M points, all levels, forward + backward
    xs = torch.rand(1_000_000, 3, device="cuda") * 4 - 2
    for fused in (False, True):
        gc.fused = fused
        for _ in range(3):
            gc(xs, 16).sum().backward()
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(10):
            gc(xs, 16).sum().backward()
        torch.cuda.synchronize()
        out[("fused" if fused else "eager") + "_ms_1M_fwd_bwd"] = (time.perf_counter() - t) * 100
    return out


def throughput(overrides: dict, iters: int = 60, profile: bool = False) -> dict:
    import torch

    from video2mesh.recon import schedule
    from video2mesh.recon.data import load_dataset
    from video2mesh.recon.fields import Model
    from video2mesh.recon.loop import set_learning_rates
    from video2mesh.recon.presets import build_config, fit_grid_to_images
    from video2mesh.recon.train import make_optimizer, make_train_step

    cfg, _ = build_config({"preset": "gpu", "train": overrides}, "object")
    dev = torch.device("cuda")
    ds = load_dataset(ARGS.data / "transforms.json", ARGS.data / "images.tar", cfg.image_max_side)
    fit_grid_to_images(cfg, ds.pixel_footprint())
    ds.to(dev)
    torch.manual_seed(0)
    model = Model(cfg, ds.n_images).to(dev)
    if cfg.compile:
        model.sdf.compile_mlp()
    opt = make_optimizer(model, cfg, dev)
    train_step = make_train_step(model, opt, cfg, dev)
    gen = torch.Generator(device=dev)
    gen.manual_seed(0)
    st = schedule.state(cfg, 9000, 10000)  # all levels active, finest eps
    set_learning_rates(opt, cfg, st)

    def one() -> None:
        o, d, rgb, img = ds.sample(cfg.rays, gen)
        jc = torch.rand(cfg.rays, cfg.samples_coarse, device=dev, generator=gen)
        jb = None
        if model.background is not None:
            jb = torch.rand(cfg.rays, cfg.bg_samples, device=dev, generator=gen)
        train_step(o, d, rgb, img, jc, jb, st)

    t_c = time.perf_counter()
    for _ in range(5):
        one()
    torch.cuda.synchronize()
    warm = time.perf_counter() - t_c
    torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range(iters):
        one()
    torch.cuda.synchronize()
    dt = time.perf_counter() - t
    out = {
        "overrides": overrides,
        "rays": cfg.rays,
        "its_per_s": iters / dt,
        "ms_per_it": 1000 * dt / iters,
        "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30,
        "warmup_s": warm,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
    }
    if profile:
        from torch.profiler import ProfilerActivity
        from torch.profiler import profile as prof

        with prof(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
            for _ in range(3):
                one()
            torch.cuda.synchronize()
        out["profile"] = p.key_averages().table(sort_by="cuda_time_total", row_limit=25)
    return out


def chain(overrides: dict, final: int, sweep: list[int], budget: float, tag: str) -> list[dict]:
    from video2mesh.evaluate import evaluate_file
    from video2mesh.recon.extract import extract_checkpoint
    from video2mesh.recon.presets import build_config
    from video2mesh.recon.train import Segment, run_segment

    cfg, preset = build_config({"preset": "gpu", "train": overrides}, "object")
    work = Path("/tmp/gpu_chain_" + tag)
    rows, prev, train_s = [], None, 0.0
    for n in sweep:
        if left(budget) < 60:
            rows.append({"stopped": f"budget before it{n}"})
            break
        seg = Segment(
            ARGS.data / "transforms.json",
            ARGS.data / "images.tar",
            cfg,
            preset,
            "object",
            n,
            final,
            work / f"it{n}.pt",
            work / f"it{n}.csv",
            resume=prev,
            device="cuda",
        )
        s = run_segment(seg)
        train_s += s["seconds"]
        prev = seg.out
        st = extract_checkpoint(seg.out, 512, work / f"it{n}.ply", work / f"it{n}.json")
        ev = evaluate_file(
            work / f"it{n}.ply",
            ARGS.data / "reference.ply",
            work / f"it{n}.eval.json",
            transforms=ARGS.data / "transforms.json",
            samples=50_000,
        )
        row = {
            "iteration": n,
            "train_s_cum": round(train_s, 1),
            "its_per_s": round(s["its_per_s"], 1),
            "peak_gpu_gib": round(s.get("peak_gpu_bytes", 0) / 2**30, 3),
            "psnr": s["last"]["psnr"],
            "inv_s": s["last"]["inv_s"],
            "extract512_s": round(st["seconds"], 2),
            "components": st["components"],
            "chamfer_pct_diag": round(100 * ev["chamfer_l1"] / ev["reference_diagonal"], 3),
            "accuracy": ev["accuracy"],
            "completeness": ev["completeness"],
        }
        rows.append(row)
        print(tag, json.dumps(row), flush=True)
        RESULTS.setdefault("chain_" + tag, rows)
        save(ARGS.out)
    RESULTS["last_ckpt_" + tag] = str(prev)
    if ARGS.export_mesh and prev is not None:
        extract_checkpoint(
            prev, 256, ARGS.out / f"mesh_{tag}.ply", work / "m256.json", colors=False
        )
    return rows


def extraction(ckpt: str, res: int) -> dict:
    t = time.perf_counter()
    cmd = [
        sys.executable,
        "-m",
        "video2mesh.cli",
        "extract",
        "--ckpt",
        ckpt,
        "--resolution",
        str(res),
        "--out",
        f"/tmp/x{res}.ply",
        "--stats",
        f"/tmp/x{res}.json",
    ]
    r = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{os.environ.get('PYTHONPATH', '')}"},
    )
    if r.returncode:
        return {"error": r.stderr[-2000:]}
    st = json.loads(Path(f"/tmp/x{res}.json").read_text())
    st["wall_s_with_startup"] = time.perf_counter() - t
    st["ply_bytes"] = Path(f"/tmp/x{res}.ply").stat().st_size
    return st


def step(name: str, fn, *a, **kw):
    t = time.perf_counter()
    try:
        RESULTS[name] = fn(*a, **kw)
    except Exception:
        RESULTS[name] = {"error": traceback.format_exc()[-3000:]}
    print(
        f"[{time.perf_counter() - T0:6.1f}s] {name} ({time.perf_counter() - t:.1f}s):",
        json.dumps(RESULTS[name], default=str)[:1500],
        flush=True,
    )
    save(ARGS.out)
    return RESULTS[name]


def main() -> None:
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--final", type=int, default=10000)
    p.add_argument("--sweep", default="1000,2000,4000,7000,10000")
    p.add_argument("--budget", type=float, default=540)
    p.add_argument("--variants", default="{}")
    p.add_argument("--chain", default="{}")
    p.add_argument("--skip", default="")
    p.add_argument("--export-mesh", action="store_true")
    ARGS = p.parse_args()
    ARGS.out.mkdir(parents=True, exist_ok=True)
    skip = set(ARGS.skip.split(","))
    step("env", env)
    if "check" not in skip:
        step("hash_grid_check", check_hash_grid)
    variants = json.loads(ARGS.variants)
    for name, ov in variants.items():
        if left(ARGS.budget) > 120:
            step("tp_" + name, throughput, ov, profile=(name == "base"))
    if "chain" not in skip:
        for tag, ov in json.loads(ARGS.chain).items():
            step(
                "chain_" + tag,
                chain,
                ov,
                ARGS.final,
                [int(x) for x in ARGS.sweep.split(",")],
                ARGS.budget - 70,
                tag,
            )
    ck = next((v for k, v in RESULTS.items() if k.startswith("last_ckpt_") and v), None)
    if ck and "extract" not in skip:
        for res in (512, 2048):
            if left(ARGS.budget) > 30:
                step(f"extract_{res}", extraction, ck, res)
    print("TOTAL", time.perf_counter() - T0)


ARGS: argparse.Namespace
if __name__ == "__main__":
    main()
