"""NATS edge of key-vault: which handler serves which operation, and the one translation
that is key-vault's own (a configure published without a reply becomes an event)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel

from byok_contracts import ByokError, subjects
from byok_contracts.redaction import redact_secrets
from byok_contracts.v1 import ConfigureKey, KeyRejectedEvent, PublicKey, PublicKeyRequest
from byok_shared import Service
from byok_shared.responder import parse_request

from . import handlers
from .audit import AUDITED, audited, audited_alongside
from .handlers import Deps

__all__ = ["HANDLERS", "register"]


async def _public_key(_: PublicKeyRequest, deps: Deps) -> PublicKey:
    return await handlers.public_key(deps)


HANDLERS: Mapping[str, Callable[[Any, Deps], Awaitable[BaseModel]]] = {
    subjects.KEYS_PUBLIC_KEY: _public_key,
    subjects.KEYS_REMOVE: handlers.remove,
    subjects.KEYS_LIST: handlers.list_keys,
    subjects.KEYS_SET_ENABLED: handlers.set_enabled,
    subjects.SCOPES_CONFIGURE: handlers.configure_scope,
    subjects.ACCOUNTS_CONFIGURE: handlers.configure_account,
    subjects.INTERNAL_KEYS_UNSEAL: handlers.unseal,
    subjects.INTERNAL_KEYS_REVOKE: handlers.revoke,
    subjects.INTERNAL_KEYS_ROTATE: handlers.rotate,
}
"""Every request key-vault serves but ``keys.configure``; audited ones are wrapped."""


def register(service: Service, deps: Callable[[], Deps], *, workers: int) -> None:
    """Serve every key-vault operation; ``deps()`` is what the start hook built."""
    service.serve_table(
        {
            subject: audited(subject, handler) if subject in AUDITED else handler
            for subject, handler in HANDLERS.items()
        },
        deps,
        workers=workers,
    )
    configure = audited_alongside(subjects.KEYS_CONFIGURE, handlers.configure)

    async def fire_and_forget(body: bytes) -> None:
        """Published without a reply subject: the outcome is an event."""
        cmd: ConfigureKey | None = None
        try:
            cmd = parse_request(body, ConfigureKey)
            await configure(cmd, deps())
        except ByokError as exc:
            await _rejected(service, exc, cmd)

    service.serve(
        subjects.KEYS_CONFIGURE,
        lambda cmd: configure(cmd, deps()),
        workers=workers,
        unanswered=fire_and_forget,
        direct=True,  # latency-bound: without faststream's per-message work
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
