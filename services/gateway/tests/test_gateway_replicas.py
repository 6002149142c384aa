"""The gateway keeps no state of its own: a second replica on the same bus serves the same
API tokens, the keys the first one stored, end-user tokens the first one minted, and a
revocation on both at once (the token bucket's watch, not a cache)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from byok_gateway.app import create_app as gateway_app
from byok_gateway.testing import serving
from byok_shared.testing import settings_for

from .conftest import Gateway, gateway_settings


async def _revoked_on(replica: httpx.AsyncClient, token: str, timeout: float = 2.0) -> float:
    started = time.perf_counter()
    headers = {"Authorization": f"Bearer {token}"}
    while time.perf_counter() - started < timeout:
        if (await replica.get("/v1/whoami", headers=headers)).status_code == 401:
            return time.perf_counter() - started
        await asyncio.sleep(0.01)
    raise AssertionError("the revoked token still works on this replica")


async def test_two_replicas_serve_one_state(gw: Gateway, tmp_path: Path) -> None:
    # Same bus, same data dir (the shared end-user token secret), a cache TTL beyond the test.
    config = settings_for(gw.nats_url, tmp_path / "data")
    second = gateway_app(config, gateway_settings(gateway_token_ttl=300.0))
    async with serving(second) as url, httpx.AsyncClient(base_url=url, timeout=10.0) as other:
        token, record = await gw.tokens.create("two")
        auth = {"Authorization": f"Bearer {token}"}
        secret = gw.valid("openai", "tworep")
        scope = "/v1/scopes/workspace/two-w"
        stored = await gw.call("POST", f"{scope}/keys", token, json={"api_key": secret})
        assert stored.status_code == 200, stored.text
        listed = (await other.get(f"{scope}/keys", headers=auth)).json()["keys"]
        assert [k["hint"] for k in listed] == [stored.json()["hint"]]

        body = {"scope": {"type": "workspace", "id": "two-w"}}
        user = (await gw.call("POST", "/v1/end-user-tokens", token, json=body)).json()["token"]
        whoami = await other.get("/v1/whoami", headers={"Authorization": f"Bearer {user}"})
        assert (whoami.status_code, whoami.json()["scopes"]) == (200, ["workspace:two-w"])

        await gw.tokens.revoke(record.token_id)
        assert await _revoked_on(other, token) < 1.0
        assert (await gw.call("GET", "/v1/whoami", token)).status_code == 401
        assert await _revoked_on(other, user) < 1.0
        assert secret not in stored.text + whoami.text
