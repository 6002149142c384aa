"""What chat runtimes call: ``resolve`` a key and model per request, ``record_usage`` after.

The runtime keypair is generated in memory per client; resolve replies carry the
key sealed to it, and :class:`Route` holds the opened key in memory only (it is
kept out of ``repr`` and ``str``, so logging a route does not leak it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import APIError

from byok_contracts import Keypair, Unavailable, subjects
from byok_contracts.v1 import Resolve, Resolved, Scope, UsageRecorded, usage_msg_id, utcnow

from .base import BaseClient

__all__ = ["Route", "RuntimeMixin"]


@dataclass(frozen=True, slots=True)
class Route:
    """The answer to one resolve: which key (in clear, memory only) and model to call."""

    source: str
    provider: str
    model: str
    key_id: str
    scope: Scope
    credits_paused: bool
    reason: str
    api_key: str = field(repr=False)

    def __str__(self) -> str:
        return f"{self.source} {self.provider}/{self.model} key {self.key_id} at {self.scope}"


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
        chain: list[Scope | str | dict[str, str]],
        provider: str | None = None,
        model: str | None = None,
        source: str = "auto",
        *,
        per_account: bool = False,
    ) -> Route:
        """Ask which key and model serve this request; raises the typed error otherwise.

        ``chain`` is most specific first; scopes may be given as ``"session:s1"``.
        ``per_account`` asks on ``byok.v1.resolve.<account>``, the only resolve subject
        a per-tenant runtime user may use (same body, same reply).
        """
        scopes = [
            Scope.parse(s) if isinstance(s, str) else Scope.model_validate(s, strict=False)
            for s in chain
        ]
        body = Resolve.model_validate(
            {
                "account": account,
                "chain": scopes,
                "provider": provider,
                "model": model,
                "source": source,
                "recipient_key": self.runtime_keypair.public_b64,
            },
            strict=False,
        )
        subject = subjects.resolve_for(account) if per_account else subjects.RESOLVE
        reply = await self.request(subject, body, Resolved)
        api_key = self.runtime_keypair.open(reply.sealed_key, subjects.RESOLVE).decode()
        return Route(
            source=reply.source,
            provider=reply.provider,
            model=reply.model,
            key_id=reply.key_id,
            scope=reply.scope,
            credits_paused=reply.credits_paused,
            reason=reply.reason,
            api_key=api_key,
        )

    async def record_usage(
        self,
        account: str,
        chain: list[Scope | str | dict[str, str]],
        route: Route | None = None,
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
        scopes = [
            Scope.parse(s) if isinstance(s, str) else Scope.model_validate(s, strict=False)
            for s in chain
        ]
        event = UsageRecorded.model_validate(
            {
                "request_id": request_id or uuid.uuid4().hex,
                "account": account,
                "chain": scopes,
                "key_id": key_id or (route.key_id if route else None),
                "source": source or (route.source if route else None),
                "provider": provider or (route.provider if route else None),
                "model": model or (route.model if route else None),
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "occurred_at": occurred_at or utcnow(),
            }
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
