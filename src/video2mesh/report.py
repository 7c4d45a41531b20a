"""results/summary.csv (one row per mesh) and its HTML table for the Snakemake report.

Inputs are the files of the contract, matched by the tail of their paths so that the same code reads
local paths and Snakemake's storage paths (``.snakemake/storage/s3/<bucket>/<prefix>/results/...``):

- ``{scene}/{run}/mesh/it{N}_res{R}.json``: extraction stats (vertices, faces, components,
  watertight, area, seconds, device, optionally flavor);
- ``{scene}/{run}/eval/it{N}_res{R}.json``: metrics from `video2mesh evaluate`;
- ``{scene}/{run}/ckpt/it{N}.csv``: per-segment training metrics.

Train seconds of a mesh at N = the training wall time of the whole chain up to N: the builtin
backend writes ``elapsed_s`` cumulative over the chain (a resumed segment starts from the time
stored in its checkpoint), so it is the largest ``elapsed_s`` in ``ckpt/it{N}.csv``. GPU-minutes =
(train + extract seconds) / 60 when the extraction ran on a GPU (device "cuda..."; training is
assumed to use the same kind of machine), else 0. Cost = GPU hours × the configured price of the
flavor (config ``report: {prices: {flavor: EUR_per_hour}}``), empty when there is no price.

The other report sub-commands (curves, viewer) live in their own modules and are registered here.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from video2mesh.atomic import write_text
from video2mesh.errors import UserError

MESH_JSON = re.compile(r"([^/]+)/([^/]+)/(mesh|eval)/it(\d+)_res(\d+)\.json$")
TRAIN_CSV = re.compile(r"([^/]+)/([^/]+)/ckpt/it(\d+)\.csv$")
ELAPSED_COLUMNS = ("elapsed_s", "elapsed", "seconds", "time_s")

METRICS = [
    "reference_kind",
    "accuracy",
    "completeness",
    "chamfer_l1",
    "chamfer_pct",
    "object_share",
    "fscore_0.5pct",
    "fscore_1pct",
    "normal_consistency",
    "cropped_area_fraction",
]
# scenes with object masks (reference_masks): no reference mesh is needed, so the finest mesh
# scored against itself keeps them, and the table shows them only where a scene has them
SILHOUETTE = ["silhouette_iou", "silhouette_iou_min"]
METRICS += SILHOUETTE
# the same two numbers after the evaluation's ICP refinement (evaluate: ``refined``): the shape
# alone, without the error of the cameras the reference was aligned by
REFINED = ["chamfer_pct", "object_share"]
COLUMNS = [
    "scene",
    "run",
    "backend",
    "iterations",
    "resolution",
    "mesh",
    "vertices",
    "faces",
    "components",
    "watertight",
    "area",
    *METRICS,
    *(f"{k}_refined" for k in REFINED),
    "train_seconds",
    "extract_seconds",
    "eval_seconds",
    "gpu_minutes",
    "device",
    "flavor",
    "cost_eur",
]

Key = tuple[str, str, int, int]  # scene, run, iterations, resolution


def _posix(path: str | Path) -> str:
    return Path(path).as_posix()


def parse_mesh_json_path(path: str | Path) -> tuple[Key, str]:
    m = MESH_JSON.search(_posix(path))
    if not m:
        raise UserError(
            f"unexpected path {path}",
            "pass files named {scene}/{run}/mesh|eval/it{N}_res{R}.json",
        )
    return (m[1], m[2], int(m[4]), int(m[5])), m[3]


def _results_relative(path: str | Path) -> str:
    """``results/...`` tail of a local or storage path (what users see in the table)."""
    p = _posix(path)
    i = p.rfind("results/")
    return p[i:] if i >= 0 else p


def chain_seconds(rows: list[dict[str, str]]) -> float | None:
    """Training seconds of the chain up to the end of this segment (largest ``elapsed_s``)."""
    col = next((c for c in ELAPSED_COLUMNS if rows and c in rows[0]), None)
    values = []
    for row in rows if col else []:
        try:
            values.append(float(row[col]))
        except (TypeError, ValueError):
            continue
    return max(values) if values else None


def read_csv_rows(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def train_seconds_by_segment(
    train_csvs: list[str | Path],
) -> dict[tuple[str, str], dict[int, float | None]]:
    """{(scene, run): {segment end N: training seconds of the chain up to N}}."""
    out: dict[tuple[str, str], dict[int, float | None]] = defaultdict(dict)
    for path in train_csvs:
        m = TRAIN_CSV.search(_posix(path))
        if not m:
            raise UserError(f"unexpected path {path}", "pass {scene}/{run}/ckpt/it{N}.csv files")
        out[m[1], m[2]][int(m[3])] = chain_seconds(read_csv_rows(path))
    return out


def _kv(pairs: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"bad {what} {pair!r}", f"write it as NAME=VALUE ({what})")
        out[key] = value
    return out


SELF_REFERENCE = "itself (the finest mesh): no score"


def scored(ev: dict[str, Any]) -> dict[str, Any]:
    """An evaluation as the tables show it: the finest mesh of a capture without a reference is
    its runs' reference and scores perfectly against itself by construction, which is no result,
    so its metrics are left blank; its silhouette IoU (under the masks' cameras) stays."""
    if not ev.get("self_reference"):
        return ev
    own = {k: ev[k] for k in SILHOUETTE if k in ev}
    return {"reference_kind": SELF_REFERENCE, "seconds": ev.get("seconds"), **own}


def summary_rows(
    stats: list[str | Path],
    evals: list[str | Path] = (),  # type: ignore[assignment]
    train_csvs: list[str | Path] = (),  # type: ignore[assignment]
    backends: dict[str, str] | None = None,
    flavors: dict[str, str] | None = None,
    prices: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """One row per mesh, sorted by scene, run, iterations, resolution."""
    backends, flavors, prices = backends or {}, flavors or {}, prices or {}
    evaluations: dict[Key, dict[str, Any]] = {}
    for path in evals:
        key, _ = parse_mesh_json_path(path)
        evaluations[key] = json.loads(Path(path).read_text())
    segments = train_seconds_by_segment(list(train_csvs))
    rows = []
    for path in stats:
        key, _ = parse_mesh_json_path(path)
        scene, run, its, res = key
        st = json.loads(Path(path).read_text())
        ev = scored(evaluations.get(key, {}))
        seg = segments.get((scene, run), {})
        train_s = seg.get(its)
        extract_s = st.get("seconds")
        device = str(st.get("device", ""))
        flavor = st.get("flavor") or flavors.get(run) or flavors.get("*", "")
        gpu_min = None
        if train_s is not None or extract_s is not None:
            busy = (train_s or 0.0) + (extract_s or 0.0)
            gpu_min = busy / 60 if device.startswith("cuda") else 0.0
        price = prices.get(flavor) if flavor else None
        row: dict[str, Any] = {
            "scene": scene,
            "run": run,
            "backend": backends.get(run, st.get("backend", "")),
            "iterations": its,
            "resolution": res,
            "mesh": _results_relative(st.get("mesh") or Path(path).with_suffix(".ply")),
            "vertices": st.get("vertices"),
            "faces": st.get("faces"),
            "components": st.get("components"),
            "watertight": st.get("watertight"),
            "area": st.get("area"),
            "train_seconds": train_s,
            "extract_seconds": extract_s,
            "eval_seconds": ev.get("seconds"),
            "gpu_minutes": gpu_min,
            "device": device,
            "flavor": flavor,
            "cost_eur": gpu_min / 60 * price if gpu_min is not None and price else None,
        }
        row.update({k: ev.get(k) for k in METRICS})
        row.update({f"{k}_refined": (ev.get("refined") or {}).get(k) for k in REFINED})
        rows.append(row)
    rows.sort(key=lambda r: (r["scene"], r["run"], r["iterations"], r["resolution"]))
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def to_csv(rows: list[dict[str, Any]]) -> str:
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in COLUMNS})
    return buf.getvalue()


# Shown in the HTML table (the CSV keeps everything); header text per column.
HTML_COLUMNS = {
    "scene": "scene",
    "run": "run",
    "iterations": "iterations",
    "resolution": "resolution",
    "faces": "faces",
    "components": "comp.",
    "watertight": "watertight",
    "chamfer_pct": "Chamfer %",
    "object_share": "object share",
    "chamfer_pct_refined": "Chamfer % (ICP)",
    "chamfer_l1": "Chamfer-L1",
    "fscore_0.5pct": "F@0.5%",
    "fscore_1pct": "F@1%",
    "normal_consistency": "normal cons.",
    "silhouette_iou": "silhouette IoU",
    "reference_kind": "reference",
    "train_seconds": "train s",
    "extract_seconds": "extract s",
    "gpu_minutes": "GPU-min",
    "cost_eur": "cost €",
}

_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>video2mesh summary</title>
<style>
body {{ font: 12px/1.4 system-ui, sans-serif; margin: 12px; color: #222; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: 3px 6px; border-bottom: 1px solid #ddd; text-align: right; }}
th, td {{ white-space: nowrap; }}
th {{ background: #f3f5f8; cursor: pointer; position: sticky; top: 0; }}
td.t {{ text-align: left; }} tr.best td {{ background: #e9f7ec; font-weight: 600; }}
p {{ color: #555; }}
</style></head><body>
<table id="summary"><thead><tr>{head}</tr></thead><tbody>
{body}
</tbody></table>
<p>One row per mesh; the best Chamfer-L1 of each scene with a reference mesh is highlighted.
Chamfer % is Chamfer-L1 as a percentage of the reference's bounding-box diagonal; object share is
the share of the mesh's area within 1% of that diagonal from the reference (1 = the object alone,
no table or floaters). Chamfer-L1 in world units; F-scores at 0.5% and 1% of the diagonal. A
scene without a reference mesh is scored against its finest mesh (reference "finest-mesh"): how
far each mesh is from that one measures convergence, not accuracy, and no row is highlighted.
Click a header to sort. All columns: summary.csv.</p>
<script>
document.querySelectorAll("#summary th").forEach((th, i) => th.addEventListener("click", () => {{
  const body = document.querySelector("#summary tbody");
  const rows = Array.from(body.rows);
  const dir = th.dataset.dir === "1" ? -1 : 1; th.dataset.dir = dir;
  const val = r => {{ const t = r.cells[i].textContent; const n = parseFloat(t);
    return isNaN(n) ? t : n; }};
  rows.sort((a, b) => (val(a) > val(b) ? 1 : val(a) < val(b) ? -1 : 0) * dir);
  rows.forEach(r => body.appendChild(r));
}}));
</script></body></html>
"""


def _short(key: str, value: Any) -> str:
    """Table cells: 4 significant digits for metrics, fixed decimals for times and money."""
    if not isinstance(value, float):
        return _cell(value)
    if key.endswith("seconds"):
        return f"{value:.1f}"
    if key in ("gpu_minutes", "cost_eur"):
        return f"{value:.3f}"
    return f"{value:.4g}"


def to_html(rows: list[dict[str, Any]]) -> str:
    best: dict[str, float] = {}
    for r in rows:
        c = r.get("chamfer_l1")
        # against the finest mesh (no reference), closest is not best
        if r.get("reference_kind") == "finest-mesh":
            continue
        if isinstance(c, (int, float)) and c < best.get(r["scene"], float("inf")):
            best[r["scene"]] = c
    shown = [
        k for k in HTML_COLUMNS if k not in SILHOUETTE or any(r.get(k) is not None for r in rows)
    ]
    head = "".join(f"<th>{html.escape(HTML_COLUMNS[k])}</th>" for k in shown)
    lines = []
    for r in rows:
        c = r.get("chamfer_l1")
        cls = ' class="best"' if r["scene"] in best and c == best[r["scene"]] else ""
        cells = "".join(
            ("<td class=t>" if isinstance(r.get(k), str) else "<td>")
            + html.escape(_short(k, r.get(k)))
            + "</td>"
            for k in shown
        )
        lines.append(f"<tr{cls}>{cells}</tr>")
    return _HTML.format(head=head, body="\n".join(lines))


def _run_summary(args: argparse.Namespace) -> None:
    try:
        prices = {k: float(v) for k, v in _kv(args.price, "price").items()}
    except ValueError as exc:
        raise UserError(f"bad price: {exc}", "prices are EUR per hour, e.g. h100=2.8") from exc
    rows = summary_rows(
        args.stats,
        args.evals or [],
        args.train_csvs or [],
        _kv(args.backend, "backend"),
        _kv(args.flavor, "flavor"),
        prices,
    )
    write_text(args.output, to_csv(rows))
    if args.html:
        write_text(args.html, to_html(rows))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "summary",
        help="results/summary.csv: one row per mesh with stats, metrics, times and cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stats", nargs="+", required=True, help="mesh/it{N}_res{R}.json files")
    p.add_argument("--evals", nargs="*", help="eval/it{N}_res{R}.json files")
    p.add_argument("--train-csvs", nargs="*", help="ckpt/it{N}.csv files")
    p.add_argument("--backend", action="append", metavar="RUN=BACKEND", help="run's backend")
    p.add_argument(
        "--flavor",
        action="append",
        metavar="RUN=FLAVOR",
        help="GPU flavor of a run ('*' for all) when the stats JSON names none",
    )
    p.add_argument("--price", action="append", metavar="FLAVOR=EUR_PER_HOUR")
    p.add_argument("--output", required=True, help="summary.csv")
    p.add_argument("--html", help="also write the table as a self-contained HTML page")
    p.set_defaults(func=_run_summary)

    from video2mesh import curves, viewer

    curves.register(subparsers)
    viewer.register(subparsers)
