"""Many key records at once, written through key-vault's own store and cipher.

For tests and the growth bench, which need 100,000s of stored keys: the
contract path (seal, validate live, barrier) costs milliseconds per key, this
costs one encryption and two pipelined KV writes per key (the record and its
key-id index entry). The records are what
``keys.configure`` stores: real ciphertexts, in the slot layout of ``byok-keys``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from byok_contracts.v1 import KeyRecord, KeyState, Scope, utcnow

from .ports import Cipher, KeyStore

__all__ = ["record_for", "write_records"]


async def record_for(
    cipher: Cipher,
    scope: Scope,
    provider: str,
    secret: bytes,
    key_id: str,
    account: str | None = None,
) -> KeyRecord:
    now = utcnow()
    return KeyRecord(
        key_id=key_id,
        scope=scope,
        provider=provider,  # type: ignore[arg-type]
        hint="sk-…bulk",
        fingerprint=key_id[-16:].rjust(16, "0"),
        model="",
        state=KeyState.ACTIVE,
        ciphertext=await cipher.encrypt(secret, scope.key),
        created_at=now,
        updated_at=now,
        validated_at=now,
        account=account,
    )


async def write_records(
    store: KeyStore,
    cipher: Cipher,
    scopes: Iterable[Scope],
    *,
    provider: str = "anthropic",
    account: str | None = None,
    window: int = 256,
) -> int:
    """One record per scope (``<scope>.<provider>``, owned by ``account``), ``window``
    writes in flight."""

    async def one(scope: Scope) -> None:
        key_id = f"bulk-{scope.type.value}-{scope.id}-{provider}"
        secret = f"sk-ant-api03-bulk-{scope.id}".encode()
        record = await record_for(cipher, scope, provider, secret, key_id, account)
        slot = f"{scope.key}.{provider}"
        await store.create(slot, record)
        await store.index(key_id, slot)

    written = 0
    batch: list[Scope] = []
    for scope in scopes:
        batch.append(scope)
        if len(batch) >= window:
            await asyncio.gather(*(one(s) for s in batch))
            written += len(batch)
            batch.clear()
    await asyncio.gather(*(one(s) for s in batch))
    return written + len(batch)
