"""Wiring of the resolver service: build everything from settings, connect nothing at import.

Start order matters for freshness (see :mod:`byok_shared.freshness`): the
replica registers its presence and listens for syncs, then follows KV changes
and events, and only then subscribes to ``byok.v1.resolve``. Nothing stored is
read at start beyond the platform scope: scopes and accounts load on first
use, so start-up does not grow with the number of stored keys.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from faststream import FastStream
from nats.aio.client import Client as NatsClient
from nats.aio.subscription import Subscription
from nats.errors import NoRespondersError

from byok_contracts import Catalog, Keypair, subjects
from byok_shared import ByokSettings, Service
from byok_shared.freshness import ReplicaPresence
from byok_shared.recipients import register_recipient, unregister_recipient

from .adapters.jetstream import CacheFeed
from .adapters.keyvault import NatsKeySource
from .adapters.kvload import KvStateLoader
from .cache import ResolverCache, SecretCache
from .config import ResolverConfig
from .domain import PLATFORM
from .handlers import Resolver
from .ports import KeySource
from .subscribers import ResolveSubscriber

__all__ = ["SERVICE", "create_app", "replica_subject"]

SERVICE = "resolver"


# ``resolve`` answered by one replica only (operators and the freshness bench probe each).
replica_subject = subjects.resolve_replica


@dataclass
class _Running:
    """What one started replica holds, and the one notion of "ready and fresh"."""

    serving: bool = False
    feed: CacheFeed | None = None
    presence: ReplicaPresence | None = None
    subscriber: ResolveSubscriber | None = None
    subs: list[Subscription] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def fresh(self) -> bool:
        """Serving, and the presence proves no change can have been missed."""
        return self.serving and self.presence is not None and self.presence.fresh


async def _until_served(nc: NatsClient, timeout: float = 5.0) -> None:
    """Return once ``resolve`` has a responder as others see it.

    A queue subscription can take a moment after its flush before a request
    from another connection finds it (seen as "no responders" here).
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            await nc.request(subjects.RESOLVE, b"{}", timeout=1.0)  # answered with a 400
            return
        except NoRespondersError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)


def create_app(
    settings: ByokSettings,
    *,
    config: ResolverConfig | None = None,
    key_source: KeySource | None = None,
) -> FastStream:
    """The resolver app. ``key_source`` replaces key-vault's unseal hop (tests)."""
    config = config or ResolverConfig()
    service = Service(SERVICE, settings)
    replica = config.replica_id or f"resolver-{uuid.uuid4().hex[:12]}"
    catalog = Catalog.load(settings.catalog_file)
    # In memory only, new per start: key-vault seals key material to it.
    keypair = Keypair.generate()
    secrets = SecretCache(
        material_ttl=config.material_ttl,
        material_max=config.material_max,
        sealed_ttl=config.sealed_ttl,
        sealed_max=config.sealed_max,
    )
    cache = ResolverCache(
        on_key_change=secrets.drop, max_scopes=config.max_scopes, max_accounts=config.max_accounts
    )
    state = _Running()

    @service.on_started
    async def start() -> None:
        if state.presence is not None:  # a retried start (JetStream was not ready): undo
            await stop()
        nc, js = service.nc, service.js
        state.feed = CacheFeed(nc, js, cache, metrics=service.metrics)

        def on_sync(event_subject: str, data: bytes) -> None:
            assert state.feed is not None
            state.feed.on_sync(event_subject, data)

        async def reload() -> None:
            # Syncs and events sent while disconnected are lost: forget what is held
            # once the new feed follows, so every later load reads after it exists.
            if state.feed is not None:
                await state.feed.stop()
            state.feed = CacheFeed(nc, js, cache, metrics=service.metrics)
            await state.feed.start()
            cache.clear()
            secrets.clear()

        await register_recipient(js, "resolver", replica, keypair)  # key-vault seals only to it
        state.presence = ReplicaPresence(nc, js, replica, on_sync, on_reconnect=reload)
        await state.presence.start()  # before the feed: no change can fall in between
        await state.feed.start()
        loader = KvStateLoader(js, cache)
        await loader.preload(PLATFORM)  # every resolve reads it
        source = key_source or NatsKeySource(nc, keypair, timeout=config.unseal_timeout)
        resolver = Resolver(cache, secrets, source, catalog, state, loader=loader)
        state.subscriber = ResolveSubscriber(nc, resolver, service.metrics)
        handle, scoped = state.subscriber.handle, state.subscriber.handle_for_account
        state.subs += [
            await service.serve_raw(subjects.RESOLVE, handle),
            await service.serve_raw(
                subjects.resolve_replica("{replica}"), handle, subject=replica_subject(replica)
            ),
            await service.serve_raw(subjects.resolve_for("{account}"), scoped),
        ]
        expiry = asyncio.create_task(secrets.run_expiry(config.expiry_tick), name="secret-expiry")
        state.tasks.append(expiry)
        state.serving = True
        await _until_served(nc)

    @service.on_stopping
    async def stop() -> None:
        state.serving = False
        for task in state.tasks:
            task.cancel()
        await asyncio.gather(*state.tasks, return_exceptions=True)
        state.tasks.clear()
        for sub in state.subs:
            await sub.unsubscribe()
        state.subs.clear()
        if state.subscriber is not None:
            await state.subscriber.drain()
        if state.feed is not None:
            await state.feed.stop()
        if state.presence is not None:
            await state.presence.stop()
        secrets.clear()
        await unregister_recipient(service.js, keypair)

    return service.app
