"""Revocation takes effect at once (the bucket watch, not the cache TTL) and per-token
rate limits answer 429 with Retry-After."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import httpx
import pytest

from .conftest import Gateway, seconds_until_401


@pytest.fixture
def gateway_overrides() -> dict[str, Any]:
    # A cache TTL far beyond the test: only the watch can make a revocation effective.
    return {"gateway_rate": 5.0, "gateway_burst": 5, "gateway_token_ttl": 300.0}


def _whoami(gw: Gateway, token: str) -> Callable[[], Awaitable[httpx.Response]]:
    return partial(gw.call, "GET", "/v1/whoami", token)


async def test_revocation_is_effective_at_once(gw: Gateway) -> None:
    token, record = await gw.tokens.create("acct-r")
    assert (await gw.call("GET", "/v1/whoami", token)).status_code == 200  # now cached
    assert await gw.tokens.revoke(record.token_id)
    assert await seconds_until_401(_whoami(gw, token)) < 1.0


async def test_revoking_the_backend_token_revokes_its_end_user_tokens(gw: Gateway) -> None:
    backend, record = await gw.tokens.create("acct-r")
    body = {"scope": {"type": "workspace", "id": "w"}}
    user = (await gw.call("POST", "/v1/end-user-tokens", backend, json=body)).json()["token"]
    assert (await gw.call("GET", "/v1/whoami", user)).status_code == 200
    await gw.tokens.revoke(record.token_id)
    assert await seconds_until_401(_whoami(gw, user)) < 1.0


async def test_rate_limit_per_token_with_retry_after(gw: Gateway) -> None:
    hot, cold = await gw.token("acct-r"), await gw.token("acct-r")
    codes = [(await gw.call("GET", "/v1/whoami", hot)).status_code for _ in range(8)]
    assert codes[:5] == [200] * 5
    assert 429 in codes[5:]
    limited = await gw.call("GET", "/v1/whoami", hot)
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    assert (await gw.call("GET", "/v1/whoami", cold)).status_code == 200  # per token
    await asyncio.sleep(0.25)  # 5/s refills one request in 0.2 s
    assert (await gw.call("GET", "/v1/whoami", hot)).status_code == 200
