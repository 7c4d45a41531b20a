"""Curves of one scene as PNG: training (loss, PSNR vs iteration), quality (Chamfer vs iterations
and vs resolution) and time per stage; inputs are summary.csv and the per-segment metrics CSVs."""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path
from typing import Any

from video2mesh.atomic import atomic_path
from video2mesh.errors import UserError
from video2mesh.report import TRAIN_CSV, read_csv_rows


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if f == f else None  # NaN → None


def _figure(ncols: int, width: float = 5.2, height: float = 3.6):  # -> (Figure, list[Axes])
    import matplotlib

    matplotlib.use("Agg")  # headless
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), dpi=100, layout="constrained")
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def _save(fig, output: str | Path) -> None:
    with atomic_path(output) as tmp:
        fig.savefig(tmp, format="png")


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


def training_curves(scene: str, train_csvs: list[str | Path], output: str | Path) -> None:
    """Loss (log scale) and PSNR against iteration, one line per run, segment ends marked."""
    runs: dict[str, list[tuple[int, list[dict[str, str]]]]] = defaultdict(list)
    for path in train_csvs:
        m = TRAIN_CSV.search(Path(path).as_posix())
        if not m:
            raise UserError(f"unexpected path {path}", "pass {scene}/{run}/ckpt/it{N}.csv files")
        if m[1] == scene:
            runs[m[2]].append((int(m[3]), read_csv_rows(path)))
    fig, (ax_loss, ax_psnr) = _figure(2)
    for run, segments in sorted(runs.items()):
        segments.sort(key=lambda s: s[0])
        pts = [
            (_float(r.get("iteration")), _float(r.get("loss")), _float(r.get("psnr")))
            for _, rows in segments
            for r in rows
        ]
        it = [p[0] for p in pts if p[0] is not None and p[1] is not None]
        loss = [p[1] for p in pts if p[0] is not None and p[1] is not None]
        (line,) = ax_loss.plot(it, loss, label=run, lw=1.2)
        it2 = [p[0] for p in pts if p[0] is not None and p[2] is not None]
        ax_psnr.plot(it2, [p[2] for p in pts if p[0] is not None and p[2] is not None], lw=1.2)
        for end, _ in segments:
            for ax in (ax_loss, ax_psnr):
                ax.axvline(end, color=line.get_color(), ls=":", lw=0.8, alpha=0.6)
    ax_loss.set(title=f"{scene}: training loss", xlabel="iteration", ylabel="loss")
    ax_psnr.set(title=f"{scene}: PSNR", xlabel="iteration", ylabel="PSNR (dB)")
    if runs:
        ax_loss.set_yscale("log")
        ax_loss.legend(title="run (dotted: segment ends)", fontsize=8)
    else:
        _empty(ax_loss, "no training metrics")
    for ax in (ax_loss, ax_psnr):
        ax.grid(alpha=0.3)
    _save(fig, output)


def read_summary(path: str | Path, scene: str) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["scene"] == scene]


def quality_curves(scene: str, summary: str | Path, output: str | Path) -> None:
    """Chamfer-L1 against iterations (a line per run × resolution) and against resolution."""
    rows = read_summary(summary, scene)
    fig, (ax_it, ax_res) = _figure(2)
    by_res: dict[tuple[str, int], list[tuple[int, float]]] = defaultdict(list)
    by_it: dict[tuple[str, int], list[tuple[int, float]]] = defaultdict(list)
    kinds = set()
    for r in rows:
        c = _float(r.get("chamfer_l1"))
        if c is None:
            continue
        it, res = int(r["iterations"]), int(r["resolution"])
        by_res[r["run"], res].append((it, c))
        by_it[r["run"], it].append((res, c))
        kinds.add(r.get("reference_kind") or "?")
    for ax, groups, fmt, xlabel in (
        (ax_it, by_res, "{} · res {}", "training iterations"),
        (ax_res, by_it, "{} · {} it", "mesh resolution"),
    ):
        for (run, v), pts in sorted(groups.items()):
            pts.sort()
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=fmt.format(run, v))
        ax.set(xlabel=xlabel, ylabel="Chamfer-L1 (world units, lower is better)")
        ax.set_xscale("log")
        xs = sorted({p[0] for pts in groups.values() for p in pts})
        if xs:  # label the sweep's own values, not powers of ten
            ax.set_xticks(xs, [str(x) for x in xs])
            ax.minorticks_off()
        ax.grid(alpha=0.3)
        if groups:
            ax.legend(fontsize=8)
        else:
            _empty(ax, "no metrics")
    against = " / ".join(sorted(kinds)) or "reference"
    ax_it.set_title(f"{scene}: Chamfer vs iterations (against {against})")
    ax_res.set_title(f"{scene}: Chamfer vs resolution")
    _save(fig, output)


def time_chart(scene: str, summary: str | Path, output: str | Path) -> None:
    """Seconds per stage for each mesh: training up to N, extraction, evaluation (stacked)."""
    rows = read_summary(summary, scene)
    fig, (ax,) = _figure(1, width=8, height=max(2.5, 0.32 * len(rows) + 1.2))
    labels = [f"{r['run']} · {r['iterations']} it · res {r['resolution']}" for r in rows]
    left = [0.0] * len(rows)
    for col, name, color in (
        ("train_seconds", "train (chain up to N)", "#4c72b0"),
        ("extract_seconds", "extract", "#dd8452"),
        ("eval_seconds", "evaluate", "#55a868"),
    ):
        vals = [_float(r.get(col)) or 0.0 for r in rows]
        ax.barh(labels, vals, left=left, label=name, color=color)
        left = [a + b for a, b in zip(left, vals, strict=True)]
    ax.invert_yaxis()
    ax.set(title=f"{scene}: time per stage", xlabel="seconds")
    ax.grid(alpha=0.3, axis="x")
    if rows:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        _empty(ax, "no meshes")
    _save(fig, output)


def _run(args: argparse.Namespace) -> None:
    if args.training:
        training_curves(args.scene, args.train_csvs or [], args.training)
    if args.quality:
        quality_curves(args.scene, args.summary, args.quality)
    if args.time:
        time_chart(args.scene, args.summary, args.time)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("curves", help="training, quality and time curves of one scene")
    p.add_argument("--scene", required=True)
    p.add_argument("--summary", required=True, help="results/summary.csv")
    p.add_argument("--train-csvs", nargs="*", help="{scene}/{run}/ckpt/it{N}.csv files")
    p.add_argument("--training", help="PNG: loss and PSNR vs iteration per run")
    p.add_argument("--quality", help="PNG: Chamfer vs iterations and vs resolution")
    p.add_argument("--time", help="PNG: seconds per stage per mesh")
    p.set_defaults(func=_run)
