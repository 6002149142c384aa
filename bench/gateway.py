"""``make bench BENCH_ARGS="gateway"``: the HTTP gateway next to the NATS path it wraps.

A real nats-server, key-vault and validator in-process, FakeProviders for the live
validation, and the gateway as its own process (``python -m byok_gateway``, as make run
starts it). Measured in the same run, same keys, same stack:

- configure latency: ``POST /v1/scopes/{type}/{id}/keys`` with a plaintext key (the
  gateway seals it) vs ``ByokClient.configure`` (the client seals) on NATS;
- list latency: ``GET /v1/scopes/{type}/{id}/keys`` vs ``keys.list`` on NATS;
- list throughput at 32 in flight: requests/s over HTTP vs over NATS.

Ratios are HTTP / NATS (latency: lower is better; throughput: higher is better).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from byok_client import ByokClient
from byok_key_vault.app import create_app as key_vault_app
from byok_shared.apitokens import ApiTokenStore
from byok_shared.natsserver import NatsServer
from byok_shared.ports import free_port
from byok_shared.provision import provision_blocking
from byok_shared.testing import running, settings_for
from byok_shared.testing.fake_providers import FakeProviders
from byok_validator.app import create_app as validator_app

from ._http import RawHttp
from ._support import Proc, latency_summary

KEY = "sk-ant-api03-" + "G4t3wayB3nch" * 7
ACCOUNT = "bench"
IN_FLIGHT = 32


async def _timed(call: Callable[[int], Awaitable[None]], n: int) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        await call(i)
        samples.append(time.perf_counter() - started)
    return samples


async def _throughput(call: Callable[[], Awaitable[None]], total: int) -> float:
    queue = iter(range(total))

    async def worker() -> None:
        for _ in queue:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
    return total / (time.perf_counter() - started)


def _start_gateway(url: str, data: Path, port: int) -> Proc:
    return Proc(
        "byok_gateway",
        url,
        data,
        BYOK_HTTP_PORT=str(port),
        BYOK_GATEWAY_RATE="1000000",
        BYOK_GATEWAY_BURST="1000000",
    )


async def _wait_http(port: int, proc: Proc) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.alive:
        try:
            async with httpx.AsyncClient() as http:
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the gateway did not start")


async def run(quick: bool) -> dict[str, Any]:
    n = 60 if quick else 150
    total = 1000 if quick else 3000
    with tempfile.TemporaryDirectory() as tmp, FakeProviders() as fake:
        base = Path(tmp)
        server = NatsServer(store_dir=base / "js", log_file=base / "nats.log").start_anywhere()
        provision_blocking(server.url)  # as make run's provisioning step
        port = free_port()
        proc = _start_gateway(server.url, base / "gateway", port)
        try:
            fake.add_key(KEY)
            settings = settings_for(server.url, base / "data", **fake.settings_overrides())
            async with running(validator_app(settings), key_vault_app(settings)):
                client = await ByokClient.connect(server.url, account=ACCOUNT)
                token, _ = await ApiTokenStore(client.nc.jetstream()).create(ACCOUNT)
                await _wait_http(port, proc)
                http = RawHttp("127.0.0.1", port, {"Authorization": f"Bearer {token}"}, IN_FLIGHT)
                await http.start()
                try:

                    async def nats_configure(i: int) -> None:
                        await client.configure(f"session:n{i}", KEY, account=ACCOUNT)

                    async def http_configure(i: int) -> None:
                        code, body = await http.request(
                            "POST", f"/v1/scopes/session/h{i}/keys", {"api_key": KEY}
                        )
                        assert code == 200, body

                    async def nats_list(_: int = 0) -> None:
                        await client.list_keys("session:n0", account=ACCOUNT)

                    async def http_list(_: int = 0) -> None:
                        code, body = await http.request("GET", "/v1/scopes/session/h0/keys")
                        assert code == 200, body

                    for i in range(10):  # warm both paths (connections, caches, JIT-free Python)
                        await nats_configure(10_000 + i)
                        await http_configure(10_000 + i)
                        await nats_list()
                        await http_list()
                    conf_nats = latency_summary(await _timed(nats_configure, n))
                    conf_http = latency_summary(await _timed(http_configure, n))
                    list_nats = latency_summary(await _timed(nats_list, n * 3))
                    list_http = latency_summary(await _timed(http_list, n * 3))
                    rps_nats = await _throughput(nats_list, total)
                    rps_http = await _throughput(http_list, total)
                finally:
                    await http.close()
                    await client.close()
        finally:
            proc.stop()
            server.stop()
    return {
        "requests": {"latency": n, "list_latency": n * 3, "throughput": total},
        "configure": {"nats": conf_nats, "http": conf_http},
        "list": {"nats": list_nats, "http": list_http},
        "list_rps": {"nats": round(rps_nats), "http": round(rps_http), "in_flight": IN_FLIGHT},
        "ratio_configure_p50_http_vs_nats": round(conf_http["p50_ms"] / conf_nats["p50_ms"], 2),
        "ratio_configure_p99_http_vs_nats": round(conf_http["p99_ms"] / conf_nats["p99_ms"], 2),
        "ratio_list_p50_http_vs_nats": round(list_http["p50_ms"] / list_nats["p50_ms"], 2),
        "ratio_list_p99_http_vs_nats": round(list_http["p99_ms"] / list_nats["p99_ms"], 2),
        "ratio_list_rps_http_vs_nats": round(rps_http / rps_nats, 2),
    }
