"""The request/reply core every client call goes through: :mod:`byok_shared.request`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Self, TypeVar

import nats
from nats.aio.client import Client as NatsClient
from pydantic import BaseModel

from byok_contracts import subjects
from byok_contracts.v1 import Health, HealthRequest, Scope
from byok_shared import calls
from byok_shared.connect import connect_options, log_nats_error, server_urls
from byok_shared.request import Call, Requester, build
from byok_shared.settings import ByokSettings, parse_server_urls

__all__ = ["BaseClient", "ScopeLike", "as_scope"]

Q = TypeVar("Q", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)

ScopeLike = Scope | str | Mapping[str, str]


def as_scope(scope: ScopeLike) -> Scope:
    """``workspace:acme``, ``{"type": "workspace", "id": "acme"}`` or a :class:`Scope`;
    400 ``malformed_request`` otherwise (the message names no part of it)."""
    if isinstance(scope, Scope):
        return scope
    if isinstance(scope, str):
        kind, _, ident = scope.partition(":")
        scope = {"type": kind, "id": ident}
    return build(Scope, scope, "The scope")


class BaseClient:
    """A NATS connection plus typed request/reply with the error contract."""

    def __init__(
        self, nc: NatsClient, *, timeout: float = 10.0, account: str | None = None
    ) -> None:
        self.nc = nc
        self._edge = Requester(nc, timeout=timeout)
        # The account writes act for when a call names none (tenancy, 0.2).
        self.account = account
        self._owns_connection = False

    @property
    def timeout(self) -> float:
        """Seconds to wait for a reply before raising 503 ``timeout``."""
        return self._edge.timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        self._edge.timeout = seconds

    @classmethod
    async def connect(
        cls,
        url: str | Sequence[str] | None = None,
        *,
        timeout: float = 10.0,
        user: str | None = None,
        password: str | None = None,
        creds: str | None = None,
        inbox_prefix: str | None = None,
        account: str | None = None,
        role: str = "backend",
    ) -> Self:
        """Connect to ``url`` (one URL, a comma-separated list or a list of servers).

        Without ``url``: ``BYOK_NATS_URL``, else the server ``make run`` started on
        this machine. Without ``user`` or ``creds``: ``BYOK_NATS_USER``/``_PASSWORD``/
        ``_CREDS``/``_INBOX_PREFIX``, else the credentials ``make run`` keeps for
        ``role`` (``backend``, ``runtime``, ``operator`` or a tenant runtime) under
        ``BYOK_DATA_DIR``, used only with that same server. Replies arrive under the
        role's ``inbox_prefix`` (e.g. ``_INBOX_runtime``), the only one it may read.
        """
        settings = ByokSettings()
        local = server_urls(settings, role)
        servers = (
            local
            if url is None
            else (parse_server_urls(url) if isinstance(url, str) else list(url))
        )
        options: dict[str, Any] = {}
        if creds is not None:
            options["user_credentials"] = creds
        elif user is not None:
            options.update(user=user, password=password)
        elif settings.nats_user is not None or settings.nats_creds is not None:
            options = connect_options(settings)
        elif servers == local:  # never send make run's password to another server
            options = connect_options(settings, role)
        if inbox_prefix is not None:
            options["inbox_prefix"] = inbox_prefix
        # A lost connection is one warning line, not nats-py's traceback per retry.
        options.setdefault("error_cb", log_nats_error)
        nc = await nats.connect(servers, max_reconnect_attempts=-1, **options)
        client = cls(nc, timeout=timeout, account=account)
        client._owns_connection = True
        return client

    async def close(self) -> None:
        if self._owns_connection:
            await self.nc.drain()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def call(self, op: Call[Q, R], body: Q, *, subject: str | None = None) -> R:
        """Send the contract model ``body`` on ``op``; the typed reply, or the typed error."""
        return await self._edge.request(op, body, subject=subject)

    async def request(
        self, subject: str, body: BaseModel | Mapping[str, object], reply: type[R]
    ) -> R:
        """Forward a body as it came (the HTTP gateway does): the receiving service checks it.

        The same failure mapping as :meth:`call`; product code uses the typed methods.
        """
        payload = (
            body.model_dump_json(exclude_none=True).encode()
            if isinstance(body, BaseModel)
            else json.dumps(body).encode()
        )
        return await self._edge.send(subject, payload, reply)

    async def health(self, service: str) -> Health:
        return await self.call(calls.HEALTH, HealthRequest(), subject=subjects.health(service))
