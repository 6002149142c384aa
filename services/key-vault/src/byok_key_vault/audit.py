"""The audit trail of key-vault: one entry per configure, remove, disable, enable,
revoke, rotate and unseal, whatever the outcome (``byok.v1.audit.>``, BYOK_AUDIT).

:func:`audited` wraps a use case at the NATS edge: it builds the entry from the
request, the reply (or the refusal) and the role of the hop, then appends it. An
entry names who did what to which key; it never carries key material, and
``actor`` is redacted like every free-text field.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from nats.js import JetStreamContext
from pydantic import BaseModel

from byok_contracts import ByokError, subjects
from byok_contracts.redaction import redact_secrets
from byok_contracts.v1 import AuditEntry, Scope, ScopeType
from byok_shared.natsauth import ROLES, allows_publish

from .deps import Deps

__all__ = ["AUDITED", "JetStreamAudit", "audited", "audited_alongside", "caller_roles"]

log = logging.getLogger(__name__)

AUDITED = frozenset(
    {
        subjects.KEYS_CONFIGURE,
        subjects.KEYS_REMOVE,
        subjects.KEYS_SET_ENABLED,
        subjects.INTERNAL_KEYS_REVOKE,
        subjects.INTERNAL_KEYS_ROTATE,
        subjects.INTERNAL_KEYS_UNSEAL,
    }
)
_OPERATION = {
    subjects.KEYS_CONFIGURE: "configure",
    subjects.KEYS_REMOVE: "remove",
    subjects.INTERNAL_KEYS_REVOKE: "revoke",
    subjects.INTERNAL_KEYS_ROTATE: "rotate",
    subjects.INTERNAL_KEYS_UNSEAL: "unseal",
}

Req = TypeVar("Req", bound=BaseModel)


class JetStreamAudit:
    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def append(self, entry: BaseModel) -> None:
        assert isinstance(entry, AuditEntry)
        scope = entry.scope
        subject = subjects.audit(
            entry.account,
            scope.type.value if scope else None,
            scope.id if scope else None,
            entry.operation,
        )
        await self.js.publish(subject, entry.model_dump_json().encode())


@functools.cache
def caller_roles(subject: str) -> str:
    """The client or service roles NATS lets publish ``subject`` (key-vault cannot see the
    caller's user, but the permissions say which roles can have sent it).

    Fixed by the permission table, so worked out once per subject: matching every
    role's patterns cost most of a millisecond on each configure."""
    names = [n for n, r in ROLES.items() if n != "key-vault" and allows_publish(r, subject)]
    return "|".join(names) or "unknown"


def _account(scope: Scope | None, account: str | None) -> str | None:
    if scope is None or scope.type is ScopeType.PLATFORM:
        return None
    return scope.id if scope.type is ScopeType.ACCOUNT else account


def _entry(subject: str, cmd: Any, reply: Any, role: str) -> AuditEntry:
    """What the request and the reply tell about the operation."""
    fact: dict[str, Any] = {}
    for source in (cmd, reply):  # the reply knows more (key_id, the key's scope)
        for name in ("key_id", "scope", "account", "provider", "actor"):
            value = getattr(source, name, None)
            if value is not None:
                fact[name] = value
    if subject == subjects.KEYS_SET_ENABLED:
        operation = "enable" if cmd.enabled else "disable"
    else:
        operation = _OPERATION[subject]
    scope = fact.get("scope")
    return AuditEntry(
        operation=operation,  # type: ignore[arg-type]
        outcome="ok",
        actor=redact_secrets(str(fact["actor"])) if "actor" in fact else None,
        role=role,
        key_id=fact.get("key_id"),
        scope=scope,
        account=_account(scope, fact.get("account")),
        provider=fact.get("provider"),
    )


def audited(
    subject: str,
    handler: Callable[[Req, Deps], Awaitable[BaseModel]],
) -> Callable[[Req, Deps], Awaitable[BaseModel]]:
    """``handler`` that appends its audit entry, success or refusal alike."""

    async def call(cmd: Req, deps: Deps) -> BaseModel:
        reply: BaseModel | None = None
        outcome, code = "ok", 200
        try:
            reply = await handler(cmd, deps)
            return reply
        except ByokError as exc:
            outcome, code = exc.error, exc.code
            raise
        except Exception:
            outcome, code = "internal", 500
            raise
        finally:
            await _append(subject, cmd, reply, outcome, code, deps)

    return call


Alongside = Callable[[Any], Awaitable[None]]


def audited_alongside(
    subject: str,
    handler: Callable[[Req, Deps, Alongside], Awaitable[BaseModel]],
) -> Callable[[Req, Deps], Awaitable[BaseModel]]:
    """Like :func:`audited` for a handler that appends its success entry itself, with its
    last durable effect (``handler(cmd, deps, alongside)`` awaits ``alongside(reply)``
    together with its event): one round trip less. A refusal is appended here."""

    async def call(cmd: Req, deps: Deps) -> BaseModel:
        async def success(reply: Any) -> None:
            await _append(subject, cmd, reply, "ok", 200, deps)

        try:
            return await handler(cmd, deps, success)
        except ByokError as exc:
            await _append(subject, cmd, None, exc.error, exc.code, deps)
            raise
        except Exception:
            await _append(subject, cmd, None, "internal", 500, deps)
            raise

    return call


async def _append(
    subject: str, cmd: Any, reply: BaseModel | None, outcome: str, code: int, deps: Deps
) -> None:
    try:
        if subject == subjects.INTERNAL_KEYS_UNSEAL:
            role = await deps.recipients.role_of(cmd.recipient_key) or "unregistered"
        else:
            role = caller_roles(subject)
        entry = _entry(subject, cmd, reply, role)
        update: dict[str, Any] = {"outcome": outcome, "code": code}
        if entry.scope is not None and entry.scope.type is not ScopeType.PLATFORM:
            owner = await deps.owners.get(entry.scope.key)
            if owner is not None and owner != entry.account:  # filed under the owner
                update.update(account=owner, requested_account=entry.account)
        await deps.audit.append(entry.model_copy(update=update))
    except Exception:
        # The operation's outcome stands; a missing entry is logged loudly.
        log.exception("could not append to the audit trail", extra={"subject": subject})
