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

from byok_contracts.v1 import KeyRecord, KeyState, Scope, key_slot, utcnow

from .adapters.jetstream import KvKeyStore
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

    def key_id(scope: Scope) -> str:
        return f"bulk-{scope.type.value}-{scope.id}-{provider}"

    def secret(scope: Scope) -> bytes:
        return f"sk-ant-api03-bulk-{scope.id}".encode()

    if isinstance(store, KvKeyStore):  # pipelined: what a million keys need

        async def records() -> list[tuple[str, KeyRecord]]:
            return [
                (
                    key_slot(scope, provider),
                    await record_for(
                        cipher, scope, provider, secret(scope), key_id(scope), account
                    ),
                )
                for scope in batch
            ]

        written = 0
        batch: list[Scope] = []
        for scope in scopes:
            batch.append(scope)
            if len(batch) >= 4 * window:
                written += await store.create_many(await records(), window)
                batch.clear()
        return written + await store.create_many(await records(), window)

    async def one(scope: Scope) -> None:
        record = await record_for(cipher, scope, provider, secret(scope), key_id(scope), account)
        slot = key_slot(scope, provider)
        await store.create(slot, record)
        await store.index(record.key_id, slot)

    count = 0
    chunk: list[Scope] = []
    for scope in scopes:
        chunk.append(scope)
        if len(chunk) >= window:
            await asyncio.gather(*(one(s) for s in chunk))
            count += len(chunk)
            chunk.clear()
    await asyncio.gather(*(one(s) for s in chunk))
    return count + len(chunk)
