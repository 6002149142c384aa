"""Wiring of the credit-ledger service: build everything from settings, connect nothing at import."""

from __future__ import annotations

from faststream import FastStream

from byok_contracts import Catalog, Unavailable
from byok_contracts.pricing import Pricing
from byok_shared import ByokSettings, Service

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
from .subscribers import UsageConsumer, register_responders

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
    live: dict[str, Ledger] = {}
    consumers: list[UsageConsumer] = []

    def ledger() -> Ledger:
        if "ledger" not in live:
            raise Unavailable("The credit ledger is starting", error="starting")
        return live["ledger"]

    register_responders(service, ledger)

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
        live["ledger"] = built
        consumer = UsageConsumer(js, built, config, service.metrics)
        await consumer.start()
        consumers.append(consumer)

    @service.on_stopping
    async def stop() -> None:
        for consumer in consumers:
            await consumer.stop()

    return service.app
