"""The audit trail: ``byok.v1.audit.<account>.<scope.type>.<scope.id>.<operation>``.

key-vault appends one entry per configure, remove, disable, enable, revoke, rotate
and unseal, whatever the outcome, to the BYOK_AUDIT stream. Entries name who did
what to which key; they never carry key material. ``_`` stands in a subject for a
missing account or scope (ids cannot be ``_``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .common import Event, Scope, utcnow

__all__ = ["AuditEntry", "AuditOperation"]

AuditOperation = Literal["configure", "remove", "disable", "enable", "revoke", "rotate", "unseal"]


class AuditEntry(Event):
    operation: AuditOperation
    outcome: str  # "ok", or the error word of the refusal
    code: int = 200
    actor: str | None = None  # redacted of key shapes like every free text
    role: str | None = None  # the NATS role of the hop (the caller's, as far as it is known)
    key_id: str | None = None
    scope: Scope | None = None
    account: str | None = None  # the account owning the scope
    requested_account: str | None = None  # the account the request named (if another)
    provider: str | None = None
    occurred_at: datetime = Field(default_factory=utcnow)
