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

# ``resolve`` answered by one resolver replica only (byok_resolver.app.replica_subject).
RESOLVER_REPLICA_RESOLVE: Final = f"{subjects.PREFIX}.internal.resolver.*.resolve"


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

_KEY_EVENTS = (
    subjects.EVENTS_KEYS_CONFIGURED,
    subjects.EVENTS_KEYS_REJECTED,
    subjects.EVENTS_KEYS_REMOVED,
    subjects.EVENTS_KEYS_REVOKED,
    subjects.EVENTS_KEYS_DISABLED,
    subjects.EVENTS_KEYS_ENABLED,
)
_VALIDATE_ANY_REPLICA = subjects.keys_validate_for("*")


def _service(
    name: str,
    *,
    serves: Sequence[str],
    publishes: Sequence[str] = (),
    listens: Sequence[str] = (),
    jetstream: Sequence[str] = (),
    denies: Sequence[str] = (),
) -> Role:
    """A service user: it serves ``serves`` (replying through ``allow_responses``)."""
    return Role(
        name=name,
        publish=tuple(
            dict.fromkeys(
                [
                    subjects.health(name),  # the container healthcheck runs as the service
                    *publishes,
                    *_verify(SERVICE_BUCKETS.get(name, ())),
                    *jetstream,
                ]
            )
        ),
        subscribe=tuple(
            dict.fromkeys([subjects.health(name), *serves, *listens, f"{inbox_prefix(name)}.>"])
        ),
        allow_responses=True,
        deny_publish=tuple(denies),
    )


def _client(name: str, *, requests: Sequence[str], listens: Sequence[str] = ()) -> Role:
    return Role(
        name=name,
        publish=tuple(dict.fromkeys([*requests, subjects.health("*")])),
        subscribe=tuple(dict.fromkeys([*listens, f"{inbox_prefix(name)}.>"])),
    )


_BACKEND_REQUESTS = (
    subjects.KEYS_PUBLIC_KEY,
    subjects.KEYS_CONFIGURE,
    subjects.KEYS_REMOVE,
    subjects.KEYS_LIST,
    subjects.KEYS_SET_ENABLED,
    subjects.SCOPES_CONFIGURE,
    subjects.ACCOUNTS_CONFIGURE,
    subjects.USAGE_QUERY,
    subjects.LEDGER_GRANT,
    subjects.LEDGER_BALANCE,
    subjects.LEDGER_VERIFY,
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
            serves=(
                subjects.KEYS_PUBLIC_KEY,
                subjects.KEYS_CONFIGURE,
                subjects.KEYS_REMOVE,
                subjects.KEYS_LIST,
                subjects.KEYS_SET_ENABLED,
                subjects.SCOPES_CONFIGURE,
                subjects.ACCOUNTS_CONFIGURE,
                subjects.INTERNAL_KEYS_UNSEAL,
                subjects.INTERNAL_KEYS_REVOKE,
                subjects.INTERNAL_KEYS_ROTATE,
            ),
            publishes=(
                *_KEY_EVENTS,
                subjects.EVENTS_SCOPES_CHANGED,
                subjects.EVENTS_ACCOUNTS_CHANGED,
                subjects.INTERNAL_RESOLVER_SYNC,
                subjects.INTERNAL_VALIDATOR_PUBLIC_KEY,
                _VALIDATE_ANY_REPLICA,
                f"{subjects.AUDIT_PREFIX}.>",
            ),
            jetstream=(
                *_kv_write(BUCKET_KEYS),
                *_kv_write(BUCKET_SCOPES),
                *_kv_write(BUCKET_ACCOUNTS),
                *_kv_write(BUCKET_SEALING),
                *_kv_write(BUCKET_OWNERS),
                *_kv_read(BUCKET_RECIPIENTS),
                # the freshness barrier lists replicas by direct gets, never a consumer
                *_read_stream(_kv_stream(BUCKET_RESOLVERS)),
                *_own_buckets("key-vault"),
            ),
        ),
        _service(
            "validator",
            serves=(
                subjects.KEYS_REPORT,
                subjects.INTERNAL_VALIDATOR_PUBLIC_KEY,
                _VALIDATE_ANY_REPLICA,
            ),
            publishes=(subjects.INTERNAL_KEYS_UNSEAL, subjects.INTERNAL_KEYS_REVOKE),
            jetstream=(
                *_kv_read(BUCKET_KEYS),
                *_kv_write(BUCKET_RECIPIENTS),
                *_consume(STREAM_EVENTS),
                *_own_buckets("validator"),
            ),
        ),
        _service(
            "resolver",
            serves=(subjects.RESOLVE, subjects.resolve_for("*"), RESOLVER_REPLICA_RESOLVE),
            # Events arrive as core messages too (sooner than the KV watches).
            listens=(subjects.INTERNAL_RESOLVER_SYNC, f"{subjects.EVENTS_PREFIX}.>"),
            # RESOLVE: at start a replica asks until its queue subscription is served.
            publishes=(subjects.INTERNAL_KEYS_UNSEAL, subjects.RESOLVE),
            jetstream=(
                *_kv_read(BUCKET_KEYS),
                *_kv_read(BUCKET_SCOPES),
                *_kv_read(BUCKET_ACCOUNTS),
                *_kv_read(BUCKET_CREDITS),
                *_kv_read(BUCKET_OWNERS),
                *_kv_write(BUCKET_RECIPIENTS),
                *_kv_write(BUCKET_RESOLVERS),
                *_consume(STREAM_EVENTS),
            ),
        ),
        _service(
            "credit-ledger",
            serves=(subjects.LEDGER_GRANT, subjects.LEDGER_BALANCE, subjects.LEDGER_VERIFY),
            publishes=(
                f"{subjects.LEDGER_JOURNAL_PREFIX}.>",
                subjects.EVENTS_CREDITS_EXHAUSTED,
                subjects.EVENTS_CREDITS_RESTORED,
            ),
            jetstream=(
                *_consume(STREAM_USAGE),
                *_consume(STREAM_LEDGER),
                *_consume(STREAM_EVENTS),
                *_kv_write(BUCKET_CREDITS),
                *_kv_read(BUCKET_ACCOUNTS),
                *_kv_read(BUCKET_SCOPES),
                *_kv_read(BUCKET_KEYS),
                *_own_buckets("credit-ledger"),
            ),
        ),
        _service(
            "usage-tracker",
            serves=(subjects.USAGE_QUERY,),
            jetstream=(*_consume(STREAM_USAGE), *_own_buckets("usage-tracker")),
            # never the ledger's consumer: pulling and acking from it would skip debits
            denies=_durable(STREAM_USAGE, LEDGER_USAGE_DURABLE),
        ),
        _client(
            "runtime",
            requests=(
                subjects.RESOLVE,
                subjects.resolve_for("*"),
                subjects.KEYS_REPORT,
                subjects.USAGE_RECORDED,
            ),
        ),
        _client(
            "backend",
            requests=_BACKEND_REQUESTS,
            listens=(subjects.EVENTS_KEYS_CONFIGURED, subjects.EVENTS_KEYS_REJECTED),
        ),
        # The operator's tools (not a product): cipher rotation, ledger audits, provisioning.
        _client(
            "operator",
            requests=(
                subjects.INTERNAL_KEYS_ROTATE,
                subjects.LEDGER_VERIFY,
                RESOLVER_REPLICA_RESOLVE,
                *_provision(),
                *_consume(STREAM_AUDIT),  # byok audit
                *_api_tokens(write=True),  # byok tokens create|list|revoke
                *_consume(STREAM_AUDIT),  # byok audit
            ),
        ),
        # The HTTP gateway: a product backend's requests (and grants for operator
        # tokens), and reading (watching) the API token bucket. No stream edits.
        _client(
            "gateway",
            requests=(
                *(s for s in _BACKEND_REQUESTS if s != subjects.LEDGER_VERIFY),
                *_api_tokens(write=False),
            ),
        ),
    ]
    return {role.name: role for role in roles}


ROLES: Final[Mapping[str, Role]] = _table()
"""Every NATS user byok knows: the five services, then the client roles."""


# --- per-tenant runtimes -----------------------------------------------------

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")  # scope and account ids (DESIGN.md 3)


def resolve_subject_for(account: str) -> str:
    """``byok.v1.resolve.<account>``: resolve for one account (same body as ``resolve``)."""
    return subjects.resolve_for(account)


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
    return _client(
        name,
        requests=(
            *(resolve_subject_for(account) for account in dict.fromkeys(accounts)),
            subjects.KEYS_REPORT,
            subjects.USAGE_RECORDED,
        ),
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
