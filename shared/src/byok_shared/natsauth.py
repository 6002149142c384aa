"""NATS authorization from one table: roles, their subject permissions, the server config.

One NATS user per service and three client roles (DESIGN.md sections 2 and 7):

- ``runtime`` (chat runtimes): resolve, report a key, publish usage, health;
- ``backend`` (product backends): manage keys, scopes, accounts, read usage and
  the ledger, health, and follow the outcome of fire-and-forget configures;
- ``operator`` (the operator's tools): rotate the cipher key, verify the ledger,
  probe one resolver replica.

Every permission is built from the subject constants of the contract and the
stream and bucket names of :mod:`byok_shared.jetstream`, so a renamed subject
moves its permission with it. Responders get ``allow_responses`` (they may
reply to whoever asked, and nowhere else), and each role receives replies only
on its own inbox prefix (``_INBOX_<role>.>``), so no role can read another's
replies. Everything not listed is denied by the server.

:func:`render_config` turns the table into a nats-server ``accounts`` block:
with passwords given (``make run`` with ``BYOK_NATS_AUTH=1``) they are written
in, without them each password is an environment reference
(``$BYOK_NATS_PASSWORD_RESOLVER``), which is how ``deploy/nats/auth.conf`` for
``compose.yaml`` is produced: ``python -m byok_shared.natsauth compose``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from byok_contracts import subjects

from .jetstream import (
    BUCKET_ACCOUNTS,
    BUCKET_CREDITS,
    BUCKET_KEYS,
    BUCKET_RESOLVERS,
    BUCKET_SCOPES,
    BUCKET_SEALING,
    BUCKETS,
    STREAM_EVENTS,
    STREAM_LEDGER,
    STREAM_USAGE,
    stream_configs,
)

__all__ = [
    "ACCOUNT",
    "CLIENT_ROLES",
    "RESOLVER_REPLICA_RESOLVE",
    "ROLES",
    "SERVICE_BUCKETS",
    "Role",
    "allows_publish",
    "allows_subscribe",
    "bcrypt_hash",
    "generate_env",
    "inbox_prefix",
    "load_passwords",
    "password_env",
    "password_hash_env",
    "render_config",
    "service_env",
    "subject_matches",
    "write_server_config",
]

ACCOUNT: Final = "BYOK"
CLIENT_ROLES: Final = ("runtime", "backend", "operator")
JS_API: Final = "$JS.API"

# Buckets a service creates for itself (``Service(extra_buckets=...)``): name them here
# (tests/test_nats_auth.py checks this against each service's EXTRA_BUCKETS).
SERVICE_BUCKETS: Final[Mapping[str, tuple[str, ...]]] = {
    "key-vault": ("byok-key-index",),
    "validator": ("byok-validator-sweeps",),
}

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

    @property
    def inbox_prefix(self) -> str:
        return inbox_prefix(self.name)

    @property
    def password_env(self) -> str:
        return password_env(self.name)


# --- JetStream grants ---------------------------------------------------------


def _kv_stream(bucket: str) -> str:
    return f"KV_{bucket}"


def _bootstrap(extra_buckets: Iterable[str]) -> list[str]:
    """What ``ensure_jetstream`` needs: any service may be the first to start."""
    streams = [c.name for c in stream_configs() if c.name is not None]
    streams += [_kv_stream(b.name) for b in BUCKETS] + [_kv_stream(b) for b in extra_buckets]
    grants = [f"{JS_API}.INFO"]
    for stream in streams:
        grants += [f"{JS_API}.STREAM.{op}.{stream}" for op in ("INFO", "CREATE", "UPDATE")]
    return grants


def _read_stream(stream: str) -> list[str]:
    """Get messages by sequence or subject (``get_msg``/``get_last_msg``, direct or not)."""
    return [
        f"{JS_API}.STREAM.MSG.GET.{stream}",
        f"{JS_API}.DIRECT.GET.{stream}",
        f"{JS_API}.DIRECT.GET.{stream}.>",
    ]


def _consume(stream: str) -> list[str]:
    """Create, inspect and pull from consumers on ``stream``, and ack or flow-control them."""
    return [
        *_read_stream(stream),
        f"{JS_API}.CONSUMER.CREATE.{stream}",
        f"{JS_API}.CONSUMER.CREATE.{stream}.>",
        f"{JS_API}.CONSUMER.DURABLE.CREATE.{stream}.>",
        f"{JS_API}.CONSUMER.INFO.{stream}.>",
        f"{JS_API}.CONSUMER.DELETE.{stream}.>",
        f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.>",
        f"{JS_API}.CONSUMER.NAMES.{stream}",
        f"{JS_API}.CONSUMER.LIST.{stream}",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def _kv_read(bucket: str) -> list[str]:
    """get, keys, history and watch (ordered consumers) on one bucket."""
    return _consume(_kv_stream(bucket))


def _kv_write(bucket: str) -> list[str]:
    """Everything of :func:`_kv_read`, plus put, create, update, delete and purge of keys."""
    return [*_kv_read(bucket), f"$KV.{bucket}.>"]


def _own_buckets(service: str) -> list[str]:
    return [grant for bucket in SERVICE_BUCKETS.get(service, ()) for grant in _kv_write(bucket)]


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
) -> Role:
    """A service user: it serves ``serves`` (replying through ``allow_responses``)."""
    return Role(
        name=name,
        publish=tuple(
            dict.fromkeys(
                [
                    subjects.health(name),  # the container healthcheck runs as the service
                    *publishes,
                    *_bootstrap(SERVICE_BUCKETS.get(name, ())),
                    *jetstream,
                ]
            )
        ),
        subscribe=tuple(
            dict.fromkeys([subjects.health(name), *serves, *listens, f"{inbox_prefix(name)}.>"])
        ),
        allow_responses=True,
    )


def _client(name: str, *, requests: Sequence[str], listens: Sequence[str] = ()) -> Role:
    return Role(
        name=name,
        publish=tuple(dict.fromkeys([*requests, subjects.health("*")])),
        subscribe=tuple(dict.fromkeys([*listens, f"{inbox_prefix(name)}.>"])),
    )


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
            ),
            jetstream=(
                *_kv_write(BUCKET_KEYS),
                *_kv_write(BUCKET_SCOPES),
                *_kv_write(BUCKET_ACCOUNTS),
                *_kv_write(BUCKET_SEALING),
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
                *_consume(STREAM_EVENTS),
                *_own_buckets("validator"),
            ),
        ),
        _service(
            "resolver",
            serves=(subjects.RESOLVE, RESOLVER_REPLICA_RESOLVE),
            # Events arrive as core messages too (sooner than the KV watches).
            listens=(subjects.INTERNAL_RESOLVER_SYNC, f"{subjects.EVENTS_PREFIX}.>"),
            # RESOLVE: at start a replica asks until its queue subscription is served.
            publishes=(subjects.INTERNAL_KEYS_UNSEAL, subjects.RESOLVE),
            jetstream=(
                *_kv_read(BUCKET_KEYS),
                *_kv_read(BUCKET_SCOPES),
                *_kv_read(BUCKET_ACCOUNTS),
                *_kv_read(BUCKET_CREDITS),
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
            ),
        ),
        _service(
            "usage-tracker",
            serves=(subjects.USAGE_QUERY,),
            jetstream=(*_consume(STREAM_USAGE), *_own_buckets("usage-tracker")),
        ),
        _client(
            "runtime",
            requests=(subjects.RESOLVE, subjects.KEYS_REPORT, subjects.USAGE_RECORDED),
        ),
        _client(
            "backend",
            requests=(
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
            ),
            listens=(subjects.EVENTS_KEYS_CONFIGURED, subjects.EVENTS_KEYS_REJECTED),
        ),
        # The operator's tools (not a product): cipher rotation and ledger audits.
        _client(
            "operator",
            requests=(
                subjects.INTERNAL_KEYS_ROTATE,
                subjects.LEDGER_VERIFY,
                RESOLVER_REPLICA_RESOLVE,
            ),
        ),
    ]
    return {role.name: role for role in roles}


ROLES: Final[Mapping[str, Role]] = _table()
"""Every NATS user byok knows: the five services, then the client roles."""


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
    return any(subject_matches(pattern, subject) for pattern in role.publish)


def allows_subscribe(role: Role, subject: str) -> bool:
    return any(subject_matches(pattern, subject) for pattern in role.subscribe)


# --- rendering ----------------------------------------------------------------


def _quote(text: str) -> str:
    return json.dumps(text)


def _list(items: Sequence[str], indent: str) -> str:
    inner = "".join(f"{indent}  {_quote(item)}\n" for item in items)
    return f"[\n{inner}{indent}]"


def password_hash_env(role: str) -> str:
    """The variable holding the bcrypt hash of ``role``'s password (compose's NATS nodes)."""
    return "BYOK_NATS_PASSWORD_HASH_" + role.upper().replace("-", "_")


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash nats-server accepts in place of a password."""
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=11)).decode()


def render_config(
    passwords: Mapping[str, str] | None = None, *, bcrypt_hashes: bool = False
) -> str:
    """The nats-server ``accounts`` block for every role.

    With ``passwords`` (role -> password) they are written in; without, each
    user's password is the environment reference ``$BYOK_NATS_PASSWORD_<ROLE>``,
    which nats-server resolves at start (and refuses to start when unset).
    ``bcrypt_hashes`` writes bcrypt hashes of the given passwords instead, or
    references ``$BYOK_NATS_PASSWORD_HASH_<ROLE>``: the server then holds no
    password a client could log in with.
    """
    lines = [
        "# Generated by `python -m byok_shared.natsauth` from byok_shared/natsauth.py.",
        "# Do not edit: change the table there and regenerate.",
        "accounts {",
        f"  {ACCOUNT} {{",
        "    jetstream: enabled",
        "    users: [",
    ]
    for role in ROLES.values():
        if passwords is None:
            env = password_hash_env(role.name) if bcrypt_hashes else role.password_env
            password = f"${env}"
        elif bcrypt_hashes:
            password = _quote(bcrypt_hash(passwords[role.name]))
        else:
            password = _quote(passwords[role.name])
        lines += [
            "      {",
            f"        user: {_quote(role.name)}",
            f"        password: {password}",
            "        permissions: {",
            f"          publish: {{ allow: {_list(role.publish, ' ' * 10)} }}",
            f"          subscribe: {{ allow: {_list(role.subscribe, ' ' * 10)} }}",
        ]
        if role.allow_responses:
            lines.append("          allow_responses: true")
        lines += ["        }", "      }"]
    lines += ["    ]", "  }", "}", ""]
    return "\n".join(lines)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def load_passwords(data_dir: Path) -> dict[str, str]:
    """Each role's password: ``$BYOK_NATS_PASSWORD_<ROLE>`` if set, else kept in the data dir.

    Generated passwords are stored in ``<data_dir>/nats-auth/passwords.json``
    (mode 0600) so that a restart of ``make run`` keeps them.
    """
    store = data_dir / "nats-auth" / "passwords.json"
    stored: dict[str, str] = json.loads(store.read_text()) if store.exists() else {}
    passwords = {
        name: os.environ.get(password_env(name)) or stored.get(name) or secrets.token_urlsafe(24)
        for name in ROLES
    }
    if passwords != stored:
        _write_private(store, json.dumps(passwords, indent=2) + "\n")
    return passwords


def write_server_config(data_dir: Path) -> tuple[Path, dict[str, str]]:
    """Write ``<data_dir>/nats-auth/auth.conf`` (0600) for the embedded server."""
    passwords = load_passwords(data_dir)
    path = data_dir / "nats-auth" / "auth.conf"
    _write_private(path, render_config(passwords))
    return path, passwords


def service_env(role: str, passwords: Mapping[str, str]) -> dict[str, str]:
    """The environment that makes a process connect as ``role``."""
    return {
        "BYOK_NATS_USER": role,
        "BYOK_NATS_PASSWORD": passwords[role],
        "BYOK_NATS_INBOX_PREFIX": inbox_prefix(role),
    }


def generate_env() -> str:
    """A ``.env`` for ``compose.yaml``: one fresh random password per role, and its bcrypt
    hash (single-quoted: compose leaves ``$`` alone there) for the NATS nodes."""
    lines = []
    for name in ROLES:
        password = secrets.token_urlsafe(24)
        lines.append(f"{password_env(name)}={password}\n")
        lines.append(f"{password_hash_env(name)}='{bcrypt_hash(password)}'\n")
    return "".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m byok_shared.natsauth",
        description="Render byok's NATS authorization from its one table.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    compose = sub.add_parser("compose", help="the accounts block with $BYOK_NATS_PASSWORD_* refs")
    compose.add_argument(
        "--bcrypt", action="store_true", help="reference $BYOK_NATS_PASSWORD_HASH_* (bcrypt)"
    )
    sub.add_parser("env", help="a .env with fresh random passwords for compose.yaml")
    sub.add_parser("roles", help="the table, as JSON")
    args = parser.parse_args(argv)
    if args.command == "compose":
        sys.stdout.write(render_config(bcrypt_hashes=args.bcrypt))
    elif args.command == "env":
        sys.stdout.write(generate_env())
    else:
        table = {
            name: {
                "publish": list(role.publish),
                "subscribe": list(role.subscribe),
                "allow_responses": role.allow_responses,
                "inbox_prefix": role.inbox_prefix,
            }
            for name, role in ROLES.items()
        }
        sys.stdout.write(json.dumps(table, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
