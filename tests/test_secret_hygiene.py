"""No key bytes anywhere, across processes: the whole stack as `make run` starts it.

During a full scenario run (configure at several scopes, a rejected key, a
fire-and-forget configure, list, resolve, usage, disable, revocation, cipher
rotation, removal) a subscriber on ``>`` records every message on the bus.
Afterwards the bus recording, every service's log output, every error reply,
every metrics endpoint and every file under the data directory (the JetStream
store included) are searched for each key: in full, a distinctive slice of it,
and its base64 form. Only the FakeProviders stand in for the real providers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import urllib.request
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg

from byok_client import ByokClient
from byok_contracts import ByokError, subjects
from byok_shared.ports import free_port
from byok_shared.testing.fake_providers import FakeProviders
from byok_shared.testing.misplaced import misplaced_bodies
from byok_shared.testing.stack_process import StackProcess

KEYS = {
    "ant": "sk-ant-api03-" + "Hyg1eneAnthr0picK3y" * 4 + "-zzAA",
    "oai": "sk-proj-" + "Hyg1eneOpenA1K3y" * 4,
    "gem": "AIzaSy" + "Hyg1eneGem1n1K3yValue0123",
    "plat": "sk-ant-api03-" + "Hyg1enePlatf0rmK3y" * 4 + "-ppAA",
    "bad": "sk-ant-api03-" + "Hyg1eneRejectedK3y" * 4 + "-bbAA",
    "fire": "sk-proj-" + "Hyg1eneF1reAndF0rget" * 3,
    # never configured: put by mistake in every field of every request (issue 10)
    "stray": "sk-ant-api03-" + "Hyg1eneStr4yInAF1eld" * 4 + "-ssAA",
}


def scrape(first_port: int) -> bytes:
    """Every service's Prometheus endpoint (``make run`` gives them consecutive ports)."""
    out = b""
    for offset in range(len(subjects.SERVICES)):
        url = f"http://127.0.0.1:{first_port + offset}/metrics"
        with urllib.request.urlopen(url, timeout=5) as reply:
            out += reply.read()
    return out


def needles(secret: str) -> list[bytes]:
    return [
        secret.encode(),
        secret[10:34].encode(),
        base64.b64encode(secret.encode()),
        base64.b64encode(secret.encode()).rstrip(b"=")[8:40],
    ]


def find_leaks(blob: bytes) -> list[str]:
    return [name for name, secret in KEYS.items() for n in needles(secret) if n in blob]


def start_stack(data: Path, fake: FakeProviders, metrics_port: int) -> StackProcess:
    """``make run`` as a process, logging at DEBUG, its metrics on ``metrics_port``."""
    env = fake.env() | {
        # The bus tap below subscribes to ">", which no role may: authorization off
        # (tests/test_stack_auth.py covers the default, authorized stack).
        "BYOK_NATS_AUTH": "0",
        "BYOK_LOG_LEVEL": "DEBUG",
        "BYOK_LOG_FORMAT": "json",
        "BYOK_METRICS_PORT": str(metrics_port),
    }
    return StackProcess(data, env).start()


def nats_url(text: str) -> str:
    match = re.search(r"NATS at (nats://\S+?);", text)
    assert match, text[-4000:]
    return match.group(1)


async def scenario(client: ByokClient, fake: FakeProviders, errors: list[str]) -> None:
    c = client
    for name in ("ant", "oai", "gem", "plat", "fire"):
        fake.add_key(KEYS[name], status="valid")
    fake.add_key(KEYS["bad"], status="rejected")

    await c.configure("platform:default", KEYS["plat"])
    await c.grant("hyg", 1000, reason="monthly", idempotency_key="hyg-1")
    ant = await c.configure("workspace:hyg", KEYS["ant"])
    await c.configure("session:hyg-s1", KEYS["oai"], model="gpt-4.1")
    gem = await c.configure("chatbot:hyg-bot", KEYS["gem"])
    for bad in (KEYS["bad"], "rk-" + KEYS["ant"][3:]):
        try:
            await c.configure("workspace:hyg", bad)
        except ByokError as exc:
            errors.append(
                json.dumps({"code": exc.code, "error": exc.error, "message": exc.message})
            )
    await c.publish_configure("workspace:hyg-fire", KEYS["fire"], request_id="hyg-fire-1")
    await c.list_keys("workspace:hyg")
    chain = ["session:hyg-s1", "workspace:hyg", "account:hyg"]
    for provider in ("openai", "anthropic", None):
        route = await c.resolve("hyg", chain, provider=provider)
        await c.record_usage("hyg", chain, route, input_tokens=1200, output_tokens=300)
    await c.resolve("hyg", ["chatbot:hyg-bot"], provider="gemini")
    await c.set_enabled("workspace:hyg", "anthropic", enabled=False)
    platform = await c.resolve("hyg", ["workspace:hyg"], provider="anthropic")
    assert platform.source == "platform"
    await c.record_usage("hyg", ["workspace:hyg"], platform, input_tokens=900, output_tokens=90)
    fake.revoke(KEYS["gem"])
    await c.report(gem.key_id, 401, "API key not valid. Please pass a valid API key.")
    await c.rotate_keys()
    await c.resolve("hyg", chain, provider="openai")
    await c.remove("session:hyg-s1", "openai")
    await c.remove("workspace:hyg", "anthropic")
    try:
        await c.resolve("hyg", ["session:hyg-none"], source="byok")
    except ByokError as exc:
        errors.append(exc.message)
    await c.usage(scope="workspace:hyg")
    assert 0 < len(ant.hint) < 16


async def misplaced(client: ByokClient, errors: list[str]) -> set[bytes]:
    """The stray key in every field of every request (and as a field name), request/reply
    and, for configure, fire and forget. Returns the bodies sent: only they may hold it."""
    sent: set[bytes] = set()
    for subject, body in misplaced_bodies(KEYS["stray"]):
        raw = json.dumps(body).encode()
        sent.add(raw)
        reply = await client.nc.request(subject, raw, timeout=10)
        data = json.loads(reply.data)
        if data.get("status") == "error":
            errors.append(data["message"])
        if subject == subjects.KEYS_CONFIGURE:
            await client.nc.publish(subject, raw)
    return sent


async def warm_hit(client: ByokClient, metrics_port: int) -> None:
    """Resolve a settled chain until the resolver counts a cache hit. On a loaded machine
    the scenario's own resolves may all land while the feed is still catching up
    (each then a miss, by design); a hit must come once it has settled."""
    hit = rb'byok_resolver_cache_hits_total\{service="resolver"\} [1-9]'
    deadline = time.monotonic() + 60
    while not re.search(hit, await asyncio.to_thread(scrape, metrics_port)):
        assert time.monotonic() < deadline, "the resolver never answered from its cache"
        for _ in range(3):
            await client.resolve("hyg", ["workspace:hyg"], provider="anthropic")
        await asyncio.sleep(0.2)


@pytest.mark.slow
@pytest.mark.timeout(240)
async def test_no_key_bytes_on_the_bus_in_logs_replies_metrics_or_on_disk(tmp_path: Path) -> None:
    data = tmp_path / "data"
    metrics_port = free_port(block=len(subjects.SERVICES) + 1)  # make run: one port each
    with FakeProviders() as fake:
        stack = start_stack(data, fake, metrics_port)
        try:
            url = nats_url(await asyncio.to_thread(stack.wait_healthy))
            tap: list[Msg] = []
            observer = await nats.connect(url)

            async def record(msg: Msg) -> None:
                tap.append(msg)

            await observer.subscribe(">", cb=record)
            await observer.flush()
            client = await ByokClient.connect(url, account="hyg")
            errors: list[str] = []
            try:
                await scenario(client, fake, errors)
                ours = await misplaced(client, errors)
                await asyncio.sleep(1.0)  # let consumers finish and logs flush
                await warm_hit(client, metrics_port)
            finally:
                await client.close()
                await observer.drain()
            metrics = await asyncio.to_thread(scrape, metrics_port)
        finally:
            code = stack.stop()

    assert code == 0
    bus = b"\n".join(
        m.subject.encode() + m.data + json.dumps(dict(m.headers or {})).encode()
        for m in tap
        if m.data not in ours  # the misplaced requests themselves carry the stray key
    )
    assert len(tap) > 100
    assert b"byok.v1.keys.configure" in bus
    assert b"byok.v1.internal.keys.unseal" in bus  # the hops were observed, sealed
    assert find_leaks(bus) == []

    logs = stack.output.read_bytes()
    assert b"key-vault" in logs
    assert b'"level": "debug"' in logs  # the most verbose logs were on
    assert find_leaks(logs) == []

    assert len(errors) > 3 + 20  # the scenario's three, and the misplaced keys' refusals
    assert any("Invalid anthropic key" in e for e in errors)
    assert find_leaks("\n".join(errors).encode()) == []

    assert b"byok_requests_total" in metrics
    # the operational metrics the Grafana dashboard reads are live, per service
    for series in (
        rb'byok_resolver_cache_hits_total\{service="resolver"\} [1-9]',
        rb'byok_resolver_cache_misses_total\{service="resolver"\} [1-9]',
        rb'byok_ledger_debits_total\{outcome="applied",service="credit-ledger"\} [1-9]',
        rb'byok_ledger_debits_total\{outcome="byok",service="credit-ledger"\} [1-9]',
        rb'byok_event_lag_seconds_count\{service="resolver",subject="byok.v1.events.keys.removed"\} [1-9]',
        rb'byok_event_lag_seconds_count\{service="credit-ledger",subject="byok.v1.usage.recorded"\} [1-9]',
    ):
        assert re.search(series, metrics), series
    assert find_leaks(metrics) == []

    files = [p for p in data.rglob("*") if p.is_file()]
    assert any("jetstream" in str(p) for p in files)
    leaked = {str(p): find_leaks(p.read_bytes()) for p in files}
    assert {p: names for p, names in leaked.items() if names} == {}
