"""The settings page: revoked keys, keyboard-only use, expired links, the browser's seal
bytes (as key-vault opens them), the strict CSP and its assets, a missing Chromium, and a
page for one session (per-session keys and usage)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from collections.abc import AsyncIterator
from http.server import BaseHTTPRequestHandler

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from playwright.async_api import Browser, Page, expect

from byok_contracts.sealing import open_configure, open_sealed
from byok_gateway.settings_page import content_security_policy
from byok_shared.testing.localhttp import LocalHTTPServer
from byok_shared.testing.polling import resolve_until

from .conftest import Gateway, chromium_path, launch, open_settings, shot
from .test_settings_page import ACCOUNT, WS, backend_get, end_user_token, row

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with launch() as b:
        yield b


async def focus_visible(page: Page) -> str:
    """The focused element's id (or aria-label), after checking its focus ring is drawn."""
    info = await page.evaluate(
        """() => { const e = document.activeElement; const s = getComputedStyle(e);
        return {id: e.id || e.getAttribute('aria-label') || e.tagName,
                ring: e.matches(':focus-visible'), style: s.outlineStyle,
                width: parseFloat(s.outlineWidth)}; }"""
    )
    assert info["ring"], f"{info['id']} is focused without :focus-visible"
    assert info["style"] != "none", f"{info['id']} has no focus outline"
    assert info["width"] >= 2, f"{info['id']} focus outline is too thin"
    return str(info["id"])


async def tab_to(page: Page, selector: str, *, limit: int = 40) -> None:
    """Press Tab (only the keyboard) until ``selector`` has the focus."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        if await page.evaluate("(s) => document.activeElement.matches(s)", selector):
            await focus_visible(page)
            return
    raise AssertionError(f"Tab never reached {selector}")


async def unnamed_controls(page: Page) -> list[str]:
    """Visible form controls without an accessible name (a label, aria-label or text)."""
    found: list[str] = await page.evaluate(
        """() => [...document.querySelectorAll('input, select, button, [role=img]')]
        .filter((e) => e.offsetParent !== null || e.tagName === 'svg')
        .filter((e) => !((e.labels && e.labels.length) || e.getAttribute('aria-label')
          || e.getAttribute('aria-labelledby') || (e.tagName === 'BUTTON' && e.textContent.trim())))
        .map((e) => e.id || e.outerHTML.slice(0, 60))"""
    )
    return found


async def test_a_revoked_key_is_shown_as_revoked_and_can_be_updated(
    gw: Gateway, browser: Browser
) -> None:
    backend = await gw.token(ACCOUNT)
    old = gw.valid("anthropic", "Pw4Gm7s")
    configured = await gw.client.configure("workspace:ws-1", old, account=ACCOUNT)
    # The provider now rejects the key, and a runtime reports the 401 it saw.
    gw.fake.revoke(old)
    report = await gw.client.report(configured.key_id, 401, "invalid x-api-key")
    assert report.outcome == "revoked"
    token = await end_user_token(gw, backend)
    new = gw.valid("anthropic", "Zc8Tn1f")

    async with open_settings(browser, gw.url, token) as (page, traffic, _):
        claude = row(page, "anthropic")
        await expect(claude).to_have_attribute("data-state", "revoked")
        await expect(claude.locator(".badge")).to_have_text("Revoked")
        await expect(claude.locator(".state-note")).to_contain_text(
            "the provider rejected this key"
        )
        # No enable switch for a revoked key: only Update or Delete.
        await expect(claude.get_by_role("button", name="Enable")).to_have_count(0)
        await expect(claude.get_by_role("button", name="Disable")).to_have_count(0)
        await expect(page.locator("#credits-paused")).to_be_hidden()
        await shot(page, "07-revoked")
        await claude.get_by_role("button", name="Update").click()
        await page.fill("#api-key", new)
        await page.click("#save")
        await expect(claude).to_have_attribute("data-state", "active")
        await expect(page.locator("#credits-paused")).to_be_visible()
    traffic.assert_same_origin()
    traffic.assert_no_key_bytes(old, new)


async def test_keyboard_only_use_of_the_main_controls(gw: Gateway, browser: Browser) -> None:
    backend = await gw.token(ACCOUNT)
    token = await end_user_token(gw, backend, agents=["helper"])
    claude = gw.valid("anthropic", "Jd3Wq9k")

    async with open_settings(browser, gw.url, token) as (page, traffic, _):
        assert await unnamed_controls(page) == []
        await tab_to(page, "#api-key")
        await page.keyboard.type(claude)
        await expect(page.locator("#detected")).to_have_text("Detected: Anthropic (Claude)")
        await tab_to(page, "#eye")
        await page.keyboard.press("Space")
        await expect(page.locator("#api-key")).to_have_attribute("type", "text")
        await page.keyboard.press("Enter")
        await expect(page.locator("#api-key")).to_have_attribute("type", "password")
        await tab_to(page, "#model")
        await page.keyboard.press("ArrowDown")
        chosen = await page.locator("#model").input_value()
        assert chosen, "ArrowDown did not choose a curated model"
        await tab_to(page, "#save")
        await shot(page, "08-keyboard-focus")
        await page.keyboard.press("Enter")
        await expect(row(page, "anthropic").locator(".model")).to_have_text(chosen)

        # The BYOK switch with Space.
        await tab_to(page, "#byok-enabled")
        await page.keyboard.press("Space")
        await expect(page.locator("#byok-enabled")).not_to_be_checked()
        await expect(page.locator("#flash")).to_contain_text("BYOK is off")
        assert (await backend_get(gw, backend, f"{WS}/settings"))["byok_enabled"] is False

        # Per-agent routing with the arrow keys.
        await tab_to(page, "#route-helper")
        await page.keyboard.press("ArrowDown")
        await expect(page.locator("#flash")).to_contain_text("helper now routes: metered")
        assert (await backend_get(gw, backend, "/v1/scopes/agent/helper/settings"))[
            "route"
        ] == "metered"

        # Delete with its confirmation: Escape cancels, then Tab to "Delete key" and Enter.
        delete = "#key-list li[data-provider=anthropic] button.danger"
        await tab_to(page, delete)
        await page.keyboard.press("Enter")
        await expect(page.locator("#confirm-delete")).to_be_visible()
        await expect(page.locator("#confirm-cancel")).to_be_focused()
        await page.keyboard.press("Escape")
        await expect(page.locator("#confirm-delete")).to_be_hidden()
        await expect(row(page, "anthropic")).to_have_count(1)
        await expect(page.locator(delete)).to_be_focused()
        await page.keyboard.press("Enter")
        await page.keyboard.press("Tab")
        await expect(page.locator("#confirm-ok")).to_be_focused()
        await focus_visible(page)
        await page.keyboard.press("Enter")
        await expect(row(page, "anthropic")).to_have_count(0)
    traffic.assert_same_origin()
    traffic.assert_no_key_bytes(claude)


async def test_an_expired_or_forged_link_disables_the_page(gw: Gateway, browser: Browser) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{gw.url}/settings#token=byokeu.e30.forged")
    await expect(page.locator("#flash")).to_contain_text("This settings link has expired")
    await expect(page.locator("#api-key")).to_be_disabled()
    await expect(page.locator("#save")).to_be_disabled()
    # The token left the address bar at once.
    assert "token" not in page.url
    await page.goto(f"{gw.url}/settings")
    await context.close()


async def test_the_browser_seal_opens_in_key_vault_with_its_binding(
    gw: Gateway, browser: Browser
) -> None:
    """seal.js (the TypeScript client's sealing, bundled) writes SEALING.md's exact bytes."""
    private = X25519PrivateKey.generate()
    public = base64.b64encode(
        private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    ).decode()
    secret = "sk-ant-api03-browser-seal-check-0123456789"
    page = await (await browser.new_context()).new_page()
    await page.goto(f"{gw.url}/settings")
    before = int(time.time())
    sealed = await page.evaluate(
        """async ([key, pub]) => {
            const { sealForConfigure } = await import('/settings/assets/seal.js');
            return sealForConfigure(key, pub, { account: 'acct-x',
              scope: { type: 'workspace', id: 'ws-9' }, requestId: 'req-7' });
        }""",
        [secret, public],
    )
    blob = base64.b64decode(sealed, validate=True)
    plaintext = open_sealed(sealed, private, "byok.v1.keys.configure")
    assert len(blob) == 32 + len(plaintext) + 16
    envelope = json.loads(plaintext)
    assert before <= envelope["iat"] <= int(time.time())
    expected = {
        "v": 1,
        "key": secret,
        "account": "acct-x",
        "scope": {"type": "workspace", "id": "ws-9"},
        "iat": envelope["iat"],
        "request_id": "req-7",
    }
    assert plaintext == json.dumps(expected, separators=(",", ":")).encode()
    scope = {"type": "workspace", "id": "ws-9"}
    assert open_configure(sealed, private, account="acct-x", scope=scope, request_id="req-7") == (
        secret
    )
    await page.context.close()


async def test_page_and_assets_are_served_locally_under_a_strict_csp(gw: Gateway) -> None:
    page = await gw.http.get("/settings")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert csp == content_security_policy()
    for directive in ("default-src 'none'", "script-src 'self'", "connect-src 'self'"):
        assert directive in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    html = page.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
    assert "style=" not in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "asset from another origin"
    for name in ("settings.js", "api.js", "view.js", "seal.js", "settings.css", "embed.js"):
        r = await gw.http.get(f"/settings/assets/{name}")
        assert r.status_code == 200, name
        assert r.headers["content-security-policy"] == csp
        assert r.headers["x-content-type-options"] == "nosniff"
    seal = (await gw.http.get("/settings/assets/seal.js")).text
    assert "sealForConfigure" in seal
    assert "byok.v1.keys.configure" in seal
    for bad in ("..%2Fapp.py", "__init__.py", ".hidden.js", "missing.js", "%2Fetc%2Fpasswd"):
        assert (await gw.http.get(f"/settings/assets/{bad}")).status_code == 404, bad


def test_a_missing_chromium_fails_saying_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYOK_CHROMIUM", "/nonexistent/chromium")
    with pytest.raises(pytest.fail.Exception) as failed:
        chromium_path()
    message = str(failed.value)
    assert "missing /nonexistent/chromium" in message
    assert "apt-get install chromium" in message


async def test_the_traffic_check_catches_key_bytes_in_url_header_or_body(
    gw: Gateway, browser: Browser
) -> None:
    """The interception is not blind: a page that leaked a key in any place is caught."""
    backend = await gw.token(ACCOUNT)
    token = await end_user_token(gw, backend)
    secret = "sk-proj-leakcheck-Qm4Xv8Tz2Lr6Wp0Yn3"
    leaks = {
        "url": "fetch('/v1/catalog?k=' + encodeURIComponent(s.slice(8, 24)))",
        "header": "fetch('/v1/catalog', {headers: {'X-Note': s.slice(-14)}})",
        "body": "fetch('/v1/catalog', {method: 'POST', body: btoa(s)})",
    }
    for script in leaks.values():
        async with open_settings(browser, gw.url, token) as (page, traffic, _):
            traffic.assert_no_key_bytes(secret)
            await page.evaluate(f"(s) => {script}.then(r => r.status)", secret)
        with pytest.raises(AssertionError, match="key bytes left the browser"):
            traffic.assert_no_key_bytes(secret)


class ProductSite(LocalHTTPServer):
    """The product's own web server (another origin) with one account page."""

    name = "product-site"
    page = b""

    class handler(BaseHTTPRequestHandler):  # noqa: N801 - LocalHTTPServer's attribute
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = self.server.owner.page  # type: ignore[attr-defined]
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


async def test_a_product_page_embeds_the_settings_page(
    gw: Gateway, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """<byok-settings> on the product's origin frames the page, when the operator allows it."""
    backend = await gw.token(ACCOUNT)
    token = await end_user_token(gw, backend)
    context = await browser.new_context()
    page = await context.new_page()
    with ProductSite() as site:
        product = site.base_url
        site.page = f"""<!doctype html><title>Product</title>
        <script type="module" src="{gw.url}/settings/assets/embed.js"></script>
        <byok-settings base="{gw.url}" token="{token}"></byok-settings>""".encode()
        # Framing is refused until the operator lists the product's origin.
        await page.goto(f"{product}/account")
        await expect(page.locator("byok-settings iframe")).to_have_count(1)
        blocked = page.frame_locator("byok-settings iframe").locator("#scope-line")
        await page.wait_for_load_state("load")  # the parent's load waits for its frames
        assert await blocked.count() == 0
        monkeypatch.setenv("BYOK_SETTINGS_FRAME_ANCESTORS", product)
        await page.goto(f"{product}/account")
        frame = page.frame_locator("byok-settings iframe")
        await expect(frame.locator("#scope-line")).to_have_text("Keys for workspace ws-1")
        # The token does not stay in the product's DOM.
        assert await page.locator("byok-settings").get_attribute("token") is None
        await shot(page, "09-embedded")
    await context.close()


async def test_a_session_page_sets_its_own_key_shows_its_usage_and_falls_back(
    gw: Gateway, browser: Browser
) -> None:
    """The per-session seed: the page opened for one session sets a key only that session
    uses (over the account's), shows that session's usage, and removing it sends the
    session back to the account-level key on its next request."""
    backend = await gw.token(ACCOUNT)
    account_key = gw.valid("anthropic", "Ac3tK9y")
    at_account = await gw.client.configure(f"account:{ACCOUNT}", account_key, account=ACCOUNT)
    session, other = ["session:s-42", f"account:{ACCOUNT}"], ["session:s-43", f"account:{ACCOUNT}"]
    body = {"scope": {"type": "session", "id": "s-42"}, "ttl_seconds": 900, "agents": []}
    minted = await gw.call("POST", "/v1/end-user-tokens", backend, json=body)
    assert minted.status_code == 200, minted.text
    session_key = gw.valid("anthropic", "Se5sK7y")

    async with open_settings(browser, gw.url, minted.json()["token"]) as (page, traffic, _):
        await page.fill("#api-key", session_key)
        await page.click("#save")
        await expect(row(page, "anthropic")).to_have_attribute("data-state", "active")
        listed = await backend_get(gw, backend, "/v1/scopes/session/s-42/keys")
        own = listed["keys"][0]["key_id"]
        await resolve_until(gw.client, ACCOUNT, session, own)
        await resolve_until(gw.client, ACCOUNT, other, at_account.key_id)  # only this session

        route = await gw.client.resolve(ACCOUNT, session, provider="anthropic")
        await gw.client.record_usage(ACCOUNT, session, route, input_tokens=800, output_tokens=200)
        for _ in range(200):
            usage = await backend_get(gw, backend, "/v1/usage?scope=session:s-42")
            if usage["calls"] == 1:
                break
            await asyncio.sleep(0.05)
        await page.reload()
        await page.wait_for_selector("body[data-ready=true]")
        await expect(page.locator("#usage-calls")).to_have_text("1")
        await expect(page.locator("#usage-tokens")).to_have_text("1,000 (800 in, 200 out)")

        await row(page, "anthropic").get_by_role("button", name="Delete").click()
        await page.click("#confirm-ok")
        await expect(row(page, "anthropic")).to_have_count(0)
        await expect(page.locator("#no-keys")).to_have_text(
            "No key saved for this session: its requests use your account-level key, "
            "if you have one."
        )
        await resolve_until(gw.client, ACCOUNT, session, at_account.key_id, never=own)
        await shot(page, "10-session")
    traffic.assert_same_origin()
    traffic.assert_no_key_bytes(session_key, account_key)
