"""Stopping the server processes byok starts (nats-server, bao): one way for all of them."""

from __future__ import annotations

import subprocess

__all__ = ["kill_process", "stop_process"]


def stop_process(process: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    """SIGTERM, then kill -9 if it has not exited within ``timeout`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def kill_process(process: subprocess.Popen[bytes] | None) -> None:
    """kill -9, for fault tests."""
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()
