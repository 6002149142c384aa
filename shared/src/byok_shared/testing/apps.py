"""Run services in-process against a real NATS server, for tests and benchmarks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from faststream import FastStream

from ..settings import ByokSettings

__all__ = ["running", "settings_for"]


def settings_for(nats_url: str, data_dir: Path, **overrides: Any) -> ByokSettings:
    """Settings that ignore the caller's environment where it matters for isolation."""
    values: dict[str, Any] = {
        "nats_url": nats_url,
        "data_dir": data_dir,
        "cipher": "local",
        "log_format": "text",
    }
    values.update(overrides)
    return ByokSettings(**values)


@asynccontextmanager
async def running(*apps: FastStream) -> AsyncIterator[None]:
    """Start every app (hooks, streams, subscribers), stop them all on exit."""
    started: list[FastStream] = []
    try:
        for app in apps:
            await app.start()
            started.append(app)
        yield
    finally:
        for app in reversed(started):
            await app.stop()
