"""The operations of the v1 contract: one table for schemas, serving and permissions.

Each row is a subject (``{name}`` marks one token filled in per account, replica,
service or change), its kind, its message and reply models, which service owns it
(serves the request, publishes the event) and which NATS roles may call it. The
schemas and AsyncAPI documents (:mod:`byok_contracts.schema`), each service's
edge (``byok_shared.Service.serve``) and the NATS roles (``byok_shared.natsauth``)
are all read from here, so a subject added, renamed or moved changes all three.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from . import subjects as s
from . import v1
from .v1 import ledger

__all__ = ["OPERATIONS", "Kind", "Operation", "operation"]

Kind = Literal["request", "event", "inbound"]

_TOKEN = re.compile(r"\{[a-z_]+\}")

# Who calls the public key and settings operations: product backends, and the HTTP gateway
# on their behalf.
_BACKENDS = ("backend", "gateway")


@dataclass(frozen=True, slots=True)
class Operation:
    subject: str
    # "request": byok receives it and replies; "event": byok publishes it;
    # "inbound": an event others publish and byok consumes (usage.recorded).
    kind: Kind
    message: type[BaseModel]
    reply: type[BaseModel] | None = None
    summary: str = ""
    # The service that serves the request (or publishes the event); None: every service.
    owner: str | None = None
    # The NATS roles that may send it (a request, or an inbound event).
    callers: tuple[str, ...] = ()

    @property
    def internal(self) -> bool:
        """A hop between byok's own services (NATS permissions keep clients off it)."""
        return self.summary.startswith("internal:")

    @property
    def pattern(self) -> str:
        """The subject as a NATS pattern: each ``{name}`` token becomes ``*``."""
        return _TOKEN.sub("*", self.subject)

    @property
    def per_replica(self) -> bool:
        """Answered by one replica (its own subject): no queue group shares it."""
        return "{replica}" in self.subject or "{service}" in self.subject


def _request(
    subject: str,
    message: type[BaseModel],
    reply: type[BaseModel],
    summary: str,
    owner: str | None,
    callers: tuple[str, ...] = (),
) -> Operation:
    return Operation(subject, "request", message, reply, summary, owner, callers)


def _event(
    subject: str, message: type[BaseModel], summary: str, owner: str | None = None
) -> Operation:
    return Operation(subject, "event", message, None, summary, owner)


OPERATIONS: tuple[Operation, ...] = (
    _request(
        s.KEYS_PUBLIC_KEY,
        v1.PublicKeyRequest,
        v1.PublicKey,
        "key-vault's sealing key",
        "key-vault",
        _BACKENDS,
    ),
    _request(
        s.KEYS_CONFIGURE,
        v1.ConfigureKey,
        v1.KeyConfigured,
        "validate, encrypt and store a key",
        "key-vault",
        _BACKENDS,
    ),
    _request(s.KEYS_REMOVE, v1.RemoveKey, v1.KeyRemoved, "remove a key", "key-vault", _BACKENDS),
    _request(
        s.KEYS_LIST,
        v1.ListKeys,
        v1.KeyList,
        "list a scope's keys (hints only)",
        "key-vault",
        _BACKENDS,
    ),
    _request(
        s.KEYS_SET_ENABLED,
        v1.SetKeyEnabled,
        v1.KeyStateChanged,
        "disable or enable a key",
        "key-vault",
        _BACKENDS,
    ),
    _request(
        s.KEYS_REPORT,
        v1.ReportKey,
        v1.KeyReportAccepted,
        "report a provider error for a key",
        "validator",
        ("runtime",),
    ),
    _request(
        s.SCOPES_CONFIGURE,
        v1.ConfigureScope,
        v1.ScopeSettingsReply,
        "change a scope's settings",
        "key-vault",
        _BACKENDS,
    ),
    _request(
        s.ACCOUNTS_CONFIGURE,
        v1.ConfigureAccount,
        v1.AccountPolicyReply,
        "change an account's plan rules",
        "key-vault",
        _BACKENDS,
    ),
    # The resolver itself asks ``resolve`` at start, until its queue group is served.
    _request(
        s.RESOLVE,
        v1.Resolve,
        v1.Resolved,
        "which key and model for this request",
        "resolver",
        ("runtime", "resolver"),
    ),
    _request(
        s.resolve_for("{account}"),
        v1.Resolve,
        v1.Resolved,
        "resolve for one account (the subject's account must be the body's)",
        "resolver",
        ("runtime",),
    ),
    _request(
        s.USAGE_QUERY,
        v1.QueryUsage,
        v1.UsageReport,
        "usage and estimated cost",
        "usage-tracker",
        _BACKENDS,
    ),
    _request(
        s.LEDGER_GRANT,
        v1.Grant,
        v1.Granted,
        "add credits (idempotent)",
        "credit-ledger",
        _BACKENDS,
    ),
    _request(
        s.LEDGER_BALANCE,
        v1.BalanceRequest,
        v1.Balance,
        "an account's balance",
        "credit-ledger",
        _BACKENDS,
    ),
    _request(
        s.LEDGER_VERIFY,
        ledger.VerifyLedger,
        ledger.LedgerVerification,
        "recompute every balance from the journal and report differences",
        "credit-ledger",
        ("backend", "gateway", "operator"),
    ),
    _event(
        s.ledger_journal("{account}"),
        ledger.LedgerEntry,
        "internal: the credit journal of one account (append-only)",
        "credit-ledger",
    ),
    # Every service answers its own health subject (and asks it: the container healthcheck).
    _request(s.health("{service}"), v1.HealthRequest, v1.Health, "service health", None),
    Operation(
        s.USAGE_RECORDED,
        "inbound",
        v1.UsageRecorded,
        None,
        "published by runtimes after each provider call",
        callers=("runtime",),
    ),
    _event(
        f"{s.EVENTS_PREFIX}.keys.{{change}}",
        v1.KeyChanged,
        "key configured/removed/revoked/disabled/enabled",
        "key-vault",
    ),
    _event(
        s.EVENTS_KEYS_REJECTED,
        v1.KeyRejectedEvent,
        "a fire-and-forget configure failed",
        "key-vault",
    ),
    _event(s.EVENTS_SCOPES_CHANGED, v1.ScopeChanged, "a scope's settings changed", "key-vault"),
    _event(
        s.EVENTS_ACCOUNTS_CHANGED, v1.AccountChanged, "an account's policy changed", "key-vault"
    ),
    _event(
        f"{s.EVENTS_PREFIX}.credits.{{change}}",
        v1.CreditsChanged,
        "credits exhausted/restored",
        "credit-ledger",
    ),
    _event(
        f"{s.AUDIT_PREFIX}.{{owner}}.{{scope_type}}.{{scope_id}}.{{operation}}",
        v1.AuditEntry,
        "audit trail: who touched which key (BYOK_AUDIT; operators read it)",
        "key-vault",
    ),
    # Internal hops between services (NATS permissions keep product clients off them).
    _request(
        s.INTERNAL_KEYS_UNSEAL,
        v1.UnsealKey,
        v1.KeyUnsealed,
        "internal: key-vault seals a stored key to a service",
        "key-vault",
        ("validator", "resolver"),
    ),
    _request(
        s.INTERNAL_KEYS_REVOKE,
        v1.RevokeKey,
        v1.KeyRevoked,
        "internal: validator revokes a key the provider rejected",
        "key-vault",
        ("validator",),
    ),
    _request(
        s.INTERNAL_KEYS_ROTATE,
        v1.RotateKeys,
        v1.KeysRotated,
        "internal: rotate the cipher key and rewrap",
        "key-vault",
        ("operator",),
    ),
    _request(
        s.INTERNAL_VALIDATOR_PUBLIC_KEY,
        v1.ValidatorPublicKeyRequest,
        v1.ValidatorPublicKey,
        "internal: a validator replica's sealing key",
        "validator",
        ("key-vault",),
    ),
    _request(
        s.keys_validate_for("{replica}"),
        v1.ValidateKey,
        v1.KeyValid,
        "internal: live validation by one validator replica",
        "validator",
        ("key-vault",),
    ),
    _request(
        s.resolve_replica("{replica}"),
        v1.Resolve,
        v1.Resolved,
        "internal: resolve answered by one resolver replica (operators probe each)",
        "resolver",
        ("operator",),
    ),
    _event(
        s.INTERNAL_RESOLVER_SYNC,
        v1.KeyChanged,
        "internal: freshness barrier, acked by every resolver replica",
        "key-vault",
    ),
)

_BY_SUBJECT = {op.subject: op for op in OPERATIONS}


def operation(subject: str) -> Operation:
    """The row of ``subject`` (as written in the table, ``{name}`` tokens included)."""
    try:
        return _BY_SUBJECT[subject]
    except KeyError:
        raise KeyError(f"{subject} is not an operation of the v1 contract") from None
