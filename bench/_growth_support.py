"""Helpers of the ledger and usage growth suites: one server, processes, pipelined publishes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

from nats.js import JetStreamContext

from ._support import Proc, one_server

__all__ = ["Proc", "one_server", "publish_all", "ratio", "until"]


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
