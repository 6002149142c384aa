"""The registry of error words: every ``error`` a reply can carry, and per subject which.

Clients may branch on ``error`` (DESIGN.md section 3), so the words are public
API like the subjects. Each is registered once, with its ``code``, what it means
for the caller and what the caller does about it, in ``error_words.toml`` beside
this module; which subjects answer which words is below. ``tests/test_error_registry.py``
scans the source of every package and fails on a word used but not registered,
and on a word registered with another code than the error class that carries
it. ``contracts/REFERENCE.md`` and ``contracts/error-words.json`` are generated
from this module.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Final

from . import subjects as s

__all__ = [
    "CLIENT_SIDE",
    "COMMON",
    "ERROR_WORDS",
    "HTTP_ONLY",
    "SUBJECT_ERRORS",
    "ErrorWord",
    "words_for",
]


@dataclass(frozen=True, slots=True)
class ErrorWord:
    word: str
    code: int
    meaning: str
    action: str = ""  # what a client does about it


_DATA = "error_words.toml"


def _load() -> Mapping[str, ErrorWord]:
    data = tomllib.loads(resources.files(__package__).joinpath(_DATA).read_text("utf-8"))
    return {
        word: ErrorWord(word, int(row["code"]), str(row["meaning"]), str(row.get("action", "")))
        for word, row in data.items()
    }


ERROR_WORDS: Final[Mapping[str, ErrorWord]] = _load()
"""Every registered word, in the order of the data file."""

CLIENT_SIDE: Final = (
    "no_responders",
    "timeout",
    "payload_too_large",
    "usage_stream_full",
    "usage_not_recorded",
)
"""Words the client libraries raise themselves; no service sends them."""

HTTP_ONLY: Final = (
    "missing_token",
    "invalid_token",
    "token_expired",
    "token_role",
    "read_only_token",
    "scope_not_allowed",
    "platform_scope",
    "scope_required",
    "rate_limited",
)
"""Words only the HTTP gateway answers (on top of the words of the subject it calls)."""

COMMON: Final = ("malformed_request", "internal", "unavailable", "starting")
"""Words every request subject may answer."""

_CONFIGURE_SEAL = (
    "sealed_key_unreadable",
    "stale_kid",
    "seal_mismatch",
    "seal_expired",
    "seal_replayed",
)
_TENANT_WRITE = ("account_required", "wrong_account", "read_only_scope", "concurrent_change")
_RESOLVE = (
    "wrong_account",
    "no_key",
    "no_platform_key",
    "credits_exhausted",
    "byok_not_allowed",
    "route_metered",
    "model_not_allowed",
    "not_in_sync",
    "key_source_unavailable",
)

SUBJECT_ERRORS: Final[Mapping[str, tuple[str, ...]]] = {
    s.KEYS_PUBLIC_KEY: (),
    s.KEYS_CONFIGURE: (
        *_CONFIGURE_SEAL,
        "malformed_seal",
        *_TENANT_WRITE,
        "invalid_key",
        "unrecognised_key_format",
        "model_not_allowed",
        "provider_unavailable",
        "validator_unavailable",
        "cipher_unavailable",
    ),
    s.KEYS_REMOVE: (*_TENANT_WRITE, "key_not_found"),
    s.KEYS_LIST: ("wrong_account",),
    s.KEYS_SET_ENABLED: (*_TENANT_WRITE, "key_not_found", "key_revoked"),
    s.KEYS_REPORT: ("key_not_found", "key_vault_unavailable", "cipher_unavailable"),
    s.SCOPES_CONFIGURE: ("account_required", "wrong_account", "concurrent_change"),
    s.ACCOUNTS_CONFIGURE: ("concurrent_change",),
    s.RESOLVE: _RESOLVE,
    f"{s.RESOLVE}.{{account}}": _RESOLVE,
    s.resolve_replica("{replica}"): _RESOLVE,
    s.USAGE_QUERY: ("bad_window",),
    s.LEDGER_GRANT: ("idempotency_conflict", "journal_unavailable"),
    s.LEDGER_BALANCE: ("journal_unavailable",),
    s.LEDGER_VERIFY: ("journal_unavailable",),
    f"{s.PREFIX}.health.{{service}}": (),
    # internal hops
    s.INTERNAL_KEYS_UNSEAL: (
        "unregistered_recipient",
        "key_not_found",
        "key_revoked",
        "key_disabled",
        "cipher_unavailable",
    ),
    s.INTERNAL_KEYS_REVOKE: ("key_not_found", "concurrent_change"),
    s.INTERNAL_KEYS_ROTATE: ("cipher_unavailable",),
    s.INTERNAL_VALIDATOR_PUBLIC_KEY: (),
    f"{s.KEYS_VALIDATE}.{{replica}}": (
        "sealed_key_unreadable",
        "invalid_key",
        "provider_unavailable",
    ),
}
"""Per subject (as in the AsyncAPI address), the words beyond :data:`COMMON` it may answer."""


def words_for(subject: str) -> tuple[str, ...]:
    """Every word ``subject`` may answer, :data:`COMMON` first."""
    return (*COMMON, *SUBJECT_ERRORS[subject])
