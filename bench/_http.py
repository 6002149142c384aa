"""A lean HTTP/1.1 keep-alive client for benchmarks (httpx's per-request overhead, e.g.
an import probe per request in httpcore, would dominate the client side; nats-py on
the other path is lean too)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

__all__ = ["RawHttp"]


class RawHttp:
    """One connection per concurrent caller, taken from a small pool."""

    def __init__(self, host: str, port: int, headers: dict[str, str], size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self._all: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        for _ in range(self.size):
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self._all.append(writer)
            self._pool.put_nowait((reader, writer))

    async def close(self) -> None:
        for writer in self._all:
            writer.close()

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        """One request on a pooled connection; a stuck one is an error after 60 s."""
        return await asyncio.wait_for(self._request(method, path, body), 60)

    async def _request(self, method: str, path: str, body: Any) -> tuple[int, bytes]:
        data = b"" if body is None else json.dumps(body).encode()
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.headers}"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        reader, writer = await self._pool.get()
        try:
            writer.write(head.encode() + data)
            status_line = await reader.readline()
            if not status_line:  # the server closed an idle keep-alive connection: reopen
                writer.close()
                reader, writer = await asyncio.open_connection(self.host, self.port)
                self._all.append(writer)
                writer.write(head.encode() + data)
                status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value.strip())
            payload = await reader.readexactly(length)
            return int(status_line.split()[1]), payload
        finally:
            self._pool.put_nowait((reader, writer))
