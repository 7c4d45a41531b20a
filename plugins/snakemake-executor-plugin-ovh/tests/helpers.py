"""Running ``snakemake --profile tests/profile`` against the emulator and moto."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

from .conftest import Emulator

HERE = Path(__file__).parent
PROFILE = HERE / "profile"


def copy_workflow(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(HERE / "workflows" / name, target)
    return target


def ovh_cli(
    emulator: Emulator, s3_endpoint: str, bucket: str, *args: str, prefix: str = "runs"
) -> list[str]:
    """The one command, pointed at the emulator and local S3 (secrets stay in env)."""
    return [
        sys.executable, "-m", "snakemake",
        "--profile", str(PROFILE),
        "--ovh-api-url", emulator.url,
        "--storage-s3-endpoint-url", s3_endpoint,
        "--default-storage-prefix", f"s3://{bucket}/{prefix}",
        "--seconds-between-status-checks", "1",
        "--ovh-request-backoff", "0.05",
        "--ovh-log-settle-seconds", "0",
        "--latency-wait", "5",
        *args,
    ]  # fmt: skip


def run(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


class TcpProxy:
    """A local port forwarded to a server, that can go down and come back on the same port.

    ``down()`` closes the listener and cuts every open connection, so clients get "connection
    refused" (a restarting server); ``up()`` listens again on the same port. The server behind
    keeps its state, as a real S3 service does across a restart.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR on POSIX
        listener.settimeout(0.2)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            conns, self._open = self._open, set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:  # one side ended: end the other (its pump then closes that socket)
            for conn in (src, dst):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._open.discard(src)
            src.close()
