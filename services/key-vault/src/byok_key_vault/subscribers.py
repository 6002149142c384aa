"""NATS edge of key-vault: decode, call a handler, reply (or publish the outcome)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from faststream.nats import NatsMessage
from pydantic import BaseModel

from byok_contracts import ByokError, subjects
from byok_contracts.redaction import redact_secrets
from byok_contracts.v1 import (
    ConfigureAccount,
    ConfigureKey,
    ConfigureScope,
    KeyRejectedEvent,
    ListKeys,
    PublicKeyRequest,
    RemoveKey,
    RevokeKey,
    RotateKeys,
    SetKeyEnabled,
    UnsealKey,
)
from byok_shared import Service
from byok_shared.responder import parse_request, respond

from . import handlers
from .audit import AUDITED, audited
from .handlers import Deps

__all__ = ["register"]

Req = TypeVar("Req", bound=BaseModel)


def register(service: Service, deps: Callable[[], Deps], *, workers: int) -> None:
    """Wire every key-vault subject; ``deps()`` is available once the service started."""

    def on(
        subject: str, model: type[Req], handler: Callable[[Req, Deps], Awaitable[BaseModel]]
    ) -> None:
        if subject in AUDITED:
            handler = audited(subject, handler)

        async def call(request: Req) -> BaseModel:
            return await handler(request, deps())

        _concurrent(service, subject, model, call, workers)

    service.responder(subjects.KEYS_PUBLIC_KEY, PublicKeyRequest)(
        lambda _: handlers.public_key(deps())
    )
    on(subjects.KEYS_REMOVE, RemoveKey, handlers.remove)
    on(subjects.KEYS_LIST, ListKeys, handlers.list_keys)
    on(subjects.KEYS_SET_ENABLED, SetKeyEnabled, handlers.set_enabled)
    on(subjects.SCOPES_CONFIGURE, ConfigureScope, handlers.configure_scope)
    on(subjects.ACCOUNTS_CONFIGURE, ConfigureAccount, handlers.configure_account)
    on(subjects.INTERNAL_KEYS_UNSEAL, UnsealKey, handlers.unseal)
    on(subjects.INTERNAL_KEYS_REVOKE, RevokeKey, handlers.revoke)
    on(subjects.INTERNAL_KEYS_ROTATE, RotateKeys, handlers.rotate)

    configure_audited = audited(subjects.KEYS_CONFIGURE, handlers.configure)

    async def configure(msg: NatsMessage) -> bytes | None:
        """Request/reply as usual; published without a reply, the outcome becomes an event."""
        if msg.reply_to:
            return await respond(
                msg.body,
                ConfigureKey,
                lambda cmd: configure_audited(cmd, deps()),
                subject=subjects.KEYS_CONFIGURE,
                metrics=service.metrics,
            )
        try:
            cmd = parse_request(msg.body, ConfigureKey)
        except ByokError as exc:
            await _rejected(service, exc, None)
            return None
        try:
            await configure_audited(cmd, deps())
        except ByokError as exc:
            await _rejected(service, exc, cmd)
        return None

    service.broker.subscriber(subjects.KEYS_CONFIGURE, queue=service.queue, max_workers=workers)(
        configure
    )


async def _rejected(service: Service, exc: ByokError, cmd: ConfigureKey | None) -> None:
    event = KeyRejectedEvent(
        request_id=cmd.request_id if cmd else None,
        scope=cmd.scope if cmd else None,
        provider=cmd.provider if cmd else None,
        code=exc.code,
        error=exc.error,
        message=redact_secrets(exc.message),
    )
    await service.js.publish(subjects.EVENTS_KEYS_REJECTED, event.model_dump_json().encode())
    service.metrics.count_event(subjects.EVENTS_KEYS_REJECTED, "published")


def _concurrent(
    service: Service,
    subject: str,
    model: type[Req],
    handler: Callable[[Req], Awaitable[BaseModel]],
    workers: int,
) -> None:
    """Like ``Service.responder`` but with several requests in flight per replica."""

    async def subscriber(msg: NatsMessage) -> bytes:
        return await respond(msg.body, model, handler, subject=subject, metrics=service.metrics)

    subscriber.__name__ = f"{service.name}:{subject}"
    service.broker.subscriber(subject, queue=service.queue, max_workers=workers)(subscriber)
