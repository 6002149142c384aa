"""A real headless Chromium (Debian's package) driven by Playwright, for the settings page.

Never ``playwright install``: the browser is the system's ``/usr/bin/chromium``
(``BYOK_CHROMIUM`` overrides the path), installed by ``make browser``. When it is
missing the test fails and says so; it is never skipped.

:class:`Traffic` sees every request that leaves the browser (a context-wide route
plus the page's ``request`` event) and aborts any that goes to another origin.
"""

from __future__ import annotations

import base64
import os
import urllib.parse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

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

from byok_gateway.settings_page import ASSETS

__all__ = ["ARTIFACTS", "Traffic", "chromium_path", "launch", "open_settings", "shot"]

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
