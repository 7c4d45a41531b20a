"""Time of the thumbnail renderer on a 327,680-face sphere (moved out of tests/test_render.py:
timings belong here, with the machine they were measured on).

    python benchmarks/render/bench_render.py          # prints one JSON line
"""

from __future__ import annotations

import json
import os
import platform
import resource
import time

import trimesh

from video2mesh.render import Framing, render_views


def main() -> None:
    mesh = trimesh.creation.icosphere(subdivisions=7)  # 327,680 faces
    render_views(mesh, Framing((0, 0, 0), 1.2, (0, 0, 1)), 64)  # warm-up (imports, caches)
    wall, cpu = time.perf_counter(), time.process_time()
    render_views(mesh, Framing((0, 0, 0), 1.2, (0, 0, 1)), 256)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        json.dumps(
            {
                "faces": len(mesh.faces),
                "size": 256,
                "wall_s": round(wall, 3),
                "cpu_s": round(cpu, 3),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
                "cores": os.cpu_count(),
                "load_average": os.getloadavg()[0],
                "python": platform.python_version(),
                "trimesh": trimesh.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
