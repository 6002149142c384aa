"""The in-memory deps of the use-case tests; the helpers next to these tests importable
(pytest runs with importlib mode)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from byok_contracts import Catalog
from byok_key_vault import handlers
from byok_key_vault.adapters.local_cipher import LocalCipher
from byok_key_vault.adapters.memory import (
    MemoryAudit,
    MemoryBarrier,
    MemoryEvents,
    MemoryKeyStore,
    MemoryOwnerStore,
    MemoryRecipients,
    MemorySealingStore,
    MemorySealLog,
    MemorySettingsStore,
    MemoryValidator,
)
from byok_key_vault.keyring import SealingKeys

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
async def deps(tmp_path: Path) -> handlers.Deps:
    cipher = LocalCipher.in_data_dir(tmp_path)
    sealing = SealingKeys(MemorySealingStore(), cipher)
    await sealing.load()
    events = MemoryEvents()
    return handlers.Deps(
        keys=MemoryKeyStore(),
        settings=MemorySettingsStore(),
        sealing=sealing,
        cipher=cipher,
        validator=MemoryValidator(),
        events=events,
        barrier=MemoryBarrier(events),
        catalog=Catalog.load(),
        owners=MemoryOwnerStore(),
        recipients=MemoryRecipients(),
        audit=MemoryAudit(),
        seals=MemorySealLog(),
    )
