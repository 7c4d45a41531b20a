"""`video2mesh <command>`: the single entry point the Snakemake rules call.

Each stage module exposes ``register(subparsers)`` that adds its sub-command and sets
``func``; modules keep heavy imports (torch, pycolmap) inside functions so that the
CLI starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from video2mesh.errors import UserError

# Stage modules that contribute sub-commands, in pipeline order.
COMMAND_MODULES = [
    "video2mesh.sample",
    "video2mesh.ingest",
    "video2mesh.frames",
    "video2mesh.known_cameras",
    "video2mesh.sfm",
    "video2mesh.scene",
    "video2mesh.recon.cli",
    "video2mesh.texture.cli",
    "video2mesh.backends.cli",
    "video2mesh.neuralangelo",
    "video2mesh.evaluate",
    "video2mesh.silhouette",
    "video2mesh.render",
    "video2mesh.report",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="video2mesh", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency, not a stage not built yet
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except UserError as err:
        print(f"video2mesh {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
