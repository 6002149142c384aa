"""The real stack for gateway tests: nats-server, the five services, the gateway on HTTP.

Only the LLM providers are fakes. Tokens are issued through the same store as
``byok tokens create``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Request,
    Route,
    async_playwright,
    expect,
)

from byok_client import ByokClient
from byok_credit_ledger.app import create_app as credit_ledger
from byok_gateway.app import create_app as gateway_app
from byok_gateway.config import GatewaySettings
from byok_gateway.settings_page import ASSETS
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


async def seconds_until_401(
    whoami: Callable[[], Awaitable[httpx.Response]], timeout: float = 2.0
) -> float:
    """Seconds until ``whoami()`` (a ``GET /v1/whoami`` with a token just revoked) is 401."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if (await whoami()).status_code == 401:
            return time.perf_counter() - started
        await asyncio.sleep(0.01)
    raise AssertionError("the revoked token still works")


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


# --- A real headless Chromium (Debian's package) driven by Playwright, for the settings
# page. Never ``playwright install``: the browser is the system's /usr/bin/chromium
# (BYOK_CHROMIUM overrides), installed by ``make browser``; missing, the test fails and
# says so, never skips. Traffic sees every request that leaves the browser and aborts any
# that goes to another origin. (Here rather than in a module of its own: this tests
# package cannot be imported by a relative name under the root suite's importlib mode.)

# The machine may be shared and slow: waits are generous, failures still name what was awaited.
TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "settings"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    """The Chromium to drive; fails the test (never skips) when it is not there."""
    path = os.environ.get("BYOK_CHROMIUM", "/usr/bin/chromium")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(
            f"missing {path}: the settings-page tests need Debian's chromium package "
            "(run `make browser`, or `apt-get install chromium`; BYOK_CHROMIUM names another "
            "path)",
            pytrace=False,
        )
    return path


def require_seal_bundle() -> None:
    """seal.js is built by ``make setup`` (esbuild); without it the page cannot seal."""
    bundle = ASSETS / "seal.js"
    if not bundle.is_file():
        pytest.fail(f"missing {bundle}: run `make setup` to build it", pytrace=False)


@asynccontextmanager
async def launch() -> AsyncIterator[Browser]:
    executable = chromium_path()
    require_seal_bundle()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Traffic:
    """Every request the page sent, as the network saw it."""

    origin: str
    sent: list[Sent] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    async def on_route(self, route: Route, request: Request) -> None:
        await self._record(request)
        if not request.url.startswith(self.origin + "/"):
            self.foreign.append(request.url)
            await route.abort()
            return
        await route.continue_()

    def on_console(self, message: ConsoleMessage) -> None:
        # An HTTP error status is logged too ("Failed to load resource"): that one is expected.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.console_errors.append(message.text)

    async def on_request(self, request: Request) -> None:
        await self._record(request)

    async def _record(self, request: Request) -> None:
        headers = await request.all_headers()
        self.sent.append(
            Sent(request.method, request.url, headers, request.post_data_buffer or b"")
        )

    def api_calls(self, method: str, path_start: str) -> list[Sent]:
        return [
            s
            for s in self.sent
            if s.method == method and urllib.parse.urlsplit(s.url).path.startswith(path_start)
        ]

    def assert_no_key_bytes(self, *keys: str) -> None:
        """No URL, header or body of any request carries a key, whole or in part."""
        assert self.sent, "no request was seen: the interception is not working"
        for key in keys:
            needles = _needles(key)
            for s in self.sent:
                haystack = (
                    "\n".join(
                        [
                            s.url,
                            urllib.parse.unquote(s.url),
                            *(f"{k}: {v}" for k, v in s.headers.items()),
                        ]
                    ).encode()
                    + b"\n"
                    + s.body
                )
                for needle in needles:
                    assert needle not in haystack, (
                        f"key bytes left the browser in {s.method} {s.url}"
                    )

    def assert_same_origin(self) -> None:
        assert not self.foreign, f"requests to other origins: {self.foreign}"
        assert not self.console_errors, f"console errors (CSP?): {self.console_errors}"


def _needles(key: str) -> list[bytes]:
    """The key, its base64 and URL forms, and every 12-character window of it."""
    raw = key.encode()
    out = [raw, base64.b64encode(raw), urllib.parse.quote(key, safe="").encode()]
    out += [raw[i : i + 12] for i in range(0, max(1, len(raw) - 11))]
    return out


@asynccontextmanager
async def open_settings(
    browser: Browser, base_url: str, token: str
) -> AsyncIterator[tuple[Page, Traffic, BrowserContext]]:
    """The settings page for ``token``, ready (its first load done), with its traffic."""
    context = await browser.new_context(viewport={"width": 900, "height": 1400})
    traffic = Traffic(origin=base_url)
    await context.route("**/*", traffic.on_route)
    context.set_default_timeout(TIMEOUT_MS)
    page = await context.new_page()
    page.on("request", traffic.on_request)
    page.on("console", traffic.on_console)
    page.on("pageerror", lambda e: traffic.console_errors.append(str(e)))
    try:
        await page.goto(f"{base_url}/settings#token={token}")
        await page.wait_for_selector("body[data-ready=true]", timeout=15_000)
        yield page, traffic, context
    finally:
        await context.close()


async def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
