"""A nats-server with byok's authorization on, and connections as its roles, for tests.

:func:`start_auth_server` runs a server on the config rendered from the permission
table (``byok_shared.natsconfig``) with known test passwords; :func:`connected` opens a
connection as one role that records the server's permission violations.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from faststream import FastStream
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from pydantic import SecretStr

from byok_contracts import subjects

from ..natsauth import ROLES, Role, inbox_prefix, tenant_runtime
from ..natsconfig import render_config
from ..natsserver import NatsServer
from .apps import settings_for

__all__ = [
    "AUTH_ROLES",
    "PASSWORDS",
    "RESPONDER",
    "TENANT",
    "TENANT_PASSWORDS",
    "RoleConnection",
    "ask",
    "connected",
    "login",
    "service_apps",
    "start_auth_server",
]

PASSWORDS = {name: f"pw-{name}" for name in ROLES}

# A runtime issued for two accounts only, and a stand-in answering
# ``byok.v1.resolve.<account>`` (issue 10, custody), beside every byok role.
TENANT = tenant_runtime("tenant-acme", ["acme", "acme-eu"])
RESPONDER = Role(
    "resolve-responder",
    publish=(),
    subscribe=(f"{subjects.RESOLVE}.*", "_INBOX_resolve-responder.>"),
    allow_responses=True,
)
AUTH_ROLES = {**ROLES, TENANT.name: TENANT, RESPONDER.name: RESPONDER}
TENANT_PASSWORDS = {name: f"pw-{name}" for name in AUTH_ROLES}


def login(role: str, passwords: Mapping[str, str] = PASSWORDS) -> dict[str, str]:
    """The connect options of ``role`` (user, password, its own inbox prefix)."""
    return {"user": role, "password": passwords[role], "inbox_prefix": inbox_prefix(role)}


def start_auth_server(
    base: Path, passwords: Mapping[str, str] = PASSWORDS, roles: Mapping[str, Role] = ROLES
) -> NatsServer:
    """A server with authorization on (``roles``, by default byok's table), its config,
    store and log under ``base``."""
    config = base / "auth.conf"
    config.write_text(render_config(passwords, roles=roles))
    return NatsServer(
        store_dir=base / "jetstream", config_file=config, log_file=base / "nats.log"
    ).start_anywhere()


class RoleConnection:
    """A connection as one role that records the server's permission violations."""

    def __init__(self, role: str) -> None:
        self.role = role
        self.errors: list[str] = []
        self.nc = NatsClient()
        self._reported = asyncio.Event()

    async def _on_error(self, error: Exception) -> None:
        self.errors.append(str(error))
        self._reported.set()

    async def settle(self, expected: int, timeout: float = 30.0) -> None:
        """Wait for ``expected`` violations (nats-py reports them after the flush returns)."""
        await self.nc.flush()
        async with asyncio.timeout(timeout):
            while len(self.errors) < expected:
                self._reported.clear()
                await self._reported.wait()
        await asyncio.sleep(0.1)  # and a moment for any unexpected one

    def denied(self, kind: str, subject: str) -> bool:
        # nats-py lowercases the server's -ERR line.
        needle = f'permissions violation for {kind} to "{subject}"'.lower()
        return any(needle in e.lower() for e in self.errors)

    async def wait_denied(self, subject: str, kind: str = "publish", timeout: float = 30) -> None:
        """Wait until the server refused ``kind`` to ``subject``."""
        async with asyncio.timeout(timeout):
            while not self.denied(kind, subject):
                self._reported.clear()
                await self._reported.wait()


async def ask(
    conn: RoleConnection, subject: str, data: bytes = b"{}", timeout: float = 30.0
) -> Msg:
    """A request; nats-server may briefly answer "no responders" right after a SUB
    from another connection (seen with and without authorization), so ask again."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await conn.nc.request(subject, data, timeout=5)
        except NoRespondersError:
            assert time.monotonic() < deadline, f"nobody answers {subject}"
            await asyncio.sleep(0.05)


@asynccontextmanager
async def connected(
    server: NatsServer, role: str, passwords: Mapping[str, str] = PASSWORDS
) -> AsyncIterator[RoleConnection]:
    """A connection as ``role``, closed on exit."""
    conn = RoleConnection(role)
    await conn.nc.connect(
        server.url,
        user=role,
        password=passwords[role],
        inbox_prefix=inbox_prefix(role),
        error_cb=conn._on_error,
        max_reconnect_attempts=0,
    )
    try:
        yield conn
    finally:
        await conn.nc.close()


def service_apps(
    services: Iterable[str],
    url: str,
    data_dir: Path,
    passwords: Mapping[str, str] = PASSWORDS,
    **overrides: object,
) -> list[FastStream]:
    """Each service's app (``byok_<service>.app.create_app``), in-process, connected as
    its own NATS user; ``overrides`` go to every service's settings."""
    apps = []
    for service in services:
        module = importlib.import_module("byok_" + service.replace("-", "_") + ".app")
        settings = settings_for(
            url,
            data_dir,
            nats_user=service,
            nats_password=SecretStr(passwords[service]),
            nats_inbox_prefix=inbox_prefix(service),
            **overrides,
        )
        apps.append(module.create_app(settings))
    return apps
