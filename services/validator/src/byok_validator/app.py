"""Wiring of the validator service: build everything from settings, connect nothing at import."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import httpx
from faststream import FastStream

from byok_contracts import Keypair
from byok_shared import ByokSettings, Service
from byok_shared.edge import Started
from byok_shared.recipients import register_recipient, unregister_recipient

from . import handlers
from .adapters.http import HttpxProviders
from .adapters.jetstream import EXTRA_BUCKETS, KvStoredKeys, KvSweepClaims
from .adapters.keyvault import NatsKeyVault
from .config import ValidatorSettings
from .domain import ReportGate
from .handlers import Deps
from .ports import Providers
from .subscribers import register

__all__ = ["SERVICE", "create_app"]

SERVICE = "validator"

log = logging.getLogger(__name__)


def build_providers(settings: ByokSettings, config: ValidatorSettings) -> HttpxProviders:
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(config.http_timeout),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
        follow_redirects=False,
    )
    return HttpxProviders(
        client,
        {
            "anthropic": settings.anthropic_base_url,
            "openai": settings.openai_base_url,
            "gemini": settings.gemini_base_url,
        },
    )


def create_app(
    settings: ByokSettings,
    config: ValidatorSettings | None = None,
    *,
    providers: Providers | None = None,
) -> FastStream:
    config = config or ValidatorSettings()
    service = Service(SERVICE, settings, extra_buckets=EXTRA_BUCKETS)
    # Each replica has its own in-memory keypair; key-vault seals to the replica it asks.
    replica = uuid.uuid4().hex[:12]
    keypair = Keypair.generate()
    deps: Started[Deps] = Started("the validator's handlers")
    tasks: list[asyncio.Task[None]] = []

    async def sweeper() -> None:
        while True:
            await asyncio.sleep(config.sweep_every)
            try:
                counts = await handlers.sweep(
                    deps(), interval=config.revalidate_interval, rate=config.revalidate_rate
                )
                if counts:
                    log.info("re-validation sweep", extra={"outcomes": counts})
            except Exception:
                log.exception("re-validation sweep failed")

    @service.on_started
    async def start() -> None:
        # key-vault seals stored keys only to registered replicas (issue 10).
        await register_recipient(service.js, "validator", replica, keypair)
        deps.set(
            Deps(
                providers=providers or build_providers(settings, config),
                key_vault=NatsKeyVault(service.nc, keypair, timeout=settings.request_timeout),
                stored=KvStoredKeys(service.js),
                claims=KvSweepClaims(service.js),
                keypair=keypair,
                replica=replica,
                attempts=config.attempts,
                backoff=config.backoff,
                gate=ReportGate(config.report_window),
            )
        )
        if config.revalidate_interval > 0:
            tasks.append(asyncio.create_task(sweeper(), name="validator-sweeper"))

    @service.on_stopping
    async def stop() -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        tasks.clear()
        await unregister_recipient(service.js, keypair)
        if (built := deps.take()) is not None:
            await built.providers.close()

    register(service, deps, replica=replica, workers=config.workers)
    return service.app
