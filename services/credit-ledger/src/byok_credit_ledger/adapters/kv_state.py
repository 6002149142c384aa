"""The ledger's own buckets: account snapshots and the request index.

- ``byok-ledger-snapshots``: ``<account>`` -> ``{balance, last_seq, entries}``.
- ``byok-ledger-requests``: ``<account>.d.<sha256(request_id)>`` -> the account's
  journal position when the request was claimed (a ``create``, before its debit is
  appended), and ``<account>.g.<sha256(idempotency_key)>`` -> granted amount. It
  grows on disk with the history, one small record per debit; memory holds none of
  it. The usage stream's ``Nats-Msg-Id`` window is the first line against
  duplicates, this index the one that holds for ever.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping, Sequence

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from byok_shared.jetstream import Bucket

from ..domain import Snapshot
from ..errors import JournalUnavailable
from .atomic_claims import AtomicClaims
from .batch_publish import BatchPublisher

WRONG_LAST_SEQUENCE = 10071  # JSStreamWrongLastSequenceErrF: the key exists
_CREATE = {"Nats-Expected-Last-Subject-Sequence": "0"}

__all__ = [
    "BUCKET_LEDGER_REQUESTS",
    "BUCKET_LEDGER_SNAPSHOTS",
    "LEDGER_BUCKETS",
    "KvRequestIndex",
    "KvSnapshots",
]

BUCKET_LEDGER_SNAPSHOTS = "byok-ledger-snapshots"
BUCKET_LEDGER_REQUESTS = "byok-ledger-requests"
LEDGER_BUCKETS = (Bucket(BUCKET_LEDGER_SNAPSHOTS), Bucket(BUCKET_LEDGER_REQUESTS, atomic=True))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


class KvSnapshots:
    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    @classmethod
    async def open(cls, js: JetStreamContext) -> KvSnapshots:
        return cls(await js.key_value(BUCKET_LEDGER_SNAPSHOTS))

    async def get(self, account: str) -> Snapshot | None:
        found = await self._versioned(account)
        return found[0] if found is not None else None

    async def put(self, snapshot: Snapshot) -> None:
        body = json.dumps(
            {
                "balance": snapshot.balance,
                "last_seq": snapshot.last_seq,
                "entries": snapshot.entries,
            }
        ).encode()
        for _ in range(10):
            found = await self._versioned(snapshot.account)
            try:
                if found is None:
                    await self._kv.create(snapshot.account, body)
                elif found[0].last_seq < snapshot.last_seq:
                    await self._kv.update(snapshot.account, body, last=found[1])
                return
            except KeyWrongLastSequenceError:
                continue  # another replica wrote one meanwhile: compare again

    async def _versioned(self, account: str) -> tuple[Snapshot, int] | None:
        try:
            entry = await self._kv.get(account)
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        data = json.loads(entry.value)
        snapshot = Snapshot(
            account, int(data["balance"]), int(data["last_seq"]), int(data["entries"])
        )
        return snapshot, int(entry.revision or 0)


class KvRequestIndex:
    def __init__(
        self, kv: KeyValue, batches: BatchPublisher | None = None, *, in_flight: int = 256
    ) -> None:
        self._kv = kv
        self._batches = batches
        self._atomic = AtomicClaims(batches) if batches is not None else None
        self._in_flight = asyncio.Semaphore(in_flight)

    @classmethod
    async def open(cls, js: JetStreamContext, *, timeout: float = 5.0) -> KvRequestIndex:
        # the batch path publishes on the context's own connection (no second client)
        batches = BatchPublisher(js._nc, timeout=timeout)
        return cls(await js.key_value(BUCKET_LEDGER_REQUESTS), batches)

    async def claim_many(
        self, account: str, request_ids: Sequence[str], seq: int
    ) -> list[int | None]:
        """:meth:`claim` for several ids at once: one atomic batch with other accounts'
        claims when every key is new, else creates published back to back."""
        if self._batches is None or self._atomic is None or len(request_ids) < 2:
            return [await self.claim(account, rid, seq) for rid in request_ids]
        keys = [f"{account}.d.{_digest(rid)}" for rid in request_ids]
        value = str(seq).encode()
        creates = [(f"$KV.{BUCKET_LEDGER_REQUESTS}.{key}", value, _CREATE) for key in keys]
        # An id twice in one batch would fail it whole (its second create finds the first).
        if len(set(keys)) == len(keys) and await self._atomic.create_all(creates):
            return [None] * len(keys)
        acks = await self._batches.publish(creates)
        out: list[int | None] = []
        for key, ack in zip(keys, acks, strict=True):
            if ack.error is None:
                out.append(None)
            elif ack.error == WRONG_LAST_SEQUENCE:  # claimed before: when?
                raw = await self._get(key)
                out.append(int(raw) if raw is not None else 0)
            else:
                raise JournalUnavailable(f"request index refused a claim ({ack.error})")
        return out

    async def claim(self, account: str, request_id: str, seq: int) -> int | None:
        key = f"{account}.d.{_digest(request_id)}"
        try:
            async with self._in_flight:
                await self._kv.create(key, str(seq).encode())
        except KeyWrongLastSequenceError:
            raw = await self._get(key)
            return int(raw) if raw is not None else 0
        return None

    async def granted(self, account: str, idempotency_key: str) -> int | None:
        raw = await self._get(f"{account}.g.{_digest(idempotency_key)}")
        return int(raw) if raw is not None else None

    async def record(self, account: str, grants: Mapping[str, int]) -> None:
        writes = [(f"{account}.g.{_digest(k)}", str(v).encode()) for k, v in grants.items()]
        await asyncio.gather(*(self._put(key, value) for key, value in writes))

    async def _put(self, key: str, value: bytes) -> None:
        async with self._in_flight:
            await self._kv.put(key, value)

    async def _get(self, key: str) -> bytes | None:
        try:
            async with self._in_flight:
                entry = await self._kv.get(key)
        except KeyNotFoundError:
            return None
        return entry.value or None
