"""``python -m snakemake_executor_plugin_ovh.emulator --host 127.0.0.1 --port P --token T``.

Prints ``ovh-ai-emulator listening on http://HOST:PORT`` once ready (``--port 0`` picks a free
port). The token may instead come from SNAKEMAKE_OVH_TOKEN, which keeps it out of ``ps``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
from pathlib import Path

from .jobs import JobStore, Timing, default_python_bin
from .realism import Realism
from .server import EmulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m snakemake_executor_plugin_ovh.emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8777)
    parser.add_argument(
        "--token", default=None, help="bearer token (default: $SNAKEMAKE_OVH_TOKEN)"
    )
    parser.add_argument("--workdir", default=None, help="where job directories and logs go")
    parser.add_argument(
        "--python-bin",
        default=default_python_bin(),
        help="directory first on the jobs' PATH: the emulated image's Python (default: this one)",
    )
    parser.add_argument("--faults", default=None, help="JSON fault spec applied at start")
    parser.add_argument(
        "--realism",
        default=None,
        help='JSON: switchable real behaviours, e.g. {"gpu_quota": 0, "log_lag": 20} '
        "(see realism.Realism)",
    )
    parser.add_argument(
        "--phase-seconds",
        type=float,
        default=0.1,
        help="seconds in each of QUEUED, INITIALIZING, PENDING, FINALIZING",
    )
    parser.add_argument("--kill-grace", type=float, default=5.0)
    parser.add_argument("--verbose", action="store_true", help="log request lines to stderr")
    args = parser.parse_args(argv)

    token = args.token or os.environ.get("SNAKEMAKE_OVH_TOKEN")
    if not token:
        parser.error("give --token or set SNAKEMAKE_OVH_TOKEN")
    root = Path(args.workdir or tempfile.mkdtemp(prefix="ovh-ai-emulator-")).resolve()
    p = args.phase_seconds
    realism = Realism()
    if args.realism:
        realism.update(json.loads(args.realism))
    store = JobStore(root, args.python_bin, Timing(p, p, p, p, args.kill_grace), realism)
    if args.faults:
        store.faults.update(json.loads(args.faults))
    server = EmulatorServer((args.host, args.port), token, store, args.verbose)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"ovh-ai-emulator listening on {server.url} (jobs in {root})", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        store.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
