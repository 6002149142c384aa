"""The settings page in a real headless Chromium against the real stack (fake providers only).

The whole seed flow for one end user's scope, with every request leaving the browser
intercepted: none may carry key bytes, none may go to another origin.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from .conftest import Gateway, key, launch, open_settings, shot

pytestmark = pytest.mark.timeout(300)

ACCOUNT = "acct-sp"
WS = "/v1/scopes/workspace/ws-1"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with launch() as b:
        yield b


async def end_user_token(gw: Gateway, backend: str, agents: list[str] | None = None) -> str:
    body: dict[str, Any] = {"scope": {"type": "workspace", "id": "ws-1"}, "ttl_seconds": 900}
    body["agents"] = agents or []
    r = await gw.call("POST", "/v1/end-user-tokens", backend, json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


async def backend_get(gw: Gateway, backend: str, path: str) -> Any:
    r = await gw.call("GET", path, backend)
    assert r.status_code == 200, r.text
    return r.json()


async def seed_usage_and_credits(gw: Gateway, backend: str) -> None:
    await gw.client.grant(ACCOUNT, 1000, reason="welcome", idempotency_key="welcome-1")
    catalog = await backend_get(gw, backend, "/v1/catalog")
    models = {p["provider"]: p["default_model"] for p in catalog["providers"]}
    for provider, tokens in (("anthropic", 1200), ("openai", 300)):
        await gw.client.record_usage(
            ACCOUNT,
            ["workspace:ws-1"],
            input_tokens=tokens,
            output_tokens=tokens // 4,
            provider=provider,
            model=models[provider],
            source="byok",
        )
    for _ in range(100):
        usage = await backend_get(gw, backend, "/v1/usage?scope=workspace:ws-1")
        if usage["calls"] == 2:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("usage was not recorded")


async def save_key(page: Page, value: str) -> None:
    await page.fill("#api-key", value)
    await page.click("#save")


def row(page: Page, provider: str) -> Any:
    return page.locator(f"#key-list li[data-provider={provider}]")


async def test_the_whole_seed_flow_in_chromium(gw: Gateway, browser: Browser) -> None:
    backend = await gw.token(ACCOUNT)
    await seed_usage_and_credits(gw, backend)
    token = await end_user_token(gw, backend, agents=["planner", "coder"])
    claude, claude2 = gw.valid("anthropic", "Kq7Zp3w"), gw.valid("anthropic", "Rt5Yx8m")
    gpt = gw.valid("openai", "Vb2Nc6j")
    bad = gw.fake.add_key(key("anthropic", "Hx9Lq4d"), status="rejected")

    async with open_settings(browser, gw.url, token) as (page, traffic, _):
        await expect(page.locator("#scope-line")).to_have_text("Keys for workspace ws-1")
        await expect(page.locator("#no-keys")).to_be_visible()
        await shot(page, "01-empty")

        # Provider detected while typing; an unknown prefix explained.
        await page.locator("#api-key").press_sequentially("xy-123")
        await expect(page.locator("#detected")).to_contain_text("Unrecognised key format")
        await expect(page.locator("#detected")).to_contain_text("sk-ant-")
        await expect(page.locator("#save")).to_be_disabled()
        await page.fill("#api-key", "")
        await page.locator("#api-key").press_sequentially("sk-")
        await expect(page.locator("#detected")).to_have_text("Detected: OpenAI")
        await page.locator("#api-key").press_sequentially("ant-")
        await expect(page.locator("#detected")).to_have_text("Detected: Anthropic (Claude)")
        await expect(page.locator("#save")).to_be_enabled()

        # The eye toggle shows and hides the key.
        api_key = page.locator("#api-key")
        await expect(api_key).to_have_attribute("type", "password")
        await page.click("#eye")
        await expect(api_key).to_have_attribute("type", "text")
        await expect(page.locator("#eye")).to_have_attribute("aria-pressed", "true")
        await page.click("#eye")
        await expect(api_key).to_have_attribute("type", "password")

        # The model dropdown: the provider's default first, then the curated list;
        # no free text while the account does not allow custom models.
        catalog = await backend_get(gw, backend, "/v1/catalog")
        anthropic = next(p for p in catalog["providers"] if p["provider"] == "anthropic")
        options = await page.locator("#model option").all_text_contents()
        assert options[0] == f"Provider default ({anthropic['default_model']})"
        curated = [m for m in anthropic["models"] if m != anthropic["default_model"]]
        assert options[1:] == curated
        assert curated
        await expect(page.locator("#custom-model-row")).to_be_hidden()

        # Save with live validation: a rejected key shows the provider's reason, stores nothing.
        await save_key(page, bad)
        await expect(page.locator("#flash")).to_contain_text("invalid x-api-key")
        await expect(page.locator("#flash")).to_have_class("error")
        await expect(page.locator("#no-keys")).to_be_visible()
        await shot(page, "02-rejected")

        # A valid key, with a curated model: saved; only the masked hint is shown.
        await page.fill("#api-key", claude)
        await page.select_option("#model", curated[0])
        await page.click("#save")
        await expect(row(page, "anthropic")).to_be_visible()
        await expect(row(page, "anthropic").locator(".model")).to_have_text(curated[0])
        await expect(page.locator("#api-key")).to_have_value("")
        hint = await row(page, "anthropic").locator(".hint").inner_text()
        assert hint
        assert hint != claude
        assert claude[-12:] not in hint
        assert claude not in await page.content()
        stored = await backend_get(gw, backend, f"{WS}/keys")
        assert [(k["provider"], k["hint"]) for k in stored["keys"]] == [("anthropic", hint)]

        # A second provider: the active provider can be chosen.
        await expect(page.locator("#active-row")).to_be_hidden()
        await save_key(page, gpt)
        await expect(row(page, "openai")).to_be_visible()
        await expect(page.locator("#active-row")).to_be_visible()
        await page.select_option("#active-provider", "openai")
        await expect(page.locator("#flash")).to_contain_text("Active provider: OpenAI")
        settings = await backend_get(gw, backend, f"{WS}/settings")
        assert settings["active_provider"] == "openai"

        # Update is validated before it replaces: a rejected update keeps the old key.
        await row(page, "anthropic").get_by_role("button", name="Update").click()
        await expect(page.locator("#add-title")).to_have_text("Update your Anthropic (Claude) key")
        await expect(page.locator("#api-key")).to_be_focused()
        await save_key(page, bad)
        await expect(page.locator("#flash")).to_contain_text("invalid x-api-key")
        await expect(page.locator("#flash")).to_contain_text(f"{hint} is unchanged")
        await expect(row(page, "anthropic").locator(".hint")).to_have_text(hint)
        await expect(row(page, "anthropic")).to_have_attribute("data-state", "active")
        # An OpenAI key cannot update the Claude key.
        await page.fill("#api-key", gpt)
        await expect(page.locator("#detected")).to_have_text(
            "This is not an Anthropic (Claude) key."
        )
        await expect(page.locator("#save")).to_be_disabled()
        await save_key(page, claude2)
        await expect(page.locator("#flash")).to_contain_text("Anthropic (Claude) key updated")
        await expect(row(page, "anthropic").locator(".hint")).not_to_have_text(hint)
        await expect(page.locator("#add-title")).to_have_text("Add a key")

        # Disabled state: clear, and reversible.
        await row(page, "openai").get_by_role("button", name="Disable").click()
        await expect(row(page, "openai")).to_have_attribute("data-state", "disabled")
        await expect(row(page, "openai").locator(".badge")).to_have_text("Disabled")
        await expect(row(page, "openai").locator(".state-note")).to_contain_text("The key is kept")
        await shot(page, "03-disabled")
        await row(page, "openai").get_by_role("button", name="Enable").click()
        await expect(row(page, "openai")).to_have_attribute("data-state", "active")

        # Credits: the balance, paused while BYOK is on with an active key.
        await expect(page.locator("#balance")).to_have_text("1,000 credits")
        await expect(page.locator("#credits-paused")).to_be_visible()

        # The BYOK switch keeps the keys.
        await page.click("#byok-enabled")
        await expect(page.locator("#byok-enabled")).not_to_be_checked()
        await expect(page.locator("#credits-paused")).to_be_hidden()
        await expect(page.locator("#byok-note")).to_contain_text("your keys are kept")
        await expect(page.locator("#key-list li")).to_have_count(2)
        assert (await backend_get(gw, backend, f"{WS}/settings"))["byok_enabled"] is False
        assert len((await backend_get(gw, backend, f"{WS}/keys"))["keys"]) == 2
        await page.click("#byok-enabled")
        await expect(page.locator("#byok-enabled")).to_be_checked()
        await expect(page.locator("#credits-paused")).to_be_visible()

        # Usage for the scope: calls, tokens, estimated cost, a chart.
        await expect(page.locator("#usage-calls")).to_have_text("2")
        await expect(page.locator("#usage-tokens")).to_have_text("1,875 (1,500 in, 375 out)")
        await expect(page.locator("#usage-cost")).to_have_text(re.compile(r"^\$\d+\.\d{4}"))
        await expect(page.locator("#usage-chart rect")).to_have_count(2)

        # Per-agent routing: metered, BYOK Claude, BYOK OpenAI.
        await expect(page.locator("#agents-section")).to_be_visible()
        await page.select_option("#route-planner", "byok:anthropic")
        await expect(page.locator("#flash")).to_contain_text("planner now routes")
        await page.select_option("#route-coder", "metered")
        await expect(page.locator("#flash")).to_contain_text("coder now routes")
        planner = await backend_get(gw, backend, "/v1/scopes/agent/planner/settings")
        coder = await backend_get(gw, backend, "/v1/scopes/agent/coder/settings")
        assert (planner["route"], coder["route"]) == ("byok:anthropic", "metered")
        await shot(page, "04-configured")

        # Delete asks for confirmation: Cancel keeps the key, Delete removes it.
        await row(page, "openai").get_by_role("button", name="Delete").click()
        dialog = page.locator("#confirm-delete")
        await expect(dialog).to_be_visible()
        await expect(dialog).to_contain_text("will be deleted")
        await shot(page, "05-confirm-delete")
        await page.click("#confirm-cancel")
        await expect(dialog).to_be_hidden()
        await expect(row(page, "openai")).to_be_visible()
        await row(page, "openai").get_by_role("button", name="Delete").click()
        await page.click("#confirm-ok")
        await expect(row(page, "openai")).to_have_count(0)
        await expect(page.locator("#flash")).to_have_text("OpenAI key deleted.")
        assert [k["provider"] for k in (await backend_get(gw, backend, f"{WS}/keys"))["keys"]] == [
            "anthropic"
        ]

        # Free text for the model only where the account allows custom models.
        r = await gw.call(
            "PATCH", f"/v1/accounts/{ACCOUNT}/policy", backend, json={"allow_custom_models": True}
        )
        assert r.status_code == 200, r.text
        await page.reload()
        await page.wait_for_selector("body[data-ready=true]")
        await page.fill("#api-key", gpt)
        await expect(page.locator("#custom-model-row")).to_be_visible()
        await page.fill("#custom-model", "ft:gpt-4o-mini:acme:v1")
        await page.click("#save")
        await expect(row(page, "openai").locator(".model")).to_have_text("ft:gpt-4o-mini:acme:v1")
        await shot(page, "06-final")

    traffic.assert_same_origin()
    traffic.assert_no_key_bytes(claude, claude2, gpt, bad)
    # Every key went sealed: the plaintext route of the gateway was never used.
    posts = traffic.api_calls("POST", f"{WS}/keys")
    assert len(posts) >= 6
    assert all(b'"sealed_key"' in p.body and b"api_key" not in p.body for p in posts)
    assert not [s for s in traffic.sent if "/api/integrations" in s.url]
    # The token travels in the Authorization header only, never in a URL.
    assert not [s for s in traffic.sent if token in s.url]
