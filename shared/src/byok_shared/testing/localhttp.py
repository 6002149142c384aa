"""A local HTTP server on a thread: the lifecycle every clearly named fake shares.

Fakes of outside HTTP systems (LLM providers, Vault's transit API) answer from
a thread, so they keep answering whatever the test's event loop is doing.
``stop()`` then ``start()`` reuses the same port, like a restart of the real thing.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

__all__ = ["LocalHTTPServer", "OwnedServer"]


class OwnedServer(ThreadingHTTPServer):
    """The HTTP server; handlers reach their fake as ``self.server.owner``."""

    daemon_threads = True
    block_on_close = False
    owner: Any

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Close kept-alive connections too: a stopped fake must not answer on them."""
        with self._lock:
            live = list(self.connections)
        for sock in live:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class LocalHTTPServer:
    """Serve ``handler`` (with ``self`` as its server's ``owner``) on 127.0.0.1."""

    handler: type[BaseHTTPRequestHandler]
    name = "local-http"

    def __init__(self) -> None:
        self._server: OwnedServer | None = None
        self._port = 0

    def start(self) -> Self:
        server = OwnedServer(("127.0.0.1", self._port), self.handler)
        server.owner = self
        self._server = server
        self._port = int(server.server_address[1])
        threading.Thread(
            target=server.serve_forever, args=(0.05,), name=self.name, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.drop_connections()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, f"{type(self).__name__} is not started"
        return f"http://127.0.0.1:{self._port}"
