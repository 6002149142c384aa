"""Helpers of the ledger and usage growth suites: processes, RSS, pipelined publishes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from nats.js import JetStreamContext

__all__ = ["Proc", "publish_all", "ratio", "until"]


class Proc:
    """One byok service process (``python -m <module>``) on ``url``."""

    def __init__(self, module: str, url: str, data: Path, **env: str) -> None:
        environ = dict(os.environ)
        environ.update(
            BYOK_NATS_URL=url,
            BYOK_DATA_DIR=str(data),
            BYOK_LOG_FORMAT="text",
            BYOK_LOG_LEVEL="WARNING",
            **env,
        )
        environ.pop("BYOK_METRICS_PORT", None)
        with (data / f"{module}.log").open("ab") as log:
            self.started = time.perf_counter()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", module], env=environ, stdout=log, stderr=log
            )

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
        return float("nan")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def publish_all(
    js: JetStreamContext,
    subject: str,
    bodies: Iterable[tuple[bytes, str | None]],
    in_flight: int = 256,
) -> int:
    """Publish ``(body, msg_id)`` pairs with ``in_flight`` outstanding acks; returns the count."""
    sem = asyncio.Semaphore(in_flight)
    count = 0
    tasks: set[asyncio.Task[None]] = set()

    async def one(body: bytes, msg_id: str | None) -> None:
        try:
            headers = {"Nats-Msg-Id": msg_id} if msg_id else None
            await js.publish(subject, body, headers=headers, timeout=30)
        finally:
            sem.release()

    for body, msg_id in bodies:
        await sem.acquire()
        task = asyncio.create_task(one(body, msg_id))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        count += 1
    await asyncio.gather(*list(tasks))
    return count


async def until(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> float:
    """Seconds until ``check()`` holds (polling every 10 ms)."""
    started = time.perf_counter()
    while not await check():
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{what}: not after {timeout:.0f}s")
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


def ratio(large: float, small: float) -> float:
    return round(large / small, 2) if small > 0 else float("nan")
