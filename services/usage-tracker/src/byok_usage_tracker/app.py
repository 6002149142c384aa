"""Wiring of the usage-tracker service: build everything from settings, connect nothing at import."""

from __future__ import annotations

from faststream import FastStream

from byok_contracts import Catalog, Unavailable
from byok_contracts.pricing import Pricing
from byok_shared import ByokSettings, Service

from .adapters.jetstream import USAGE_BUCKETS, JetStreamUsageFeed, KvAggregateStore
from .aggregates import Aggregates
from .config import TrackerConfig
from .handlers import UsageTracker
from .subscribers import UsageConsumer, register_responders

__all__ = ["SERVICE", "create_app"]

SERVICE = "usage-tracker"


def create_app(settings: ByokSettings, config: TrackerConfig | None = None) -> FastStream:
    config = config or TrackerConfig()
    service = Service(SERVICE, settings, extra_buckets=USAGE_BUCKETS)
    pricing = Pricing(Catalog.load(settings.catalog_file))
    live: dict[str, UsageTracker] = {}
    consumers: list[UsageConsumer] = []

    def tracker() -> UsageTracker:
        if "tracker" not in live:
            raise Unavailable("The usage tracker is starting", error="starting")
        return live["tracker"]

    register_responders(service, tracker)

    @service.on_started
    async def start() -> None:
        store = await KvAggregateStore.open(service.js, config.replica)
        built = UsageTracker(Aggregates(store, capacity=config.records_in_memory), pricing)
        consumer = UsageConsumer(
            JetStreamUsageFeed(service.js, config),
            built,
            service.metrics,
            flush_interval=config.checkpoint_interval,
        )
        await consumer.start()
        live["tracker"] = built
        consumers.append(consumer)

    @service.on_stopping
    async def stop() -> None:
        for consumer in consumers:
            await consumer.stop()

    return service.app
