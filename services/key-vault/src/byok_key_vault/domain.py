"""Pure rules of key-vault: what a key, a record and a settings change may be.

Nothing here knows NATS, Vault or HTTP; the handlers feed it plain values.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime

from byok_contracts import Catalog, Unprocessable
from byok_contracts.v1 import (
    AccountPolicy,
    ConfigureAccount,
    ConfigureScope,
    KeyInfo,
    KeyRecord,
    KeyState,
    Scope,
    ScopeSettings,
)

from .errors import KeyRevokedError

__all__ = [
    "MAX_KEY_LENGTH",
    "account_of",
    "choose_model",
    "clean_key",
    "fingerprint",
    "key_id_for",
    "key_info",
    "make_hint",
    "merge_account",
    "merge_scope",
    "state_for",
]

MAX_KEY_LENGTH = 512
_KEY_IDS = uuid.UUID("5b1f2c0e-7d55-4a39-9d4e-6b8f0c2a1e77")


def clean_key(raw: bytes) -> str:
    """The pasted key as text: surrounding whitespace dropped, printable ASCII only."""
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise Unprocessable("The key is not text", error="unrecognised_key_format") from None
    if not text:
        raise Unprocessable("The key is empty", error="unrecognised_key_format")
    if len(text) > MAX_KEY_LENGTH:
        raise Unprocessable(
            f"The key is longer than {MAX_KEY_LENGTH} characters", error="unrecognised_key_format"
        )
    if any(not (0x21 <= ord(ch) <= 0x7E) for ch in text):
        raise Unprocessable(
            "The key contains spaces or characters no provider key has",
            error="unrecognised_key_format",
        )
    return text


def make_hint(key: str) -> str:
    """A few first and last characters (never more than a quarter of the key each) around an
    ASCII "...", so the hint is plain ASCII in every client, log and terminal."""
    head = min(6, len(key) // 4)
    tail = min(4, len(key) // 4)
    return f"{key[:head]}...{key[-tail:] if tail else ''}"


def fingerprint(secret: bytes, key: str) -> str:
    """HMAC-SHA256 under key-vault's secret: recognises a key without revealing it."""
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


def key_id_for(slot: str, fp: str) -> str:
    """Deterministic id: the same key at the same place always gets the same id."""
    return "key_" + uuid.uuid5(_KEY_IDS, f"{slot}/{fp}").hex


def account_of(scope: Scope, account: str | None) -> str | None:
    """The account whose policy applies to a key: explicit, or the scope itself."""
    if account is not None:
        return account
    return scope.id if scope.type.value == "account" else None


def choose_model(catalog: Catalog, provider: str, model: str | None, *, allow_custom: bool) -> str:
    """The override if allowed (422 otherwise), else the provider's catalog default."""
    if model is None:
        return catalog.default_model(provider)
    return catalog.check_model(provider, model, allow_custom=allow_custom)


def state_for(record: KeyRecord, enabled: bool) -> KeyState:
    """The state ``set-enabled`` moves a key to; a revoked key can only be replaced."""
    if record.state is KeyState.REVOKED:
        if enabled:
            raise KeyRevokedError(
                f"The {record.provider} key of this scope was revoked by the provider; "
                "configure a new key",
            )
        return KeyState.REVOKED
    return KeyState.ACTIVE if enabled else KeyState.DISABLED


def key_info(record: KeyRecord) -> KeyInfo:
    """What ``keys.list`` shows of a record: never the ciphertext or the fingerprint."""
    return KeyInfo.model_validate(record, from_attributes=True)


def merge_scope(current: ScopeSettings | None, cmd: ConfigureScope) -> ScopeSettings:
    base = current or ScopeSettings(scope=cmd.scope)
    changes = {
        name: getattr(cmd, name)
        for name in ("byok_enabled", "active_provider", "read_only", "route")
        if getattr(cmd, name) is not None
    }
    return base.model_copy(update=changes)


def merge_account(current: AccountPolicy | None, cmd: ConfigureAccount) -> AccountPolicy:
    base = current or AccountPolicy(account=cmd.account)
    changes = {
        name: getattr(cmd, name)
        for name in ("plan", "byok_allowed", "mode", "platform_fallback", "allow_custom_models")
        if getattr(cmd, name) is not None
    }
    return base.model_copy(update=changes)


def new_record(
    *,
    key_id: str,
    scope: Scope,
    provider: str,
    key: str,
    fp: str,
    model: str,
    ciphertext: str,
    now: datetime,
    created_at: datetime | None,
    actor: str,
    account: str | None = None,
) -> KeyRecord:
    return KeyRecord.model_validate(
        {
            "key_id": key_id,
            "scope": scope,
            "provider": provider,
            "hint": make_hint(key),
            "fingerprint": fp,
            "model": model,
            "state": KeyState.ACTIVE,
            "ciphertext": ciphertext,
            "created_at": created_at or now,
            "updated_at": now,
            "validated_at": now,
            "actor": actor,
            "account": account,
        }
    )
