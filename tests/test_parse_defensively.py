"""Deeply nested and oversized JSON get a 400 on every request subject (issue 10, attack 6).

Before 0.2 a 3 KB body nested 1,500 levels got no reply on 14 of 15 subjects:
faststream's JSON decoder raised RecursionError before any byok code ran.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient

from byok_contracts import subjects
from byok_contracts.schema import OPERATIONS
from byok_credit_ledger.app import create_app as credit_ledger
from byok_key_vault.app import create_app as key_vault
from byok_resolver.app import create_app as resolver
from byok_shared.natsserver import NatsServer
from byok_shared.testing import running, settings_for
from byok_shared.testing.fake_providers import FakeProviders
from byok_usage_tracker.app import create_app as usage_tracker
from byok_validator.app import create_app as validator

REQUEST_SUBJECTS = sorted(
    {op.subject for op in OPERATIONS if op.kind == "request" and "{" not in op.subject}
    | {subjects.health(s) for s in subjects.SERVICES}
    | {subjects.resolve_for("acme")}
)
DEEP = {
    "arrays": b"[" * 1500 + b"]" * 1500,
    "objects": b'{"a":' * 1500 + b"1" + b"}" * 1500,
    "in a field": b'{"scope":' + b"[" * 1500 + b"]" * 1500 + b"}",
    "oversized": b'{"scope":"' + b"x" * 200_000 + b'"}',
}


@pytest.fixture
async def stack(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[NatsServer]:
    with FakeProviders() as fake:
        config = settings_for(nats_server.url, tmp_path / "data", **fake.settings_overrides())
        apps = [f(config) for f in (key_vault, validator, resolver, credit_ledger, usage_tracker)]
        async with running(*apps):
            yield nats_server


async def test_deep_or_huge_json_gets_a_400_on_every_subject(
    stack: NatsServer, nc: NatsClient
) -> None:
    failures = []
    for subject in REQUEST_SUBJECTS:
        for name, body in DEEP.items():
            try:
                msg = await nc.request(subject, body, timeout=1.5)
            except Exception as exc:
                failures.append(f"{subject} {name}: {type(exc).__name__}")
                continue
            reply = json.loads(msg.data)
            if reply.get("code") != 400:
                failures.append(f"{subject} {name}: {reply}")
    assert failures == []
    for service in subjects.SERVICES:
        msg = await nc.request(subjects.health(service), b"{}", timeout=3)
        assert json.loads(msg.data)["status"] == "ok"
