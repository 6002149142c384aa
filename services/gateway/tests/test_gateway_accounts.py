"""Account policy, credits (balance, grants) and usage over HTTP, against the real stack."""

from __future__ import annotations

import asyncio

from .conftest import Gateway


async def test_policy_get_and_patch(gw: Gateway) -> None:
    backend = await gw.token("pol")
    r = await gw.call("GET", "/v1/accounts/pol/policy", backend)
    assert r.status_code == 200, r.text
    assert (r.json()["mode"], r.json()["byok_allowed"]) == ("byok_first", True)
    patch = {"mode": "credits_first", "allow_custom_models": True, "plan": "Lifetime"}
    r = await gw.call("PATCH", "/v1/accounts/pol/policy", backend, json=patch)
    assert (r.json()["mode"], r.json()["allow_custom_models"], r.json()["plan"]) == (
        "credits_first",
        True,
        "Lifetime",
    )
    assert (await gw.call("GET", "/v1/accounts/pol/policy", backend)).json()["plan"] == "Lifetime"
    r = await gw.call("PATCH", "/v1/accounts/pol/policy", backend, json={"mode": "whatever"})
    assert r.status_code == 400


async def test_grants_are_idempotent_and_balance_follows(gw: Gateway) -> None:
    operator = await gw.token("cred", role="operator")
    backend = await gw.token("cred")
    grant = {"amount": 700, "reason": "monthly", "idempotency_key": "cred-2026-12"}
    first = await gw.call("POST", "/v1/accounts/cred/grants", operator, json=grant)
    again = await gw.call("POST", "/v1/accounts/cred/grants", operator, json=grant)
    assert first.json() == again.json() == {"status": "granted", "balance": 700}
    clash = await gw.call("POST", "/v1/accounts/cred/grants", operator, json={**grant, "amount": 1})
    assert clash.status_code == 409
    balance = (await gw.call("GET", "/v1/accounts/cred/balance", backend)).json()
    assert (balance["balance"], balance["mode"]) == (700, "byok_first")
    assert balance["credits_paused"] is False
    # The ledger's own audit of the account, as ByokClient.verify_ledger gives it.
    verified = await gw.call("GET", "/v1/accounts/cred/ledger/verify", backend)
    assert verified.status_code == 200, verified.text
    assert (verified.json()["consistent"], verified.json()["balances"]) == (True, {"cred": 700})
    other = await gw.call("GET", "/v1/accounts/pol/ledger/verify", backend)
    assert (other.status_code, other.json()["error"]) == (403, "wrong_account")
    viewer = await gw.token("cred", role="viewer")
    refused = await gw.call("GET", "/v1/accounts/cred/ledger/verify", viewer)
    assert (refused.status_code, refused.json()["error"]) == (403, "token_role")


async def test_usage_by_scope_key_and_account(gw: Gateway) -> None:
    backend = await gw.token("use")
    r = await gw.call(
        "POST",
        "/v1/scopes/workspace/use-w/keys",
        backend,
        json={"api_key": gw.valid("openai", "u")},
    )
    key_id = r.json()["key_id"]
    chain = ["session:use-s1", "workspace:use-w"]
    route = await gw.client.resolve("use", chain)
    for _ in range(3):
        await gw.client.record_usage("use", chain, route, input_tokens=1000, output_tokens=100)

    async def usage(query: str) -> dict[str, object]:
        for _ in range(200):
            reply = (await gw.call("GET", f"/v1/usage?{query}", backend)).json()
            if reply.get("calls") == 3:
                return dict(reply)
            await asyncio.sleep(0.05)
        raise AssertionError(reply)

    by_scope = await usage("scope=workspace:use-w")
    assert (by_scope["input_tokens"], by_scope["output_tokens"]) == (3000, 300)
    assert (await usage("scope=session:use-s1"))["calls"] == 3
    assert (await usage(f"scope=workspace:use-w&key_id={key_id}"))["calls"] == 3
    assert (await usage("account=use&since=2020-01-01T00:00:00Z"))["calls"] == 3
    r = await gw.call("GET", "/v1/usage?scope=workspace:use-w&key_id=nokey", backend)
    assert r.status_code == 404
    r = await gw.call("GET", f"/v1/usage?key_id={key_id}", backend)
    assert r.status_code == 403
    assert (await gw.call("GET", "/v1/usage", backend)).status_code == 400
    r = await gw.call("GET", "/v1/usage?account=use&scope=workspace:use-w", backend)
    assert r.status_code == 400
