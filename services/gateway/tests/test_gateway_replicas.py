"""The gateway keeps no state of its own: a second replica on the same bus serves the same
API tokens, the keys the first one stored, end-user tokens the first one minted, and a
revocation on both at once (the token bucket's watch, not a cache)."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import httpx

from byok_gateway.app import create_app as gateway_app
from byok_gateway.testing import serving
from byok_shared.testing import settings_for

from .conftest import Gateway, gateway_settings, seconds_until_401


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
        bearer = {"Authorization": f"Bearer {user}"}
        whoami = await other.get("/v1/whoami", headers=bearer)
        assert (whoami.status_code, whoami.json()["scopes"]) == (200, ["workspace:two-w"])

        await gw.tokens.revoke(record.token_id)
        assert await seconds_until_401(partial(other.get, "/v1/whoami", headers=auth)) < 1.0
        assert (await gw.call("GET", "/v1/whoami", token)).status_code == 401
        assert await seconds_until_401(partial(other.get, "/v1/whoami", headers=bearer)) < 1.0
        assert secret not in stored.text + whoami.text
