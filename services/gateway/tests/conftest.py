"""The real stack for gateway tests: nats-server, the five services, the gateway on HTTP.

Only the LLM providers are fakes. Tokens are issued through the same store as
``byok tokens create``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from byok_client import ByokClient
from byok_credit_ledger.app import create_app as credit_ledger
from byok_gateway.app import create_app as gateway_app
from byok_gateway.config import GatewaySettings
from byok_gateway.testing import serving
from byok_key_vault.app import create_app as key_vault
from byok_resolver.app import create_app as resolver
from byok_shared.apitokens import ApiTokenStore, TokenRole
from byok_shared.natsserver import NatsServer
from byok_shared.testing import running, settings_for
from byok_shared.testing.fake_providers import FakeProviders
from byok_usage_tracker.app import create_app as usage_tracker
from byok_validator.app import create_app as validator


def key(provider: str, tag: str) -> str:
    body = (tag * 12)[:40]
    return {
        "anthropic": f"sk-ant-api03-{body}-AA",
        "openai": f"sk-proj-{body}",
        "gemini": f"AIzaSy{body}",
    }[provider]


class LogTap(logging.Handler):
    """Every formatted record of every logger, for the no-key-bytes checks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")
        self.records.append(self.format(record) + " " + repr(vars(record)))

    def text(self) -> str:
        return "\n".join(self.records)


@dataclass
class Gateway:
    url: str
    client: ByokClient
    fake: FakeProviders
    tokens: ApiTokenStore
    logs: LogTap
    nats_url: str
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(base_url=self.url, timeout=10.0)

    def valid(self, provider: str, tag: str) -> str:
        return self.fake.add_key(key(provider, tag), status="valid")

    async def token(
        self, account: str, *, role: TokenRole = "backend", scopes: list[str] | None = None
    ) -> str:
        token, _ = await self.tokens.create(account, role=role, scopes=scopes)
        return token

    async def call(self, method: str, path: str, token: str | None, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return await self.http.request(method, path, headers=headers, **kw)


def gateway_settings(**overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {"gateway_rate": 1000.0, "gateway_burst": 1000}
    values.update(overrides)
    return GatewaySettings(**values)


@pytest.fixture
def gateway_overrides() -> dict[str, Any]:
    """Override in a test module to change the gateway's settings (rate limits, TTLs)."""
    return {}


@pytest.fixture
def log_tap() -> Iterator[LogTap]:
    tap = LogTap()
    root = logging.getLogger()
    old = root.level
    root.addHandler(tap)
    root.setLevel(logging.INFO)
    yield tap
    root.removeHandler(tap)
    root.setLevel(old)


@pytest.fixture
async def gw(
    nats_server: NatsServer, tmp_path: Path, log_tap: LogTap, gateway_overrides: dict[str, Any]
) -> AsyncIterator[Gateway]:
    with FakeProviders() as fake:
        config = settings_for(nats_server.url, tmp_path / "data", **fake.settings_overrides())
        apps = [f(config) for f in (key_vault, validator, resolver, credit_ledger, usage_tracker)]
        async with running(*apps):
            app = gateway_app(config, gateway_settings(**gateway_overrides))
            async with serving(app) as url:
                client = await ByokClient.connect(nats_server.url)
                store = ApiTokenStore(client.nc.jetstream())
                gateway = Gateway(url, client, fake, store, log_tap, nats_server.url)
                try:
                    yield gateway
                finally:
                    await gateway.http.aclose()
                    await client.close()
