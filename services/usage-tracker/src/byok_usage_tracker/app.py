"""Wiring of the usage-tracker service: build everything from settings, connect nothing at import."""

from __future__ import annotations

from faststream import FastStream

from byok_contracts import Catalog
from byok_contracts.pricing import Pricing
from byok_shared import ByokSettings, Service

from .adapters.jetstream import JetStreamUsageFeed
from .adapters.memory import MemoryUsageStore
from .config import TrackerConfig
from .handlers import UsageTracker
from .subscribers import UsageConsumer, register_responders

__all__ = ["SERVICE", "create_app"]

SERVICE = "usage-tracker"


def create_app(settings: ByokSettings, config: TrackerConfig | None = None) -> FastStream:
    config = config or TrackerConfig()
    service = Service(SERVICE, settings)
    tracker = UsageTracker(MemoryUsageStore(), Pricing(Catalog.load(settings.catalog_file)))
    consumers: list[UsageConsumer] = []
    register_responders(service, lambda: tracker)

    @service.on_started
    async def start() -> None:
        consumer = UsageConsumer(JetStreamUsageFeed(service.js, config), tracker, service.metrics)
        await consumer.start()
        consumers.append(consumer)

    @service.on_stopping
    async def stop() -> None:
        for consumer in consumers:
            await consumer.stop()

    return service.app
