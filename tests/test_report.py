"""summary.csv, curves and the viewer page, from a hand-made results tree."""

from __future__ import annotations

import base64
import csv
import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from video2mesh.cli import main
from video2mesh.report import SELF_REFERENCE, chain_seconds, summary_rows, to_html
from video2mesh.viewer import cluster_decimate, encode_mesh

ITS, RESS = (100, 200), (16, 32)


def _tree(root: Path, prefix: str = "results", device: str = "cuda:0") -> Path:
    """results/s/r/{ckpt,mesh,eval}/... for two segments × two resolutions."""
    base = root / prefix / "s"
    (base / "r" / "ckpt").mkdir(parents=True)
    (base / "transforms.json").write_text(
        json.dumps({"sphere_center": [0, 0, 0], "sphere_radius": 1.5, "frames": []})
    )
    trimesh.creation.icosphere(3).export(base / "reference.ply")
    for k, it in enumerate(ITS):
        with open(base / "r" / "ckpt" / f"it{it}.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["iteration", "elapsed_s", "loss", "psnr"])
            for j in range(1, 11):
                # elapsed_s is cumulative over the chain: 60 s per segment
                w.writerow([k * 100 + 10 * j, 60.0 * k + 6.0 * j, 1.0 / (k * 100 + 10 * j), 10 + j])
        for res in RESS:
            mesh = base / "r" / "mesh" / f"it{it}_res{res}.ply"
            mesh.parent.mkdir(exist_ok=True)
            trimesh.creation.icosphere(2 if res == 16 else 3, radius=1 + 0.1 / it).export(mesh)
            stats = {"vertices": 10, "faces": 20, "components": 1, "watertight": True}
            stats.update(area=12.5, seconds=30.0, device=device, iteration=it, resolution=res)
            mesh.with_suffix(".json").write_text(json.dumps(stats))
            ev = base / "r" / "eval" / f"it{it}_res{res}.json"
            ev.parent.mkdir(exist_ok=True)
            metrics = {"chamfer_l1": 1.0 / it + 1.0 / res, "fscore_1pct": 0.5}
            ev.write_text(json.dumps({**metrics, "reference_kind": "ground-truth", "seconds": 2}))
    return root / prefix


def test_chain_seconds_is_the_last_cumulative_elapsed() -> None:
    rows = [{"elapsed_s": str(t)} for t in (61, 62, 63.5)]  # this segment resumed at 60 s
    assert chain_seconds(rows) == pytest.approx(63.5)
    assert chain_seconds([]) is None
    assert chain_seconds([{"loss": "1"}]) is None


def test_summary_rows_times_gpu_minutes_and_cost(tmp_path: Path) -> None:
    # Storage-style paths: only the tail {scene}/{run}/... matters.
    res = _tree(tmp_path, ".snakemake/storage/s3/bucket/prefix/results")
    stats = sorted(res.glob("s/r/mesh/*.json"))
    rows = summary_rows(
        stats,
        sorted(res.glob("s/r/eval/*.json")),
        sorted(res.glob("s/r/ckpt/*.csv")),
        backends={"r": "builtin"},
        flavors={"*": "h100"},
        prices={"h100": 3.0},
    )
    assert [(r["iterations"], r["resolution"]) for r in rows] == [
        (100, 16),
        (100, 32),
        (200, 16),
        (200, 32),
    ]
    first, last = rows[0], rows[-1]
    assert first["mesh"] == "results/s/r/mesh/it100_res16.ply"
    assert first["backend"] == "builtin" and first["flavor"] == "h100"
    assert first["train_seconds"] == 60.0 and last["train_seconds"] == 120.0  # chain up to N
    assert first["gpu_minutes"] == pytest.approx(1.5)  # (60 + 30) s
    assert first["cost_eur"] == pytest.approx(1.5 / 60 * 3.0)
    assert first["chamfer_l1"] == pytest.approx(1 / 100 + 1 / 16)
    assert "<table" in to_html(rows) and 'class="best"' in to_html(rows)


def test_the_finest_mesh_scored_against_itself_shows_no_score(tmp_path: Path) -> None:
    """Without a reference the finest mesh is the others' reference: its own zero Chamfer and
    perfect F-scores are no result, and it must not be the table's best row."""
    res = _tree(tmp_path)
    for path in res.glob("s/r/eval/*.json"):  # no reference: every mesh against the finest
        ev = json.loads(path.read_text())
        ev.update(reference_kind="finest-mesh")
        if path.name == "it200_res32.json":
            ev.update(chamfer_l1=1e-6, fscore_1pct=1.0, self_reference=True)
        path.write_text(json.dumps(ev))
    rows = summary_rows(sorted(res.glob("s/r/mesh/*.json")), sorted(res.glob("s/r/eval/*.json")))
    last = rows[-1]
    assert (last["iterations"], last["resolution"]) == (200, 32)
    assert last["chamfer_l1"] is None and last["fscore_1pct"] is None
    assert last["reference_kind"] == SELF_REFERENCE
    assert rows[0]["chamfer_l1"] == pytest.approx(1 / 100 + 1 / 16)  # the others keep theirs
    # closest to the finest mesh is convergence, not quality: no row is called the best (a new
    # user's trial read the next-finest mesh's 0.019 % as the best result)
    page = to_html(rows)
    assert 'class="best"' not in page and "convergence, not accuracy" in page


def test_cpu_runs_cost_no_gpu_minutes(tmp_path: Path) -> None:
    res = _tree(tmp_path, device="cpu")
    rows = summary_rows(sorted(res.glob("s/r/mesh/*.json")), prices={"h100": 3.0})
    assert all(r["gpu_minutes"] == 0.0 and r["cost_eur"] is None for r in rows)
    assert rows[0]["train_seconds"] is None and rows[0]["chamfer_l1"] is None


def test_cli_summary_curves_and_viewer(tmp_path: Path) -> None:
    res = _tree(tmp_path)
    out = tmp_path / "out"
    argv = ["summary", "--stats", *map(str, sorted(res.glob("s/r/mesh/*.json")))]
    argv += ["--evals", *map(str, sorted(res.glob("s/r/eval/*.json")))]
    argv += ["--train-csvs", *map(str, sorted(res.glob("s/r/ckpt/*.csv")))]
    argv += ["--backend", "r=builtin", "--price", "h100=2.5", "--flavor", "r=h100"]
    assert main([*argv, "--output", str(out / "summary.csv"), "--html", str(out / "s.html")]) == 0
    with open(out / "summary.csv") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 4 and table[0]["backend"] == "builtin" and table[0]["cost_eur"]

    pngs = {k: out / f"{k}.png" for k in ("training", "quality", "time")}
    argv = ["curves", "--scene", "s", "--summary", str(out / "summary.csv"), "--train-csvs"]
    argv += [*map(str, sorted(res.glob("s/r/ckpt/*.csv")))]
    argv += [x for k, p in pngs.items() for x in (f"--{k}", str(p))]
    assert main(argv) == 0
    for p in pngs.values():
        assert Image.open(p).size[0] > 400

    html = out / "viewer.html"
    argv = ["viewer", "--scene", "s", "--meshes", *map(str, sorted(res.glob("s/r/mesh/*.ply")))]
    argv += ["--evals", *map(str, sorted(res.glob("s/r/eval/*.json")))]
    argv += ["--transforms", str(res / "s/transforms.json"), "--reference"]
    argv += [str(res / "s/reference.ply"), "--max-faces", "500", "--output", str(html)]
    assert main(argv) == 0
    page = html.read_text()
    # Self-contained: no script or stylesheet fetched from anywhere.
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|https?://", page)
    data = json.loads(re.search(r'id="v2m-data"[^>]*>(.*?)</script>', page, re.S)[1])
    assert len(data["meshes"]) == 4 and data["reference"]["faces"] <= 500
    assert {m["iterations"] for m in data["meshes"]} == set(ITS)


def test_decimation_respects_the_budget_and_keeps_the_shape() -> None:
    sphere = trimesh.creation.icosphere(5)  # 20,480 faces
    v, f, _ = cluster_decimate(np.asarray(sphere.vertices), np.asarray(sphere.faces), 2000)
    assert 500 < len(f) <= 2000
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=0.1)


def test_encoding_round_trip() -> None:
    mesh = trimesh.creation.box(extents=(1, 2, 3))
    rec = encode_mesh(mesh, np.zeros(3), 2.0, 1000)
    raw = gzip.decompress(base64.b64decode(rec["data"]))
    nv, nf = rec["vertices"], rec["faces"]
    q = np.frombuffer(raw[: nv * 6], "<u2").reshape(nv, 3)
    offset = nv * 6 + (2 if (nv * 6) % 4 else 0)
    faces = np.frombuffer(raw[offset : offset + nf * 6], "<u2").reshape(nf, 3)
    verts = (q / 65535 * 2 - 1) * 2.0
    assert np.allclose(np.sort(verts, axis=0), np.sort(mesh.vertices, axis=0), atol=1e-4)
    assert np.allclose(trimesh.Trimesh(verts, faces).area, mesh.area, rtol=1e-3)
