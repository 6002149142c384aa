"""End to end over a real nats-server: key-vault + validator in-process, fake providers.

DESIGN.md section 9 scenarios 1, 2, 3, 8 (the revocation side) and 10, the
freshness hook, fire-and-forget configure, rotation while serving, and the
"no key bytes anywhere" checks (bus tap, logs, JetStream store on disk).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from byok_client import ByokClient
from byok_contracts import (
    Forbidden,
    KeyRejected,
    NotFound,
    Unavailable,
    Unprocessable,
    subjects,
)
from byok_contracts.v1 import KeyChanged, KeyRejectedEvent
from byok_key_vault.app import create_app as key_vault_app
from byok_key_vault.config import KeyVaultSettings
from byok_shared.natsserver import NatsServer
from byok_shared.testing import running, settings_for
from byok_shared.testing.fake_providers import FakeProviders
from byok_validator.app import create_app as validator_app
from byok_validator.config import ValidatorSettings
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

ANT = "sk-ant-api03-" + "A1b2C3d4E5f6G7h8I9j0" * 4 + "-xyzAA"
ANT_BAD = "sk-ant-api03-" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt" * 4 + "-badAA"
OAI = "sk-proj-" + "Q1w2E3r4T5y6U7i8O9p0" * 3
GEM = "AIzaSy" + "G3m1n1K3yF4k3V4lu3s0123456"
SCOPE = "workspace:acme"


class Tap:
    """Everything on the bus (``>``), for the no-key-bytes check."""

    def __init__(self) -> None:
        self.messages: list[Msg] = []

    async def __call__(self, msg: Msg) -> None:
        self.messages.append(msg)

    def blob(self) -> bytes:
        return b"\n".join(
            m.subject.encode() + b" " + m.data + json.dumps(dict(m.headers or {})).encode()
            for m in self.messages
        )


@pytest.fixture
async def stack(
    nats_server: NatsServer, tmp_path: Path, fake_providers: FakeProviders
) -> AsyncIterator[ByokClient]:
    settings = settings_for(
        nats_server.url, tmp_path / "data", **fake_providers.settings_overrides()
    )
    validator = ValidatorSettings(
        http_timeout=0.5, attempts=2, backoff=0.05, revalidate_interval=0, report_window=0.0
    )
    async with running(
        validator_app(settings, validator), key_vault_app(settings, KeyVaultSettings())
    ):
        client = await ByokClient.connect(nats_server.url, timeout=5.0)
        try:
            yield client
        finally:
            await client.close()


async def events_on(nc: NatsClient, subject: str) -> list[Msg]:
    seen: list[Msg] = []

    async def collect(msg: Msg) -> None:
        seen.append(msg)

    await nc.subscribe(subject, cb=collect)
    await nc.flush()
    return seen


async def test_scenario_1_anthropic_key_detected_validated_stored(
    stack: ByokClient, fake_providers: FakeProviders, nc: NatsClient
) -> None:
    fake_providers.add_key(ANT, "valid")
    configured = await events_on(nc, subjects.EVENTS_KEYS_CONFIGURED)
    reply = await stack.configure(SCOPE, ANT, actor="alice")
    assert reply.status == "configured"
    assert reply.provider == "anthropic"
    assert reply.model == "claude-sonnet-4-6"
    assert str(reply.scope) == SCOPE
    assert ANT[8:-4] not in reply.hint
    assert fake_providers.calls(ANT) == 1
    [info] = await stack.list_keys(SCOPE)
    assert info.key_id == reply.key_id
    assert info.state == "active"
    assert info.hint == reply.hint
    await asyncio.sleep(0.1)
    [msg] = configured
    event = KeyChanged.model_validate_json(msg.data)
    assert event.key_id == reply.key_id
    assert event.revision > 0

