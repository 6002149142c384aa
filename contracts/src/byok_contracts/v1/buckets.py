"""The KV buckets more than one role touches: names, key layouts, who writes, who reads.

One role writes each of these buckets (``byok-recipients``: resolver and validator
replicas, each its own entry); the others read it on purpose, read only (their NATS
permissions hold nothing more), because the state is what they serve from and a
request per read would put key-vault on every hot path: the resolver loads and
watches a scope's keys, settings, owner and policy; the validator pages through
every key record for its re-validation sweep; the credit-ledger reads an account's
BYOK state and which key ids are platform keys. The other way round, key-vault reads
who it may seal to (``byok-recipients``) and which resolver replicas its freshness
barrier waits for (``byok-resolvers``); the gateway reads the API tokens the
operator issues. The layouts below are therefore part of the contract, like a
subject: a key is derived and parsed only through these functions, never by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from .common import Scope

__all__ = [
    "ACCOUNTS",
    "API_TOKENS",
    "CREDITS",
    "KEYS",
    "OWNERS",
    "RECIPIENTS",
    "RESOLVERS",
    "SCOPES",
    "SHARED_BUCKETS",
    "SharedBucket",
    "key_slot",
    "parse_key_slot",
    "parse_scope_key",
    "platform_key_slot",
]


@dataclass(frozen=True, slots=True)
class SharedBucket:
    """A bucket one role writes and others read: its row in the contract reference."""

    name: str
    key: str
    value: str
    writers: tuple[str, ...]
    readers: tuple[str, ...]


KEYS = SharedBucket(
    "byok-keys",
    "`<scope.type>.<scope.id>.<provider>` (a key slot)",
    "`KeyRecord` (ciphertext only)",
    ("key-vault",),
    ("resolver", "validator", "credit-ledger"),
)
SCOPES = SharedBucket(
    "byok-scopes",
    "`<scope.type>.<scope.id>`",
    "`ScopeSettings`",
    ("key-vault",),
    ("resolver", "credit-ledger"),
)
ACCOUNTS = SharedBucket(
    "byok-accounts", "`<account>`", "`AccountPolicy`", ("key-vault",), ("resolver", "credit-ledger")
)
OWNERS = SharedBucket(
    "byok-owners",
    "`<scope.type>.<scope.id>`",
    "the owning account, UTF-8 (set once, by the first write)",
    ("key-vault",),
    ("resolver",),
)
CREDITS = SharedBucket(
    "byok-credits", "`<account>`", "`CreditState`", ("credit-ledger",), ("resolver",)
)
RECIPIENTS = SharedBucket(
    "byok-recipients",
    "`<kid>` of a replica's X25519 public key",
    "JSON `{role, replica, public_key, at}` (a public key only; removed at stop)",
    ("resolver", "validator"),
    ("key-vault",),
)
RESOLVERS = SharedBucket(
    "byok-resolvers",
    "`<replica id>`",
    "presence heartbeat (`1`; expires unless renewed within 3 s)",
    ("resolver",),
    ("key-vault",),
)
API_TOKENS = SharedBucket(
    "byok-api-tokens",
    "`<token_id>` (12 hex)",
    "JSON `ApiTokenRecord` (the token's SHA-256 digest only, never the token)",
    ("operator",),
    ("gateway",),
)
SHARED_BUCKETS: tuple[SharedBucket, ...] = (
    KEYS,
    SCOPES,
    ACCOUNTS,
    OWNERS,
    CREDITS,
    RECIPIENTS,
    RESOLVERS,
    API_TOKENS,
)


def key_slot(scope: Scope, provider: str) -> str:
    """The slot of a scope's key for one provider in ``byok-keys``: ``workspace.acme.anthropic``."""
    return f"{scope.key}.{provider}"


def platform_key_slot(provider: str) -> str:
    """The slot of the platform's ``provider`` key: ``platform.default.<provider>``.

    The credit-ledger reads (and the history of) these slots to learn which
    ``key_id`` values are platform keys, so that usage on them is debited
    whatever the runtime claims as ``source``. A key id is derived from its slot
    (key-vault's ``key_id_for(slot, fingerprint)``), so it never changes scope type.
    """
    return key_slot(Scope.platform(), provider)


def parse_scope_key(key: str) -> Scope:
    """The scope of a ``byok-scopes`` or ``byok-owners`` key; ValueError when it is none."""
    kind, _, ident = key.partition(".")
    return Scope.model_validate({"type": kind, "id": ident}, strict=False)


def parse_key_slot(slot: str) -> tuple[Scope, str]:
    """``(scope, provider)`` of a ``byok-keys`` slot; ValueError when it is none."""
    scope_key, _, provider = slot.rpartition(".")
    return parse_scope_key(scope_key), provider
