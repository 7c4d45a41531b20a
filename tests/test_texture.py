"""Textured meshes: rasteriser, decimation budget and accuracy, the texture command end to end
(GLB/OBJ/LOD files, Khronos validator, held-out photos better than vertex colours)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
from v2m_testing import ROOT, run_cli

from video2mesh.texture.decimate import decimate
from video2mesh.texture.export import gltf_from_world
from video2mesh.texture.raster import rasterize
from video2mesh.texture.synthetic import colour, write_capture
from video2mesh.texture.unwrap import PIECE_FACES, unwrap

VALIDATOR = ROOT / ".tools" / "node_modules" / "gltf-validator"


def test_rasterize_covers_pixel_centres_and_nearest_wins() -> None:
    # a 10×10 pixel square (two triangles) at depth 2, half covered by a triangle at depth 1
    square = torch.tensor([[[0, 0], [10, 0], [10, 10]], [[0, 0], [10, 10], [0, 10]]]).float()
    front = torch.tensor([[[0, 0], [10, 0], [10, 10]]]).float()
    xy = torch.cat([square, front])
    depth = torch.tensor([[2.0] * 3, [2.0] * 3, [1.0] * 3])
    r = rasterize(xy, 12, 12, depth=depth)
    assert int((r.face >= 0).sum()) == 100  # pixel centres strictly inside the square
    assert r.depth is not None
    assert float(r.depth[2, 7]) == 1.0 and int(r.face[2, 7]) == 2  # above the diagonal: front
    assert float(r.depth[7, 2]) == 2.0 and int(r.face[7, 2]) == 1
    assert torch.allclose(r.bary[r.face >= 0].sum(-1), torch.ones(100))


def test_gltf_frame_puts_up_on_plus_y() -> None:
    up = np.array([0.3, -0.2, 0.93])
    center = np.array([1.0, 2.0, 3.0])
    m = gltf_from_world(up, center)
    assert np.allclose(m[:3, :3] @ (up / np.linalg.norm(up)), [0, 1, 0])
    assert np.isclose(np.linalg.det(m[:3, :3]), 1.0)  # a rotation: no mirror
    assert np.allclose(m[:3, :3] @ center + m[:3, 3], 0)
    assert np.allclose(
        gltf_from_world(np.array([0, 0, -1.0]), center)[:3, :3] @ [0, 0, -1], [0, 1, 0]
    )


def _chamfer(a: trimesh.Trimesh, b: trimesh.Trimesh, n: int = 100_000) -> float:
    """Symmetric mean nearest-sample distance (the project's Chamfer-L1) of n samples each."""
    from scipy.spatial import cKDTree

    pa = trimesh.sample.sample_surface(a, n, seed=0)[0]
    pb = trimesh.sample.sample_surface(b, n, seed=1)[0]
    return float(cKDTree(pb).query(pa)[0].mean() + cKDTree(pa).query(pb)[0].mean()) / 2


def test_decimation_meets_budget_and_keeps_shape() -> None:
    """A bumpy sphere of 328k faces decimated to 200k: within 5 % of the budget, and its Chamfer
    distance to the original exceeds that of a resampling of the original itself (the floor of
    a sampled Chamfer, 0.16 % of the diagonal here) by at most 0.05 % of the diagonal."""
    mesh = trimesh.creation.icosphere(subdivisions=7)
    p = np.asarray(mesh.vertices)
    bumps = 1 + 0.08 * np.sin(7 * p[:, 0]) * np.sin(9 * p[:, 1]) * np.sin(5 * p[:, 2] + 1)
    mesh = trimesh.Trimesh(p * bumps[:, None], mesh.faces, process=False)
    diagonal = float(np.linalg.norm(mesh.bounds[1] - mesh.bounds[0]))
    floor = _chamfer(mesh, mesh)
    v, f = decimate(np.asarray(mesh.vertices), np.asarray(mesh.faces), 200_000)
    assert abs(len(f) - 200_000) <= 0.05 * 200_000
    change = _chamfer(mesh, trimesh.Trimesh(v, f, process=False)) - floor
    assert abs(change) <= 0.0005 * diagonal, f"Chamfer change {change / diagonal:.4%}"
    v, f = decimate(np.asarray(mesh.vertices), np.asarray(mesh.faces), 200)
    coarse = _chamfer(mesh, trimesh.Trimesh(v, f, process=False)) - floor
    assert coarse > 0.0005 * diagonal  # the measure does see a coarse decimation


def test_unwrap_in_worker_processes_gives_the_serial_atlas() -> None:
    """Two pieces (20k faces) unwrapped in spawned workers: the same atlas, charts inside the
    square."""
    mesh = trimesh.creation.icosphere(subdivisions=5)
    v, f = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    assert len(f) > PIECE_FACES  # more than one piece
    serial = unwrap(v, f, 512, workers=1)
    pooled = unwrap(v, f, 512, workers=2)
    for name in ("vertices", "faces", "uv", "source_vertex"):
        assert np.array_equal(getattr(serial, name), getattr(pooled, name)), name
    assert pooled.uv.min() >= 0 and pooled.uv.max() <= 1
    assert len(pooled.faces) == len(f)


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> dict[str, Path]:
    return write_capture(tmp_path_factory.mktemp("texture_capture"))


@pytest.fixture(scope="module")
def textured(capture, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("textured") / "it1_res1.glb"
    proc = run_cli(
        "texture", "--mesh", str(capture["mesh"]), "--transforms", str(capture["transforms"]),
        "--images", str(capture["images"]), "--size", "512", "--faces", "5000",
        "--lods", "1000", "--obj", "--holdout", "4", "--threads", "1",
        "--real-longest", str(REAL_LONGEST),
        "--out", str(out), "--stats", str(out.with_suffix(".texture.json")),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


REAL_LONGEST = 0.25  # metres: the files come out in metres, the world stays the capture's


def test_glb_loads_with_uvs_texture_and_budget(capture, textured: Path) -> None:
    glb = trimesh.load(textured, force="mesh", process=False)
    assert isinstance(glb.visual, trimesh.visual.TextureVisuals)
    assert glb.visual.uv.shape == (len(glb.vertices), 2)
    assert glb.visual.material.baseColorTexture.size == (512, 512)
    assert abs(len(glb.faces) - 5000) <= 250
    lod = trimesh.load(textured.with_name("it1_res1.lod1000.glb"), force="mesh", process=False)
    assert abs(len(lod.faces) - 1000) <= 50
    assert lod.visual.material.baseColorTexture.size == (256, 256)  # shrinks with the faces
    obj = trimesh.load(textured.with_suffix(".obj"), force="mesh", process=False)
    assert len(obj.faces) == len(glb.faces)
    assert obj.visual.material.image.size == (512, 512)
    # +Y up: the capture's up is +z (cameras orbit around it), so the box (−0.2 in z) sits low
    stats = json.loads(textured.with_suffix(".texture.json").read_text())
    back = np.asarray(stats["world_from_gltf"])
    scale = stats["metres_per_unit"]
    assert np.allclose(back[:3, 1] * scale, [0, 0, 1], atol=0.05)
    # in metres: the longest side of the upright box is the length given, in every file
    assert stats["units"] == "m" and stats["real_size"] == {"longest": REAL_LONGEST}
    assert max(stats["dimensions"]) == pytest.approx(REAL_LONGEST)
    world = trimesh.load(capture["mesh"], force="mesh", process=False)
    assert scale == pytest.approx(REAL_LONGEST / world.extents.max(), rel=0.02)
    for mesh in (glb, lod, obj):
        assert mesh.extents.max() == pytest.approx(REAL_LONGEST, rel=0.02)
        # it stands on the origin, as AR viewers expect: its foot at y = 0, centred across
        lo, hi = mesh.bounds
        assert lo[1] == pytest.approx(0.0, abs=0.01 * REAL_LONGEST)
        assert np.abs((lo + hi)[[0, 2]] / 2).max() < 0.1 * REAL_LONGEST


def test_upright_box_and_real_size() -> None:
    """Sides of a turned box measured along its up, height from a support plane under it; the
    config's lengths parsed, bad ones refused with what to write."""
    from video2mesh.errors import UserError
    from video2mesh.real_size import metres_per_unit, parse, upright_box
    from video2mesh.support import Plane

    box = trimesh.creation.box([0.3, 0.2, 0.5])
    turn = trimesh.transformations.random_rotation_matrix(np.random.default_rng(3).random(3))
    box.apply_transform(turn)
    up = turn[:3, 2]
    got = upright_box(box.vertices, up)
    assert np.allclose(got.sides(), [0.3, 0.2, 0.5]) and got.longest == pytest.approx(0.5)
    lowest = float((box.vertices @ up).min())
    on_table = upright_box(box.vertices, -up, Plane(up, 0.1 - lowest, 0, 0.0))  # 0.1 above it
    assert on_table.height == pytest.approx(0.6)  # the plane's up wins over the one passed
    # where it stands: under its centre (the origin), on its lowest point or on the plane
    assert np.allclose(got.foot, -0.25 * up, atol=1e-6)
    assert np.allclose(on_table.foot, -0.35 * up, atol=1e-6)
    assert metres_per_unit(got, parse({"height": 0.1})) == pytest.approx(0.2)
    assert parse(None) is None and parse({}) is None
    for bad in ({"height": -1}, {"height": "10cm"}, {"width": 0.1}, {"height": 1, "longest": 2}):
        with pytest.raises(UserError, match="real_size") as err:
            parse(bad)
        assert "metres" in err.value.hint


@pytest.mark.skipif(
    shutil.which("node") is None, reason="make test installs node and the validator"
)
def test_glb_passes_khronos_validator(textured: Path) -> None:
    assert VALIDATOR.exists(), "run `make gltf-validator` (a prerequisite of make test)"
    for glb in (textured, textured.with_name("it1_res1.lod1000.glb")):
        proc = subprocess.run(
            ["node", str(ROOT / "tests" / "validate_gltf.cjs"), str(VALIDATOR), str(glb)],
            capture_output=True,
            text=True,
            check=True,
        )
        issues = json.loads(proc.stdout)
        assert issues["numErrors"] == 0, issues["messages"][:5]
        assert issues["numWarnings"] == 0, issues["messages"][:5]


def test_texture_beats_vertex_colours_on_held_out_photos(capture, textured: Path) -> None:
    """Photos never used for baking: the texture is ≥ 3 dB closer to them than ideal vertex
    colours (the true colour at each vertex) of the same decimated mesh."""
    from video2mesh.recon.data import load_dataset
    from video2mesh.texture.evaluate import render_view, score

    stats = json.loads(textured.with_suffix(".texture.json").read_text())
    assert len(stats["held_out"]) == 6
    ds = load_dataset(capture["transforms"], capture["images"])
    glb = trimesh.load(textured, force="mesh", process=False)
    back = np.asarray(stats["world_from_gltf"])
    world = np.asarray(glb.vertices) @ back[:3, :3].T + back[:3, 3]
    v = torch.as_tensor(world, dtype=torch.float32)  # the capture's sphere: centre 0, radius 1
    f = torch.as_tensor(np.asarray(glb.faces))
    uv = torch.as_tensor(np.asarray(glb.visual.uv), dtype=torch.float32)
    image = np.asarray(glb.visual.material.baseColorTexture.convert("RGB"), np.float32) / 255
    colours = torch.as_tensor(colour(world), dtype=torch.float32)
    gains = []
    for name in stats["held_out"]:
        i = ds.names.index(name)
        photo = ds.images[i].numpy() / 255.0
        tex, mask = render_view(v, f, ds, i, uv=uv, texture=torch.from_numpy(image))
        vc, _ = render_view(v, f, ds, i, colors=colours)
        a, b = score(tex.numpy(), photo, mask.numpy()), score(vc.numpy(), photo, mask.numpy())
        assert a.pixels > 1000
        assert a.ssim > b.ssim
        gains.append(a.psnr - b.psnr)
    assert np.mean(gains) >= 3.0, gains


def test_viewer_inlines_vertex_colours_and_a_redecimated_texture(
    capture, textured: Path, tmp_path: Path
) -> None:
    """The viewer record of a mesh carries its vertex colours, and its textured GLB re-baked
    for display below the face budget; the page stays self-contained."""
    import base64
    import io
    import re

    from PIL import Image

    from video2mesh.cli import main

    mesh = tmp_path / "s" / "r" / "mesh" / "it1_res1.ply"
    mesh.parent.mkdir(parents=True)
    shutil.copy(capture["mesh"], mesh)
    shutil.copy(textured, mesh.with_suffix(".glb"))
    shutil.copy(textured.with_suffix(".texture.json"), mesh.with_suffix(".texture.json"))
    html = tmp_path / "viewer.html"
    argv = ["viewer", "--scene", "s", "--meshes", str(mesh), "--textured"]
    argv += [str(mesh.with_suffix(".glb"))]
    argv += ["--transforms", str(capture["transforms"]), "--max-faces", "2000"]
    assert main([*argv, "--output", str(html)]) == 0
    page = html.read_text()
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|https?://", page)
    data = json.loads(re.search(r'id="v2m-data"[^>]*>(.*?)</script>', page, re.S)[1])
    rec = data["meshes"][0]
    assert rec["colors"] and rec["faces"] <= 2000
    tex = rec["textured"]
    assert tex["uv"] and tex["faces"] <= 2000 * 1.05
    uri = tex["texture"]
    assert uri.startswith("data:image/jpeg;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert image.size == (1024, 1024)
    assert np.asarray(image).std() > 20  # the stripes, not a flat colour
    assert max(rec["stats"]["dimensions_m"]) == pytest.approx(REAL_LONGEST)  # printed in cm

    def positions(r: dict) -> np.ndarray:  # viewer.js: decode, the u16 xyz first
        import gzip

        raw = gzip.decompress(base64.b64decode(r["data"]))
        return np.frombuffer(raw[: 6 * r["vertices"]], "<u2").reshape(-1, 3).astype(float)

    # the textured copy comes back from metres to the world's frame, onto the mesh itself
    a, b = positions(rec), positions(tex)
    assert np.allclose(a.min(0), b.min(0), atol=700) and np.allclose(a.max(0), b.max(0), atol=700)


@pytest.mark.slow
def test_field_source_bakes_the_colour_network(tiny_pipeline: Path, tmp_path: Path) -> None:
    """``--source field`` on the tiny run's mesh: the texture holds the network's colours, so
    rendered into a training view it matches the mesh's own vertex colours (same network)."""
    from video2mesh.recon.data import load_dataset
    from video2mesh.texture.evaluate import render_view, score

    res = tiny_pipeline / "results" / "sample"
    mesh = res / "builtin" / "mesh" / "it300_res64.ply"
    out = tmp_path / "it300_res64.glb"
    proc = run_cli(
        "texture", "--mesh", str(mesh), "--transforms", str(res / "transforms.json"),
        "--source", "field", "--ckpt", str(res / "builtin" / "ckpt" / "it300.pt"),
        "--size", "256", "--faces", "0", "--threads", "1",
        "--out", str(out), "--stats", str(out.with_suffix(".texture.json")),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    stats = json.loads(out.with_suffix(".texture.json").read_text())
    assert stats["source"] == "field" and stats["levels"][0]["faces"] > 1000
    ds = load_dataset(res / "transforms.json", res / "sfm" / "images.tar", max_side=240)
    glb = trimesh.load(out, force="mesh", process=False)
    back = np.asarray(stats["world_from_gltf"])
    world = np.asarray(glb.vertices) @ back[:3, :3].T + back[:3, 3]
    ply = trimesh.load(mesh, process=False)
    center, radius = np.asarray(ds.center), ds.radius
    image = np.asarray(glb.visual.material.baseColorTexture.convert("RGB"), np.float32) / 255
    tex, mask = render_view(
        torch.as_tensor((world - center) / radius, dtype=torch.float32),
        torch.as_tensor(np.asarray(glb.faces)),
        ds, 0, uv=torch.as_tensor(np.asarray(glb.visual.uv), dtype=torch.float32),
        texture=torch.from_numpy(image),
    )  # fmt: skip
    vc, _ = render_view(
        torch.as_tensor((np.asarray(ply.vertices) - center) / radius, dtype=torch.float32),
        torch.as_tensor(np.asarray(ply.faces)), ds, 0,
        colors=torch.as_tensor(np.asarray(ply.visual.vertex_colors[:, :3], np.float32) / 255),
    )  # fmt: skip
    agreement = score(tex.numpy(), vc.numpy(), mask.numpy())
    # the tiny run's mesh covers 170-600 px of view 0 at 240 px, run to run (floaters dropped)
    assert agreement.pixels > 100 and agreement.psnr > 25, agreement


def _png(rgb: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _psnr_on_held_out(glb: Path, stats: dict, ds) -> float:
    from video2mesh.texture.evaluate import render_view, score

    g = trimesh.load(glb, force="mesh", process=False)
    back = np.asarray(stats["world_from_gltf"])
    v = torch.as_tensor(np.asarray(g.vertices) @ back[:3, :3].T + back[:3, 3], dtype=torch.float32)
    f = torch.as_tensor(np.asarray(g.faces))
    uv = torch.as_tensor(np.asarray(g.visual.uv), dtype=torch.float32)
    image = np.asarray(g.visual.material.baseColorTexture.convert("RGB"), np.float32) / 255
    scores = []
    for name in stats["held_out"]:
        i = ds.names.index(name)
        tex, mask = render_view(v, f, ds, i, uv=uv, texture=torch.from_numpy(image))
        scores.append(score(tex.numpy(), ds.images[i].numpy() / 255.0, mask.numpy()).psnr)
    return float(np.mean(scores))


def test_the_texture_is_baked_from_the_finer_photos(tmp_path: Path) -> None:
    """Frames at 160×120 and the same photos at 3× in SfM's images_fine.tar (with its own
    camera, as sfm.py writes it): the texture is baked from the finer photos, and on held-back
    finer photos it beats the one baked from the frames (what a user compares: the photos)."""
    import io
    import tarfile

    from PIL import Image

    from video2mesh.recon.data import load_dataset
    from video2mesh.sfm import FINE_CAMERA
    from video2mesh.texture.cli import texture_mesh

    frames = write_capture(tmp_path / "frames", views=16)
    large = write_capture(tmp_path / "large", views=16, scale=3.0)
    meta = json.loads(large["transforms"].read_text())
    fine = tmp_path / "images_fine.tar"
    cut = 6  # columns off the left: not the frames' camera scaled, as COLMAP's rounding
    camera = {k: meta[k] for k in ("h", "fl_x", "fl_y", "cy")}
    camera |= {"w": meta["w"] - cut, "cx": meta["cx"] - cut}
    with tarfile.open(large["images"]) as src, tarfile.open(fine, "w") as tar:
        for name, data in [(FINE_CAMERA, json.dumps(camera).encode())] + [
            (m.name, _png(np.asarray(Image.open(src.extractfile(m)))[:, cut:]))
            for m in src.getmembers()
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    psnr = {}
    for kind, extra in (("frames", None), ("fine", fine)):
        out = tmp_path / f"{kind}.glb"
        stats = texture_mesh(
            frames["mesh"], frames["transforms"], out, out.with_suffix(".json"),
            images=frames["images"], fine_images=extra, size=1024, faces=20_000, holdout=4,
            device_name="cpu",
        )  # fmt: skip
        assert stats["photos"]["size"] == ([480 - cut, 360] if extra else [160, 120])
        psnr[kind] = _psnr_on_held_out(out, stats, load_dataset(frames["transforms"], fine))
    # 32.9 → 47.8 dB; with the archive's camera ignored (the frames' scaled: 3 px off) 16.0 → 21.7
    assert psnr["fine"] >= 40.0 and psnr["fine"] >= psnr["frames"] + 6.0, psnr


def test_a_cut_out_photo_gives_no_colour_where_its_alpha_is_backdrop(tmp_path: Path) -> None:
    """Cut-out photos (images.tar's alpha/): a view whose alpha calls a texel's pixel backdrop
    lends it its colour only where no view sees it on the object. Half the views painted
    magenta and marked backdrop: baked from the rest (as with their true colours), where
    without the alpha the magenta mixes in."""
    from video2mesh.recon.data import load_dataset
    from video2mesh.texture.bake import Texels, bake_photos

    capture = write_capture(tmp_path, views=16)
    mesh = trimesh.load(capture["mesh"], process=False)
    texels = Texels(
        index=torch.arange(len(mesh.vertices)),
        position=torch.as_tensor(mesh.vertices, dtype=torch.float32),
        normal=torch.as_tensor(mesh.vertex_normals, dtype=torch.float32),
        size=1,
    )
    vertices = texels.position
    faces = torch.as_tensor(mesh.faces)
    want = torch.as_tensor(colour(np.asarray(mesh.vertices)), dtype=torch.float32)
    ds = load_dataset(capture["transforms"], capture["images"])
    cut = torch.arange(ds.n_images) % 2 == 0
    ds.images[cut] = torch.tensor([255, 0, 255], dtype=torch.uint8)
    error = {}
    for alpha in (None, np.where(cut.numpy()[:, None, None], 0, 255).astype(np.uint8)):
        ds.alpha = None if alpha is None else np.broadcast_to(alpha, ds.images.shape[:3])
        rgb, known = bake_photos(texels, vertices, faces, ds, list(range(ds.n_images)))
        assert known.float().mean() > 0.9
        error["alpha" if alpha is not None else "none"] = float(
            (rgb[known] - want[known]).abs().mean(-1).median()
        )
    assert error["alpha"] < 0.05 and error["none"] > 3 * error["alpha"], error
