"""Wiring of the usage-tracker service: build everything from settings, connect nothing at import."""

from __future__ import annotations

from faststream import FastStream

from byok_contracts import Catalog
from byok_contracts.pricing import Pricing
from byok_shared import ByokSettings, Service
from byok_shared.edge import Started

from .adapters.jetstream import USAGE_BUCKETS, JetStreamUsageFeed, KvAggregateStore
from .aggregates import Aggregates
from .config import TrackerConfig
from .handlers import UsageTracker
from .subscribers import UsageConsumer, register

__all__ = ["SERVICE", "create_app"]

SERVICE = "usage-tracker"


def create_app(settings: ByokSettings, config: TrackerConfig | None = None) -> FastStream:
    config = config or TrackerConfig()
    service = Service(SERVICE, settings, extra_buckets=USAGE_BUCKETS)
    pricing = Pricing(Catalog.load(settings.catalog_file))
    tracker: Started[UsageTracker] = Started("the usage tracker")
    consumer: Started[UsageConsumer] = Started("the usage consumer")

    @service.on_started
    async def start() -> None:
        store = await KvAggregateStore.open(service.js, config.replica)
        built = UsageTracker(Aggregates(store, capacity=config.records_in_memory), pricing)
        feed = JetStreamUsageFeed(service.js, config)
        interval = config.checkpoint_interval
        running = UsageConsumer(feed, built, service.metrics, flush_interval=interval)
        await running.start()
        tracker.set(built)
        consumer.set(running)

    @service.on_stopping
    async def stop() -> None:
        if (running := consumer.take()) is not None:
            await running.stop()

    register(service, tracker)
    return service.app
