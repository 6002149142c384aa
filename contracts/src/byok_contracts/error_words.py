"""The registry of error words: every ``error`` a reply can carry, and per subject which.

Clients may branch on ``error`` (DESIGN.md section 3), so the words are public
API like the subjects: each is registered here once with its ``code`` and what
it means for the caller. ``contracts/tests/test_contracts_error_words.py``
scans the source of every package and fails on a word used but not registered
here, and on a word registered with another code than the error class that
carries it. ``contracts/REFERENCE.md`` lists them, generated from this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


_W = ErrorWord

_ALL: tuple[ErrorWord, ...] = (
    # 400 malformed request
    _W(
        "malformed_request",
        400,
        "The body is not JSON, breaks the subject's schema (unknown field, wrong type, bad id) "
        "or is larger than the service's MAX_BODY.",
        "Fix the request; retrying the same body fails the same way.",
    ),
    _W("bad_window", 400, "`since` is after `until`.", "Swap or fix the window."),
    _W(
        "sealed_key_unreadable",
        400,
        "`sealed_key` does not open with the key-vault keypair named by `kid` and this "
        "subject's `info` (wrong recipient, wrong `info`, truncated or tampered blob).",
        "Seal again to the current public key with the right `info`.",
    ),
    _W(
        "account_required",
        400,
        "A write names a non-platform scope but no `account`.",
        "Send the account the scope belongs to.",
    ),
    _W(
        "seal_mismatch",
        400,
        "The sealed configure envelope names another `account`, `scope` or `request_id` "
        "than the request it arrived in (a replayed or moved seal).",
        "Seal the key for exactly this request.",
    ),
    _W(
        "seal_expired",
        400,
        "The envelope's `iat` is more than 300 s old or more than 60 s in the future.",
        "Seal again just before sending; check the clock.",
    ),
    _W(
        "malformed_seal",
        400,
        "The sealed configure plaintext is not a v1 envelope (not JSON, missing or extra "
        "fields, wrong types).",
        "Seal the envelope described under Sealing, not the raw key.",
    ),
    # 401 key rejected by the provider
    _W(
        "invalid_key",
        401,
        "The provider rejected the key (`Invalid <provider> key: <provider's reason>`), or an "
        "explicit `provider` does not match the key's prefix. Nothing was stored.",
        "Ask the user for another key.",
    ),
    _W("key_rejected", 401, "Generic 401 (no more specific word applies).", "As `invalid_key`."),
    # 402
    _W(
        "credits_exhausted",
        402,
        "Only platform credits could serve the request and the account's balance is <= 0: "
        "`source: credits`, a `metered` route or a plan without BYOK; or `auto` with no "
        "usable BYOK key, `platform_fallback` on and a platform key for the provider. "
        "Rule: 402 when credits would fix it, 404 (`no_key`) when a key would.",
        "Grant credits, or configure a key.",
    ),
    # 403
    _W("forbidden", 403, "Generic 403 (no more specific word applies).", ""),
    _W(
        "read_only_scope",
        403,
        "The scope is read-only (`scopes.configure` with `read_only: true`): its keys cannot "
        "be configured, removed, disabled or enabled.",
        "Clear `read_only` first, as the owner.",
    ),
    _W(
        "byok_not_allowed",
        403,
        "The account's plan has `byok_allowed: false` and the request asked for `source: byok`.",
        "Use `auto`/`credits`, or change the plan.",
    ),
    _W(
        "route_metered",
        403,
        "A scope in the chain is routed `metered` and the request asked for `source: byok`.",
        "",
    ),
    _W(
        "wrong_account",
        403,
        "The scope belongs to another account (fixed by the first write that named it), the "
        "resolve chain holds such a scope, or the account in `resolve.<account>` differs "
        "from the body's.",
        "Never retry: it is a tenancy violation.",
    ),
    _W(
        "unregistered_recipient",
        403,
        "Internal: `internal.keys.unseal` for a recipient key no resolver or validator replica "
        "registered; key-vault seals stored keys to nobody else.",
        "Never retry: only registered replicas get stored keys.",
    ),
    # 404
    _W("not_found", 404, "Generic 404 (no more specific word applies).", ""),
    _W(
        "key_not_found",
        404,
        "No key of that provider at that scope (or no key with that `key_id`). A second "
        "`keys.remove` of the same key answers this: remove is not idempotent on the wire.",
        "Treat as already removed when removing.",
    ),
    _W(
        "no_key",
        404,
        "No usable BYOK key in the chain (`No API key configured for this <first scope "
        "type>`) and the platform cannot serve: `source: byok`, or `auto` when platform "
        "fallback is off or no platform key exists for the provider (with a platform key and "
        "a spent balance `auto` answers 402 `credits_exhausted` instead).",
        "Ask the user to add a key.",
    ),
    _W(
        "no_platform_key",
        404,
        "Only the platform could serve (`source: credits`, a `metered` route or a plan "
        "without BYOK), the balance is above zero, and the operator configured no platform "
        "key for the provider.",
        "The operator configures a key at `platform:default`.",
    ),
    # 409
    _W("conflict", 409, "Generic 409 (no more specific word applies).", ""),
    _W(
        "stale_kid",
        409,
        "`kid` names a sealing keypair key-vault does not hold (rotated, or never fetched).",
        "Fetch `keys.public-key` again, seal again, resend once.",
    ),
    _W(
        "concurrent_change",
        409,
        "The record kept changing under concurrent writers; nothing was applied.",
        "Retry.",
    ),
    _W(
        "key_revoked",
        409,
        "`keys.set-enabled` with `enabled: true` on a key the provider revoked, or an "
        "internal unseal of a revoked key.",
        "Configure a new key.",
    ),
    _W(
        "key_disabled",
        409,
        "Internal: `internal.keys.unseal` of a disabled key by a resolver (only the validator "
        "may re-validate a disabled key).",
        "Resolve again: the key is no longer a candidate.",
    ),
    _W(
        "idempotency_conflict",
        409,
        "`ledger.grant` reused an `idempotency_key` with another amount.",
        "Use a new idempotency key for a new grant.",
    ),
    # 422
    _W("unprocessable", 422, "Generic 422 (no more specific word applies).", ""),
    _W(
        "unrecognised_key_format",
        422,
        "The key has no known provider prefix, is empty, too long, or not plain text.",
        "Ask for the provider's API key, or name `provider`.",
    ),
    _W(
        "model_not_allowed",
        422,
        "The model is not in the curated catalog for the provider and the account does not "
        "allow custom models (or the id is not a valid model id).",
        "Pick a catalog model.",
    ),
    # 500
    _W(
        "internal",
        500,
        "An unexpected failure; the request was not applied (the service logs it).",
        "Retry later; report if it persists.",
    ),
    # 503 dependency unavailable: all retryable
    _W("unavailable", 503, "The message bus or a dependency failed under the handler.", "Retry."),
    _W("starting", 503, "The service is still loading its state.", "Retry shortly."),
    _W(
        "provider_unavailable",
        503,
        "The provider could not be reached to validate the key (429, 5xx, timeouts outlasted "
        "the retries). Nothing was decided or stored.",
        "Retry later.",
    ),
    _W("validator_unavailable", 503, "No validator replica could check the key.", "Retry."),
    _W("cipher_unavailable", 503, "Vault/OpenBao (or the local keyring) is unreachable.", "Retry."),
    _W("journal_unavailable", 503, "The credit journal could not be read or written.", "Retry."),
    _W(
        "not_in_sync",
        503,
        "This resolver replica cannot prove its caches are current.",
        "Retry (another replica answers).",
    ),
    _W("key_source_unavailable", 503, "key-vault did not hand over the key material.", "Retry."),
    _W(
        "key_vault_unavailable",
        503,
        "The validator could not reach key-vault to re-validate a reported key.",
        "Retry.",
    ),
    # raised by the client libraries, never sent on the wire
    _W(
        "no_responders",
        503,
        "Client side: no service subscribes to the subject (not started yet).",
        "Retry with backoff; check the deployment.",
    ),
    _W("timeout", 503, "Client side: no reply within the client's timeout.", "Retry."),
    _W(
        "usage_stream_full",
        503,
        "Client side: the BYOK_USAGE stream is at its byte limit and refuses new events (it "
        "never drops stored ones); the event was not stored.",
        "Keep the event and retry later with the same request_id; the operator raises "
        "`BYOK_USAGE_MAX_BYTES` and re-provisions.",
    ),
    _W(
        "usage_not_recorded",
        503,
        "Client side: JetStream did not store a usage.recorded (no stream answered: not "
        "provisioned yet, or another JetStream refusal).",
        "Keep the event; retry with the same request_id.",
    ),
    # the HTTP gateway (issue 15): the same error body, HTTP status = code
    _W(
        "missing_token",
        401,
        "HTTP: no `Authorization: Bearer <token>` header.",
        "Send a token.",
    ),
    _W("invalid_token", 401, "HTTP: the token is unknown or revoked.", "Get a new token."),
    _W("token_expired", 401, "HTTP: the token has expired.", "Mint or request a new token."),
    _W(
        "token_role",
        403,
        "HTTP: the token's role may not do this (e.g. an end-user token granting credits, or "
        "an all-accounts token minting end-user tokens).",
        "Use a token of the right role.",
    ),
    _W("read_only_token", 403, "HTTP: the token is read-only and this is a write.", ""),
    _W(
        "scope_not_allowed",
        403,
        "HTTP: the token does not cover that scope (or is limited to scopes and the request "
        "is account-wide).",
        "",
    ),
    _W("platform_scope", 403, "HTTP: only operator tokens reach the platform scope.", ""),
    _W(
        "scope_required",
        400,
        "HTTP (Waypath routes): no `?scope=type:id` and no end-user token to take it from.",
        "Name the scope.",
    ),
    _W(
        "rate_limited",
        429,
        "HTTP: too many requests for this token (`Retry-After` says when to retry).",
        "Wait `Retry-After` seconds.",
    ),
    _W(
        "payload_too_large",
        400,
        "Client side: the body is larger than the server's `max_payload`; it was not sent.",
        "Send a smaller body.",
    ),
)

ERROR_WORDS: Final[Mapping[str, ErrorWord]] = {w.word: w for w in _ALL}
"""Every registered word."""

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

_CONFIGURE_SEAL = ("sealed_key_unreadable", "stale_kid", "seal_mismatch", "seal_expired")
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
