"""Growth with stored keys: resolver start-up and memory, and enumerations past 100,000.

Each size runs on its own nats-server. Key records are written through
key-vault's own store and cipher (:mod:`byok_key_vault.bulk`: real local-cipher
ciphertexts, the ``byok-keys`` slot layout, the key-id index), not through the
contract path, which costs milliseconds per key. Then, as separate processes,
key-vault (it answers the resolver's unseal hop) and a resolver replica start.

- ``ready_s``: from spawning the resolver until its first answer that serves a
  stored key (the last one written), on its own replica subject (interpreter
  start and imports included); ``ready_cpu_s``: the CPU time it spent until then,
  which a busy machine does not inflate;
- ``rss_mb``: the resolver's resident memory right after that;
- ``rss_after_hot_set_mb``: after it served ``HOT_SET`` distinct scopes.

:func:`listing_at` times the enumerations that used to stop at 100,000 keys:
key rotation with rewrap (``internal.keys.rotate``'s use case) and the
validator's re-validation sweep, and checks that they reached every key.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NatsClient

from byok_contracts import Catalog, Keypair
from byok_contracts.v1 import RotateKeys, Scope
from byok_key_vault import handlers as vault_handlers
from byok_key_vault.adapters.jetstream import (
    EXTRA_BUCKETS,
    KvKeyStore,
    KvOwnerStore,
    KvSealingStore,
    KvSettingsStore,
)
from byok_key_vault.adapters.local_cipher import LocalCipher
from byok_key_vault.adapters.memory import (
    MemoryAudit,
    MemoryBarrier,
    MemoryEvents,
    MemoryRecipients,
    MemorySealLog,
    MemoryValidator,
)
from byok_key_vault.bulk import write_records
from byok_key_vault.keyring import SealingKeys
from byok_resolver.app import replica_subject
from byok_validator import handlers as validator_handlers
from byok_validator.adapters.jetstream import KvStoredKeys
from byok_validator.adapters.memory import MemoryClaims, MemoryKeyVault, MemoryProviders

from ._support import Proc, one_server, resolver_process

__all__ = ["listing_at", "resolver_at"]

ACCOUNT = "growth"
HOT_SET = 1000
REPLICA = "growth-r0"


def _scope(n: int) -> Scope:
    return Scope.parse(f"session:g{n:07d}")


async def _fill(nc: NatsClient, work: Path, n: int) -> tuple[KvKeyStore, LocalCipher, float]:
    js = nc.jetstream()
    cipher = LocalCipher.in_data_dir(work / "data")
    store = KvKeyStore(js)
    started = time.perf_counter()
    scopes = (_scope(i) for i in range(n))
    await write_records(store, cipher, scopes, account=ACCOUNT, window=256)
    return store, cipher, time.perf_counter() - started


def _body(runtime: Keypair, n: int) -> bytes:
    scope = _scope(n)
    chain = [{"type": scope.type.value, "id": scope.id}]
    body = {"account": ACCOUNT, "chain": chain, "recipient_key": runtime.public_b64}
    return json.dumps(body).encode()


async def _resolved(nc: NatsClient, subject: str, body: bytes) -> bool:
    try:
        msg = await nc.request(subject, body, timeout=2)
    except Exception:
        return False
    return bool(json.loads(msg.data).get("status") == "resolved")


async def resolver_at(n: int) -> dict[str, Any]:
    """Fill ``n`` keys, start key-vault then a resolver; time and measure the resolver."""
    async with one_server("byok-growth-keys-", extra_buckets=EXTRA_BUCKETS) as (
        server,
        nc,
        _,
        work,
        procs,
    ):
        _, _, fill_s = await _fill(nc, work, n)
        procs.append(Proc("byok_key_vault", server.url, work / "data", log=work / "key-vault.log"))
        runtime = Keypair.generate()
        probe = _body(runtime, n - 1)
        await _until(nc, "byok.v1.keys.public-key", b"{}")  # key-vault serves
        resolver = resolver_process(server.url, work, REPLICA)
        procs.append(resolver)
        subject = replica_subject(REPLICA)
        while not await _resolved(nc, subject, probe):
            if not resolver.alive:
                raise RuntimeError(f"resolver exited; see {resolver.log}")
            await asyncio.sleep(0.01)
        ready_s = time.perf_counter() - resolver.started
        ready_cpu_s = resolver.cpu_s()
        rss = resolver.rss_mb()
        hot = [_body(runtime, (i * 7919) % n) for i in range(min(HOT_SET, n))]
        for chunk in range(0, len(hot), 64):
            await asyncio.gather(*(_resolved(nc, subject, b) for b in hot[chunk : chunk + 64]))
        measured = {
            "stored_keys": n,
            "fill_s": round(fill_s, 1),
            "ready_s": round(ready_s, 3),
            "ready_cpu_s": ready_cpu_s,
            "rss_mb": rss,
            "rss_after_hot_set_mb": resolver.rss_mb(),
            "hot_set": len(hot),
        }
        print(f"resolver with {n:,} stored keys: {measured}", flush=True)
        return measured


async def _until(nc: NatsClient, subject: str, body: bytes, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            await nc.request(subject, body, timeout=1)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def listing_at(n: int) -> dict[str, Any]:
    """Rotation with rewrap and the re-validation sweep over ``n`` stored keys."""
    async with one_server("byok-growth-list-", extra_buckets=EXTRA_BUCKETS) as (
        _,
        nc,
        _,
        work,
        _,
    ):
        js = nc.jetstream()
        store, cipher, _ = await _fill(nc, work, n)
        sealing = SealingKeys(KvSealingStore(js), cipher)
        await sealing.load()
        deps = vault_handlers.Deps(
            keys=store,
            settings=KvSettingsStore(js),
            sealing=sealing,
            cipher=cipher,
            validator=MemoryValidator(),
            events=MemoryEvents(),
            barrier=MemoryBarrier(),
            catalog=Catalog.load(),
            owners=KvOwnerStore(js),
            recipients=MemoryRecipients(),
            audit=MemoryAudit(),
            seals=MemorySealLog(),
        )
        started = time.perf_counter()
        rotated = await vault_handlers.rotate(RotateKeys.model_validate({}), deps)
        rotate_s = time.perf_counter() - started

        # The sweep: every key was validated just now except the last one written.
        last = _scope(n - 1)
        stale = await store.get(f"{last.key}.anthropic")
        assert stale is not None
        old = datetime.now(UTC) - timedelta(days=30)
        await store.update(
            f"{last.key}.anthropic",
            stale.value.model_copy(update={"validated_at": old}),
            stale.revision,
        )
        vault = MemoryKeyVault()
        vault.add(stale.value.key_id, "anthropic", "sk-ant-api03-stale")
        sweep_deps = validator_handlers.Deps(
            providers=MemoryProviders(),
            key_vault=vault,
            stored=KvStoredKeys(js),
            claims=MemoryClaims(),
            keypair=Keypair.generate(),
            replica="growth",
        )
        started = time.perf_counter()
        counts = await validator_handlers.sweep(sweep_deps, interval=3600, rate=0)
        sweep_s = time.perf_counter() - started
        measured = {
            "stored_keys": n,
            "rotate_s": round(rotate_s, 2),
            "rewrapped": rotated.rewrapped,
            "rotate_reached_every_key": rotated.rewrapped >= n,
            "sweep_s": round(sweep_s, 2),
            "sweep_found_the_last_key": sum(counts.values()) == 1,
        }
        print(f"listing over {n:,} stored keys: {measured}", flush=True)
        return measured
