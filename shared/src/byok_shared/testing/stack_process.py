"""``make run`` as a process, for the tests that start the whole stack the way a newcomer does.

:class:`StackProcess` runs ``python -m byok_shared.stack`` with an environment cut off
from the caller's byok settings, its output in a file; it waits until the stack says
its services are healthy and stops it as Ctrl-C does (:func:`make_run` does both around a
block and checks the exit code). :func:`processes_with` finds the processes a stack left
behind (by the unique data dir in their environment).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .processes import isolated_env

__all__ = ["StackProcess", "make_run", "processes_with", "wait_processes_gone"]


class StackProcess:
    """One ``make run``: its data under ``data``, its output in ``output``."""

    def __init__(
        self, data: Path, env: Mapping[str, str] | None = None, output: Path | None = None
    ) -> None:
        self.data = data
        self.env = isolated_env(BYOK_DATA_DIR=str(data)) | dict(env or {})
        self.output = output or data.parent / "stack-output.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> StackProcess:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        with self.output.open("ab") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "byok_shared.stack"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def text(self) -> str:
        """Everything it printed so far."""
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def wait_healthy(self, timeout: float = 120.0) -> str:
        """Wait until it says its services are healthy; returns its output so far."""
        assert self.proc is not None, "not started"
        deadline = time.monotonic() + timeout
        while "services healthy" not in (text := self.text()):
            assert self.proc.poll() is None, text[-4000:]
            assert time.monotonic() < deadline, text[-4000:]
            time.sleep(0.1)
        return text

    def stop(self, timeout: float = 60.0) -> int:
        """Ctrl-C (SIGINT) and wait; SIGKILL if it did not stop. Returns its exit code."""
        assert self.proc is not None, "not started"
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextmanager
def make_run(env: Mapping[str, str], timeout: float = 120.0) -> Iterator[str]:
    """``make run`` with ``env`` (its ``BYOK_DATA_DIR`` included) for the block: yields its
    output once all five services are healthy, then stops it as Ctrl-C does and checks it
    exited 0."""
    stack = StackProcess(Path(env["BYOK_DATA_DIR"]), env).start()
    try:
        text = stack.wait_healthy(timeout=timeout)
        assert "all 5 services healthy" in text, text[-4000:]
        yield text
    finally:
        code = stack.stop()
    assert code == 0, stack.text()[-4000:]


def processes_with(marker: str) -> dict[int, tuple[str, bytes]]:
    """pid -> (command line, environment) of the processes whose environment names
    ``marker`` (a stack's unique data dir), this one excepted."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker.encode() in environ:
            found[int(proc.name)] = (cmdline, environ)
    return found


def wait_processes_gone(marker: str, timeout: float = 30.0) -> None:
    """Wait until no process names ``marker`` (children exit a moment after the parent)."""
    deadline = time.monotonic() + timeout
    while left := processes_with(marker):
        assert time.monotonic() < deadline, f"processes left running: {left}"
        time.sleep(0.1)
