"""What every key-vault use case gets: the dependencies and a few shared steps."""

from __future__ import annotations

from dataclasses import dataclass

from byok_contracts import Catalog, NotFound
from byok_contracts.v1 import AccountChanged, KeyChanged, KeyRecord, KeyState, ScopeChanged

from .keyring import SealingKeys
from .ports import (
    AuditLog,
    Cipher,
    EventBus,
    KeyStore,
    OwnerStore,
    RecipientRegistry,
    ReplicaBarrier,
    SealLog,
    SettingsStore,
    Validator,
    Versioned,
)

__all__ = ["Deps", "get_by_id", "key_event", "publish_confirmed"]


@dataclass(frozen=True, slots=True)
class Deps:
    """Everything the use cases touch, built once in ``app.create_app``."""

    keys: KeyStore
    settings: SettingsStore
    sealing: SealingKeys
    cipher: Cipher
    validator: Validator
    events: EventBus
    barrier: ReplicaBarrier
    catalog: Catalog
    owners: OwnerStore
    recipients: RecipientRegistry
    audit: AuditLog
    seals: SealLog


async def get_by_id(key_id: str, deps: Deps) -> tuple[str, Versioned[KeyRecord]]:
    slot = await deps.keys.slot_of(key_id)
    entry = await deps.keys.get(slot) if slot is not None else None
    if slot is None or entry is None or entry.value.key_id != key_id:
        raise NotFound("No stored key has this key_id", error="key_not_found")
    return slot, entry


def key_event(
    name: str,
    record: KeyRecord,
    state: KeyState | None,
    revision: int,
    actor: str,
    request_id: str | None = None,
) -> KeyChanged:
    return KeyChanged.model_validate(
        {
            "event": name,
            "key_id": record.key_id,
            "scope": record.scope,
            "provider": record.provider,
            "state": state,
            "hint": record.hint,
            "model": record.model,
            "actor": actor,
            "revision": revision,
            "account": record.account,
            "request_id": request_id,
        }
    )


async def publish_confirmed(
    subject: str, event: KeyChanged | ScopeChanged | AccountChanged, deps: Deps
) -> None:
    """Publish durably, then wait until every resolver replica applied it (freshness)."""
    await deps.events.publish(subject, event, msg_id=None)
    await deps.barrier.confirm(subject, event)
