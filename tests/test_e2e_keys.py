"""End to end over a real nats-server: key-vault + validator in-process, fake providers.

What the DESIGN scenarios (``test_e2e_scenarios.py``, one test each) do not cover:
provider error details, disable/enable/replace and their events, the freshness hook,
fire-and-forget configure, the sealing keypair across restarts, rotation while
serving, the CLI. The "no key bytes anywhere" and hostile-input checks are in
``test_e2e_key_hygiene.py``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from byok_client import ByokClient
from byok_contracts import (
    Keypair,
    KeyRejected,
    Unavailable,
    subjects,
)
from byok_contracts.v1 import KeyChanged, KeyRejectedEvent
from byok_key_vault.app import create_app as key_vault_app
from byok_shared.natsserver import NatsServer
from byok_shared.recipients import register_recipient
from byok_shared.testing import running, settings_for
from byok_shared.testing.fake_providers import FakeProviders
from byok_validator.app import create_app as validator_app

ANT = "sk-ant-api03-" + "A1b2C3d4E5f6G7h8I9j0" * 4 + "-xyzAA"
ANT_BAD = "sk-ant-api03-" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt" * 4 + "-badAA"
OAI = "sk-proj-" + "Q1w2E3r4T5y6U7i8O9p0" * 3
GEM = "AIzaSy" + "G3m1n1K3yF4k3V4lu3s0123456"
SCOPE = "workspace:acme"


async def events_on(nc: NatsClient, subject: str) -> list[Msg]:
    seen: list[Msg] = []

    async def collect(msg: Msg) -> None:
        seen.append(msg)

    await nc.subscribe(subject, cb=collect)
    await nc.flush()
    return seen


async def until_collected(nc: NatsClient, seen: list[Msg], count: int, timeout: float = 30) -> None:
    """Wait until ``seen`` holds ``count`` messages; a round trip then delivers any extra."""
    deadline = asyncio.get_running_loop().time() + timeout
    while len(seen) < count:
        assert asyncio.get_running_loop().time() < deadline, f"{len(seen)} of {count} arrived"
        await asyncio.sleep(0.02)
    await nc.flush()


async def test_openai_and_gemini_rejections_carry_the_providers_message(
    key_stack: ByokClient, fake_providers: FakeProviders
) -> None:
    with pytest.raises(KeyRejected) as openai:
        await key_stack.configure(SCOPE, OAI)
    assert openai.value.message.startswith("Invalid openai key: Incorrect API key provided:")
    assert OAI not in openai.value.message
    with pytest.raises(KeyRejected) as gemini:
        await key_stack.configure(SCOPE, GEM)
    assert gemini.value.message == (
        "Invalid gemini key: API key not valid. Please pass a valid API key."
    )


async def test_transient_provider_errors_are_503_and_store_nothing(
    key_stack: ByokClient, fake_providers: FakeProviders
) -> None:
    for status in ("rate_limited", "error", "slow"):
        fake_providers.add_key(OAI, status)
        with pytest.raises(Unavailable) as unavailable:
            await key_stack.configure(SCOPE, OAI)
        assert unavailable.value.code == 503
    assert fake_providers.calls(OAI) >= 6  # retried with backoff
    assert await key_stack.list_keys(SCOPE) == []


async def test_disable_enable_replace_and_events(
    key_stack: ByokClient, fake_providers: FakeProviders, nc: NatsClient
) -> None:
    fake_providers.add_key(ANT)
    events = await events_on(nc, "byok.v1.events.>")
    first = await key_stack.configure(SCOPE, ANT)
    assert (await key_stack.set_enabled(SCOPE, "anthropic", False)).state == "disabled"
    assert (await key_stack.set_enabled(SCOPE, "anthropic", True)).state == "active"
    # A rejected replacement leaves the old key in place.
    fake_providers.add_key(ANT_BAD, "rejected")
    with pytest.raises(KeyRejected):
        await key_stack.configure(SCOPE, ANT_BAD)
    [kept] = await key_stack.list_keys(SCOPE)
    assert kept.key_id == first.key_id
    # A valid replacement takes the slot with a new key_id.
    replacement = "sk-ant-api03-" + "N3wK3y" * 12
    fake_providers.add_key(replacement)
    second = await key_stack.configure(SCOPE, replacement)
    assert second.key_id != first.key_id
    [now] = await key_stack.list_keys(SCOPE)
    assert now.key_id == second.key_id
    await until_collected(nc, events, 4)
    names = [m.subject.rsplit(".", 1)[-1] for m in events]
    assert names == ["configured", "disabled", "enabled", "configured"]
    revisions = [KeyChanged.model_validate_json(m.data).revision for m in events]
    assert revisions == sorted(revisions)


async def test_fire_and_forget_configure_publishes_the_outcome(
    key_stack: ByokClient, fake_providers: FakeProviders, nc: NatsClient
) -> None:
    fake_providers.add_key(OAI)
    configured = await events_on(nc, subjects.EVENTS_KEYS_CONFIGURED)
    rejected = await events_on(nc, subjects.EVENTS_KEYS_REJECTED)
    await key_stack.publish_configure("workspace:outbox", OAI, request_id="req-ok-1")
    await key_stack.publish_configure("workspace:outbox", ANT_BAD, request_id="req-bad-1")
    await nc.publish(subjects.KEYS_CONFIGURE, b"{not json")
    await until_collected(nc, configured, 1)
    await until_collected(nc, rejected, 2)
    assert KeyChanged.model_validate_json(configured[0].data).request_id == "req-ok-1"
    outcomes = [KeyRejectedEvent.model_validate_json(m.data) for m in rejected]
    bad = next(e for e in outcomes if e.request_id == "req-bad-1")
    assert (bad.code, bad.message) == (401, "Invalid anthropic key: invalid x-api-key")
    assert any(e.code == 400 and e.request_id is None for e in outcomes)


async def until_healthy(client: ByokClient, service: str, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await client.health(service)
            return
        except Unavailable:
            assert asyncio.get_running_loop().time() < deadline, f"{service} never answered"
            await asyncio.sleep(0.05)


async def test_sealing_keypair_persists_across_restarts_and_rotates(
    nats_server: NatsServer, tmp_path: Path, fake_providers: FakeProviders
) -> None:
    settings = settings_for(
        nats_server.url, tmp_path / "data", **fake_providers.settings_overrides()
    )
    fake_providers.add_key(ANT)
    client = await ByokClient.connect(nats_server.url, timeout=5.0, account="acme")
    try:
        async with running(validator_app(settings), key_vault_app(settings)):
            first = await client.public_key()
            stored = await client.configure(SCOPE, ANT)
        async with running(validator_app(settings), key_vault_app(settings)):
            # Rarely (about 1 run in 10 here) the restarted replica's first request got "no
            # responders"; not understood yet (see the closing note): ask health first.
            await until_healthy(client, "key-vault")
            assert (await client.public_key(refresh=True)).kid == first.kid
            [info] = await client.list_keys(SCOPE)
            assert info.key_id == stored.key_id
            rotated = await client.rotate_keys(sealing=True)
            assert rotated.kid != first.kid
            # A blob sealed to the previous kid still opens while that keypair is kept.
            client._vault_key = first
            assert (await client.configure("workspace:other", ANT)).status == "configured"
            assert (await client.public_key(refresh=True)).kid == rotated.kid
    finally:
        await client.close()


async def test_rotation_rewraps_everything_while_serving(
    key_stack: ByokClient, fake_providers: FakeProviders, nc: NatsClient
) -> None:
    keys = {f"session:r{i}": f"sk-ant-api03-rot{i:03d}" + "R" * 60 for i in range(12)}
    for scope, key in keys.items():
        fake_providers.add_key(key)
        await key_stack.configure(scope, key)
    stop = asyncio.Event()
    served = 0

    async def traffic() -> None:
        nonlocal served
        recipient = Keypair.generate()
        # As a resolver replica does: key-vault seals only to registered recipients.
        await register_recipient(nc.jetstream(), "resolver", "rotation-test", recipient)
        while not stop.is_set():
            for scope in keys:
                [info] = await key_stack.list_keys(scope)
                body = json.dumps({"key_id": info.key_id, "recipient_key": recipient.public_b64})
                msg = await nc.request(subjects.INTERNAL_KEYS_UNSEAL, body.encode(), timeout=5)
                data = json.loads(msg.data)
                assert data["status"] == "ok", data
                opened = recipient.open(data["sealed_key"], subjects.INTERNAL_KEYS_UNSEAL)
                assert opened.decode() == keys[scope]
                served += 1

    async def until_served(count: int) -> None:
        async with asyncio.timeout(30):
            while served < count:
                assert not task.done(), task  # a failed unseal ends the traffic early
                await asyncio.sleep(0.005)

    task = asyncio.create_task(traffic())
    await until_served(len(keys))  # traffic is flowing before the rotation starts
    first = await key_stack.rotate_keys()
    second = await key_stack.rotate_keys()
    after = served
    await until_served(after + len(keys))  # and every key still opens afterwards
    stop.set()
    await task
    assert first.rewrapped >= len(keys)
    assert second.rewrapped >= len(keys)
    kv = await nc.jetstream().key_value("byok-keys")
    for name in await kv.keys():
        record = json.loads((await kv.get(name)).value or b"{}")
        assert record["ciphertext"].startswith("local:v3:")


async def test_remove_disable_and_revoke_reply_only_after_resolvers_acked(
    key_stack: ByokClient, fake_providers: FakeProviders, nc: NatsClient
) -> None:
    from byok_shared.freshness import ReplicaPresence

    applied: list[str] = []
    replicas = [
        ReplicaPresence(nc, nc.jetstream(), f"resolver-{i}", on_sync=lambda s, _: applied.append(s))
        for i in range(2)
    ]
    for replica in replicas:
        await replica.start()
    try:
        fake_providers.add_key(ANT)
        key = await key_stack.configure(SCOPE, ANT)
        await key_stack.set_enabled(SCOPE, "anthropic", False)
        assert applied.count(subjects.EVENTS_KEYS_DISABLED) == 2
        await key_stack.set_enabled(SCOPE, "anthropic", True)
        fake_providers.revoke(ANT)
        await key_stack.report(key.key_id, 401)
        assert applied.count(subjects.EVENTS_KEYS_REVOKED) == 2
        await key_stack.remove(SCOPE, "anthropic")
        assert applied.count(subjects.EVENTS_KEYS_REMOVED) == 2
    finally:
        for replica in replicas:
            await replica.stop()


async def test_cli_reads_the_key_from_stdin_never_argv(
    key_stack: ByokClient, fake_providers: FakeProviders, nats_server: NatsServer
) -> None:
    import os
    import sys

    fake_providers.add_key(OAI)
    byok = str(Path(sys.executable).parent / "byok")
    env = {**os.environ, "BYOK_NATS_URL": nats_server.url}

    async def cli(*args: str, stdin: bytes = b"") -> tuple[int, bytes, bytes]:
        proc = await asyncio.create_subprocess_exec(
            byok,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        out, err = await proc.communicate(stdin)
        return proc.returncode or 0, out, err

    code, out, _ = await cli(
        "keys", "configure", "--scope", "workspace:cli", "--account", "acme", stdin=OAI.encode()
    )
    assert code == 0
    assert json.loads(out)["status"] == "configured"
    code, _, err = await cli("keys", "configure", "--scope", "workspace:cli", OAI)
    assert code != 0
    assert b"argv" in err
    code, out, _ = await cli("keys", "list", "--scope", "workspace:cli")
    assert [k["provider"] for k in json.loads(out)] == ["openai"]
    code, out, _ = await cli(
        "keys", "disable", "--scope", "workspace:cli", "--provider", "openai", "--account", "acme"
    )
    assert json.loads(out)["state"] == "disabled"
    code, out, _ = await cli("keys", "rotate")
    assert json.loads(out)["status"] == "rotated"
