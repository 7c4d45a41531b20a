"""Texture stage benchmark: speed of one bake, and texture vs vertex colours on held-back photos.

    # speed: the synthetic capture (video2mesh.texture.synthetic) at the sample's photo size
    # (480x360, 100 views), its 328k-face sphere decimated to 200k, baked at 2048²
    python benchmarks/texture/bench.py speed --threads 2

    # quality: a pipeline run's mesh (e.g. `snakemake -d benchmarks/_work/sample ...`), baked
    # with every 8th photo held back, rendered into those photos
    python benchmarks/texture/bench.py quality --run benchmarks/_work/sample --scene sample \\
        --mesh builtin/mesh/it3500_res256.ply --size 1024 --faces 100000

Data and outputs go to the git-ignored benchmarks/_work/texture/; results print as JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
WORK = ROOT / "benchmarks" / "_work" / "texture"


def machine() -> dict:
    import os
    from importlib.metadata import version

    import fast_simplification  # noqa: F401
    import torch
    import trimesh
    import xatlas  # noqa: F401

    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "trimesh": trimesh.__version__,
        "xatlas": version("xatlas"),
        "fast-simplification": version("fast-simplification"),
    }


def speed(args: argparse.Namespace) -> dict:
    from video2mesh.texture.cli import texture_mesh
    from video2mesh.texture.synthetic import write_capture

    folder = WORK / "synthetic"
    if not (folder / "images.tar").exists():
        write_capture(folder, views=args.views, scale=3.0, subdivisions=7)
    out = WORK / "speed" / "it0_res0.glb"
    stats = texture_mesh(
        folder / "mesh.ply", folder / "transforms.json", out, out.with_suffix(".texture.json"),
        images=folder / "images.tar", size=args.size, faces=args.faces, device_name="cpu",
    )  # fmt: skip
    return {"machine": machine(), "threads": args.threads, "stats": stats}


def _photo_vertex_colours(v, f, ds, held_out: list[str]):  # -> (V, 3) tensor
    import torch

    from video2mesh.texture.bake import Texels, bake_photos
    from video2mesh.texture.cli import unit_normals

    n = torch.as_tensor(unit_normals(v.double().numpy(), f.numpy()), dtype=torch.float32)
    texels = Texels(index=torch.arange(len(v)), position=v, normal=n, size=0)
    views = [i for i in range(ds.n_images) if ds.names[i] not in held_out]
    rgb, _ = bake_photos(texels, v, f, ds, views)
    return rgb


def _render_scores(
    run: Path, scene: str, mesh_rel: str, glb: Path, stats: dict, same_mesh: bool
) -> dict:
    import torch
    import trimesh

    from video2mesh.evaluate import load_mesh
    from video2mesh.recon.data import load_dataset
    from video2mesh.texture.evaluate import render_view, score

    ds = load_dataset(run / f"results/{scene}/transforms.json", _photos(run, scene, "fine"))
    center, radius = np.asarray(ds.center), ds.radius
    ply = load_mesh(run / f"results/{scene}" / mesh_rel)
    g = trimesh.load(glb, force="mesh", process=False)
    back = np.asarray(stats["world_from_gltf"])
    v_glb = (np.asarray(g.vertices) @ back[:3, :3].T + back[:3, 3] - center) / radius
    t = {
        "v": torch.as_tensor(v_glb, dtype=torch.float32),
        "f": torch.as_tensor(np.asarray(g.faces)),
        "uv": torch.as_tensor(np.asarray(g.visual.uv), dtype=torch.float32),
        "tex": torch.as_tensor(
            np.asarray(g.visual.material.baseColorTexture.convert("RGB"), np.float32) / 255
        ),
    }
    p = {
        "v": torch.as_tensor((np.asarray(ply.vertices) - center) / radius, dtype=torch.float32),
        "f": torch.as_tensor(np.asarray(ply.faces)),
    }
    if same_mesh:  # the GLB's own (decimated) geometry, coloured per vertex from the photos
        p = {"v": t["v"], "f": t["f"]}
        p["c"] = _photo_vertex_colours(p["v"], p["f"], ds, stats["held_out"])
    elif ply.visual.kind == "vertex":  # the colour network's, from extraction
        p["c"] = torch.as_tensor(np.asarray(ply.visual.vertex_colors[:, :3], np.float32) / 255)
    else:  # no network colours (a reference mesh): the same photo blend, at the vertices
        p["c"] = _photo_vertex_colours(p["v"], p["f"], ds, stats["held_out"])
    rows = []
    for name in stats["held_out"]:
        i = ds.names.index(name)
        photo = ds.images[i].numpy() / 255.0
        tex, m1 = render_view(t["v"], t["f"], ds, i, uv=t["uv"], texture=t["tex"])
        vc, m2 = render_view(p["v"], p["f"], ds, i, colors=p["c"])
        mask = (m1 & m2).numpy()  # the same object pixels for both
        a, b = score(tex.numpy(), photo, mask), score(vc.numpy(), photo, mask)
        rows.append(
            {"frame": name, "pixels": a.pixels, "psnr_texture": a.psnr, "psnr_vertex": b.psnr,
             "ssim_texture": a.ssim, "ssim_vertex": b.ssim}
        )  # fmt: skip
        if len(rows) == 1:
            from PIL import Image

            strip = np.concatenate([photo, tex.numpy(), vc.numpy()], 1)
            Image.fromarray((strip * 255).astype(np.uint8)).save(glb.with_suffix(".compare.png"))
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0] if k != "frame"}
    return {"frames": rows, "mean": mean}


def _photos(run: Path, scene: str, which: str) -> Path:
    """SfM's finer photos where it made them (``which`` = fine), else the frames."""
    from video2mesh.texture.cli import has_photos

    fine = run / f"results/{scene}/sfm/images_fine.tar"
    if which == "fine" and fine.exists() and has_photos(fine):
        return fine
    return run / f"results/{scene}/sfm/images.tar"


def quality(args: argparse.Namespace) -> dict:
    from video2mesh.texture.cli import texture_mesh

    run = Path(args.run)
    stem = f"{args.scene}_{Path(args.mesh).stem}_{args.faces}_{args.bake_from}"
    out = WORK / "quality" / f"{stem}.glb"
    t0 = time.perf_counter()
    stats = texture_mesh(
        run / f"results/{args.scene}" / args.mesh, run / f"results/{args.scene}/transforms.json",
        out, out.with_suffix(".texture.json"), images=_photos(run, args.scene, args.bake_from),
        size=args.size, faces=args.faces, holdout=args.holdout, device_name="cpu",
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    scores = _render_scores(run, args.scene, args.mesh, out, stats, args.same_mesh)
    return {
        "machine": machine(),
        "mesh": args.mesh,
        "vertex_colours_on": "the GLB's own geometry" if args.same_mesh else args.mesh,
        "baked_from": stats.get("photos"),
        "scored_on": str(_photos(run, args.scene, "fine").name),
        "texture_seconds": seconds,
        "stats": stats,
        **scores,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--threads", type=int, default=2)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--size", type=int, default=2048)
    s.add_argument("--faces", type=int, default=200_000)
    s.add_argument("--views", type=int, default=100)
    q = sub.add_parser("quality")
    q.add_argument("--run", required=True, help="snakemake working directory of a pipeline run")
    q.add_argument("--scene", default="sample")
    q.add_argument("--mesh", required=True, help="relative to results/{scene}/")
    q.add_argument("--size", type=int, default=1024)
    q.add_argument("--faces", type=int, default=100_000)
    q.add_argument("--holdout", type=int, default=8)
    q.add_argument(
        "--bake-from",
        choices=["fine", "frames"],
        default="fine",
        help="SfM's finer photos where it made them (the pipeline's choice), or the frames; "
        "the held-back photos are scored at the finer size either way",
    )
    q.add_argument(
        "--same-mesh",
        action="store_true",
        help="vertex colours (from the photos) on the decimated GLB geometry, not the input mesh",
    )
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    result = speed(args) if args.cmd == "speed" else quality(args)
    text = json.dumps(result, indent=1)
    WORK.mkdir(parents=True, exist_ok=True)
    name = args.cmd
    if args.cmd == "quality":
        name = f"quality_{Path(args.mesh).stem}_{args.faces}_{args.bake_from}"
        name += "_same" if args.same_mesh else ""
    (WORK / f"{name}.json").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
