"""Frames: pick sharp, evenly spread frames from a video (or photos), resized, archived.

Video: ffmpeg decodes and downscales in one pass, to the finer copies' size where the video is
large enough for them (then each frame is area-downscaled here); memory stays bounded by one
frame per time bin, whatever the source resolution. The video is cut into ``count`` equal bins and
the sharpest frame of each bin is kept. Sharpness is local: the variance of the Laplacian
in tiles, taking a high percentile over tiles, so a sharp object in front of a plain wall
is not called blurry. A kept frame far below the median sharpness of the kept set is
rejected as blurry (a whole bin of motion blur), and near-uniform frames as blank. A set
whose typical frame is nearly white, black or featureless is refused with its cause named
(``exposure``).

Photos: every photo is decoded to upright 8-bit RGB (``photos``: formats, bit depths,
transparency, EXIF orientation) and resized; photos held on their side (the majority's size
turned) are turned a quarter back to the majority's orientation, those whose size differs
otherwise are rejected (COLMAP then shares one camera), and so are blurry ones.

Outputs: ``frames.tar`` (members ``images/<name>.jpg``: a video frame is named by its
0-based index in the video, at the nominal rate for variable frame rate video; a photo keeps
its stem) and ``frames.json`` (every decoded frame or photo with time, sharpness, kept, why).
Photos and videos larger than ``max_size`` also keep a finer copy of each kept frame,
``fine/<name>.jpg`` (long side up to ``max_size`` × FINE_FACTOR), which SfM tries when too few
frames register on the others, and which the texture is baked from (sfm/images_fine.tar).
Photos whose transparency cuts the object out (renders, background-removed shots), every kept
one, keep their alpha at the frames' size as ``alpha/<name>.png``: SfM undistorts it with the
photos and training takes it as the exact backdrop mask (recon.data).
"""

from __future__ import annotations

import argparse
import io
import logging
import tarfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from video2mesh.atomic import atomic_path, write_json
from video2mesh.errors import UserError
from video2mesh.exposure import check_frame_set, frame_stats
from video2mesh.photos import decode_photo_alpha
from video2mesh.still import moving_share, reduced_frames

log = logging.getLogger(__name__)

BLUR_RATIO = 0.35  # a kept frame below this fraction of the median sharpness is blurry
BLANK_STD = 3.0  # grey-level standard deviation under which a frame has no content
MIN_FRAMES = 8  # fewer usable frames than this cannot give a reconstruction
# share of the pixels that must change somewhere over the frames: a camera that stood still
# before a still object changes none (compression noise aside); a small object turning before a
# plain backdrop a few percent (the generated figurine on black: 8 %)
MIN_MOVING = 0.005
JPEG_QUALITY = 95
ALPHA = "alpha"  # frames.tar's (and sfm/images.tar's) folder of the photos' alpha masks
# the share of a photo (the median photo) that must be transparent for the set to count as cut
# out: rounded corners of screenshots and exports are transparent too (~1 %)
CUT_OUT_MIN = 0.05
# Photos and videos larger than max_size keep a copy this many times larger (960 → 1600 px) for
# SfM's last try (video2mesh.sfm): fine texture that the downscale averages away; the texture is
# baked from them too. Both sizes are rounded to even pixels on their own: for 16:9 and 4:3 the
# scales match, for a 2340×1080 screen recording they differ by 0.27 % between the axes (about a
# pixel at the finer copies' edges, SfM's one focal length taking the mean). A real photo set of a
# plaster skull (66 photos of 4272 px) registered 38 of 64 at 960 px, at either SIFT threshold,
# and all of them at 1600 (benchmarks/realworld/RESULTS.md, session 24). A copy under
# FINE_MIN_GAIN × the frame size would add little: none is made.
FINE_FACTOR = 5 / 3
FINE_MIN_GAIN = 1.25


def sharpness(rgb: np.ndarray, tiles: int = 4) -> float:
    """Local sharpness: 90th percentile over tiles of the Laplacian variance (grey, 0–255)."""
    from scipy.ndimage import laplace

    grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    lap = laplace(grey)
    h, w = lap.shape
    th, tw = max(h // tiles, 1), max(w // tiles, 1)
    variances = [
        float(lap[i : i + th, j : j + tw].var())
        for i in range(0, h - th + 1, th)
        for j in range(0, w - tw + 1, tw)
    ]
    return float(np.percentile(variances, 90))


def fit_size(width: int, height: int, max_size: int) -> tuple[int, int]:
    """Size with the long side at most ``max_size``, aspect kept, both even."""
    scale = min(1.0, max_size / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


@dataclass
class FrameRecord:
    name: str
    source: str
    time: float | None
    sharpness: float
    kept: bool = False
    reason: str = ""
    extra: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        out = {
            "name": self.name,
            "file_path": f"images/{self.name}.jpg" if self.kept else None,
            "source": self.source,
            "time": None if self.time is None else round(self.time, 4),
            "sharpness": round(self.sharpness, 3),
            "kept": self.kept,
            "reason": self.reason,
        }
        out.update(self.extra)
        return out


def _jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _reject_blurry_and_blank(records: list[FrameRecord], std: dict[str, float]) -> None:
    kept = [r for r in records if r.kept]
    for r in kept:
        if std[r.name] < BLANK_STD:
            r.kept, r.reason = False, f"blank: grey-level std {std[r.name]:.1f} < {BLANK_STD}"
    kept = [r for r in records if r.kept]
    if not kept:
        return
    median = float(np.median([r.sharpness for r in kept]))
    for r in kept:
        if r.sharpness < BLUR_RATIO * median:
            r.kept = False
            r.reason = f"blurry: sharpness {r.sharpness:.1f} < {BLUR_RATIO} × median {median:.1f}"


# Phones record HDR (HLG or PQ transfer, 10-bit HEVC) by default. Converted to 8-bit RGB as if
# it were SDR it comes out washed out (grey, a quarter of the contrast for PQ): such video is
# tone-mapped to SDR (mobius keeps mid-tones and compresses highlights) after downscaling.
HDR_TRANSFERS = ("smpte2084", "arib-std-b67")  # ffmpeg's names of PQ and HLG
TONEMAP = (
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=mobius:desat=0,"
    "zscale=t=bt709:m=bt709:r=tv,format=yuv420p"
)
PROGRESS_SECONDS = 10.0


def decode_filter(meta: dict, width: int, height: int) -> tuple[str, str | None]:
    """ffmpeg -vf for the frames stage, and the HDR transfer found (None for SDR).

    Frames come out at the stream's average rate (``fps`` filter): a variable frame rate
    video is otherwise output at its highest rate, so that its frame count no longer matches
    duration × fps and frame times drift.
    """
    rate = f"fps={meta['fps']}," if meta.get("fps") else ""
    scale = f"{rate}scale={width}:{height}:flags=area"
    transfer = next((t for t in HDR_TRANSFERS if t in str(meta.get("pix_fmt", ""))), None)
    return (f"{scale},{TONEMAP}" if transfer else scale), transfer


def select_video_frames(
    video: Path, count: int, max_size: int
) -> tuple[list[FrameRecord], dict[str, bytes], dict, dict[str, bytes]]:
    """Decode once, keep the sharpest frame per time bin. Returns records, JPEGs, info and, for
    a video larger than the frames, the kept frames' finer copies (as select_photos).

    The file is read once: the number of frames is estimated from the container's duration
    and frame rate (frames past the estimate fall into the last bin; only a container without
    a duration costs a counting pass), and memory holds one downscaled frame per bin (and the
    finer copy of the bin being read; earlier bins' as JPEG). A progress line is logged every
    PROGRESS_SECONDS.
    """
    import imageio_ffmpeg

    from video2mesh.ingest import probe_video

    meta = probe_video(video)
    src_w, src_h = meta["display_size"]
    out_w, out_h = fit_size(src_w, src_h, max_size)
    # decoded at the finer copies' size where there are any, downscaled here to the frames'
    has_fine = max(src_w, src_h) >= FINE_MIN_GAIN * max_size
    fine_side = round(max_size * FINE_FACTOR)
    fine_w, fine_h = fit_size(src_w, src_h, fine_side) if has_fine else (out_w, out_h)
    fps = float(meta.get("fps") or 0.0) or 1.0
    duration = float(meta.get("duration") or 0.0)
    if duration > 0:
        n_est = max(1, round(duration * fps))
    else:  # no duration in the container (some streamed mkv/webm): a counting decode pass
        n_est = max(1, imageio_ffmpeg.count_frames_and_secs(str(video))[0])
    n_bins = max(1, min(count, n_est))
    vf, hdr = decode_filter(meta, fine_w, fine_h)
    if hdr:
        log.info("%s: HDR video (%s): tone-mapped to SDR", video.name, hdr)

    gen = imageio_ffmpeg.read_frames(str(video), output_params=["-vf", vf])
    header = next(gen)
    w, h = header["size"]
    fine_best: dict[int, np.ndarray] = {}  # the bins still being read: their sharpest, finer
    fine_jpegs: dict[str, bytes] = {}

    def encode_fine_before(b: int) -> None:
        for k in [k for k in fine_best if k < b]:
            fine_jpegs[best[k][1]] = _jpeg(fine_best.pop(k))

    records: list[FrameRecord] = []
    std: dict[str, float] = {}
    best: dict[int, tuple[float, str, np.ndarray]] = {}
    index = 0
    last_report = time.monotonic()
    previous = b""
    for raw in gen:
        name = f"{index:06d}"
        if raw == previous:  # variable frame rate: ffmpeg repeats frames to fill the gaps
            records.append(FrameRecord(name, video.name, index / fps, 0.0, extra={"index": index}))
            records[-1].reason = "repeat of the previous frame (variable frame rate)"
            index += 1
            continue
        previous = raw
        rgb = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
        full = rgb
        if has_fine:  # (area averaging, as ffmpeg's scale=flags=area gives the frames otherwise)
            rgb = np.asarray(Image.fromarray(full).resize((out_w, out_h), Image.Resampling.BOX))
        s = sharpness(rgb)
        std[name] = float(rgb.std())
        b = min(index * n_bins // n_est, n_bins - 1)
        records.append(FrameRecord(name, video.name, index / fps, s, extra={"index": index}))
        if b not in best or s > best[b][0]:
            best[b] = (s, name, rgb.copy())
            if has_fine:
                fine_best[b] = full.copy()
        if has_fine:
            encode_fine_before(b)
        index += 1
        if time.monotonic() - last_report >= PROGRESS_SECONDS:
            last_report = time.monotonic()
            pct = 100 * min(index / n_est, 1.0)
            log.info("%s: decoded %d of ~%d frames (%.0f %%)", video.name, index, n_est, pct)
    if index == 0:
        raise UserError(f"video {video} decoded to zero frames", "check that the video plays")
    encode_fine_before(n_bins)
    # the best frame of each bin stands for the video: a set SfM cannot use is named here
    exposure = check_frame_set([frame_stats(rgb) for _s, _n, rgb in best.values()], "video")
    by_name = {r.name: r for r in records}
    jpegs: dict[str, bytes] = {}
    for b, (_s, name, rgb) in sorted(best.items()):
        by_name[name].kept = True
        by_name[name].reason = f"sharpest of time bin {b}"
        jpegs[name] = _jpeg(rgb)
    bin_best = {b: name for b, (_s, name, _) in best.items()}
    for r in records:
        if not r.kept and not r.reason:
            b = min(r.extra["index"] * n_bins // n_est, n_bins - 1)
            r.reason = f"not the sharpest of time bin {b} (kept {bin_best[b]})"
    _reject_blurry_and_blank(records, std)
    info = {
        "kind": "video",
        "fps": fps,
        "source_size": [src_w, src_h],
        "size": [out_w, out_h] if has_fine else [w, h],
        "decoded_frames": index,
        "hdr": hdr,
        "exposure": exposure,
    }
    if has_fine:
        info["fine_size"] = [w, h]
    kept = {n: j for n, j in jpegs.items() if by_name[n].kept}
    return records, kept, info, {n: j for n, j in fine_jpegs.items() if n in kept}


def png_bytes(grey: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, format="PNG")
    return buf.getvalue()


def _majority_size(sizes: list[tuple[int, int]]) -> tuple[int, int]:
    """The photos' common size: the most frequent shape whatever its orientation (a camera held
    on its side gives the same sensor's pixels turned), then its most frequent orientation."""
    shapes = [tuple(sorted(size)) for size in sizes]
    shape = max(set(shapes), key=shapes.count)
    alike = [size for size in sizes if tuple(sorted(size)) == shape]
    return max(set(alike), key=alike.count)


def _turn_a_quarter(
    rec: FrameRecord,
    images: dict[str, np.ndarray],
    alphas: dict[str, np.ndarray],
    fine: dict[str, tuple[bytes, tuple[int, int]]],
) -> None:
    """Turn a photo held on its side a quarter anticlockwise, with its alpha and finer copy:
    a phone's portrait photo (EXIF orientation 6, the usual) is its sensor's pixels turned
    clockwise for display, so this gives back the pixels the other photos' camera sees (one
    shared camera in SfM; the roll is the camera's pose)."""
    name = rec.name
    images[name] = np.ascontiguousarray(np.rot90(images[name]))
    if name in alphas:
        alphas[name] = np.ascontiguousarray(np.rot90(alphas[name]))
    if name in fine:  # kept as JPEG to bound memory: decoded, turned and encoded once more
        with Image.open(io.BytesIO(fine[name][0])) as im:
            finer = im.transpose(Image.Transpose.ROTATE_90)
        fine[name] = (_jpeg(np.asarray(finer)), finer.size)
    rec.extra["size"] = rec.extra["size"][::-1]
    rec.extra["turned"] = "a quarter anticlockwise: held on its side"


def select_photos(
    archive: Path, max_size: int
) -> tuple[list[FrameRecord], dict[str, bytes], dict, dict[str, bytes], dict[str, bytes]]:
    """Orient, resize and filter the photos of an ingested photo archive. Returns records,
    JPEGs, info, the finer JPEGs for SfM (FINE_FACTOR; empty when the photos are small) and
    the alpha PNGs (empty unless every kept photo has transparency)."""
    records: list[FrameRecord] = []
    images: dict[str, np.ndarray] = {}
    alphas: dict[str, np.ndarray] = {}
    fine: dict[str, tuple[bytes, tuple[int, int]]] = {}  # JPEG and size
    std: dict[str, float] = {}
    fine_side = round(max_size * FINE_FACTOR)
    with tarfile.open(archive) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            data = tar.extractfile(member)
            if data is None:
                continue
            name = Path(member.name).stem
            try:
                full, kind, alpha = decode_photo_alpha(data.read(), member.name)
            except (OSError, ValueError) as exc:  # Pillow: OSError, or ValueError for odd modes
                records.append(
                    FrameRecord(name, member.name, None, 0.0, reason=f"unreadable: {exc}")
                )
                continue
            img = Image.fromarray(full)
            if max(img.size) >= FINE_MIN_GAIN * max_size:
                finer = img.copy()
                finer.thumbnail((fine_side, fine_side), Image.Resampling.LANCZOS)
                fine[name] = (_jpeg(np.asarray(finer)), finer.size)
            img.thumbnail((max_size, max_size), Image.Resampling.LANCZOS)
            rgb = np.asarray(img)
            images[name] = rgb
            if alpha is not None:
                alphas[name] = np.asarray(
                    Image.fromarray(alpha).resize(img.size, Image.Resampling.LANCZOS)
                )
            std[name] = float(rgb.std())
            rec = FrameRecord(name, member.name, None, sharpness(rgb), kept=True, reason="photo")
            rec.extra["size"] = [rgb.shape[1], rgb.shape[0]]
            rec.extra["format"] = kind
            records.append(rec)
    exposure = check_frame_set([frame_stats(rgb) for rgb in images.values()], "images")
    sizes = [tuple(r.extra["size"]) for r in records if r.kept]
    if sizes:
        majority = _majority_size(sizes)
        turned = [r for r in records if r.kept and tuple(r.extra["size"]) == majority[::-1]]
        if turned and majority[0] != majority[1]:
            for r in turned:
                _turn_a_quarter(r, images, alphas, fine)
            log.info(
                "%d of %d photos held on their side: turned a quarter to the others' "
                "orientation (the same camera)", len(turned), len(sizes)
            )  # fmt: skip
        for r in records:
            if r.kept and tuple(r.extra["size"]) != majority:
                r.kept = False
                r.reason = (
                    f"other size: {r.extra['size'][0]}x{r.extra['size'][1]} differs from the "
                    f"majority {majority[0]}x{majority[1]} (one shared camera needs one size)"
                )
    _reject_blurry_and_blank(records, std)
    jpegs = {r.name: _jpeg(images[r.name]) for r in records if r.kept}
    size = list(majority) if sizes else None
    info = {"kind": "images", "size": size, "photos": len(records), "exposure": exposure}
    masks = _alpha_masks([r.name for r in records if r.kept], alphas)
    info["alpha_masks"] = bool(masks)
    kept_fine = {r.name: fine[r.name] for r in records if r.kept and r.name in fine}
    fine_sizes = {size for _jpeg_data, size in kept_fine.values()}
    # all or none, of one size: SfM's finer try needs every photo, under one shared camera
    if len(kept_fine) < len(jpegs) or len(fine_sizes) != 1:
        return records, jpegs, info, {}, masks
    info["fine_size"] = list(fine_sizes.pop())
    fine_jpegs = {name: data for name, (data, _size) in kept_fine.items()}
    return records, jpegs, info, fine_jpegs, masks


def _alpha_masks(kept: list[str], alphas: dict[str, np.ndarray]) -> dict[str, bytes]:
    """The kept photos' alpha as PNGs, where every one of them has transparency: a mask that
    some photos lack would tell training that their backdrop is object."""
    have = [n for n in kept if n in alphas]
    if len(have) < len(kept):
        if have:
            log.warning(
                "%d of %d photos have a transparent background, the others none: no masks "
                "are taken from the transparency (give every photo cut out, or none)",
                len(have),
                len(kept),
            )
        return {}
    clear = float(np.median([(alphas[n] < 128).mean() for n in kept]))
    if clear < CUT_OUT_MIN:
        log.info(
            "the photos' transparency covers %.1f%% of a photo (median): a frame's corners, "
            "not a cut-out; no masks are taken from it",
            100 * clear,
        )
        return {}
    log.info("the %d photos are cut out: their transparency is the object's mask", len(kept))
    return {n: png_bytes(alphas[n]) for n in kept}


def write_frames(
    source: Path, out_tar: Path, out_json: Path, count: int, max_size: int, scene: str
) -> dict:
    started = time.perf_counter()
    try:
        alpha: dict[str, bytes] = {}
        if source.suffix.lower() == ".tar":
            records, jpegs, info, fine, alpha = select_photos(source, max_size)
        else:
            records, jpegs, info, fine = select_video_frames(source, count, max_size)
    except UserError as err:
        raise err.for_scene(scene) from None
    kept = [r for r in records if r.kept]
    if len(kept) >= 2:  # before counting them: a still camera's repeats are few frames too
        frames, _ = reduced_frames([jpegs[r.name] for r in kept])
        moving = moving_share(frames)
        if moving < MIN_MOVING:
            raise UserError(
                f"the {len(kept)} frames are all but the same picture: {100 * moving:.2f} % of "
                "their pixels ever change, so neither the camera nor the object moved",
                "film while walking all the way round the object (or turn it on a turntable "
                "before a camera on a tripod)",
                scene,
            )
    if len(kept) < MIN_FRAMES:
        # Why frames were rejected, by kind and count (frames merely not picked in their time
        # bin are not rejections, and naming each would make the message a page long).
        rejected = Counter(
            r.reason.split(":")[0]
            for r in records
            if not r.kept and not r.reason.startswith(("not the sharpest", "repeat"))
        )
        reasons = [f"{kind} ({n})" for kind, n in sorted(rejected.items())]
        if "other size" in rejected:
            hint = (
                f"give at least {MIN_FRAMES} photos of one size (one camera; portrait and "
                "landscape shots of it are fine); crop the others to that size, or remove them"
            )
        else:
            hint = "use a longer or sharper video (move slowly, good light), or more photos"
        raise UserError(
            f"only {len(kept)} usable frames out of {len(records)} (need at least {MIN_FRAMES}; "
            f"rejected as: {', '.join(reasons) or 'none'})",
            hint,
            scene,
        )
    with atomic_path(out_tar) as tmp, tarfile.open(tmp, "w") as tar:
        members = (("images", jpegs, "jpg"), ("fine", fine, "jpg"), (ALPHA, alpha, "png"))
        for folder, images, ext in members:
            for r in kept:
                if r.name in images:
                    ti = tarfile.TarInfo(f"{folder}/{r.name}.{ext}")
                    ti.size = len(images[r.name])
                    tar.addfile(ti, io.BytesIO(images[r.name]))
    summary = {
        "scene": scene,
        "source": source.name,
        **info,
        "count_target": count,
        "max_size": max_size,
        "kept": len(kept),
        "rejected_blurry": sum(r.reason.startswith("blurry") for r in records),
        "rejected_blank": sum(r.reason.startswith("blank") for r in records),
        "seconds": round(time.perf_counter() - started, 2),
        "frames": [r.as_json() for r in records],
    }
    write_json(out_json, summary)
    log.info("%s: kept %d of %d frames", scene, len(kept), len(records))
    return summary


def _cmd(args: argparse.Namespace) -> None:
    try:
        write_frames(
            Path(args.input),
            Path(args.out_tar),
            Path(args.out_json),
            args.count,
            args.max_size,
            args.scene,
        )
    except UserError as err:
        raise err.for_scene(args.scene) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("frames", help="select sharp, spread-out frames and resize them")
    p.add_argument("--scene", required=True)
    p.add_argument("--input", required=True, help="results/{scene}/input.<video ext> or input.tar")
    p.add_argument("--count", type=int, default=100, help="target number of frames (video)")
    p.add_argument("--max-size", type=int, default=960, help="maximum long side in pixels")
    p.add_argument("--out-tar", required=True)
    p.add_argument("--out-json", required=True)
    p.set_defaults(func=_cmd)
