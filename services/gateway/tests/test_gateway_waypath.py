"""The Waypath seed's flows over HTTP, exactly as documented:

``POST /api/integrations/{claude|openai}/configure {"apiKey": ...}`` ->
``{"status": "configured", "provider": "claude"}``; invalid keys ``401 Invalid
<provider> key: <reason>``; read-only workspaces ``403``; ``DELETE
/api/integrations/claude`` clears the key and a buddy routed through it falls back
to metered on its next turn.
"""

from __future__ import annotations

from .conftest import Gateway, key


async def _end_user(gw: Gateway, backend: str, scope: dict[str, str], agents: list[str]) -> str:
    r = await gw.call(
        "POST", "/v1/end-user-tokens", backend, json={"scope": scope, "agents": agents}
    )
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


async def test_configure_claude_and_openai_then_remove(gw: Gateway) -> None:
    backend = await gw.token("wpacct")
    user = await _end_user(gw, backend, {"type": "workspace", "id": "wp1"}, [])
    ant, oai = gw.valid("anthropic", "wpa"), gw.valid("openai", "wpo")
    r = await gw.call("POST", "/api/integrations/claude/configure", user, json={"apiKey": ant})
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in ("status", "provider")} == {
        "status": "configured",
        "provider": "claude",
    }
    r = await gw.call("POST", "/api/integrations/openai/configure", user, json={"apiKey": oai})
    assert r.json()["provider"] == "openai"
    gem = gw.valid("gemini", "wpg")
    r = await gw.call("POST", "/api/integrations/gemini/configure", user, json={"apiKey": gem})
    assert (r.status_code, r.json()["provider"]) == (200, "gemini"), r.text
    providers = {k.provider for k in await gw.client.list_keys("workspace:wp1")}
    assert providers == {"anthropic", "openai", "gemini"}
    r = await gw.call("DELETE", "/api/integrations/claude", user)
    assert r.json() == {"status": "removed", "provider": "claude"}
    assert {k.provider for k in await gw.client.list_keys("workspace:wp1")} == {"openai", "gemini"}


async def test_invalid_keys_are_401_with_the_provider_reason(gw: Gateway) -> None:
    backend = await gw.token("wpacct")
    bad = gw.fake.add_key(key("anthropic", "rej"), status="rejected")
    r = await gw.call(
        "POST",
        "/api/integrations/claude/configure?scope=workspace:wp2",
        backend,
        json={"apiKey": bad},
    )
    assert r.status_code == 401
    assert r.json()["message"].startswith("Invalid claude key: ")  # the seed's provider name
    assert "invalid x-api-key" in r.json()["message"]  # the provider's own reason
    assert bad not in r.text
    # An OpenAI key on the claude endpoint: Anthropic keys must start with sk-ant-.
    oai = gw.valid("openai", "wrongslot")
    r = await gw.call(
        "POST",
        "/api/integrations/claude/configure?scope=workspace:wp2",
        backend,
        json={"apiKey": oai},
    )
    assert r.status_code == 401
    assert r.json()["message"] == "Invalid claude key: anthropic keys start with sk-ant-"
    assert await gw.client.list_keys("workspace:wp2") == []


async def test_read_only_workspace_is_403(gw: Gateway) -> None:
    backend = await gw.token("wpacct")
    await gw.call(
        "POST",
        "/api/integrations/openai/configure?scope=workspace:ro",
        backend,
        json={"apiKey": gw.valid("openai", "ro")},
    )
    r = await gw.call(
        "PATCH", "/v1/scopes/workspace/ro/settings", backend, json={"read_only": True}
    )
    assert r.json()["read_only"] is True
    user = await _end_user(gw, backend, {"type": "workspace", "id": "ro"}, [])
    r = await gw.call(
        "POST",
        "/api/integrations/claude/configure",
        user,
        json={"apiKey": gw.valid("anthropic", "ro")},
    )
    assert r.status_code == 403
    r = await gw.call("DELETE", "/api/integrations/openai", user)
    assert r.status_code == 403
    # The end user cannot lift read-only themselves.
    r = await gw.call("PATCH", "/v1/scopes/workspace/ro/settings", user, json={"read_only": False})
    assert r.status_code == 403
    # A viewer token is read-only too.
    viewer = await gw.token("wpacct", role="viewer")
    r = await gw.call(
        "POST",
        "/api/integrations/claude/configure?scope=workspace:x",
        viewer,
        json={"apiKey": gw.valid("anthropic", "vw")},
    )
    assert r.status_code == 403


async def test_scope_is_required_without_an_end_user_token(gw: Gateway) -> None:
    backend = await gw.token("wpacct")
    r = await gw.call(
        "POST",
        "/api/integrations/claude/configure",
        backend,
        json={"apiKey": gw.valid("anthropic", "ns")},
    )
    assert r.status_code == 400
    assert r.json()["error"] == "scope_required"
    r = await gw.call(
        "POST",
        "/api/integrations/mistral/configure?scope=workspace:a",
        backend,
        json={"apiKey": "sk-x"},
    )
    assert r.status_code == 400


async def test_per_buddy_routing_falls_back_to_metered_after_delete(gw: Gateway) -> None:
    operator = await gw.token("*", role="operator")
    for provider in ("anthropic", "openai"):
        r = await gw.call(
            "POST",
            "/v1/scopes/platform/default/keys",
            operator,
            json={"api_key": gw.valid(provider, f"plat{provider}")},
        )
        assert r.status_code == 200, r.text
    grant = {"amount": 500, "reason": "monthly", "idempotency_key": "wp-1"}
    assert (
        await gw.call("POST", "/v1/accounts/wpacct/grants", operator, json=grant)
    ).status_code == 200

    backend = await gw.token("wpacct")
    agents = ["claude-buddy", "metered-buddy", "gpt-buddy"]
    user = await _end_user(gw, backend, {"type": "workspace", "id": "wp"}, agents)
    for provider, tag in (("claude", "wpant"), ("openai", "wpoai")):
        real = "anthropic" if provider == "claude" else provider
        r = await gw.call(
            "POST",
            f"/api/integrations/{provider}/configure",
            user,
            json={"apiKey": gw.valid(real, tag)},
        )
        assert r.status_code == 200, r.text
    for agent, route in zip(agents, ("byok:anthropic", "metered", "byok:openai"), strict=True):
        r = await gw.call(
            "PATCH", f"/v1/scopes/agent/{agent}/settings", user, json={"route": route}
        )
        assert r.json()["route"] == route

    def chain(agent: str) -> list[str]:
        return [f"agent:{agent}", "workspace:wp"]

    claude = await gw.client.resolve("wpacct", chain("claude-buddy"))
    metered = await gw.client.resolve("wpacct", chain("metered-buddy"), provider="anthropic")
    gpt = await gw.client.resolve("wpacct", chain("gpt-buddy"))
    assert (claude.source, claude.provider) == ("byok", "anthropic")
    assert metered.source == "platform"
    assert (gpt.source, gpt.provider) == ("byok", "openai")

    assert (await gw.call("DELETE", "/api/integrations/claude", user)).status_code == 200
    next_turn = await gw.client.resolve("wpacct", chain("claude-buddy"))
    assert (next_turn.source, next_turn.provider) == ("platform", "anthropic")
