"""The whole of byok in-process for the DESIGN scenarios: every service against a real
nats-server (or a 3-node cluster at R3), the local cipher or a real OpenBao, fake providers.

:func:`running_system` backs the ``system`` fixture (``byok_shared.testing.fixtures``),
parametrized over ``local``, ``vault`` and ``cluster-r3``; :class:`System` is what a
scenario gets. The services and the client are imported when a scenario runs: this
package sits below them.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from nats.aio.msg import Msg

from byok_contracts.v1 import KeyChanged

from ..natsserver import NatsCluster, NatsServer
from ..openbao import OpenBao
from .apps import running, settings_for
from .cluster import fresh_r3
from .fake_providers import FakeProviders

if TYPE_CHECKING:
    from byok_client import ByokClient

__all__ = [
    "PLATFORM",
    "SYSTEM_PARAMS",
    "System",
    "events_on",
    "key",
    "one_event",
    "running_system",
    "until",
]

T = TypeVar("T")

PLATFORM = "platform:default"


def key(provider: str, tag: str) -> str:
    """A well-formed fake key of ``provider`` whose secret part is made of ``tag``."""
    body = (tag * 12)[:40]
    return {
        "anthropic": f"sk-ant-api03-{body}-AA",
        "openai": f"sk-proj-{body}",
        "gemini": f"AIzaSy{body}",
    }[provider]


@dataclass
class System:
    """The running system as a scenario sees it: a client (account ``acme``), the fake
    providers, and the cipher in use."""

    client: ByokClient
    fake: FakeProviders
    cipher: str = "local"

    def valid(self, provider: str, tag: str) -> str:
        return self.fake.add_key(key(provider, tag), status="valid")

    async def configure(self, scope: str, provider: str, tag: str, **extra: str) -> str:
        reply = await self.client.configure(scope, self.valid(provider, tag), **extra)
        return reply.key_id

    async def platform_keys(self) -> dict[str, str]:
        return {p: await self.configure(PLATFORM, p, f"plat{p}") for p in ("anthropic", "openai")}


async def events_on(system: System, subject: str) -> list[Msg]:
    """Every message published on ``subject`` from now on (subscribed before returning)."""
    seen: list[Msg] = []

    async def collect(msg: Msg) -> None:
        seen.append(msg)

    await system.client.nc.subscribe(subject, cb=collect)
    await system.client.nc.flush()
    return seen


async def one_event(system: System, seen: list[Msg]) -> KeyChanged:
    """The single event collected by :func:`events_on`: waits for it, then a round trip to
    the server delivers anything else already sent, so a second one would show."""

    async def arrived() -> list[Msg]:
        return seen

    await until(arrived, lambda got: len(got) > 0)
    await system.client.nc.flush()
    (msg,) = seen
    return KeyChanged.model_validate_json(msg.data)


async def until(
    probe: Callable[[], Awaitable[T]], check: Callable[[T], bool], timeout: float = 30.0
) -> T:
    """Poll ``probe`` until ``check`` holds (usage and debits follow events asynchronously)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        assert asyncio.get_running_loop().time() < deadline, f"still {value!r}"
        await asyncio.sleep(0.05)


def cipher_settings(request: pytest.FixtureRequest) -> dict[str, object]:
    if request.param != "vault":
        return {"cipher": "local"}
    bao: OpenBao = request.getfixturevalue("openbao_dev")
    return {"cipher": "vault", "vault_addr": bao.url, "vault_token_file": bao.token_file}


@asynccontextmanager
async def nats_for(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, int]]:
    """One server; or (``cluster-r3``) a 3-node cluster provisioned at R3 (issue 11):
    one cluster for the session, emptied after each scenario."""
    if request.param != "cluster-r3":
        server: NatsServer = request.getfixturevalue("nats_server")
        yield server.url, 1
        return
    cluster: NatsCluster = request.getfixturevalue("shared_nats_cluster")
    async with fresh_r3(cluster):
        yield cluster.url, 3


SERVICES = ("key_vault", "validator", "resolver", "credit_ledger", "usage_tracker")

SYSTEM_PARAMS = [
    "local",
    pytest.param("vault", marks=pytest.mark.vault),
    pytest.param("cluster-r3", marks=pytest.mark.slow),
]


@asynccontextmanager
async def running_system(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[System]:
    """Every service in-process on the NATS and cipher named by ``request.param``."""
    async with nats_for(request) as (url, replicas):
        with FakeProviders() as fake:
            config = settings_for(
                url,
                tmp_path / "data",
                stream_replicas=replicas,
                **fake.settings_overrides(),
                **cipher_settings(request),
            )
            # Every keys.report re-validates at once (the dedupe window has its unit test).
            checks: Any = importlib.import_module("byok_validator.config").ValidatorSettings(
                report_window=0.0
            )
            apps = [
                importlib.import_module(f"byok_{name}.app").create_app(
                    config, *((checks,) if name == "validator" else ())
                )
                for name in SERVICES
            ]
            async with running(*apps):
                client_type: Any = importlib.import_module("byok_client").ByokClient
                client = await client_type.connect(url, account="acme")
                try:
                    yield System(client, fake, config.cipher)
                finally:
                    await client.close()
