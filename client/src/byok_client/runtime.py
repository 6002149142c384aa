"""What chat runtimes call: ``resolve`` a key and model per request, ``record_usage`` after.

The runtime keypair is generated in memory per client; resolve replies carry the
key sealed to it, and :class:`Resolution` holds the opened key in memory only (it is
kept out of ``repr``, ``str`` and serialisation, so logging an answer does not leak it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import APIError
from pydantic import Field

from byok_contracts import Keypair, Unavailable, subjects
from byok_contracts.v1 import Resolved, UsageRecorded, usage_msg_id, utcnow
from byok_shared import calls
from byok_shared.request import build

from .base import BaseClient, ScopeLike, as_scope

__all__ = ["Resolution", "RuntimeMixin"]


class Resolution(Resolved):
    """The answer to one resolve: the reply's fields plus the key in clear (memory only)."""

    api_key: str = Field(repr=False, exclude=True)

    def __str__(self) -> str:
        return f"{self.source} {self.provider}/{self.model} key {self.key_id} at {self.scope}"


Route = Resolution
"""The name :class:`Resolution` had before 0.3 (it collided with a scope's ``route``)."""


class RuntimeMixin(BaseClient):
    """``resolve`` and ``record_usage`` for chat runtimes."""

    _runtime_keypair: Keypair | None = None

    @property
    def runtime_keypair(self) -> Keypair:
        """This client's X25519 keypair, made on first use; never leaves the process."""
        if self._runtime_keypair is None:
            self._runtime_keypair = Keypair.generate()
        return self._runtime_keypair

    async def resolve(
        self,
        account: str,
        chain: Sequence[ScopeLike],
        provider: str | None = None,
        model: str | None = None,
        source: str = "auto",
        *,
        per_account: bool = False,
    ) -> Resolution:
        """Ask which key and model serve this request; raises the typed error otherwise.

        ``chain`` is most specific first; scopes may be given as ``"session:s1"``.
        ``per_account`` asks on ``byok.v1.resolve.<account>``, the only resolve subject
        a per-tenant runtime user may use (same body, same reply).
        """
        fields = {
            "account": account,
            "chain": [as_scope(s) for s in chain],
            "provider": provider,
            "model": model,
            "source": source,
            "recipient_key": self.runtime_keypair.public_b64,
        }
        op = calls.RESOLVE_FOR if per_account else calls.RESOLVE
        subject = subjects.resolve_for(account) if per_account else None
        reply = await self.call(op, op.body(fields), subject=subject)
        api_key = self.runtime_keypair.open(reply.sealed_key, subjects.RESOLVE).decode()
        return Resolution.model_validate({**dict(reply), "api_key": api_key})

    async def record_usage(
        self,
        account: str,
        chain: Sequence[ScopeLike],
        route: Resolved | None = None,
        *,
        input_tokens: int,
        output_tokens: int,
        provider: str | None = None,
        model: str | None = None,
        source: str | None = None,
        key_id: str | None = None,
        request_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> str:
        """Publish ``byok.v1.usage.recorded`` (JetStream, ``Nats-Msg-Id`` = ``<account>:<request_id>``).

        Pass the ``route`` that served the call, or its fields one by one. Returns
        the ``request_id`` (a new one unless given; reuse it on retries).

        Raises :class:`~byok_contracts.Unavailable` when JetStream did not store the
        event: ``usage_stream_full`` when BYOK_USAGE is at its byte limit (it refuses
        new events rather than drop stored ones), ``usage_not_recorded`` otherwise.
        Keep the event and retry it later with the same ``request_id``.
        """
        event = build(
            UsageRecorded,
            {
                "request_id": request_id or uuid.uuid4().hex,
                "account": account,
                "chain": [as_scope(s) for s in chain],
                "key_id": key_id or (route.key_id if route else None),
                "source": source or (route.source if route else None),
                "provider": provider or (route.provider if route else None),
                "model": model or (route.model if route else None),
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "occurred_at": occurred_at or utcnow(),
            },
            "The usage event",
        )
        try:
            await self.nc.jetstream().publish(
                subjects.USAGE_RECORDED,
                event.model_dump_json(exclude_none=True).encode(),
                headers={"Nats-Msg-Id": usage_msg_id(event.account, event.request_id)},
            )
        except APIError as exc:
            if "maximum" in (exc.description or "").lower():  # bytes or messages exceeded
                raise Unavailable(
                    "Usage not recorded: the BYOK_USAGE stream is full (BYOK_USAGE_MAX_BYTES); "
                    "nothing stored was dropped. Retry later with the same request_id.",
                    error="usage_stream_full",
                ) from None
            raise Unavailable(
                f"Usage not recorded: JetStream refused it ({exc.err_code}). "
                "Retry with the same request_id.",
                error="usage_not_recorded",
            ) from None
        except (NoRespondersError, NatsTimeout):
            raise Unavailable(
                "Usage not recorded: no BYOK_USAGE stream answered (is it provisioned?). "
                "Retry with the same request_id.",
                error="usage_not_recorded",
            ) from None
        return event.request_id
