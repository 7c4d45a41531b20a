"""Peak memory and bytes read of the frames stage on a long 4K 60 fps video.

Generates a 3840×2160 60 fps H.264 clip (ffmpeg's testsrc2, x264 ultrafast; the length is an
argument) into benchmarks/_work/inputs/, then runs `python -m video2mesh frames` on it as the
rule does, polling its process tree (Python + ffmpeg) every 0.2 s: the peak of the summed
resident memory, and the bytes its ffmpeg processes read (rchar; Python's reads are the
decoded frames from the pipe) against the file's size, which says whether the file is read
once. Prints one JSON object (machine and versions included).

    python benchmarks/inputs/long_video_memory.py --seconds 60
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import imageio_ffmpeg
import psutil

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "benchmarks" / "_work" / "inputs"


def make_clip(path: Path, seconds: int) -> None:
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    src = f"testsrc2=size=3840x2160:rate=60:duration={seconds}"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i", src,
         "-c:v", "libx264", "-preset", "ultrafast", "-crf", "28", "-pix_fmt", "yuv420p",
         str(path.with_suffix(".tmp.mp4"))],
        check=True,
    )  # fmt: skip
    path.with_suffix(".tmp.mp4").rename(path)


def watch(cmd: list[str]) -> dict:
    """Run ``cmd``; peak summed RSS of its tree, bytes read, wall and CPU seconds."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root = psutil.Process(proc.pid)
    peak, rchar, cpu = 0, {}, {}  # rchar: ffmpeg processes only
    while proc.poll() is None:
        try:
            procs = [root, *root.children(recursive=True)]
            rss = 0
            for p in procs:
                with p.oneshot():
                    rss += p.memory_info().rss
                    if p.name().startswith("ffmpeg"):
                        rchar[p.pid] = p.io_counters().read_chars
                    t = p.cpu_times()
                    cpu[p.pid] = t.user + t.system
            peak = max(peak, rss)
        except psutil.Error:
            pass  # a process ended between listing and reading
        time.sleep(0.2)
    err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(err[-2000:])
    progress = [line for line in err.splitlines() if "decoded" in line]
    return {
        "seconds": round(time.perf_counter() - start, 1),
        "cpu_seconds_seen": round(sum(cpu.values()), 1),
        "peak_rss_mib": round(peak / 2**20, 1),
        "ffmpeg_processes": len(rchar),
        "ffmpeg_bytes_read": sum(rchar.values()),
        "progress_lines": len(progress),
        "last_progress_line": progress[-1] if progress else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--max-size", type=int, default=960)
    args = ap.parse_args()
    clip = WORK / f"4k60_{args.seconds}s.mp4"
    make_clip(clip, args.seconds)
    out = WORK / "out"
    cmd = [sys.executable, "-m", "video2mesh", "frames", "--scene", "long", "--input", str(clip),
           "--count", str(args.count), "--max-size", str(args.max_size), "--out-tar",
           str(out / "frames.tar"), "--out-json", str(out / "frames.json")]  # fmt: skip
    result = watch(cmd)
    manifest = json.loads((out / "frames.json").read_text())
    print(json.dumps({
        "clip": {"seconds": args.seconds, "size": "3840x2160", "fps": 60,
                 "bytes": clip.stat().st_size, "decoded_frames": manifest["decoded_frames"]},
        "frames": {"count": args.count, "max_size": args.max_size, "kept": manifest["kept"]},
        **result,
        "read_per_file_size": round(result["ffmpeg_bytes_read"] / clip.stat().st_size, 3),
        "machine": {"cpu": platform.machine(), "cores": len(os.sched_getaffinity(0)),
                    "load_average": os.getloadavg(), "python": platform.python_version(),
                    "imageio_ffmpeg": imageio_ffmpeg.__version__,
                    "ffmpeg": imageio_ffmpeg.get_ffmpeg_version()},
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
