"""Tenant isolation on resolve against a real nats-server (issue 10, attack 3).

Before 0.2 a runtime naming any account got any tenant's key: ``resolve {account:
A, chain: [a workspace of tenant B]}`` answered with B's key, and so did an account
that does not exist.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from byok_contracts import subjects
from byok_shared.jetstream import BUCKET_OWNERS

from .conftest import Backoffice, Runtime


async def _owner(backoffice: Backoffice, scope_key: str, account: str) -> None:
    kv = await backoffice.js.key_value(BUCKET_OWNERS)
    await kv.put(scope_key, account.encode())


async def test_another_tenants_workspace_is_403(
    backoffice: Backoffice, replicas: Any, runtime: Runtime
) -> None:
    await backoffice.key("workspace:globex-ws", "anthropic", "sk-ant-globex", account="globex")
    await _owner(backoffice, "workspace.globex-ws", "globex")
    await backoffice.credits("acme", 100)
    await replicas(1)

    # The owner resolves its own key ...
    own = await runtime.resolve("workspace:globex-ws", account="globex")
    assert own["status"] == "resolved"
    assert own["secret"] == "sk-ant-globex"
    # ... another tenant, or an account nobody created, gets a 403 and no key.
    for account in ("acme", "no-such-account"):
        got = await runtime.resolve("session:s1", "workspace:globex-ws", account=account)
        assert (got["code"], got["error"]) == (403, "wrong_account"), got
        assert "sealed_key" not in got
        assert "globex" not in got["message"]
        assert account not in got["message"]


async def test_a_key_event_without_its_owner_in_kv_is_still_bound(
    backoffice: Backoffice, replicas: Any, runtime: Runtime
) -> None:
    """The owner travels with the key itself: a lagging owners watch cannot leak it."""
    await replicas(1)
    await backoffice.key("workspace:late", "openai", "sk-late", account="globex")
    for _ in range(200):  # until the key is visible to its owner
        own = await runtime.resolve("workspace:late", account="globex")
        if own["status"] == "resolved":
            break
        await asyncio.sleep(0.02)
    assert own["secret"] == "sk-late"
    got = await runtime.resolve("workspace:late", account="acme")
    assert (got["code"], got["error"]) == (403, "wrong_account")


async def test_platform_keys_serve_every_account(
    backoffice: Backoffice, replicas: Any, runtime: Runtime
) -> None:
    await backoffice.key("platform:default", "anthropic", "sk-ant-platform")
    await backoffice.credits("tenant-b", 10)
    await replicas(1)
    got = await runtime.resolve("session:s7", account="tenant-b")
    assert (got["status"], got["source"], got["secret"]) == (
        "resolved",
        "platform",
        "sk-ant-platform",
    )


async def test_resolve_for_account_subject(
    backoffice: Backoffice, replicas: Any, runtime: Runtime
) -> None:
    await backoffice.key("workspace:acme-ws", "anthropic", "sk-ant-acme")
    await replicas(1)
    body = runtime.body("workspace:acme-ws")

    msg = await runtime.nc.request(subjects.resolve_for("acme"), body, timeout=3.0)
    ok = json.loads(msg.data)
    assert ok["status"] == "resolved"
    assert runtime.keypair.open(ok["sealed_key"], subjects.RESOLVE) == b"sk-ant-acme"

    # The subject names another account than the body: 403, no key.
    msg = await runtime.nc.request(subjects.resolve_for("globex"), body, timeout=3.0)
    wrong = json.loads(msg.data)
    assert (wrong["code"], wrong["error"]) == (403, "wrong_account")
    assert "sealed_key" not in wrong

    # Malformed bodies on the per-account subject still get their 400.
    msg = await runtime.nc.request(subjects.resolve_for("acme"), b"{", timeout=3.0)
    assert json.loads(msg.data)["code"] == 400
