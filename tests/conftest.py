"""Fixtures shared by the end-to-end modules of ``tests/`` (the real-NATS ones are global)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from byok_client import ByokClient
from byok_key_vault.app import create_app as key_vault_app
from byok_key_vault.config import KeyVaultSettings
from byok_shared.natsserver import NatsServer
from byok_shared.testing import running, settings_for
from byok_shared.testing.fake_providers import FakeProviders
from byok_validator.app import create_app as validator_app
from byok_validator.config import ValidatorSettings


@pytest.fixture
async def key_stack(
    nats_server: NatsServer, tmp_path: Path, fake_providers: FakeProviders
) -> AsyncIterator[ByokClient]:
    """key-vault and validator in-process, and a client for account ``acme``."""
    settings = settings_for(
        nats_server.url, tmp_path / "data", **fake_providers.settings_overrides()
    )
    validator = ValidatorSettings(
        http_timeout=0.5, attempts=2, backoff=0.05, revalidate_interval=0, report_window=0.0
    )
    async with running(
        validator_app(settings, validator), key_vault_app(settings, KeyVaultSettings())
    ):
        client = await ByokClient.connect(nats_server.url, timeout=5.0, account="acme")
        try:
            yield client
        finally:
            await client.close()
