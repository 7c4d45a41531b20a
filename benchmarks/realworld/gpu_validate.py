"""The validation set on one GPU: train, extract (object isolated) and score every scene × variant.

Runs on the device machine, one process per pipeline command as the rules run them; ``--jobs``
chains train at once (an H200 is far from busy with one 1024-ray chain, so several share it:
their seconds are then inflated, their quality is not; time alone with --jobs 1):

    python benchmarks/realworld/gpu_validate.py --data .devdata --out $OUT \
        --variants '{"sh0": {}, "sh3": {"sh_degree": 3}}' --iterations 2000,5000 --jobs 4

``--data`` holds one folder per scene, prepared on the CPU machine by ``prepare_device.py``:
``transforms.json``, ``images.tar`` and, where the scene has them, ``reference.ply`` +
``alignment.json`` (the reference in the SfM frame), ``cameras.json`` + ``masks/`` (true
cameras and object masks; alignment.json maps them onto the SfM frame). Writes
``$OUT/results.json`` after every chain (rows: scene, variant, iterations, train seconds, PSNR,
inverse s, mesh stats, Chamfer %, object share, silhouette IoU), ``$OUT/thumbs.tar`` (one PNG
per mesh) and ``$OUT/logs.tar.gz``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{os.environ.get('PYTHONPATH', '')}"}
T0 = time.perf_counter()


def cli(*args: str, log: Path) -> None:
    with log.open("a") as fh:
        subprocess.run(
            [sys.executable, "-m", "video2mesh", *args],
            check=True,
            env=ENV,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


def last_row(csv_path: Path) -> dict:
    with csv_path.open() as fh:
        rows = list(csv.DictReader(fh))
    return {k: float(v) for k, v in rows[-1].items() if v not in ("", None)}


def score(scene_dir: Path, mesh: Path, row: dict, work: Path, workers: int = 1) -> None:
    from video2mesh.evaluate import evaluate_file

    if (scene_dir / "reference.ply").exists():
        alignment = scene_dir / "alignment.json"
        ev = evaluate_file(
            mesh,
            scene_dir / "reference.ply",
            work / (mesh.stem + "_eval.json"),
            transforms=scene_dir / "transforms.json",
            samples=50_000,
            alignment=alignment if alignment.exists() else None,
        )
        for k in ("chamfer_pct", "object_share", "fscore_1pct", "normal_consistency"):
            row[k] = ev.get(k)
        # after the evaluation's ICP refinement: the shape without the cameras' frame error
        row["refined"] = ev.get("refined")
        diagonal = ev["reference_diagonal"]
        for k in ("accuracy", "completeness"):
            if ev.get(k) is not None:
                row[f"{k}_pct"] = 100 * ev[k] / diagonal
        row["far"] = where_far(mesh, scene_dir, diagonal)
    if (scene_dir / "masks").is_dir() and (scene_dir / "alignment.json").exists():
        import numpy as np
        import trimesh

        from video2mesh.silhouette import load_cameras, sfm_to_true_transform, silhouette_iou

        m = trimesh.load(mesh, force="mesh", process=False)
        cams = load_cameras(scene_dir / "cameras.json")
        # the centre fit, and where prepare_device.py wrote it the alignment refined by the photos
        for key, name in (
            ("silhouette_iou", "alignment.json"),
            ("silhouette_iou_photos", "alignment_photos.json"),
        ):
            if not (scene_dir / name).exists():
                continue
            to_true = sfm_to_true_transform(scene_dir / name, None, scene_dir)
            # views in parallel: a million-face mesh at DTU's 1600 x 1200 takes seconds a view,
            # and 49 views x 2 alignments outlasted a device call (session 29)
            sil = silhouette_iou(
                np.asarray(m.vertices), np.asarray(m.faces), cams, scene_dir / "masks", to_true,
                workers=workers,
            )  # fmt: skip
            row[key] = sil["mean_iou"]
            row[f"{key}_min"] = sil["min_iou"]


def where_far(mesh: Path, scene_dir: Path, diagonal: float) -> dict:
    """Where the mesh area farther than 1 % of the diagonal from the reference lies: near the
    support plane (a skirt of table left by the cut) or elsewhere (noise, false surfaces), and
    how far the rest is (the median distance of the near area: surface noise)."""
    import numpy as np
    import trimesh
    from scipy.spatial import cKDTree

    from video2mesh.isolate import read_settings

    m = trimesh.load(mesh, force="mesh", process=False)
    ref = trimesh.load(scene_dir / "reference.ply", force="mesh", process=False)
    pts, _ = trimesh.sample.sample_surface(m, 50_000, seed=0)
    ref_pts, _ = trimesh.sample.sample_surface(ref, 400_000, seed=1)
    d, _ = cKDTree(ref_pts).query(pts)
    far = d > 0.01 * diagonal
    out = {
        "share": float(far.mean()),
        "near_median_pct": float(100 * np.median(d[~far]) / diagonal),
    }
    # how much of the far area is surface no photo sees (seen_share.py): unseen undersides
    from seen_share import seen_by_some_photo

    # the reference's own unseen part (a vase's inside, below its belly): completeness over what
    # some photo sees, as DTU's observation masks do; the mesh occludes its own samples, the
    # reference its own
    ref_obs, _ = trimesh.sample.sample_surface(ref, 50_000, seed=2)
    seen, ref_seen = seen_by_some_photo([m, ref], [pts, ref_obs], scene_dir / "transforms.json")
    out["far_unseen"] = float((far & ~seen).mean())
    out["object_share_seen"] = float(1 - far[seen].mean()) if seen.any() else None
    out["reference_unseen"] = float((~ref_seen).mean())
    if ref_seen.any():
        dense, _ = trimesh.sample.sample_surface(m, 400_000, seed=3)
        d_ref = cKDTree(dense).query(ref_obs[ref_seen])[0]
        out["completeness_seen_pct"] = float(100 * d_ref.mean() / diagonal)
    plane, _ = read_settings(scene_dir / "transforms.json")
    if plane is not None and far.any():
        h = plane.height(pts)
        ref_low, ref_top = np.percentile(plane.height(ref_pts), [1, 99])
        low = h < ref_low + 0.03 * diagonal
        out["near_support"] = float((far & low).mean())
        # height of the far area over the reference's height above the support: 0 = its foot
        rel = (h[far] - ref_low) / max(ref_top - ref_low, 1e-9)
        out["height_hist"] = np.histogram(np.clip(rel, 0, 1), bins=5, range=(0, 1))[0].tolist()
    return out


def thumb(mesh: Path, scene_dir: Path) -> None:
    from video2mesh.render import render_file

    render_file(mesh, mesh.with_suffix(".png"), scene_dir / "transforms.json", size=160)


def run_chain(args: argparse.Namespace, scene: str, variant: str, train: dict) -> list[dict]:
    """One (scene, variant): a training chain over the sweep, a scored mesh per sweep point."""
    if time.perf_counter() - T0 > args.budget:  # the device call has a hard limit
        return [{"scene": scene, "variant": variant, "skipped": "budget"}]
    sd = args.data / scene
    run_dir = WORK / scene / variant
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / "log.txt"
    sweep = [int(i) for i in args.iterations.split(",")]
    run = json.dumps({"backend": "builtin", "preset": args.preset, "train": train})
    prev, rows = None, []
    for n in sweep:
        ckpt, metrics = run_dir / f"it{n}.pt", run_dir / f"it{n}.csv"
        row: dict = {"scene": scene, "variant": variant, "iterations": n}
        try:
            cli(
                "train", "--transforms", str(sd / "transforms.json"),
                "--images", str(sd / "images.tar"), "--run-config", run,
                "--until", str(n), "--final", str(sweep[-1]),
                *(["--resume", str(prev)] if prev else []),
                "--out", str(ckpt), "--metrics", str(metrics), log=log,
            )  # fmt: skip
            prev = ckpt
            last = last_row(metrics)
            row.update(
                train_seconds=last.get("elapsed_s"), psnr=last.get("psnr"), inv_s=last.get("inv_s")
            )
            mesh = run_dir / f"it{n}_res{args.resolution}.ply"
            stats = run_dir / f"it{n}_res{args.resolution}.json"
            cli(
                "extract", "--ckpt", str(ckpt), "--resolution", str(args.resolution),
                "--transforms", str(sd / "transforms.json"),
                "--object-support", "remove", "--object-floaters", "remove",
                "--out", str(mesh), "--stats", str(stats), log=log,
            )  # fmt: skip
            st = json.loads(stats.read_text())
            row.update({k: st.get(k) for k in ("faces", "components", "raw_components")})
            row["isolate"] = st.get("isolate")
            row["extract_seconds"] = st.get("seconds")
            score(sd, mesh, row, run_dir, workers=max(1, (os.cpu_count() or 1) // args.jobs))
            thumb(mesh, sd)
        except Exception as exc:  # keep going: one scene's failure is a result too
            # the chain's own last log line says why (a CalledProcessError does not)
            failed = isinstance(exc, subprocess.CalledProcessError) and log.exists()
            lines = log.read_text().strip().splitlines() if failed else []
            row["error"] = (lines[-1] if lines else repr(exc))[:400]
            break
        finally:
            row["wall_s"] = round(time.perf_counter() - T0, 1)
            rows.append(row)
            # each sweep point as it ends: a call cut at its time limit keeps what it measured
            with (args.out / "progress.jsonl").open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    return rows


WORK = Path(os.environ.get("GPU_VALIDATE_WORK", "/tmp/gpu_validate"))


def main() -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--variants", default='{"default": {}}', help='name -> train overrides (and "_scenes")'
    )
    ap.add_argument("--iterations", default="2000,5000")
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--preset", default="gpu", help="gpu, or cpu to validate the CPU preset")
    ap.add_argument("--scenes", default="", help="comma list (default: every folder)")
    ap.add_argument("--jobs", type=int, default=1, help="chains trained at once on the GPU")
    ap.add_argument("--budget", type=float, default=1e9, help="start no chain after these seconds")
    args = ap.parse_args()
    variants = json.loads(args.variants)
    args.out.mkdir(parents=True, exist_ok=True)  # before hours of training, not after
    scenes = (
        args.scenes.split(",")
        if args.scenes
        else sorted(p.name for p in args.data.iterdir() if (p / "transforms.json").exists())
    )
    rows: list[dict] = []
    with ProcessPoolExecutor(args.jobs) as pool:
        # a variant's "_scenes" (comma list) limits it to those scenes
        only = {v: t.pop("_scenes", ",".join(scenes)).split(",") for v, t in variants.items()}
        futures = [
            pool.submit(run_chain, args, scene, variant, train)
            for variant, train in variants.items()
            for scene in scenes
            if scene in only[variant]
        ]
        for fut in as_completed(futures):
            for row in fut.result():
                row["jobs"] = args.jobs
                rows.append(row)
                print(json.dumps(row), flush=True)
            (args.out / "results.json").write_text(json.dumps(rows, indent=1))
    with tarfile.open(args.out / "thumbs.tar", "w") as tar:
        for png in sorted(WORK.glob("*/*/*.png")):
            tar.add(png, f"{png.parts[-3]}_{png.parts[-2]}_{png.stem}.png")
    with tarfile.open(args.out / "logs.tar.gz", "w:gz") as tar:
        for f in sorted(WORK.glob("*/*/log.txt")) + sorted(WORK.glob("*/*/*.csv")):
            tar.add(f, f"{f.parts[-3]}_{f.parts[-2]}_{f.name}")


if __name__ == "__main__":
    main()
