"""NATS subjects of the v1 contract. Every name here is public API."""

from __future__ import annotations

from typing import Final

__all__ = [
    "ACCOUNTS_CONFIGURE",
    "AUDIT_PREFIX",
    "EVENTS_ACCOUNTS_CHANGED",
    "EVENTS_CREDITS_EXHAUSTED",
    "EVENTS_CREDITS_RESTORED",
    "EVENTS_KEYS_CONFIGURED",
    "EVENTS_KEYS_DISABLED",
    "EVENTS_KEYS_ENABLED",
    "EVENTS_KEYS_REJECTED",
    "EVENTS_KEYS_REMOVED",
    "EVENTS_KEYS_REVOKED",
    "EVENTS_PREFIX",
    "EVENTS_SCOPES_CHANGED",
    "INTERNAL_KEYS_REVOKE",
    "INTERNAL_KEYS_ROTATE",
    "INTERNAL_KEYS_UNSEAL",
    "INTERNAL_RESOLVER_SYNC",
    "INTERNAL_VALIDATOR_PUBLIC_KEY",
    "KEYS_CONFIGURE",
    "KEYS_LIST",
    "KEYS_PUBLIC_KEY",
    "KEYS_REMOVE",
    "KEYS_REPORT",
    "KEYS_SET_ENABLED",
    "KEYS_VALIDATE",
    "LEDGER_BALANCE",
    "LEDGER_GRANT",
    "LEDGER_JOURNAL_PREFIX",
    "LEDGER_VERIFY",
    "PREFIX",
    "RESOLVE",
    "SCOPES_CONFIGURE",
    "SERVICES",
    "USAGE_QUERY",
    "USAGE_RECORDED",
    "audit",
    "health",
    "keys_validate_for",
    "ledger_journal",
    "resolve_for",
    "resolve_replica",
]

PREFIX: Final = "byok.v1"

KEYS_PUBLIC_KEY: Final = f"{PREFIX}.keys.public-key"
KEYS_CONFIGURE: Final = f"{PREFIX}.keys.configure"
KEYS_REMOVE: Final = f"{PREFIX}.keys.remove"
KEYS_LIST: Final = f"{PREFIX}.keys.list"
KEYS_SET_ENABLED: Final = f"{PREFIX}.keys.set-enabled"
KEYS_REPORT: Final = f"{PREFIX}.keys.report"
KEYS_VALIDATE: Final = f"{PREFIX}.keys.validate"
SCOPES_CONFIGURE: Final = f"{PREFIX}.scopes.configure"
ACCOUNTS_CONFIGURE: Final = f"{PREFIX}.accounts.configure"
RESOLVE: Final = f"{PREFIX}.resolve"
USAGE_QUERY: Final = f"{PREFIX}.usage.query"
USAGE_RECORDED: Final = f"{PREFIX}.usage.recorded"
LEDGER_GRANT: Final = f"{PREFIX}.ledger.grant"
LEDGER_BALANCE: Final = f"{PREFIX}.ledger.balance"
LEDGER_JOURNAL_PREFIX: Final = f"{PREFIX}.ledger.journal"
LEDGER_VERIFY: Final = f"{PREFIX}.ledger.verify"

EVENTS_PREFIX: Final = f"{PREFIX}.events"
AUDIT_PREFIX: Final = f"{PREFIX}.audit"
EVENTS_KEYS_CONFIGURED: Final = f"{EVENTS_PREFIX}.keys.configured"
EVENTS_KEYS_REJECTED: Final = f"{EVENTS_PREFIX}.keys.rejected"
EVENTS_KEYS_REMOVED: Final = f"{EVENTS_PREFIX}.keys.removed"
EVENTS_KEYS_REVOKED: Final = f"{EVENTS_PREFIX}.keys.revoked"
EVENTS_KEYS_DISABLED: Final = f"{EVENTS_PREFIX}.keys.disabled"
EVENTS_KEYS_ENABLED: Final = f"{EVENTS_PREFIX}.keys.enabled"
EVENTS_CREDITS_EXHAUSTED: Final = f"{EVENTS_PREFIX}.credits.exhausted"
EVENTS_CREDITS_RESTORED: Final = f"{EVENTS_PREFIX}.credits.restored"
EVENTS_SCOPES_CHANGED: Final = f"{EVENTS_PREFIX}.scopes.changed"
EVENTS_ACCOUNTS_CHANGED: Final = f"{EVENTS_PREFIX}.accounts.changed"

# Internal hops (not for product backends or runtimes; NATS permissions keep them private).
INTERNAL_KEYS_UNSEAL: Final = f"{PREFIX}.internal.keys.unseal"
# validator -> key-vault: the provider rejected a stored key on re-validation.
INTERNAL_KEYS_REVOKE: Final = f"{PREFIX}.internal.keys.revoke"
# operator -> key-vault: rotate the cipher key (and optionally the sealing keypair), rewrap all.
INTERNAL_KEYS_ROTATE: Final = f"{PREFIX}.internal.keys.rotate"
INTERNAL_VALIDATOR_PUBLIC_KEY: Final = f"{PREFIX}.internal.validator.public-key"
INTERNAL_RESOLVER_SYNC: Final = f"{PREFIX}.internal.resolver.sync"

SERVICES: Final = ("key-vault", "validator", "resolver", "credit-ledger", "usage-tracker")


def health(service: str) -> str:
    """Health subject of one service, e.g. ``byok.v1.health.resolver``."""
    return f"{PREFIX}.health.{service}"


def keys_validate_for(replica: str) -> str:
    """Validation subject of one validator replica (the key is sealed to that replica)."""
    return f"{KEYS_VALIDATE}.{replica}"


def ledger_journal(account: str) -> str:
    """Journal subject of one account (ids are validated, so they cannot inject tokens)."""
    return f"{LEDGER_JOURNAL_PREFIX}.{account}"


def resolve_for(account: str) -> str:
    """``byok.v1.resolve.<account>``: resolve limited to one account (same body as ``resolve``).

    NATS permissions can then allow a per-tenant runtime only its own accounts.
    """
    return f"{RESOLVE}.{account}"


def audit(account: str | None, scope_type: str | None, scope_id: str | None, operation: str) -> str:
    """``byok.v1.audit.<account>.<scope.type>.<scope.id>.<operation>``; ``_`` when unknown."""
    parts = (account or "_", scope_type or "_", scope_id or "_", operation)
    return ".".join((AUDIT_PREFIX, *parts))


def resolve_replica(replica: str) -> str:
    """``resolve`` answered by one resolver replica only (operators and the freshness bench
    probe each replica); ``resolve_replica("*")`` is every replica's."""
    return f"{PREFIX}.internal.resolver.{replica}.resolve"
