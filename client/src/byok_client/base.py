"""The request/reply core every client call goes through."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Self, TypeVar

import nats
from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel

from byok_contracts import MalformedRequest, Unavailable, error_for_code, subjects
from byok_contracts.v1 import Health
from byok_shared.connect import connect_options, server_urls
from byok_shared.settings import ByokSettings, parse_server_urls

__all__ = ["BaseClient"]

R = TypeVar("R", bound=BaseModel)


class BaseClient:
    """A NATS connection plus typed request/reply with the error contract."""

    def __init__(
        self, nc: NatsClient, *, timeout: float = 10.0, account: str | None = None
    ) -> None:
        self.nc = nc
        self.timeout = timeout
        # The account writes act for when a call names none (tenancy, 0.2).
        self.account = account
        self._owns_connection = False

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

    async def request(self, subject: str, body: BaseModel | dict[str, object], reply: type[R]) -> R:
        """Send ``body`` and return the typed reply, raising the typed error on failure."""
        payload = (
            body.model_dump_json(exclude_none=True).encode()
            if isinstance(body, BaseModel)
            else json.dumps(body).encode()
        )
        limit = self.nc.max_payload
        if limit and len(payload) > limit:
            raise MalformedRequest(
                f"The body for {subject} is {len(payload)} bytes; the server accepts {limit}",
                error="payload_too_large",
            )
        try:
            msg = await self.nc.request(subject, payload, timeout=self.timeout)
        except NoRespondersError:
            raise Unavailable(f"No service answers {subject}", error="no_responders") from None
        except NatsTimeout:
            raise Unavailable(
                f"No reply on {subject} within {self.timeout}s", error="timeout"
            ) from None
        data = json.loads(msg.data)
        if isinstance(data, dict) and data.get("status") == "error":
            raise error_for_code(int(data["code"]), str(data["message"]), str(data["error"]))
        return reply.model_validate(data)

    async def health(self, service: str) -> Health:
        return await self.request(subjects.health(service), {}, Health)
