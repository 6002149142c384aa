"""NATS authorization: one table of roles and their subject permissions.

One NATS user per service and three client roles (DESIGN.md sections 2 and 7):

- ``runtime`` (chat runtimes): resolve, report a key, publish usage, health;
  :func:`tenant_runtime` issues runtime users limited to a list of accounts;
- ``backend`` (product backends): manage keys, scopes, accounts, read usage and
  the ledger, health, and follow the outcome of fire-and-forget configures;
- ``operator`` (the operator's tools): rotate the cipher key, verify the ledger,
  probe one resolver replica, and provision streams and buckets
  (:mod:`byok_shared.provision`): the only role that may create or update them.

Every permission is built from the subject constants of the contract and the
stream and bucket names of :mod:`byok_shared.jetstream`, so a renamed subject
moves its permission with it. Responders get ``allow_responses`` (they may
reply to whoever asked, and nowhere else), and each role receives replies only
on its own inbox prefix (``_INBOX_<role>.>``), so no role can read another's
replies. Services may read stream info (to verify the provisioning) but never
create, update, purge or delete a stream. Everything not listed is denied by the
server.

The server config, password files and the command line are in
:mod:`byok_shared.natsconfig` (``python -m byok_shared.natsauth``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from byok_contracts import subjects
from byok_contracts.operations import OPERATIONS

from .jetstream import (
    BUCKET_ACCOUNTS,
    BUCKET_API_TOKENS,
    BUCKET_CREDITS,
    BUCKET_KEYS,
    BUCKET_OWNERS,
    BUCKET_RECIPIENTS,
    BUCKET_RESOLVERS,
    BUCKET_SCOPES,
    BUCKET_SEALING,
    STREAM_AUDIT,
    STREAM_EVENTS,
    STREAM_LEDGER,
    STREAM_USAGE,
)
from .jetstream import SERVICE_BUCKETS as _SERVICE_BUCKETS
from .natsgrants import JS_API
from .natsgrants import consume as _consume
from .natsgrants import durable as _durable
from .natsgrants import kv_read as _kv_read
from .natsgrants import kv_stream as _kv_stream
from .natsgrants import kv_write as _kv_write
from .natsgrants import own_buckets as _own_buckets
from .natsgrants import provision_grants as _provision
from .natsgrants import read_stream as _read_stream
from .natsgrants import verify_grants as _verify

__all__ = [
    "ACCOUNT",
    "CLIENT_ROLES",
    "JS_API",
    "LEDGER_USAGE_DURABLE",
    "RESOLVER_REPLICA_RESOLVE",
    "ROLES",
    "SERVICE_BUCKETS",
    "Role",
    "allows_publish",
    "allows_subscribe",
    "inbox_prefix",
    "password_env",
    "resolve_subject_for",
    "subject_matches",
    "tenant_runtime",
]

ACCOUNT: Final = "BYOK"
CLIENT_ROLES: Final = ("runtime", "backend", "operator")

# Buckets only one service writes (its EXTRA_BUCKETS), by name.
SERVICE_BUCKETS: Final[Mapping[str, tuple[str, ...]]] = {
    service: tuple(bucket.name for bucket in buckets)
    for service, buckets in _SERVICE_BUCKETS.items()
}

# The credit ledger's durable consumer on BYOK_USAGE (byok_credit_ledger.config.durable).
LEDGER_USAGE_DURABLE: Final = "credit-ledger"

# ``resolve`` answered by one resolver replica only.
RESOLVER_REPLICA_RESOLVE: Final = subjects.resolve_replica("*")


def inbox_prefix(role: str) -> str:
    """The only inbox prefix ``role`` may receive replies on (``BYOK_NATS_INBOX_PREFIX``)."""
    return f"_INBOX_{role}"


def password_env(role: str) -> str:
    """The environment variable holding ``role``'s password, e.g. ``BYOK_NATS_PASSWORD_KEY_VAULT``."""
    return "BYOK_NATS_PASSWORD_" + role.upper().replace("-", "_")


@dataclass(frozen=True, slots=True)
class Role:
    """One NATS user: what it may publish (and request) and subscribe to."""

    name: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool = False
    deny_publish: tuple[str, ...] = ()  # carved out of ``publish`` (wins over it)

    @property
    def inbox_prefix(self) -> str:
        return inbox_prefix(self.name)

    @property
    def password_env(self) -> str:
        return password_env(self.name)


# --- the table ----------------------------------------------------------------
# Who serves and who may send each request comes from the contract's operations table;
# what is listed here is the rest: events, JetStream streams and buckets.

_KEY_EVENTS = (
    subjects.EVENTS_KEYS_CONFIGURED,
    subjects.EVENTS_KEYS_REJECTED,
    subjects.EVENTS_KEYS_REMOVED,
    subjects.EVENTS_KEYS_REVOKED,
    subjects.EVENTS_KEYS_DISABLED,
    subjects.EVENTS_KEYS_ENABLED,
)


def _served_by(service: str) -> tuple[str, ...]:
    """The request subjects ``service`` owns in the contract (its responders)."""
    return tuple(op.pattern for op in OPERATIONS if op.kind == "request" and op.owner == service)


def _sent_by(role: str, *, but_to: str | None = None) -> tuple[str, ...]:
    """What the contract lets ``role`` send (requests and inbound events), except to
    the service ``but_to``."""
    return tuple(
        op.pattern
        for op in OPERATIONS
        if role in op.callers and op.kind != "event" and (but_to is None or op.owner != but_to)
    )


def _buckets(*, write: Sequence[str] = (), read: Sequence[str] = ()) -> list[str]:
    return [
        *(grant for bucket in write for grant in _kv_write(bucket)),
        *(grant for bucket in read for grant in _kv_read(bucket)),
    ]


def _service(
    name: str,
    *,
    publishes: Sequence[str] = (),
    listens: Sequence[str] = (),
    jetstream: Sequence[str] = (),
    denies: Sequence[str] = (),
) -> Role:
    """A service user: it serves what it owns (replying through ``allow_responses``) and
    sends what the contract lets it."""
    return Role(
        name=name,
        publish=tuple(
            dict.fromkeys(
                [
                    subjects.health(name),  # the container healthcheck runs as the service
                    *_sent_by(name),
                    *publishes,
                    *_verify(SERVICE_BUCKETS.get(name, ())),
                    *jetstream,
                    *_own_buckets(name),
                ]
            )
        ),
        subscribe=tuple(
            dict.fromkeys(
                [subjects.health(name), *_served_by(name), *listens, f"{inbox_prefix(name)}.>"]
            )
        ),
        allow_responses=True,
        deny_publish=tuple(denies),
    )


def _client(name: str, *, requests: Sequence[str] = (), listens: Sequence[str] = ()) -> Role:
    """A client user: what the contract lets it send (or ``requests`` for a tenant
    runtime), plus ``requests`` and health."""
    return Role(
        name=name,
        publish=tuple(dict.fromkeys([*_sent_by(name), *requests, subjects.health("*")])),
        subscribe=tuple(dict.fromkeys([*listens, f"{inbox_prefix(name)}.>"])),
    )


def _api_tokens(*, write: bool) -> list[str]:
    """The gateway's token bucket: opened (stream info), read and watched; written by the
    operator's ``byok tokens``."""
    grants = _kv_write(BUCKET_API_TOKENS) if write else _kv_read(BUCKET_API_TOKENS)
    return [f"{JS_API}.STREAM.INFO.{_kv_stream(BUCKET_API_TOKENS)}", *grants]


def _table() -> dict[str, Role]:
    roles = [
        _service(
            "key-vault",
            publishes=(
                *_KEY_EVENTS,
                subjects.EVENTS_SCOPES_CHANGED,
                subjects.EVENTS_ACCOUNTS_CHANGED,
                subjects.INTERNAL_RESOLVER_SYNC,
                f"{subjects.AUDIT_PREFIX}.>",
            ),
            jetstream=(
                *_buckets(
                    write=(
                        BUCKET_KEYS,
                        BUCKET_SCOPES,
                        BUCKET_ACCOUNTS,
                        BUCKET_SEALING,
                        BUCKET_OWNERS,
                    ),
                    read=(BUCKET_RECIPIENTS,),
                ),
                # the freshness barrier lists replicas by direct gets, never a consumer
                *_read_stream(_kv_stream(BUCKET_RESOLVERS)),
            ),
        ),
        _service(
            "validator",
            jetstream=(
                *_buckets(write=(BUCKET_RECIPIENTS,), read=(BUCKET_KEYS,)),
                *_consume(STREAM_EVENTS),
            ),
        ),
        _service(
            "resolver",
            # Events arrive as core messages too (sooner than the KV watches).
            listens=(subjects.INTERNAL_RESOLVER_SYNC, f"{subjects.EVENTS_PREFIX}.>"),
            jetstream=(
                *_buckets(
                    write=(BUCKET_RECIPIENTS, BUCKET_RESOLVERS),
                    read=(
                        BUCKET_KEYS,
                        BUCKET_SCOPES,
                        BUCKET_ACCOUNTS,
                        BUCKET_CREDITS,
                        BUCKET_OWNERS,
                    ),
                ),
                *_consume(STREAM_EVENTS),
            ),
        ),
        _service(
            "credit-ledger",
            publishes=(
                f"{subjects.LEDGER_JOURNAL_PREFIX}.>",
                subjects.EVENTS_CREDITS_EXHAUSTED,
                subjects.EVENTS_CREDITS_RESTORED,
            ),
            jetstream=(
                *(
                    grant
                    for stream in (STREAM_USAGE, STREAM_LEDGER, STREAM_EVENTS)
                    for grant in _consume(stream)
                ),
                *_buckets(
                    write=(BUCKET_CREDITS,), read=(BUCKET_ACCOUNTS, BUCKET_SCOPES, BUCKET_KEYS)
                ),
            ),
        ),
        _service(
            "usage-tracker",
            jetstream=_consume(STREAM_USAGE),
            # never the ledger's consumer: pulling and acking from it would skip debits
            denies=_durable(STREAM_USAGE, LEDGER_USAGE_DURABLE),
        ),
        _client("runtime"),
        _client(
            "backend", listens=(subjects.EVENTS_KEYS_CONFIGURED, subjects.EVENTS_KEYS_REJECTED)
        ),
        # The operator's tools (not a product): cipher rotation, ledger audits, replica
        # probes, provisioning, the audit trail (``byok audit``) and API tokens.
        _client(
            "operator",
            requests=(*_provision(), *_consume(STREAM_AUDIT), *_api_tokens(write=True)),
        ),
        # The HTTP gateway: a product backend's requests (and grants for operator
        # tokens), and reading (watching) the API token bucket. No stream edits.
        _client("gateway", requests=_api_tokens(write=False)),
    ]
    return {role.name: role for role in roles}


ROLES: Final[Mapping[str, Role]] = _table()
"""Every NATS user byok knows: the five services, then the client roles."""


# --- per-tenant runtimes -----------------------------------------------------

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")  # scope and account ids (DESIGN.md 3)


resolve_subject_for = subjects.resolve_for  # ``byok.v1.resolve.<account>``


def tenant_runtime(name: str, accounts: Sequence[str]) -> Role:
    """A runtime user that may resolve for ``accounts`` only.

    It publishes ``byok.v1.resolve.<account>`` for each of them (never the plain
    ``byok.v1.resolve``, which serves any account), usage events, key reports and
    health, and receives replies on its own inbox. Ids are checked against the
    contract's id pattern, so no wildcard can widen the grant.
    """
    if not _ID.match(name) or name in ROLES:
        raise ValueError("a tenant runtime name matches the id pattern and is not a byok role")
    if not accounts or not all(_ID.match(account) for account in accounts):
        raise ValueError("tenant runtime accounts must be one or more valid account ids")
    return Role(
        name=name,
        publish=(
            *(subjects.resolve_for(account) for account in dict.fromkeys(accounts)),
            *_sent_by("runtime", but_to="resolver"),
            subjects.health("*"),
        ),
        subscribe=(f"{inbox_prefix(name)}.>",),
    )


# --- matching -----------------------------------------------------------------


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard matching: ``*`` is one token, a final ``>`` is one or more."""
    want, got = pattern.split("."), subject.split(".")
    for index, part in enumerate(want):
        if part == ">":
            return len(got) > index
        if index >= len(got) or part not in ("*", got[index]):
            return False
    return len(want) == len(got)


def allows_publish(role: Role, subject: str) -> bool:
    if any(subject_matches(pattern, subject) for pattern in role.deny_publish):
        return False
    return any(subject_matches(pattern, subject) for pattern in role.publish)


def allows_subscribe(role: Role, subject: str) -> bool:
    return any(subject_matches(pattern, subject) for pattern in role.subscribe)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m byok_shared.natsauth``: see :mod:`byok_shared.natsconfig`."""
    from .natsconfig import main as run

    return run(argv)


if __name__ == "__main__":
    raise SystemExit(main())
