"""Ingest: bring a scene's source (a video or a folder of photos) into results/, checked.

A video is copied as ``input.<ext>`` after ffmpeg has confirmed it holds a video stream
with frames; a photo folder becomes ``input.tar`` (uncompressed, one member per photo,
original bytes, so EXIF orientation survives for the frames stage).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tarfile
from pathlib import Path

from video2mesh.atomic import atomic_path
from video2mesh.errors import UserError
from video2mesh.photos import PHOTO_EXTENSIONS, RAW_HINT, is_raw

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".m4v", ".avi")


def probe_video(path: Path) -> dict:
    """ffmpeg's view of a video: size, fps, duration. Raises UserError when unusable.

    ``source_size`` is the stored size; ``size`` is that of the small decoded check frame;
    ``display_size`` is the stored size as shown, i.e. swapped for phone videos rotated by ±90°.
    """
    import imageio_ffmpeg

    # Reading scaled is deliberate (here and in the frames stage): not a warning to show.
    logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)
    if not path.is_file():
        raise UserError(
            f"video {path} does not exist", "check the path under scenes: in the config"
        )
    if path.stat().st_size == 0:
        raise UserError(f"video {path} is empty (0 bytes)", "copy the video again")
    try:
        # One frame, decoded small: an 8K frame in RGB would cost a gigabyte for nothing.
        gen = imageio_ffmpeg.read_frames(
            str(path), output_params=["-vf", "scale=64:-2", "-frames:v", "1"]
        )
        meta = next(gen)
        first = next(gen, None)
        gen.close()
    except (OSError, RuntimeError, StopIteration) as exc:
        streams = [line for line in str(exc).splitlines() if "Stream #" in line]
        if streams and not any("Video:" in line for line in streams):
            kinds = sorted({line.split(": ")[1] for line in streams if ": " in line})
            raise UserError(
                f"ffmpeg cannot read a video stream from {path}: it holds none, only "
                f"{', '.join(kinds) or 'other'} streams",
                "give the video itself, not a sound recording or a file exported as audio",
            ) from exc
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise UserError(
            f"ffmpeg cannot read a video stream from {path} ({reason[:200]})",
            "check that the file is a complete video (mp4/mov/mkv/webm) and not truncated or "
            "audio-only; re-export it from the camera or phone",
        ) from exc
    if first is None:
        raise UserError(
            f"video {path} has no decodable frame",
            "the file is truncated or corrupt: copy or export it again",
        )
    # ffmpeg applies the rotation of phone videos when decoding (the check frame comes out
    # portrait), but since ffmpeg 6 it reports it as a display matrix that imageio-ffmpeg does not
    # parse ("rotate" stays 0): read the orientation off the decoded frame itself.
    src_w, src_h = meta["source_size"]
    shown_w, shown_h = meta["size"]
    turned = meta.get("rotate") in (90, 270, -90) or (
        src_w != src_h and shown_w != shown_h and (shown_w > shown_h) != (src_w > src_h)
    )
    meta["display_size"] = (src_h, src_w) if turned else (src_w, src_h)
    return meta


def list_photos(folder: Path) -> list[Path]:
    """The photos of a folder, sorted; RAW files are skipped when a developed photo of the
    same name is there (a phone's or camera's RAW+JPEG mode), refused otherwise."""
    if not folder.is_dir():
        raise UserError(f"photo folder {folder} does not exist", "check images: in the config")
    files = sorted(p for p in folder.iterdir() if p.is_file())
    photos = [p for p in files if p.suffix.lower() in PHOTO_EXTENSIONS]
    developed = {p.stem for p in photos}
    raws = [p for p in files if is_raw(p)]
    lone = [p.name for p in raws if p.stem not in developed]
    if lone:
        raise UserError(
            f"{len(lone)} camera RAW file(s) in {folder} ({', '.join(lone[:3])}) and video2mesh "
            "does not develop RAW",
            RAW_HINT,
        )
    if raws:
        log.info("skipping %d RAW file(s) that have a developed photo beside them", len(raws))
    if not photos:
        kinds = "/".join(e.lstrip(".") for e in PHOTO_EXTENSIONS)
        raise UserError(
            f"photo folder {folder} holds no photo ({kinds})",
            "put the photos directly in that folder (sub-folders are not searched)",
        )
    stems = [p.stem for p in photos]
    dupes = sorted({s for s in stems if stems.count(s) > 1})
    if dupes:
        raise UserError(
            f"photos share a name with different extensions: {', '.join(dupes[:5])}",
            "frames keep the photo's stem, so rename the duplicates",
        )
    return photos


def ingest_video(src: Path, out: Path) -> None:
    if src.suffix.lower() not in VIDEO_EXTENSIONS:
        raise UserError(
            f"{src.name} does not have a video extension ({', '.join(VIDEO_EXTENSIONS)})",
            "give a video file under video:, or a folder of photos under images:",
        )
    probe_video(src)
    with atomic_path(out) as tmp:
        shutil.copyfile(src, tmp)


def ingest_photos(folder: Path, out: Path) -> None:
    photos = list_photos(folder)
    with atomic_path(out) as tmp, tarfile.open(tmp, "w") as tar:
        for photo in photos:
            tar.add(photo, arcname=photo.name)


def _cmd(args: argparse.Namespace) -> None:
    try:
        if args.video:
            ingest_video(Path(args.video), Path(args.out))
        else:
            ingest_photos(Path(args.images), Path(args.out))
    except UserError as err:
        raise err.for_scene(args.scene) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="check a scene's video or photo folder and copy it in")
    p.add_argument("--scene", required=True)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", help="a video file")
    src.add_argument("--images", help="a folder of photos (jpg, png, tiff, heic, webp)")
    p.add_argument("--out", required=True, help="results/{scene}/input.<ext> or input.tar")
    p.set_defaults(func=_cmd)
