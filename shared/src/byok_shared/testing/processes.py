"""One way to run a byok service as a real process, for the tests and the benches.

:class:`ServiceProcess` starts ``python -m byok_<service>`` (or any module) with an
environment cut off from the caller's ``BYOK_*``/``VAULT_*`` settings, its output in a
log file; it can be stopped (SIGTERM, then SIGKILL), killed with SIGKILL and started
again, and reports its resident memory and CPU time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

__all__ = ["ServiceProcess", "isolated_env", "stop_all"]


def isolated_env(**values: str) -> dict[str, str]:
    """This process's environment without its byok and Vault settings, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BYOK_", "VAULT_"))}
    env.update(values)
    return env


class ServiceProcess:
    """One replica of ``service`` on the NATS server at ``url``, its data under ``data``.

    ``index`` tells replicas apart (log name, the resolver's replica id
    ``<service>-<index>-<start>``, new per start unless ``env`` sets one).
    """

    def __init__(
        self,
        service: str,
        url: str,
        data: Path,
        *,
        index: int = 0,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        module: str | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.service, self.index, self.url, self.data = service, index, url, data
        self.env = dict(env or {})
        self.module = module or "byok_" + service.replace("-", "_")
        self.args = list(args)
        self.log = log or data / f"{service}-{index}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.started = 0.0  # time.perf_counter() at the last start

    @property
    def replica_id(self) -> str:
        """The resolver replica id of the current (or last) start."""
        return self.env.get(
            "BYOK_RESOLVER_REPLICA_ID", f"{self.service}-{self.index}-{self.starts}"
        )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.service}-{self.index} never started"
        return self.proc.pid

    def start(self) -> ServiceProcess:
        """Spawn the process (again); returns ``self``."""
        self.starts += 1
        env = isolated_env(
            BYOK_NATS_URL=self.url, BYOK_DATA_DIR=str(self.data), BYOK_LOG_FORMAT="text"
        )
        env.update(self.env)
        env["BYOK_RESOLVER_REPLICA_ID"] = self.replica_id
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:  # the child keeps its own descriptor
            self.started = time.perf_counter()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", self.module, *self.args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill9(self) -> None:
        """SIGKILL, as a crash would; waits until it is gone."""
        assert self.proc is not None
        assert self.alive, f"{self.service}-{self.index} is not running"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM) without waiting."""
        if self.proc is not None and self.alive:
            self.proc.terminate()

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM and wait; SIGKILL what did not stop within ``timeout`` seconds."""
        if self.proc is None or not self.alive:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def rss_mb(self) -> float:
        """Resident memory in MB (``nan`` when it cannot be read)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        return float("nan")

    def cpu_s(self) -> float:
        """User + system CPU seconds (a figure that a busy machine does not inflate)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)

    def tail(self, lines: int = 15) -> str:
        """The end of its log, for assertion messages."""
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def stop_all(procs: Iterable[ServiceProcess], timeout: float = 20.0) -> None:
    """SIGTERM every process first (they stop in parallel), then wait for each."""
    every = list(procs)
    for proc in every:
        proc.terminate()
    for proc in every:
        proc.stop(timeout)
