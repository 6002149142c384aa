"""Wiring of the resolver service: build everything from settings, connect nothing at import."""

from __future__ import annotations

import uuid

from faststream import FastStream
from nats.aio.subscription import Subscription

from byok_contracts import Catalog, Keypair, subjects
from byok_shared import ByokSettings, Service
from byok_shared.freshness import ReplicaPresence

from .adapters.jetstream import CacheFeed
from .adapters.keyvault import NatsKeySource
from .cache import ResolverCache, SecretCache
from .config import ResolverConfig
from .handlers import Resolver
from .ports import KeySource
from .subscribers import ResolveSubscriber

__all__ = ["SERVICE", "create_app"]

SERVICE = "resolver"


class _Ready:
    def __init__(self) -> None:
        self.fresh = False


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
    # In memory only: key-vault seals key material to this, per replica and per start.
    keypair = Keypair.generate()
    secrets = SecretCache(
        material_ttl=config.material_ttl,
        sealed_ttl=config.sealed_ttl,
        sealed_max=config.sealed_max,
    )
    cache = ResolverCache(on_key_change=secrets.drop)
    ready = _Ready()
    held: dict[str, object] = {}

    @service.on_started
    async def start() -> None:
        nc, js = service.nc, service.js
        feed = CacheFeed(nc, js, cache, metrics=service.metrics)
        presence = ReplicaPresence(nc, js, replica, feed.on_sync)
        await presence.start()  # before the warm load: no change can fall in between
        await feed.start()
        source = key_source or NatsKeySource(nc, keypair, timeout=config.unseal_timeout)
        resolver = Resolver(cache, secrets, source, catalog, presence, ready=ready)
        subscriber = ResolveSubscriber(nc, resolver, service.metrics)
        held.update(feed=feed, presence=presence, subscriber=subscriber)
        held["sub"] = await nc.subscribe(subjects.RESOLVE, queue=service.queue, cb=subscriber)
        ready.fresh = True

    @service.on_stopping
    async def stop() -> None:
        ready.fresh = False
        sub = held.pop("sub", None)
        if isinstance(sub, Subscription):
            await sub.unsubscribe()
        subscriber = held.pop("subscriber", None)
        if isinstance(subscriber, ResolveSubscriber):
            await subscriber.drain()
        feed = held.pop("feed", None)
        if isinstance(feed, CacheFeed):
            await feed.stop()
        presence = held.pop("presence", None)
        if isinstance(presence, ReplicaPresence):
            await presence.stop()
        secrets.clear()

    return service.app
