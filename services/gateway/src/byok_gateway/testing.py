"""Serve the gateway in-process on a free port, for tests and benchmarks (real HTTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from byok_shared.ports import free_port

__all__ = ["serving"]


@asynccontextmanager
async def serving(app: FastAPI, port: int | None = None) -> AsyncIterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1; yields its base URL, stops it on exit."""
    port = port or free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="gateway-uvicorn")
    try:
        while not server.started:
            if task.done():
                await task
                raise RuntimeError("the gateway did not start")
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
