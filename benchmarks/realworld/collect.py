"""One table and one thumbnail sheet from a gpu_validate.py run and the prepared scenes.

    python benchmarks/realworld/collect.py --data .devdata --run /work/.device/<files_at> \
        --out benchmarks/realworld/results/<name>

Writes ``table.md`` (per scene × variant × iterations: registered frames, sphere radius over the
object's bounding radius, PSNR, inverse s, components, object share (and on the surface some
photo sees), Chamfer % (and with completeness over the reference some photo sees) / silhouette
IoU where the scene has a reference, normal consistency,
the far area's share next to the support plane and elsewhere, seconds), ``results.json`` (the
raw rows) and ``sheet.png``.
"""

from __future__ import annotations

import argparse
import io
import json
import tarfile
from pathlib import Path


def sphere_ratio(scene_dir: Path) -> float | None:
    """Sphere radius / the object's bounding radius (the reference's, else the fitted box's)."""
    align = scene_dir / "alignment.json"
    if align.exists():
        a = json.loads(align.read_text())
        if "reference_bounding_radius" in a:
            return a["sphere_radius"] / a["reference_bounding_radius"]
    t = json.loads((scene_dir / "transforms.json").read_text())
    box = t.get("object_box")
    if not box:
        return None
    half = [(h - lo) / 2 for lo, h in zip(box["lo"], box["hi"], strict=True)]
    return t["sphere_radius"] / sum(x * x for x in half) ** 0.5


def fmt(v: object, nd: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{nd}g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--run", type=Path, required=True, help="a run folder (results.json)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    written = args.run / "results.json"
    rows = json.loads(written.read_text()) if written.exists() else []
    progress = args.run / "progress.jsonl"  # every finished sweep point, also of a cut call
    if progress.exists():
        points = [json.loads(line) for line in progress.read_text().splitlines() if line]
        rows = points if len(points) > len(rows) else rows
    rows = [r for r in rows if "skipped" not in r]
    rows.sort(key=lambda r: (r["scene"], r["variant"], r.get("iterations", 0)))
    head = (
        "| scene | variant | it | registered | sphere/object | PSNR | inv s | comp. (raw) "
        "| object share (on the seen surface) | Chamfer % (on the seen reference) | NC "
        "| after ICP: Chamfer % / share (scale, shift %) "
        "| far: by the support / elsewhere "
        "| silhouette IoU (min); refined by the photos | train s | error |"
    )
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in rows:
        sd = args.data / r["scene"]
        prep_file = sd / "prepare.json"
        prep = json.loads(prep_file.read_text()) if prep_file.exists() else {}
        ratio = sphere_ratio(sd) if sd.exists() else None
        sil = r.get("silhouette_iou")
        sil_s = f"{sil:.3f} ({r.get('silhouette_iou_min', 0):.3f})" if sil is not None else "–"
        if r.get("silhouette_iou_photos") is not None:  # alignment_photos.json
            sil_s += f"; {r['silhouette_iou_photos']:.3f} ({r['silhouette_iou_photos_min']:.3f})"
        comp = f"{fmt(r.get('components'))} ({fmt(r.get('raw_components'))})"
        far = r.get("far") or {}
        low = far.get("near_support")
        far_s = f"{low:.3f} / {far['share'] - low:.3f}" if low is not None else "–"
        share = fmt(r.get("object_share"))
        if far.get("object_share_seen") is not None:  # seen_share.py: what some photo sees
            share += f" ({far['object_share_seen']:.3f})"
        chamfer = fmt(r.get("chamfer_pct"))
        if far.get("completeness_seen_pct") is not None and r.get("accuracy_pct") is not None:
            chamfer += f" ({(r['accuracy_pct'] + far['completeness_seen_pct']) / 2:.3g})"
        ref = r.get("refined") or {}
        icp = (
            f"{fmt(ref.get('chamfer_pct'))} / {fmt(ref.get('object_share'))} "
            f"({ref['scale']:.3f}, {ref['shift_pct']:.2f})"
            if ref
            else "–"
        )
        lines.append(
            f"| {r['scene']} | {r['variant']} | {r.get('iterations')} "
            f"| {prep.get('registered', '–')} "
            f"| {fmt(ratio)} | {fmt(r.get('psnr'))} | {fmt(r.get('inv_s'))} | {comp} "
            f"| {share} | {chamfer} "
            f"| {fmt(r.get('normal_consistency'))} | {icp} | {far_s} | {sil_s} "
            f"| {fmt(r.get('train_seconds'))} | {r.get('error', '')[:60]} |"
        )
    (args.out / "table.md").write_text("\n".join(lines) + "\n")
    (args.out / "results.json").write_text(json.dumps(rows, indent=1))
    thumbs = args.run / "thumbs.tar"
    if thumbs.exists():
        from PIL import Image, ImageDraw

        with tarfile.open(thumbs) as tar:
            members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name)
            images = [
                (m.name, Image.open(io.BytesIO(tar.extractfile(m).read())))  # type: ignore[union-attr]
                for m in members
            ]
        if images:
            w = max(im.width for _, im in images)
            h = max(im.height for _, im in images) + 14
            sheet = Image.new("RGB", (w, h * len(images)), "white")
            draw = ImageDraw.Draw(sheet)
            for i, (name, im) in enumerate(images):
                sheet.paste(im.convert("RGB"), (0, i * h + 14))
                draw.text((4, i * h), name.removesuffix(".png"), fill="black")
            sheet.save(args.out / "sheet.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
