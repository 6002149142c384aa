"""``make bench BENCH_ARGS="configure"``: keys.configure latency end to end.

A real nats-server, key-vault and validator in-process, a local FakeProviders
HTTP server standing in for Anthropic. Each configure is followed by one sample
of each baseline, so a busy machine slows both alike. One configure = client seals -> key-vault
opens, checks, asks the validator (sealed hop) -> live HTTP call -> encrypt ->
KV write -> event publish -> reply. Baselines measured in the same run: a raw
nats-py echo responder round trip and a raw httpx round trip to the fake
provider; ``floor`` is two bus round trips plus one provider call. 1,500 samples: the
p99 of 400 swung from 1.4x to 2.7x between runs on the same code, that of 1,500 by 0.3x.
Everything runs in this one process, so its CPU time per sample is reported too: a
figure that a busy machine barely moves, and that the wall-clock ratios follow.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.aio.msg import Msg

from byok_client import ByokClient
from byok_key_vault.app import create_app as key_vault_app
from byok_shared.natsserver import NatsServer
from byok_shared.provision import provision_blocking
from byok_shared.testing import running, settings_for
from byok_shared.testing.fake_providers import FakeProviders
from byok_validator.app import create_app as validator_app

from ._support import latency_summary

KEY = "sk-ant-api03-" + "B3nchK3y" * 10


class _Floor:
    """The floor's parts, measured between configures so drift on a shared machine hits
    both alike: a raw nats-py echo (400 bytes) and a raw httpx call to the fake provider."""

    def __init__(self) -> None:
        self.echo: list[float] = []
        self.http: list[float] = []

    async def start(self, url: str, fake: FakeProviders) -> None:
        self._server = await nats.connect(url)
        self._client = await nats.connect(url)

        async def echo(msg: Msg) -> None:
            await msg.respond(msg.data)

        await self._server.subscribe("bench.echo", cb=echo)
        await self._server.flush()
        self._http = httpx.AsyncClient()
        self._url = f"{fake.anthropic_url}/v1/models"
        for _ in range(20):
            await self.sample(keep=False)

    async def sample(self, *, keep: bool = True) -> None:
        started = time.perf_counter()
        await self._client.request("bench.echo", b"x" * 400, timeout=5)
        middle = time.perf_counter()
        headers = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
        response = await self._http.get(self._url, headers=headers)
        assert response.status_code == 200
        if keep:
            self.echo.append(middle - started)
            self.http.append(time.perf_counter() - middle)

    async def stop(self) -> None:
        await self._http.aclose()
        await self._client.drain()
        await self._server.drain()


async def run(quick: bool) -> dict[str, Any]:
    n = 60 if quick else 1500
    floor = _Floor()
    with tempfile.TemporaryDirectory() as tmp, FakeProviders() as fake:
        base = Path(tmp)
        server = NatsServer(store_dir=base / "js", log_file=base / "nats.log").start_anywhere()
        provision_blocking(server.url)  # the operator's step: services only verify
        try:
            fake.add_key(KEY)
            settings = settings_for(server.url, base / "data", **fake.settings_overrides())
            async with running(validator_app(settings), key_vault_app(settings)):
                client = await ByokClient.connect(server.url, account="bench")
                await floor.start(server.url, fake)
                try:
                    for i in range(10):
                        await client.configure(f"session:warm{i}", KEY, account="bench")
                    samples, cpu, floor_cpu = [], 0.0, 0.0
                    for i in range(n):
                        started, used = time.perf_counter(), time.process_time()
                        await client.configure(f"session:b{i}", KEY, account="bench")
                        samples.append(time.perf_counter() - started)
                        middle = time.process_time()
                        await floor.sample()
                        cpu += middle - used
                        floor_cpu += time.process_time() - middle
                finally:
                    await floor.stop()
                    await client.close()
        finally:
            server.stop()
    echo, http = floor.echo, floor.http
    configure = latency_summary(samples)
    echo_s = latency_summary(echo)
    http_s = latency_summary(http)
    floor_p50 = 2 * echo_s["p50_ms"] + http_s["p50_ms"]
    floor_p99 = 2 * echo_s["p99_ms"] + http_s["p99_ms"]
    return {
        "requests": n,
        "configure": configure,
        "baseline_nats_echo": echo_s,
        "baseline_provider_http": http_s,
        "floor_2echo_plus_http": {"p50_ms": round(floor_p50, 3), "p99_ms": round(floor_p99, 3)},
        "ratio_p50_vs_echo": round(configure["p50_ms"] / echo_s["p50_ms"], 2),
        "ratio_p50_vs_floor": round(configure["p50_ms"] / floor_p50, 2),
        "ratio_p99_vs_floor": round(configure["p99_ms"] / floor_p99, 2),
        # This process's CPU (services, client and the fake provider's thread) per sample:
        # the machine's noise barely moves it, and the wall figures follow it.
        "cpu_ms_per_configure": round(cpu / n * 1000, 3),
        "cpu_ms_per_floor": round(floor_cpu / n * 1000, 3),
        "cpu_ratio": round(cpu / floor_cpu, 2),
    }
