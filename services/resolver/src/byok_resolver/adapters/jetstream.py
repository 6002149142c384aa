"""Keeping the present part of the caches current: KV updates, events, freshness syncs.

- KV buckets ``byok-keys``, ``byok-scopes``, ``byok-accounts``, ``byok-credits``
  are followed from *now* on (one ordered consumer each, new messages only, in
  revision order): nothing is read at start, so start-up does not grow with
  what is stored. A change applies when its scope or account is present in the
  cache (see :mod:`byok_resolver.cache`); the rest is skipped at the cost of a
  dict lookup. These updates are the authoritative feed.
- Events on ``byok.v1.events.>`` (core subscription on the BYOK_EVENTS subjects)
  apply sooner than a lagging KV update: key removals/disables/revocations drop
  at once, credit events move balances.
- :meth:`CacheFeed.on_sync` is the :class:`~byok_shared.freshness.ReplicaPresence`
  handler: it applies the change synchronously, before the replica acks.

A negative key change leaves its slot pending until :meth:`_reconcile` has read
the slot directly from KV (see :mod:`byok_resolver.cache`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.kv import KeyValue
from pydantic import ValidationError

from byok_contracts import subjects
from byok_contracts.v1 import (
    AccountChanged,
    AccountPolicy,
    CreditsChanged,
    CreditState,
    KeyChanged,
    KeyRecord,
    KeyState,
    Scope,
    ScopeChanged,
    ScopeSettings,
    key_slot,
    parse_key_slot,
    parse_scope_key,
)
from byok_resolver.adapters.kvload import entry_of, read_kv
from byok_resolver.cache import ResolverCache
from byok_resolver.domain import KeyEntry
from byok_shared.jetstream import (
    BUCKET_ACCOUNTS,
    BUCKET_CREDITS,
    BUCKET_KEYS,
    BUCKET_OWNERS,
    BUCKET_SCOPES,
)
from byok_shared.metrics import Metrics

__all__ = ["CacheFeed", "KvUpdates"]

log = logging.getLogger(__name__)

_DELETES = ("DEL", "PURGE")
_KEY_EVENT_PREFIX = f"{subjects.EVENTS_PREFIX}.keys."


class KvUpdates:
    """Changes to one bucket from now on, as :class:`KeyValue.Entry`, in revision order."""

    def __init__(self, js: JetStreamContext, bucket: str) -> None:
        self.js = js
        self.bucket = bucket
        self._prefix = f"$KV.{bucket}."
        self._queue: asyncio.Queue[KeyValue.Entry | None] = asyncio.Queue(maxsize=4096)
        self._sub: Subscription | None = None

    async def start(self) -> None:
        self._sub = await self.js.subscribe(
            f"{self._prefix}>",
            stream=f"KV_{self.bucket}",
            cb=self._on_msg,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
            inactive_threshold=300.0,
        )

    async def _on_msg(self, msg: Msg) -> None:
        op = (msg.headers or {}).get("KV-Operation")
        entry = KeyValue.Entry(
            bucket=self.bucket,
            key=msg.subject[len(self._prefix) :],
            value=msg.data,
            revision=msg.metadata.sequence.stream,
            delta=None,
            created=None,
            operation=op,
        )
        await self._queue.put(entry)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[KeyValue.Entry | None]:
        while (entry := await self._queue.get()) is not None:
            yield entry


class CacheFeed:
    """Keeps one replica's :class:`ResolverCache` current from NATS."""

    def __init__(
        self,
        nc: NatsClient,
        js: JetStreamContext,
        cache: ResolverCache,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self.nc = nc
        self.js = js
        self.cache = cache
        self.metrics = metrics
        self._watchers: list[KvUpdates] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._events: Subscription | None = None
        self.ready = False

    # --- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe to events and follow every bucket from now on (reads nothing stored).

        Returns before any scope is loaded: loads that start afterwards read KV
        after the updates consumers exist, so no change falls in between.
        """
        self._events = await self.nc.subscribe(f"{subjects.EVENTS_PREFIX}.>", cb=self._on_event)
        appliers: list[tuple[str, Callable[[KeyValue.Entry], None]]] = [
            (BUCKET_KEYS, self._apply_key_entry),
            (BUCKET_SCOPES, self._apply_scope_entry),
            (BUCKET_ACCOUNTS, self._apply_account_entry),
            (BUCKET_CREDITS, self._apply_credit_entry),
            (BUCKET_OWNERS, self._apply_owner_entry),
        ]
        for bucket, apply in appliers:
            watcher = KvUpdates(self.js, bucket)
            await watcher.start()
            self._watchers.append(watcher)
            self._spawn(self._follow(watcher, apply), f"updates-{bucket}")
        self.ready = True

    async def stop(self) -> None:
        self.ready = False
        if self._events is not None:
            with contextlib.suppress(Exception):
                await self._events.unsubscribe()
            self._events = None
        for watcher in self._watchers:
            await watcher.stop()
        self._watchers.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    def _spawn(self, coro: object, name: str) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow(self, watcher: KvUpdates, apply: Callable[[KeyValue.Entry], None]) -> None:
        async for entry in watcher:
            if entry is not None:
                self._safely(apply, entry)

    def _safely(self, apply: Callable[[KeyValue.Entry], None], entry: KeyValue.Entry) -> None:
        try:
            apply(entry)
        except (ValidationError, ValueError):
            # A record we cannot read is not served; the rest of the bucket still is.
            log.warning("unreadable KV entry", extra={"bucket": entry.bucket, "key": entry.key})
            self._count(f"kv.{entry.bucket}", "unreadable")

    def _count(self, subject: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.count_event(subject, outcome)

    # --- KV entries (authoritative) ------------------------------------------------

    def _apply_key_entry(self, entry: KeyValue.Entry) -> None:
        scope, provider = parse_key_slot(entry.key)
        revision = entry.revision or 0
        if entry.operation in _DELETES or not entry.value:
            self.cache.apply_key(scope, provider, revision, None)
            return
        record = KeyRecord.model_validate_json(entry.value)
        self.cache.apply_key(scope, provider, revision, entry_of(record, revision))

    def _apply_scope_entry(self, entry: KeyValue.Entry) -> None:
        scope = parse_scope_key(entry.key)
        if entry.operation in _DELETES or not entry.value:
            self.cache.apply_settings(None, entry.revision or 0, scope)
            return
        settings = ScopeSettings.model_validate_json(entry.value)
        self.cache.apply_settings(settings, entry.revision or 0, scope)

    def _apply_account_entry(self, entry: KeyValue.Entry) -> None:
        if entry.operation in _DELETES or not entry.value:
            self.cache.apply_policy(None, entry.revision or 0, entry.key)
            return
        policy = AccountPolicy.model_validate_json(entry.value)
        self.cache.apply_policy(policy, entry.revision or 0, entry.key)

    def _apply_credit_entry(self, entry: KeyValue.Entry) -> None:
        if entry.operation in _DELETES or not entry.value:
            self.cache.apply_balance(entry.key, None, time.time())
            return
        state = CreditState.model_validate_json(entry.value)
        self.cache.apply_balance(entry.key, state.balance, state.updated_at.timestamp())

    def _apply_owner_entry(self, entry: KeyValue.Entry) -> None:
        value = None if entry.operation in _DELETES else entry.value
        self.cache.apply_owner(entry.key, value.decode() if value else None)

    # --- events and syncs ----------------------------------------------------------

    async def _on_event(self, msg: Msg) -> None:
        try:
            occurred_at = self.apply_event(msg.subject, msg.data)
            self._count(msg.subject, "applied")
            if occurred_at is not None and self.metrics is not None:
                self.metrics.observe_lag(msg.subject, occurred_at)
        except (ValidationError, ValueError):
            log.warning("unreadable event", extra={"subject": msg.subject})
            self._count(msg.subject, "unreadable")

    def on_sync(self, event_subject: str, data: bytes) -> None:
        """Freshness sync: apply before the ack (raising means no ack)."""
        self.apply_event(event_subject, data)
        self._count(subjects.INTERNAL_RESOLVER_SYNC, "applied")

    def apply_event(self, subject: str, data: bytes) -> datetime | None:
        """Apply one event synchronously; return when it occurred (None: ignored)."""
        if subject.startswith(_KEY_EVENT_PREFIX):
            if subject == subjects.EVENTS_KEYS_REJECTED:
                return None
            key_event = KeyChanged.model_validate_json(data)
            self._apply_key_event(key_event)
            return key_event.occurred_at
        if subject == subjects.EVENTS_SCOPES_CHANGED:
            changed = ScopeChanged.model_validate_json(data)
            self.cache.apply_settings(changed.settings, changed.revision, changed.settings.scope)
            return changed.occurred_at
        if subject == subjects.EVENTS_ACCOUNTS_CHANGED:
            policy = AccountChanged.model_validate_json(data)
            self.cache.apply_policy(policy.policy, policy.revision, policy.policy.account)
            return policy.occurred_at
        if subject in (subjects.EVENTS_CREDITS_EXHAUSTED, subjects.EVENTS_CREDITS_RESTORED):
            credits = CreditsChanged.model_validate_json(data)
            stamp = credits.occurred_at.timestamp()
            self.cache.apply_balance(credits.account, credits.balance, stamp)
            return credits.occurred_at
        return None

    def _apply_key_event(self, event: KeyChanged) -> None:
        entry = None
        if event.event in ("configured", "enabled") and event.revision > 0:
            entry = KeyEntry(
                event.key_id,
                event.scope,
                event.provider,
                event.model or "",
                event.state or KeyState.ACTIVE,
                event.revision,
                event.account,
            )
        pending = self.cache.apply_key_event(
            event.scope, event.provider, event.key_id, event.event, entry
        )
        if pending:
            self._spawn(self._reconcile(event.scope, event.provider), "reconcile")

    async def _reconcile(self, scope: Scope, provider: str) -> None:
        """Read a pending slot straight from KV; retry until it answers."""
        delay = 0.05
        while True:
            try:
                revision, entry = await self._read_slot(scope, provider)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("reconcile read failed; retrying", exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            self.cache.reconciled(scope, provider, revision, entry)
            return

    async def _read_slot(self, scope: Scope, provider: str) -> tuple[int, KeyEntry | None]:
        revision, raw = await read_kv(self.js, BUCKET_KEYS, key_slot(scope, provider))
        if revision == 0:
            # Nothing at all: no older value can arrive later than the stream's end.
            info = await self.js.stream_info(f"KV_{BUCKET_KEYS}")
            return int(info.state.last_seq), None
        if raw is None:
            return revision, None
        return revision, entry_of(KeyRecord.model_validate_json(raw), revision)
