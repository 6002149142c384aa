"""Wiring of the key-vault service: build everything from settings, connect nothing at import."""

from __future__ import annotations

from faststream import FastStream

from byok_contracts import Catalog
from byok_shared import ByokSettings, Service
from byok_shared.edge import Started
from byok_shared.freshness import FreshnessBarrier

from .adapters.jetstream import (
    EXTRA_BUCKETS,
    JetStreamEvents,
    KvKeyStore,
    KvOwnerStore,
    KvRecipients,
    KvSealingStore,
    KvSealLog,
    KvSettingsStore,
)
from .adapters.local_cipher import LocalCipher
from .adapters.validator import NatsValidator
from .adapters.vault_cipher import VaultCipher
from .audit import JetStreamAudit
from .config import KeyVaultSettings
from .handlers import Deps
from .keyring import SealingKeys
from .ports import Cipher, ReplicaBarrier, Validator
from .subscribers import register

__all__ = ["SERVICE", "build_cipher", "create_app"]

SERVICE = "key-vault"


def build_cipher(settings: ByokSettings) -> Cipher:
    """The ``BYOK_CIPHER`` adapter: ``local`` keyring file or Vault transit."""
    if settings.cipher == "vault":
        import hvac

        token = settings.vault_token
        if settings.vault_token_file is not None:  # the file wins: it is what was provisioned
            token = settings.vault_token_file.read_text().strip()
        client = hvac.Client(url=settings.vault_addr, token=token, timeout=5)
        return VaultCipher(client, mount=settings.vault_mount, key=settings.vault_key)
    return LocalCipher.in_data_dir(settings.data_dir)


def create_app(
    settings: ByokSettings,
    config: KeyVaultSettings | None = None,
    *,
    cipher: Cipher | None = None,
    validator: Validator | None = None,
    barrier: ReplicaBarrier | None = None,
) -> FastStream:
    """The key-vault app; tests may inject a cipher, validator or barrier."""
    config = config or KeyVaultSettings()
    service = Service(SERVICE, settings, extra_buckets=EXTRA_BUCKETS)
    catalog = Catalog.load(settings.catalog_file)
    deps: Started[Deps] = Started("key-vault's handlers")

    @service.on_started
    async def start() -> None:
        chosen = cipher or build_cipher(settings)
        if isinstance(chosen, VaultCipher):
            await chosen.ensure_key()
        sealing = SealingKeys(KvSealingStore(service.js), chosen, keep=config.sealing_keep)
        await sealing.load()
        deps.set(
            Deps(
                keys=KvKeyStore(service.js),
                settings=KvSettingsStore(service.js),
                sealing=sealing,
                cipher=chosen,
                validator=validator or NatsValidator(service.nc, timeout=config.validate_timeout),
                events=JetStreamEvents(service.js),
                barrier=barrier
                or FreshnessBarrier(service.nc, service.js, timeout=config.barrier_timeout),
                catalog=catalog,
                owners=KvOwnerStore(service.js),
                recipients=KvRecipients(service.js),
                audit=JetStreamAudit(service.js),
                seals=KvSealLog(service.js),
            )
        )

    @service.on_stopping
    async def stop() -> None:
        if (built := deps.take()) is not None:
            await built.cipher.close()

    register(service, deps, workers=config.configure_workers)
    return service.app
