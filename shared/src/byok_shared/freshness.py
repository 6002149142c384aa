"""The freshness barrier: a change is not confirmed until every resolver replica has it.

DESIGN.md section 5: once ``keys.remove``, ``keys.set-enabled`` or a revocation
has replied, no resolver replica may serve that key again. Events on JetStream
reach replicas quickly but asynchronously, so key-vault also runs this barrier
before it replies:

1. every live resolver replica keeps a presence entry in the ``byok-resolvers``
   KV bucket (entries expire after ``RESOLVER_PRESENCE_TTL`` unless renewed) and
   listens, outside any queue group, on ``byok.v1.internal.resolver.sync``;
2. :meth:`FreshnessBarrier.confirm` publishes the change there and waits until
   every replica listed in the bucket acknowledged it (the replica applies the
   change to its caches *before* it acks);
3. a replica that cannot renew its presence stops serving from its caches
   (:attr:`ReplicaPresence.fresh` goes false), so a replica the barrier could
   not see cannot serve a stale answer either;
4. a replica whose connection dropped may have missed syncs and events (core
   NATS does not queue them), so after any reconnect it is not fresh until its
   owner reloaded the caches from KV (``on_reconnect``).

A replica that starts mid-change registers before it loads KV, and KV is
written before the barrier lists replicas, so it either loads the new state
or is listed and acked.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel

from byok_contracts import subjects

from .jetstream import BUCKET_RESOLVERS, RESOLVER_PRESENCE_TTL, bucket_keys

__all__ = ["BarrierResult", "FreshnessBarrier", "ReplicaPresence", "SyncHandler"]

log = logging.getLogger(__name__)

EVENT_HEADER = "Byok-Event"

SyncHandler = Callable[[str, bytes], None]
"""``handler(event_subject, event_json)``; must apply the change synchronously."""


@dataclass(frozen=True, slots=True)
class BarrierResult:
    replicas: frozenset[str]
    acked: frozenset[str]
    seconds: float

    @property
    def complete(self) -> bool:
        return self.replicas <= self.acked


class FreshnessBarrier:
    """Used by key-vault: publish a change to every resolver replica and wait for all acks."""

    def __init__(self, nc: NatsClient, js: JetStreamContext, *, timeout: float = 2.0) -> None:
        self.nc = nc
        self.js = js
        self.timeout = timeout
        self._kv: KeyValue | None = None

    async def _live_replicas(self) -> set[str]:
        """Replicas whose presence entry is live, read without creating a consumer.

        ``KeyValue.keys()`` creates an ordered consumer per call; under a stream of
        removals those pile up until the server refuses more ("maximum consumers
        limit reached"). The stream's per-subject state lists the entries instead,
        and a direct get drops a replica that purged its entry on a clean stop.
        """
        if self._kv is None:
            self._kv = await self.js.key_value(BUCKET_RESOLVERS)
        names = await bucket_keys(self.js, BUCKET_RESOLVERS)
        alive = await asyncio.gather(*(self._present(name) for name in names))
        return {name for name, present in zip(names, alive, strict=True) if present}

    async def _present(self, replica: str) -> bool:
        assert self._kv is not None
        try:
            await self._kv.get(replica)
        except KeyNotFoundError:  # purged on a clean stop (or expired meanwhile)
            return False
        return True

    async def confirm(self, event_subject: str, event: BaseModel) -> BarrierResult:
        """Deliver ``event`` to every live replica; return once all acked (or on timeout)."""
        started = time.perf_counter()
        live = await self._live_replicas()
        acked: set[str] = set()
        done = asyncio.Event()
        if not live:
            done.set()

        async def on_ack(msg: Msg) -> None:
            try:
                acked.add(str(json.loads(msg.data)["replica"]))
            except (ValueError, KeyError, TypeError):
                return
            if live <= acked:
                done.set()

        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox, cb=on_ack)
        try:
            await self.nc.publish(
                subjects.INTERNAL_RESOLVER_SYNC,
                event.model_dump_json().encode(),
                reply=inbox,
                headers={EVENT_HEADER: event_subject},
            )
            try:
                await asyncio.wait_for(done.wait(), self.timeout)
            except TimeoutError:
                log.warning(
                    "freshness barrier timed out",
                    extra={"event": event_subject, "missing": sorted(live - acked)},
                )
        finally:
            await sub.unsubscribe()
        return BarrierResult(frozenset(live), frozenset(acked), time.perf_counter() - started)


@dataclass
class ReplicaPresence:
    """Used by each resolver replica: presence heartbeat plus the sync listener."""

    nc: NatsClient
    js: JetStreamContext
    replica: str
    on_sync: SyncHandler
    heartbeat: float = 1.0
    on_reconnect: Callable[[], Awaitable[None]] | None = None
    """Reload the caches from KV; the replica is not fresh until it returned."""
    _kv: KeyValue | None = None
    _epoch: int = 0
    _sub: Subscription | None = None
    _task: asyncio.Task[None] | None = None
    _last_renewed: float = field(default=float("-inf"))

    @property
    def fresh(self) -> bool:
        """False once the presence entry may have expired or the connection was lost:
        stop serving from caches."""
        return (
            time.monotonic() - self._last_renewed < RESOLVER_PRESENCE_TTL - self.heartbeat
            and self.nc.stats["reconnects"] == self._epoch
            and self.nc.is_connected
        )

    async def start(self) -> None:
        """Listen for syncs, then register (call before loading caches from KV)."""
        self._kv = await self.js.key_value(BUCKET_RESOLVERS)
        self._epoch = self.nc.stats["reconnects"]
        self._sub = await self.nc.subscribe(subjects.INTERNAL_RESOLVER_SYNC, cb=self._on_sync)
        await self.nc.flush()
        await self._renew()
        self._task = asyncio.create_task(self._beat(), name=f"presence-{self.replica}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None
        if self._kv is not None:
            try:
                await self._kv.purge(self.replica)
            except (KeyNotFoundError, Exception):  # best effort; the entry expires anyway
                log.debug("presence purge failed", exc_info=True)
        self._last_renewed = float("-inf")

    async def _renew(self) -> None:
        assert self._kv is not None
        await self._kv.put(self.replica, b"1")
        self._last_renewed = time.monotonic()

    async def _beat(self) -> None:
        tick = min(self.heartbeat, 0.2)
        next_renewal = time.monotonic() + self.heartbeat
        while True:
            await asyncio.sleep(tick)
            if self.nc.stats["reconnects"] != self._epoch and self.nc.is_connected:
                await self._resync()
            if time.monotonic() >= next_renewal:
                next_renewal = time.monotonic() + self.heartbeat
                try:
                    await self._renew()
                except Exception:
                    log.warning("presence renewal failed", exc_info=True)

    async def _resync(self) -> None:
        """After a reconnect: register again, let the owner reload, then serve again."""
        epoch = self.nc.stats["reconnects"]
        try:
            await self._renew()
            if self.on_reconnect is not None:
                await self.on_reconnect()
        except Exception:
            log.warning("resync after reconnect failed; retrying", exc_info=True)
            return
        self._epoch = epoch
        log.info("replica %s back in sync after a reconnect", self.replica)

    async def _on_sync(self, msg: Msg) -> None:
        event_subject = (msg.headers or {}).get(EVENT_HEADER, "")
        try:
            self.on_sync(event_subject, msg.data)
        except Exception:
            # Acking a change we could not apply would break the guarantee.
            log.exception("sync handler failed", extra={"event": event_subject})
            return
        if msg.reply:
            await self.nc.publish(msg.reply, json.dumps({"replica": self.replica}).encode())
