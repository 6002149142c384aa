"""The request/reply core every client call goes through."""

from __future__ import annotations

import json
from typing import Any, Self, TypeVar

import nats
from nats.aio.client import Client as NatsClient
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel

from byok_contracts import Unavailable, error_for_code, subjects
from byok_contracts.v1 import Health

__all__ = ["BaseClient"]

R = TypeVar("R", bound=BaseModel)


class BaseClient:
    """A NATS connection plus typed request/reply with the error contract."""

    def __init__(self, nc: NatsClient, *, timeout: float = 10.0) -> None:
        self.nc = nc
        self.timeout = timeout
        self._owns_connection = False

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        timeout: float = 10.0,
        user: str | None = None,
        password: str | None = None,
        creds: str | None = None,
        inbox_prefix: str | None = None,
    ) -> Self:
        """Connect to ``url``; with NATS authorization on, as ``user`` (or with a ``creds``
        file), receiving replies under the role's ``inbox_prefix`` (e.g. ``_INBOX_runtime``)."""
        options: dict[str, Any] = {}
        if creds is not None:
            options["user_credentials"] = creds
        elif user is not None:
            options.update(user=user, password=password)
        if inbox_prefix is not None:
            options["inbox_prefix"] = inbox_prefix
        servers = [part.strip() for part in url.split(",") if part.strip()]  # a cluster
        nc = await nats.connect(servers, max_reconnect_attempts=-1, **options)
        client = cls(nc, timeout=timeout)
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
