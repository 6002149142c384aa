"""Fuzzing every request subject of the v1 contract against the running services.

Structured and unstructured garbage, oversized bodies and hostile ids: every
request gets a reply (never a timeout), the reply is either a success or a 4xx
error contract (never a 5xx for bad input), and every service stays healthy.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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
    op.subject for op in OPERATIONS if op.kind == "request" and "{" not in op.subject
) + [subjects.health(s) for s in subjects.SERVICES]

HOSTILE_IDS = [
    "",
    ".",
    "*",
    ">",
    "a.b",
    "a b",
    "$JS.API",
    "_INBOX.x",
    "../../etc/passwd",
    "x" * 129,
    "\u0000",
    "ü",
    "a\r\nPUB x 1",
]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=40),
    st.sampled_from(HOSTILE_IDS),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=12), inner, max_size=4),
    ),
    max_leaves=12,
)
field_names = st.sampled_from(
    [
        "scope",
        "account",
        "chain",
        "provider",
        "model",
        "source",
        "recipient_key",
        "sealed_key",
        "kid",
        "actor",
        "enabled",
        "key_id",
        "status_code",
        "reason",
        "amount",
        "idempotency_key",
        "route",
        "byok_enabled",
        "mode",
        "since",
        "until",
        "request_id",
        "type",
        "id",
    ]
)
hostile_scope = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["workspace", "session", "galaxy", "", "platform"]),
        "id": st.sampled_from(HOSTILE_IDS),
    }
)
structured = st.dictionaries(
    field_names,
    st.one_of(json_values, hostile_scope, st.lists(hostile_scope, max_size=3)),
    max_size=8,
)
bodies = st.one_of(
    st.binary(max_size=300),
    structured.map(lambda d: json.dumps(d).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.integers(min_value=65_000, max_value=200_000).map(
        lambda n: b'{"scope":"' + b"x" * n + b'"}'
    ),
)


@pytest.fixture
async def stack(nats_server: NatsServer, tmp_path: Path) -> AsyncIterator[NatsServer]:
    with FakeProviders() as fake:
        config = settings_for(nats_server.url, tmp_path / "data", **fake.settings_overrides())
        apps = [f(config) for f in (key_vault, validator, resolver, credit_ledger, usage_tracker)]
        async with running(*apps):
            yield nats_server


async def ask(nc: NatsClient, subject: str, body: bytes) -> dict[str, Any]:
    msg = await nc.request(subject, body, timeout=5)
    reply = json.loads(msg.data)
    assert isinstance(reply, dict), f"{subject}: reply is not an object"
    return reply


@pytest.mark.slow
@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(subject=st.sampled_from(REQUEST_SUBJECTS), body=bodies)
async def test_garbage_gets_a_4xx_reply_never_a_timeout(
    stack: NatsServer, nc: NatsClient, subject: str, body: bytes
) -> None:
    reply = await ask(nc, subject, body)
    if reply.get("status") == "error":
        assert 400 <= reply["code"] < 500, f"{subject} answered {reply} to {body[:200]!r}"
        assert reply["error"]
        assert reply["message"]


@pytest.mark.slow
async def test_every_service_is_healthy_after_the_fuzzing(
    stack: NatsServer, nc: NatsClient
) -> None:
    for subject in REQUEST_SUBJECTS:
        for body in (
            b"\x00\xff",
            b"[]",
            b'{"scope": {"type": "workspace", "id": "a.b"}}',
            b"{" * 10_000,
        ):
            reply = await ask(nc, subject, body)
            assert reply["status"] == "error", (subject, reply)
            assert 400 <= reply["code"] < 500, (subject, reply)
    for service in subjects.SERVICES:
        reply = await ask(nc, subjects.health(service), b"{}")
        assert reply == {"status": "ok", "service": service, "version": reply["version"]}
