"""Authentication and authorization over HTTP: tenant isolation by token, scope prefixes,
roles, end-user token limits, revocation (at once), expiry, forgery, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import timedelta

from byok_contracts.v1 import utcnow

from .conftest import Gateway

WS = "/v1/scopes/workspace"


async def test_no_or_bad_token_is_401(gw: Gateway) -> None:
    for token in (None, "nope", "byok_0123456789ab_" + "A" * 43, "byokeu.e30.AAAA"):
        r = await gw.call("GET", "/v1/whoami", token)
        assert r.status_code == 401, token
        assert r.json()["code"] == 401
        assert r.headers["www-authenticate"] == "Bearer"
    good = await gw.token("a1")
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    assert (await gw.call("GET", "/v1/whoami", forged)).status_code == 401


async def test_a_token_of_account_a_gets_403_on_account_b(gw: Gateway) -> None:
    a = await gw.token("acct-a")
    for method, path, body in [
        ("GET", "/v1/accounts/acct-b/policy", None),
        ("PATCH", "/v1/accounts/acct-b/policy", {"mode": "credits_first"}),
        ("GET", "/v1/accounts/acct-b/balance", None),
        (
            "POST",
            "/v1/accounts/acct-b/grants",
            {"amount": 5, "reason": "x", "idempotency_key": "k"},
        ),
        ("GET", "/v1/usage?account=acct-b", None),
    ]:
        r = await gw.call(method, path, a, json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["status"] == "error"
    assert (await gw.call("GET", "/v1/accounts/acct-a/balance", a)).status_code == 200


async def test_scope_prefixes_limit_a_token(gw: Gateway) -> None:
    limited = await gw.token("acct-a", scopes=["workspace:a-", "agent:"])
    ok = await gw.call(
        "POST", f"{WS}/a-1/keys", limited, json={"api_key": gw.valid("openai", "p1")}
    )
    assert ok.status_code == 200, ok.text
    assert (await gw.call("GET", "/v1/scopes/agent/any/settings", limited)).status_code == 200
    for method, path, body in [
        ("GET", f"{WS}/b-1/keys", None),
        ("POST", f"{WS}/b-1/keys", {"api_key": gw.valid("openai", "p2")}),
        ("DELETE", f"{WS}/b-1/keys/openai", None),
        ("PATCH", f"{WS}/b-1/settings", {"byok_enabled": False}),
        ("GET", "/v1/scopes/session/a-1/keys", None),
        ("GET", "/v1/usage?scope=workspace:b-1", None),
        ("GET", "/v1/usage?account=acct-a", None),  # account-wide: not for a limited token
        ("PATCH", "/v1/accounts/acct-a/policy", {"byok_allowed": False}),
    ]:
        r = await gw.call(method, path, limited, json=body)
        assert r.status_code == 403, (method, path, r.text)
    assert [k.provider for k in await gw.client.list_keys("workspace:b-1")] == []


async def test_platform_scope_and_grants_are_for_operators_only(gw: Gateway) -> None:
    backend = await gw.token("acct-a")
    key = {"api_key": gw.valid("anthropic", "plat")}
    r = await gw.call("POST", "/v1/scopes/platform/default/keys", backend, json=key)
    assert r.status_code == 403
    assert r.json()["error"] == "platform_scope"
    grant = {"amount": 10, "reason": "x", "idempotency_key": "g1"}
    assert (
        await gw.call("POST", "/v1/accounts/acct-a/grants", backend, json=grant)
    ).status_code == 403
    operator = await gw.token("acct-a", role="operator")
    r = await gw.call("POST", "/v1/accounts/acct-a/grants", operator, json=grant)
    assert r.json() == {"status": "granted", "balance": 10}
    assert (
        await gw.call("POST", "/v1/accounts/acct-b/grants", operator, json=grant)
    ).status_code == 403
    assert (
        await gw.call("POST", "/v1/scopes/platform/default/keys", operator, json=key)
    ).status_code == 200


async def test_viewer_tokens_read_only(gw: Gateway) -> None:
    viewer = await gw.token("acct-a", role="viewer")
    assert (await gw.call("GET", f"{WS}/v1/keys", viewer)).status_code == 200
    r = await gw.call("POST", f"{WS}/v1/keys", viewer, json={"api_key": gw.valid("openai", "v")})
    assert r.status_code == 403
    assert r.json()["error"] == "read_only_token"
    r = await gw.call(
        "POST", "/v1/end-user-tokens", viewer, json={"scope": {"type": "workspace", "id": "v1"}}
    )
    assert r.status_code == 403


async def test_end_user_tokens_allow_their_scope_only(gw: Gateway) -> None:
    limited = await gw.token("acct-a", scopes=["workspace:a-"])
    outside = {"scope": {"type": "workspace", "id": "b-9"}}
    assert (await gw.call("POST", "/v1/end-user-tokens", limited, json=outside)).status_code == 403
    with_agent = {"scope": {"type": "workspace", "id": "a-7"}, "agents": ["bot"]}
    assert (
        await gw.call("POST", "/v1/end-user-tokens", limited, json=with_agent)
    ).status_code == 403

    backend = await gw.token("acct-a")
    body = {"scope": {"type": "workspace", "id": "a-7"}, "ttl_seconds": 60, "agents": ["bot"]}
    r = await gw.call("POST", "/v1/end-user-tokens", backend, json=body)
    assert r.status_code == 200, r.text
    minted = r.json()
    assert minted["scopes"] == ["workspace:a-7", "agent:bot"]
    assert minted["account"] == "acct-a"
    user = minted["token"]
    me = (await gw.call("GET", "/v1/whoami", user)).json()
    assert (me["role"], me["account"]) == ("end_user", "acct-a")

    allowed = [
        ("POST", f"{WS}/a-7/keys", {"api_key": gw.valid("openai", "eu")}),
        ("GET", f"{WS}/a-7/keys", None),
        ("GET", f"{WS}/a-7/settings", None),
        ("PATCH", "/v1/scopes/agent/bot/settings", {"route": "metered"}),
        ("GET", "/v1/accounts/acct-a/balance", None),
        ("GET", "/v1/accounts/acct-a/policy", None),
        ("GET", "/v1/usage?scope=workspace:a-7", None),
        ("GET", "/v1/public-key", None),
        ("GET", "/v1/catalog", None),
    ]
    for method, path, payload in allowed:
        r = await gw.call(method, path, user, json=payload)
        assert r.status_code == 200, (method, path, r.text)
    denied = [
        ("GET", f"{WS}/a-8/keys", None),
        ("GET", f"{WS}/a-70/keys", None),  # exact scope, not a prefix
        ("PATCH", "/v1/scopes/agent/other/settings", {"route": "metered"}),
        ("PATCH", f"{WS}/a-7/settings", {"read_only": False}),
        ("PATCH", "/v1/accounts/acct-a/policy", {"allow_custom_models": True}),
        ("GET", "/v1/usage?account=acct-a", None),
        ("GET", "/v1/accounts/acct-b/balance", None),
        ("POST", "/v1/end-user-tokens", body),
        (
            "POST",
            "/v1/accounts/acct-a/grants",
            {"amount": 1, "reason": "x", "idempotency_key": "e"},
        ),
        ("GET", "/v1/scopes/platform/default/keys", None),
    ]
    for method, path, payload in denied:
        r = await gw.call(method, path, user, json=payload)
        assert r.status_code == 403, (method, path, r.text)

    # A tampered end-user token (another scope in the payload) is refused.
    head, payload_b64, signature = user.split(".")
    other = payload_b64[:-2] + ("AA" if not payload_b64.endswith("AA") else "BB")
    assert (await gw.call("GET", "/v1/whoami", f"{head}.{other}.{signature}")).status_code == 401


async def test_end_user_token_expiry_is_checked() -> None:
    from byok_gateway.endusers import EndUserTokens

    tokens = EndUserTokens(b"s" * 32)
    claims = tokens.mint(account="a", scopes=["workspace:w"], parent="0123456789ab", ttl=60)
    token = tokens.encode(claims)
    assert tokens.decode(token) == claims
    assert tokens.decode(token, now=claims.expires_at + 1) is None
    assert EndUserTokens(b"t" * 32).decode(token) is None  # another secret


async def test_cli_issues_lists_and_revokes(gw: Gateway) -> None:
    env = {**os.environ, "BYOK_NATS_URL": gw.nats_url}

    def byok(*args: str) -> subprocess.CompletedProcess[str]:
        code = "from byok_client.cli import main; raise SystemExit(main())"
        return subprocess.run(
            [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=30
        )

    created = byok(
        "tokens",
        "create",
        "--account",
        "cli-acct",
        "--scope",
        "workspace:cli-",
        "--role",
        "viewer",
        "--expires",
        "30d",
        "--label",
        "ci",
    )
    assert created.returncode == 0, created.stderr
    issued = json.loads(created.stdout)
    token = issued["token"]
    assert "sha256" not in issued
    me = (await gw.call("GET", "/v1/whoami", token)).json()
    assert (me["account"], me["role"], me["scopes"]) == ("cli-acct", "viewer", ["workspace:cli-"])
    assert me["expires_at"] is not None
    listed = json.loads(byok("tokens", "list", "--account", "cli-acct").stdout)
    assert [t["token_id"] for t in listed] == [issued["token_id"]]
    assert token not in json.dumps(listed)
    # The bucket holds the digest only.
    record = await gw.tokens.get(issued["token_id"])
    assert record is not None
    assert token not in record.model_dump_json()
    assert byok("tokens", "revoke", issued["token_id"]).returncode == 0
    assert (await gw.call("GET", "/v1/whoami", token)).status_code == 401
    assert byok("tokens", "create", "--account", "*", "--role", "backend").returncode != 0


async def test_expired_api_token_is_401(gw: Gateway) -> None:
    token, _ = await gw.tokens.create("acct-a", expires_at=utcnow() - timedelta(seconds=1))
    r = await gw.call("GET", "/v1/whoami", token)
    assert r.status_code == 401
    assert r.json()["error"] == "token_expired"
    await asyncio.sleep(0)


async def test_a_scope_of_account_a_is_403_for_a_token_of_account_b(gw: Gateway) -> None:
    a, b = await gw.token("acct-a"), await gw.token("acct-b")
    r = await gw.call(
        "POST", f"{WS}/owned-by-a/keys", a, json={"api_key": gw.valid("openai", "oa")}
    )
    assert r.status_code == 200, r.text
    mint = {"scope": {"type": "workspace", "id": "owned-by-a"}}
    r = await gw.call("POST", "/v1/end-user-tokens", b, json=mint)
    assert r.status_code == 403
    assert r.json()["error"] == "wrong_account"
    for token in (b,):
        for method, path, body in [
            ("GET", f"{WS}/owned-by-a/keys", None),
            ("POST", f"{WS}/owned-by-a/keys", {"api_key": gw.valid("anthropic", "ob")}),
            ("DELETE", f"{WS}/owned-by-a/keys/openai", None),
            ("PUT", f"{WS}/owned-by-a/keys/openai/enabled", {"enabled": False}),
            ("GET", f"{WS}/owned-by-a/settings", None),
            ("PATCH", f"{WS}/owned-by-a/settings", {"byok_enabled": False}),
            ("GET", "/v1/usage?scope=workspace:owned-by-a", None),
        ]:
            r = await gw.call(method, path, token, json=body)
            assert r.status_code == 403, (method, path, r.text)
            assert r.json()["error"] == "wrong_account"
        r = await gw.call("DELETE", "/api/integrations/openai?scope=workspace:owned-by-a", token)
        assert r.status_code == 403
    (key,) = await gw.client.list_keys("workspace:owned-by-a")
    assert key.state == "active"
