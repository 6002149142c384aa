"""Wiring of the credit-ledger service: build everything from settings, connect nothing at import."""

from __future__ import annotations

from faststream import FastStream

from byok_contracts import Catalog
from byok_contracts.pricing import Pricing
from byok_shared import ByokSettings, Service
from byok_shared.edge import Started

from .adapters.jetstream import (
    JetStreamDirectory,
    JetStreamJournal,
    JetStreamNotifier,
    KvCreditStates,
)
from .adapters.kv_state import LEDGER_BUCKETS, KvRequestIndex, KvSnapshots
from .charges import Charger
from .config import LedgerConfig
from .handlers import Ledger
from .subscribers import UsageConsumer, register

__all__ = ["SERVICE", "create_app"]

SERVICE = "credit-ledger"


def create_app(settings: ByokSettings, config: LedgerConfig | None = None) -> FastStream:
    config = config or LedgerConfig()
    service = Service(SERVICE, settings, extra_buckets=LEDGER_BUCKETS)
    catalog = Catalog.load(settings.catalog_file)
    charger = Charger(
        Pricing(catalog),
        catalog,
        credits_per_usd=settings.credits_per_usd,
        unpriced_usd_per_mtok=config.unpriced_usd_per_mtok,
    )
    ledger: Started[Ledger] = Started("the ledger")
    consumer: Started[UsageConsumer] = Started("the usage consumer")

    @service.on_started
    async def start() -> None:
        js = service.js
        built = Ledger(
            JetStreamJournal(js, timeout=settings.request_timeout),
            await KvCreditStates.open(js),
            JetStreamNotifier(js, timeout=settings.request_timeout),
            await JetStreamDirectory.open(js),
            charger,
            await KvSnapshots.open(js),
            await KvRequestIndex.open(js),
            retries=config.retries,
            capacity=config.accounts_in_memory,
            snapshot_every=config.snapshot_every,
        )
        await built.start()
        await consumer.set(UsageConsumer(js, ledger.set(built), config, service.metrics)).start()

    @service.on_stopping
    async def stop() -> None:
        if (running := consumer.take()) is not None:
            await running.stop()

    register(service, ledger)
    return service.app
