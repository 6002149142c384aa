"""Request bodies with a provider key misplaced in every field (issue 10).

:func:`misplaced_bodies` takes a plausible body per request subject and yields,
for every string in it (nested ones too) a copy with that string replaced by the
key, plus a copy with the key as an unknown field name. Tests send them and check
that the key comes back in no reply, event, KV record, log line or file.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

from byok_contracts import Keypair, subjects

__all__ = ["TEMPLATES", "misplaced_bodies"]

_SCOPE = {"type": "workspace", "id": "hyg-misplaced"}
_RECIPIENT = Keypair.generate().public_b64
_SEALED = base64.b64encode(bytes(range(64))).decode()

TEMPLATES: dict[str, dict[str, Any]] = {
    subjects.KEYS_CONFIGURE: {
        "scope": _SCOPE,
        "sealed_key": _SEALED,
        "kid": "0123456789abcdef",
        "provider": "anthropic",
        "model": "claude-sonnet-4-6",
        "actor": "ops",
        "request_id": "req-misplaced",
        "account": "hyg",
    },
    subjects.KEYS_REMOVE: {
        "scope": _SCOPE,
        "provider": "anthropic",
        "actor": "ops",
        "account": "hyg",
    },
    subjects.KEYS_LIST: {"scope": _SCOPE, "account": "hyg"},
    subjects.KEYS_SET_ENABLED: {
        "scope": _SCOPE,
        "provider": "anthropic",
        "enabled": False,
        "actor": "ops",
        "account": "hyg",
    },
    subjects.KEYS_REPORT: {"key_id": "key_misplaced", "status_code": 401, "reason": "denied"},
    subjects.SCOPES_CONFIGURE: {
        "scope": _SCOPE,
        "active_provider": "anthropic",
        "route": "auto",
        "actor": "ops",
        "account": "hyg",
    },
    subjects.ACCOUNTS_CONFIGURE: {"account": "hyg", "plan": "team", "actor": "ops"},
    subjects.RESOLVE: {
        "account": "hyg",
        "chain": [_SCOPE],
        "provider": "anthropic",
        "model": "claude-sonnet-4-6",
        "source": "auto",
        "recipient_key": _RECIPIENT,
    },
    subjects.USAGE_QUERY: {"account": "hyg", "since": "2026-01-01T00:00:00Z"},
    subjects.LEDGER_GRANT: {
        "account": "hyg",
        "amount": 1,
        "reason": "monthly",
        "idempotency_key": "misplaced-1",
    },
    subjects.LEDGER_BALANCE: {"account": "hyg"},
    subjects.LEDGER_VERIFY: {"account": "hyg"},
}


def _variants(value: Any, key: str) -> Iterator[Any]:
    """Copies of ``value`` with one string (at any depth) replaced by ``key``."""
    if isinstance(value, str):
        yield key
    elif isinstance(value, dict):
        for name, inner in value.items():
            for changed in _variants(inner, key):
                yield {**value, name: changed}
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            for changed in _variants(inner, key):
                yield [*value[:i], changed, *value[i + 1 :]]


def misplaced_bodies(key: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(subject, body)`` with ``key`` in every string field, and as a field name."""
    for subject, template in TEMPLATES.items():
        for body in _variants(template, key):
            yield subject, body
        yield subject, {**template, key: "x"}
