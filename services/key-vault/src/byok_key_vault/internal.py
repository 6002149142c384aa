"""Internal hops of key-vault: unseal (resolver, validator), revoke (validator),
rotate (operator). Not for product backends; NATS permissions keep them private."""

from __future__ import annotations

import logging

from byok_contracts import Conflict, Forbidden, seal, subjects
from byok_contracts.v1 import (
    KeyRecord,
    KeyRevoked,
    KeysRotated,
    KeyState,
    KeyUnsealed,
    RevokeKey,
    RotateKeys,
    UnsealKey,
    utcnow,
)

from .deps import Deps, get_by_id, key_event, publish_confirmed
from .errors import KeyRevokedError
from .ports import Versioned
from .rotation import rewrap_records
from .writes import compare_and_set

__all__ = ["revoke", "rotate", "unseal"]

log = logging.getLogger(__name__)


async def revoke(cmd: RevokeKey, deps: Deps) -> KeyRevoked:
    """The provider rejected a stored key: mark it revoked everywhere before replying."""

    async def read() -> tuple[str, Versioned[KeyRecord]]:
        return await get_by_id(cmd.key_id, deps)

    async def mark(found: tuple[str, Versioned[KeyRecord]]) -> tuple[KeyRecord, int, bool]:
        slot, existing = found
        if existing.value.state is KeyState.REVOKED:
            return existing.value, existing.revision, False
        record = existing.value.model_copy(
            update={"state": KeyState.REVOKED, "updated_at": utcnow(), "actor": cmd.actor}
        )
        return record, await deps.keys.update(slot, record, existing.revision), True

    record, revision, changed = await compare_and_set("key", read, mark)
    if changed:
        event = key_event("revoked", record, KeyState.REVOKED, revision, cmd.actor)
        await publish_confirmed(subjects.EVENTS_KEYS_REVOKED, event, deps)
        log.warning(
            "key revoked",
            extra={"key_id": cmd.key_id, "scope": str(record.scope), "reason": cmd.reason},
        )
    return KeyRevoked(
        key_id=cmd.key_id,
        provider=record.provider,
        revision=revision,
        scope=record.scope,
        account=record.account,
    )


async def unseal(cmd: UnsealKey, deps: Deps) -> KeyUnsealed:
    """Decrypt a stored key and seal it to the asking service's ``recipient_key``.

    Only to a key a resolver or validator replica registered, and only a key in
    use: revoked keys never, disabled keys only to the validator (re-validation).
    """
    role = await deps.recipients.role_of(cmd.recipient_key)
    if role is None:
        raise Forbidden(
            "recipient_key is not registered by a resolver or validator replica",
            error="unregistered_recipient",
        )
    _, entry = await get_by_id(cmd.key_id, deps)
    record = entry.value
    if record.state is KeyState.REVOKED:
        raise KeyRevokedError("The key was revoked by the provider")
    if record.state is KeyState.DISABLED and role != "validator":
        raise Conflict("The key is disabled", error="key_disabled")
    plaintext = await deps.cipher.decrypt(record.ciphertext, record.scope.key)
    return KeyUnsealed(
        key_id=record.key_id,
        provider=record.provider,
        sealed_key=seal(plaintext, cmd.recipient_key, subjects.INTERNAL_KEYS_UNSEAL),
        revision=entry.revision,
        state=record.state,
        scope=record.scope,
        account=record.account,
    )


async def rotate(cmd: RotateKeys, deps: Deps) -> KeysRotated:
    """Rotate the cipher key and rewrap every ciphertext in place, while serving
    (:mod:`byok_key_vault.rotation`: page by page, compare-and-set per record)."""
    rewrapped = unchanged = 0
    if cmd.cipher:
        await deps.cipher.rotate()
        counts = await rewrap_records(deps.keys, deps.cipher)
        rewrapped, unchanged = counts["rewrapped"], counts["unchanged"]
        rewrapped += await deps.sealing.rewrap()
    pair = await deps.sealing.rotate() if cmd.sealing else await deps.sealing.current()
    log.info(
        "keys rotated",
        extra={"rewrapped": rewrapped, "kid": pair.kid, "actor": cmd.actor or "operator"},
    )
    return KeysRotated(rewrapped=rewrapped, unchanged=unchanged, kid=pair.kid)
