"""Key faults on real components (DESIGN.md sections 5, 6, 8; issue 5 "Faults").

- provider timeouts, 5xx and 429 on configure and on ``keys.report``: nothing stored,
  nothing revoked, a clear 503 replied by key-vault;
- removals while a resolver replica is killed and restarted: no stale answer.

Service kills under load and a NATS restart are in ``tests/test_faults.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import nats.errors
import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from byok_client import ByokClient
from byok_contracts import Unavailable, subjects
from byok_key_vault.app import create_app as key_vault_app
from byok_key_vault.config import KeyVaultSettings
from byok_resolver.app import create_app as resolver_app
from byok_resolver.app import replica_subject
from byok_shared.natsserver import NatsServer
from byok_shared.testing import running, settings_for
from byok_shared.testing.fake_providers import FakeProviders
from byok_shared.testing.load import anthropic_key
from byok_shared.testing.polling import resolve_until
from byok_shared.testing.service_cluster import ServiceCluster
from byok_validator.app import create_app as validator_app
from byok_validator.config import ValidatorSettings

CLUSTER_ENV = {"BYOK_KEY_VAULT_VALIDATE_TIMEOUT": "3"}


@pytest.fixture
def in_process(
    nats_server: NatsServer, tmp_path: Path, fake_providers: FakeProviders
) -> Callable[..., AbstractAsyncContextManager[ByokClient]]:
    """key-vault, validator and a resolver in-process, with settings overrides."""

    @asynccontextmanager
    async def stack(**overrides: object) -> AsyncIterator[ByokClient]:
        settings = settings_for(
            nats_server.url, tmp_path / "data", **fake_providers.settings_overrides(), **overrides
        )
        validator = ValidatorSettings(
            http_timeout=0.4, attempts=2, backoff=0.05, revalidate_interval=0, report_window=0.0
        )
        async with (
            running(
                validator_app(settings, validator),
                key_vault_app(settings, KeyVaultSettings(validate_timeout=3.0)),
                resolver_app(settings),
            ),
            await ByokClient.connect(nats_server.url, timeout=5.0, account="a") as client,
        ):
            yield client

    return stack


@pytest.mark.timeout(120)
async def test_provider_timeouts_5xx_429_store_nothing_and_never_revoke(
    in_process: Callable[..., AbstractAsyncContextManager[ByokClient]],
    fake_providers: FakeProviders,
    nc: NatsClient,
) -> None:
    events: list[str] = []

    async def on_event(msg: Msg) -> None:
        events.append(msg.subject)

    await nc.subscribe(f"{subjects.EVENTS_PREFIX}.keys.>", cb=on_event)
    async with in_process() as client:
        stored = fake_providers.add_key(anthropic_key("stored"))
        key = await client.configure("workspace:p", stored)
        await resolve_until(client, "a", ["workspace:p"], key.key_id)
        await nc.flush()
        events.clear()
        took: dict[str, float] = {}
        for status in ("rate_limited", "error", "slow"):
            replacement = fake_providers.add_key(anthropic_key(f"new{status}"), status)
            started = time.monotonic()
            with pytest.raises(Unavailable) as refused:
                await client.configure("workspace:p", replacement)
            took[status] = time.monotonic() - started
            assert refused.value.code == 503
            # key-vault replied (its own 503), rather than the client giving up waiting.
            assert refused.value.error not in ("timeout", "no_responders"), refused.value
            with pytest.raises(Unavailable):  # a new scope: nothing stored there either
                await client.configure("workspace:q", replacement)
            # The provider had trouble with the stored key too: a runtime's 401 report is
            # re-checked, found transient, and the key stays.
            fake_providers.set_status(stored, status)
            assert (await client.report(key.key_id, 401, "authentication_error")).outcome == (
                "transient"
            )
            for code in (429, 500, 502, 503, 504):
                assert (await client.report(key.key_id, code, "overloaded")).outcome == "ignored"
            fake_providers.set_status(stored, "valid")
            assert [(k.key_id, k.state) for k in await client.list_keys("workspace:p")] == [
                (key.key_id, "active")
            ]
            assert await client.list_keys("workspace:q") == []
            route = await client.resolve("a", ["workspace:p"], provider="anthropic")
            assert (route.key_id, route.api_key) == (key.key_id, stored)
        await nc.flush()
        assert events == []  # nothing configured, revoked or removed
        print(json.dumps({k: round(v, 3) for k, v in took.items()}))


@pytest.mark.timeout(180)
async def test_no_key_served_after_removal_while_a_resolver_replica_dies(
    tmp_path: Path, fake_providers: FakeProviders
) -> None:
    """Two resolver replicas (real processes) answer resolves in tight loops, through the
    queue group and each on its own subject, while keys are configured and removed;
    every few rounds one replica is killed -9 and started again (a new replica id).
    A request sent after a removal replied must never name the removed key."""
    cluster = ServiceCluster(
        tmp_path / "cluster",
        fake_providers,
        replicas={"resolver": 2, "credit-ledger": 0, "usage-tracker": 0},
        env=CLUSTER_ENV,
    )
    client: ByokClient | None = None
    stop = asyncio.Event()
    try:
        await cluster.start()
        # Longer than a removal's freshness barrier (2 s) when a resolver replica just died.
        client = await ByokClient.connect(cluster.url, timeout=3.0)
        fallback = await client.configure(
            "workspace:f", fake_providers.add_key(anthropic_key("fallback")), account="acme"
        )
        removed: dict[str, float] = {}  # key_id -> when its removal replied
        stale: list[str] = []
        answers: Counter[str] = Counter()
        recipient = client.runtime_keypair.public_b64
        body = json.dumps(
            {
                "account": "acme",
                "chain": [{"type": "session", "id": "s"}, {"type": "workspace", "id": "f"}],
                "provider": "anthropic",
                "recipient_key": recipient,
            }
        ).encode()
        nc = client.nc

        async def hammer(subject: Callable[[], str]) -> None:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    msg = await nc.request(subject(), body, timeout=3)
                except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                    answers["refused"] += 1
                    await asyncio.sleep(0.01)
                    continue
                data = json.loads(msg.data)
                if data.get("status") != "resolved":
                    assert data.get("code") == 503, data
                    answers["503"] += 1
                    continue
                answers["resolved"] += 1
                at = removed.get(data["key_id"])
                if at is not None and sent > at:
                    stale.append(f"{data['key_id']} sent {sent - at:.4f}s after its removal")

        replicas = cluster.procs["resolver"]
        hammers = [asyncio.create_task(hammer(lambda: subjects.RESOLVE)) for _ in range(3)]
        hammers += [
            asyncio.create_task(hammer(lambda p=p: replica_subject(p.replica_id)))  # type: ignore[misc]
            for p in replicas
        ]
        restarting: asyncio.Task[float] | None = None
        rounds, kills = 16, 0
        for i in range(rounds):
            if i % 5 == 2:
                victim = kills % 2
                if restarting is not None:
                    await restarting
                cluster.kill9("resolver", victim)
                kills += 1
                restarting = asyncio.create_task(cluster.restart("resolver", victim))
            key = fake_providers.add_key(anthropic_key(f"round{i}"))
            configured = await client.configure("session:s", key, account="acme")
            await resolve_until(client, "acme", ["session:s", "workspace:f"], configured.key_id)
            await client.remove("session:s", "anthropic", account="acme")
            removed[configured.key_id] = time.monotonic()
            await resolve_until(client, "acme", ["session:s", "workspace:f"], fallback.key_id)
        if restarting is not None:
            await restarting
        stop.set()
        await asyncio.gather(*hammers)
        assert stale == []
        assert answers["resolved"] > 200
        assert kills >= 3
        print(json.dumps({"rounds": rounds, "kills": kills, "stale": len(stale), **answers}))
    finally:
        stop.set()
        if client is not None:
            await client.close()
        await cluster.close()
