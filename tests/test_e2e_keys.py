"""End to end over a real nats-server: key-vault + validator in-process, fake providers.

DESIGN.md section 9 scenarios 1, 2, 3, 8 (the revocation side) and 10, the
freshness hook, fire-and-forget configure, rotation while serving, and the
"no key bytes anywhere" checks (bus tap, logs, JetStream store on disk).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from byok_client import ByokClient
from byok_contracts import (
    Forbidden,
    Keypair,
    KeyRejected,
    NotFound,
    Unavailable,
    Unprocessable,
    subjects,
)
from byok_contracts.v1 import KeyChanged, KeyRejectedEvent
from byok_key_vault.app import create_app as key_vault_app
from byok_key_vault.config import KeyVaultSettings
from byok_shared.natsserver import NatsServer
from byok_shared.recipients import register_recipient
from byok_shared.testing import running, settings_for
from byok_shared.testing.fake_providers import FakeProviders
from byok_validator.app import create_app as validator_app
from byok_validator.config import ValidatorSettings

ANT = "sk-ant-api03-" + "A1b2C3d4E5f6G7h8I9j0" * 4 + "-xyzAA"
ANT_BAD = "sk-ant-api03-" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt" * 4 + "-badAA"
OAI = "sk-proj-" + "Q1w2E3r4T5y6U7i8O9p0" * 3
GEM = "AIzaSy" + "G3m1n1K3yF4k3V4lu3s0123456"
SCOPE = "workspace:acme"


class Tap:
    """Everything on the bus (``>``), for the no-key-bytes check."""

    def __init__(self) -> None:
        self.messages: list[Msg] = []

    async def on_msg(self, msg: Msg) -> None:
        self.messages.append(msg)

    def blob(self) -> bytes:
        return b"\n".join(
            m.subject.encode() + b" " + m.data + json.dumps(dict(m.headers or {})).encode()
            for m in self.messages
        )


@pytest.fixture
async def stack(
    nats_server: NatsServer, tmp_path: Path, fake_providers: FakeProviders
) -> AsyncIterator[ByokClient]:
    settings = settings_for(
        nats_server.url, tmp_path / "data", **fake_providers.settings_overrides()
    )
    validator = ValidatorSettings(
        http_timeout=0.5, attempts=2, backoff=0.05, revalidate_interval=0, report_window=0.0
    )
    async with running(
        validator_app(settings, validator), key_vault_app(settings, KeyVaultSettings())
    ):
        client = await ByokClient.connect(nats_server.url, timeout=5.0, account="acme")
        try:
            yield client
        finally:
            await client.close()


async def events_on(nc: NatsClient, subject: str) -> list[Msg]:
    seen: list[Msg] = []

    async def collect(msg: Msg) -> None:
        seen.append(msg)

    await nc.subscribe(subject, cb=collect)
    await nc.flush()
    return seen


async def test_scenario_1_anthropic_key_detected_validated_stored(
    stack: ByokClient, fake_providers: FakeProviders, nc: NatsClient
) -> None:
    fake_providers.add_key(ANT, "valid")
    configured = await events_on(nc, subjects.EVENTS_KEYS_CONFIGURED)
    reply = await stack.configure(SCOPE, ANT, actor="alice")
    assert reply.status == "configured"
    assert reply.provider == "anthropic"
    assert reply.model == "claude-sonnet-4-6"
    assert str(reply.scope) == SCOPE
    assert ANT[8:-4] not in reply.hint
    assert fake_providers.calls(ANT) == 1
    [info] = await stack.list_keys(SCOPE)
    assert info.key_id == reply.key_id
    assert info.state == "active"
    assert info.hint == reply.hint
    await asyncio.sleep(0.1)
    [msg] = configured
    event = KeyChanged.model_validate_json(msg.data)
    assert event.key_id == reply.key_id
    assert event.revision > 0


async def test_scenario_2_rejected_key_401_nothing_stored_and_unknown_prefix_422(
    stack: ByokClient, fake_providers: FakeProviders
) -> None:
    fake_providers.add_key(ANT_BAD, "rejected")
    with pytest.raises(KeyRejected) as rejected:
        await stack.configure(SCOPE, ANT_BAD)
    assert rejected.value.message == "Invalid anthropic key: invalid x-api-key"
    assert await stack.list_keys(SCOPE) == []
    before = fake_providers.total_calls
    with pytest.raises(Unprocessable) as unknown:
        await stack.configure(SCOPE, "rk-reseller-0123456789abcdef0123456789")
    assert unknown.value.code == 422
    assert fake_providers.total_calls == before  # no validation call for an unknown prefix
    with pytest.raises(KeyRejected) as mismatch:
        await stack.configure(SCOPE, OAI, provider="claude")
    assert mismatch.value.message.startswith("Invalid anthropic key:")
    assert await stack.list_keys(SCOPE) == []


async def test_openai_and_gemini_rejections_carry_the_providers_message(
    stack: ByokClient, fake_providers: FakeProviders
) -> None:
    with pytest.raises(KeyRejected) as openai:
        await stack.configure(SCOPE, OAI)
    assert openai.value.message.startswith("Invalid openai key: Incorrect API key provided:")
    assert OAI not in openai.value.message
    with pytest.raises(KeyRejected) as gemini:
        await stack.configure(SCOPE, GEM)
    assert gemini.value.message == (
        "Invalid gemini key: API key not valid. Please pass a valid API key."
    )


async def test_transient_provider_errors_are_503_and_store_nothing(
    stack: ByokClient, fake_providers: FakeProviders
) -> None:
    for status in ("rate_limited", "error", "slow"):
        fake_providers.add_key(OAI, status)
        with pytest.raises(Unavailable) as unavailable:
            await stack.configure(SCOPE, OAI)
        assert unavailable.value.code == 503
    assert fake_providers.calls(OAI) >= 6  # retried with backoff
    assert await stack.list_keys(SCOPE) == []


async def test_scenario_3_read_only_scope_forbids_configure_and_remove(
    stack: ByokClient, fake_providers: FakeProviders
) -> None:
    fake_providers.add_key(ANT)
    await stack.configure(SCOPE, ANT)
    settings = await stack.configure_scope(SCOPE, read_only=True)
    assert settings.read_only is True
    with pytest.raises(Forbidden) as configure:
        await stack.configure(SCOPE, ANT)
    with pytest.raises(Forbidden):
        await stack.remove(SCOPE, "anthropic")
    assert configure.value.code == 403
    assert len(await stack.list_keys(SCOPE)) == 1
    await stack.configure_scope(SCOPE, read_only=False)
    assert (await stack.remove(SCOPE, "anthropic")).status == "removed"
    with pytest.raises(NotFound):
        await stack.remove(SCOPE, "anthropic")


async def test_scenario_8_revocation_report_marks_revoked_and_publishes(
    stack: ByokClient, fake_providers: FakeProviders, nc: NatsClient
) -> None:
    fake_providers.add_key(ANT)
    key = await stack.configure("chatbot:support-bot", ANT)
    revoked = await events_on(nc, subjects.EVENTS_KEYS_REVOKED)
    # Transient codes never revoke, whatever the runtime says.
    for code in (429, 500, 503):
        assert (await stack.report(key.key_id, code, "overloaded")).outcome == "ignored"
    fake_providers.set_status(ANT, "rate_limited")
    assert (await stack.report(key.key_id, 401, "authentication_error")).outcome == "transient"
    fake_providers.set_status(ANT, "valid")
    assert (await stack.report(key.key_id, 401, "authentication_error")).outcome == "valid"
    assert [k.state for k in await stack.list_keys("chatbot:support-bot")] == ["active"]
    fake_providers.revoke(ANT)
    accepted = await stack.report(key.key_id, 401, "invalid x-api-key")
    assert accepted.status == "accepted"
    assert accepted.outcome == "revoked"
    [info] = await stack.list_keys("chatbot:support-bot")
    assert info.state == "revoked"
    await asyncio.sleep(0.1)
    [msg] = revoked
    event = KeyChanged.model_validate_json(msg.data)
    assert (event.event, event.key_id, event.state) == ("revoked", key.key_id, "revoked")
    with pytest.raises(NotFound):
        await stack.report("key_unknown", 401)


async def test_scenario_10_models_default_override_and_outside_catalog(
    stack: ByokClient, fake_providers: FakeProviders
) -> None:
    fake_providers.add_key(OAI)
    fake_providers.add_key(GEM)
    assert (await stack.configure("session:s1", OAI)).model == "gpt-4o-mini"
    assert (await stack.configure("session:s2", OAI, model="gpt-4.1")).model == "gpt-4.1"
    assert (await stack.configure("session:s3", GEM)).model == "gemini-3.1-flash-lite"
    with pytest.raises(Unprocessable) as outside:
        await stack.configure("session:s4", OAI, model="gpt-2-turbo")
    assert outside.value.error == "model_not_allowed"
    # An account that allows custom models (Sessionist) may pick a free-text model id.
    await stack.configure_account("indie", allow_custom_models=True)
    custom = await stack.configure("account:indie", OAI, model="ft:gpt-4o-mini:indie:v1")
    assert custom.model == "ft:gpt-4o-mini:indie:v1"
    other = await stack.configure("session:s5", OAI, model="ft:x:y", account="indie")
    assert other.model == "ft:x:y"


async def test_disable_enable_replace_and_events(
    stack: ByokClient, fake_providers: FakeProviders, nc: NatsClient
) -> None:
    fake_providers.add_key(ANT)
    events = await events_on(nc, "byok.v1.events.>")
    first = await stack.configure(SCOPE, ANT)
    assert (await stack.set_enabled(SCOPE, "anthropic", False)).state == "disabled"
    assert (await stack.set_enabled(SCOPE, "anthropic", True)).state == "active"
    # A rejected replacement leaves the old key in place.
    fake_providers.add_key(ANT_BAD, "rejected")
    with pytest.raises(KeyRejected):
        await stack.configure(SCOPE, ANT_BAD)
    [kept] = await stack.list_keys(SCOPE)
    assert kept.key_id == first.key_id
    # A valid replacement takes the slot with a new key_id.
    replacement = "sk-ant-api03-" + "N3wK3y" * 12
    fake_providers.add_key(replacement)
    second = await stack.configure(SCOPE, replacement)
    assert second.key_id != first.key_id
    [now] = await stack.list_keys(SCOPE)
    assert now.key_id == second.key_id
    await asyncio.sleep(0.1)
    names = [m.subject.rsplit(".", 1)[-1] for m in events]
    assert names == ["configured", "disabled", "enabled", "configured"]
    revisions = [KeyChanged.model_validate_json(m.data).revision for m in events]
    assert revisions == sorted(revisions)


async def test_fire_and_forget_configure_publishes_the_outcome(
    stack: ByokClient, fake_providers: FakeProviders, nc: NatsClient
) -> None:
    fake_providers.add_key(OAI)
    configured = await events_on(nc, subjects.EVENTS_KEYS_CONFIGURED)
    rejected = await events_on(nc, subjects.EVENTS_KEYS_REJECTED)
    await stack.publish_configure("workspace:outbox", OAI, request_id="req-ok-1")
    await stack.publish_configure("workspace:outbox", ANT_BAD, request_id="req-bad-1")
    await nc.publish(subjects.KEYS_CONFIGURE, b"{not json")
    for _ in range(100):
        if configured and len(rejected) == 2:
            break
        await asyncio.sleep(0.05)
    assert KeyChanged.model_validate_json(configured[0].data).request_id == "req-ok-1"
    outcomes = [KeyRejectedEvent.model_validate_json(m.data) for m in rejected]
    bad = next(e for e in outcomes if e.request_id == "req-bad-1")
    assert (bad.code, bad.message) == (401, "Invalid anthropic key: invalid x-api-key")
    assert any(e.code == 400 and e.request_id is None for e in outcomes)


async def until_healthy(client: ByokClient, service: str, timeout: float = 5.0) -> None:
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


def _key_fragments() -> list[bytes]:
    """The secret part of every test key (prefixes are public), raw and base64-able forms."""
    return [k.encode()[8:40] for k in (ANT, OAI, GEM, ANT_BAD)]


async def test_no_key_bytes_on_the_bus_in_logs_or_on_disk(
    stack: ByokClient,
    fake_providers: FakeProviders,
    nc: NatsClient,
    nats_server: NatsServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tap = Tap()
    await nc.subscribe(">", cb=tap.on_msg)
    await nc.flush()
    fake_providers.add_key(ANT)
    fake_providers.add_key(OAI)
    fake_providers.add_key(GEM)
    fake_providers.add_key(ANT_BAD, "rejected")
    ant = await stack.configure(SCOPE, ANT)
    await stack.configure(SCOPE, OAI, model="gpt-4.1")
    await stack.configure("account:acme", GEM)
    with pytest.raises(KeyRejected):
        await stack.configure("session:x", ANT_BAD)
    await stack.list_keys(SCOPE)
    await stack.set_enabled(SCOPE, "openai", False)
    await stack.rotate_keys()
    fake_providers.revoke(ANT)
    assert (await stack.report(ant.key_id, 401)).outcome == "revoked"
    await stack.remove(SCOPE, "openai")
    await nc.flush()
    await asyncio.sleep(0.2)
    assert len(tap.messages) > 20
    bus = tap.blob()
    logs = "\n".join(r.getMessage() + str(vars(r)) for r in caplog.records).encode()
    store = b"".join(p.read_bytes() for p in nats_server.store_dir.rglob("*") if p.is_file())
    assert len(store) > 0
    for fragment in _key_fragments():
        assert fragment not in bus
        assert fragment not in logs
        assert fragment not in store


HOSTILE: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b"{not json",
    b'{"scope": {"type": "workspace", "id": "acme.>"}}',
    b'{"scope": {"type": "workspace", "id": "a*"}, "provider": "openai", "actor": "x"}',
    b'{"scope": {"type": "galaxy", "id": "acme"}}',
    b'{"scope": {"type": "workspace", "id": "acme"}, "extra": 1}',
    b'{"scope": {"type": "workspace", "id": "acme"}, "sealed_key": "!!!", "kid": "x", "actor": "a"}',
    b'{"scope": {"type": "workspace", "id": "acme"}, "sealed_key": "QUFBQQ==", "kid": "nope", "actor": "a"}',
    b'{"key_id": "../../etc", "status_code": 401}',
    b'{"key_id": "k", "status_code": 9999}',
    b'{"account": "a b"}',
    b'{"key_id": "k", "recipient_key": "short"}',
    b'{"cipher": "yes"}',
    b'{"provider": "anthropic", "sealed_key": "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"}',
    b"\xff\xfe\x00",
    b"{" * 5000,
    b'{"a": "' + b"x" * 70000 + b'"}',
]


async def test_hostile_inputs_get_4xx_and_services_stay_healthy(
    stack: ByokClient, nc: NatsClient
) -> None:
    reply = await nc.request(subjects.INTERNAL_VALIDATOR_PUBLIC_KEY, b"{}", timeout=2)
    replica = json.loads(reply.data)["replica"]
    targets = [
        subjects.KEYS_PUBLIC_KEY,
        subjects.KEYS_CONFIGURE,
        subjects.KEYS_REMOVE,
        subjects.KEYS_LIST,
        subjects.KEYS_SET_ENABLED,
        subjects.KEYS_REPORT,
        subjects.SCOPES_CONFIGURE,
        subjects.ACCOUNTS_CONFIGURE,
        subjects.INTERNAL_KEYS_UNSEAL,
        subjects.INTERNAL_KEYS_REVOKE,
        subjects.INTERNAL_KEYS_ROTATE,
        subjects.INTERNAL_VALIDATOR_PUBLIC_KEY,
        subjects.keys_validate_for(replica),
    ]
    for subject in targets:
        for body in HOSTILE:
            msg = await nc.request(subject, body, timeout=5)
            data = json.loads(msg.data)
            if body in (b"", b"null") and data.get("status") != "error":
                continue  # an empty body is {} — fine for the requests that take no fields
            assert data["status"] == "error", (subject, body[:60], data)
            assert 400 <= data["code"] < 500, (subject, body[:60], data)
    for service in ("key-vault", "validator"):
        assert (await stack.health(service)).status == "ok"


async def test_rotation_rewraps_everything_while_serving(
    stack: ByokClient, fake_providers: FakeProviders, nc: NatsClient
) -> None:
    keys = {f"session:r{i}": f"sk-ant-api03-rot{i:03d}" + "R" * 60 for i in range(12)}
    for scope, key in keys.items():
        fake_providers.add_key(key)
        await stack.configure(scope, key)
    stop = asyncio.Event()
    served = 0

    async def traffic() -> None:
        nonlocal served
        recipient = Keypair.generate()
        # As a resolver replica does: key-vault seals only to registered recipients.
        await register_recipient(nc.jetstream(), "resolver", "rotation-test", recipient)
        while not stop.is_set():
            for scope in keys:
                [info] = await stack.list_keys(scope)
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
    first = await stack.rotate_keys()
    second = await stack.rotate_keys()
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
    stack: ByokClient, fake_providers: FakeProviders, nc: NatsClient
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
        key = await stack.configure(SCOPE, ANT)
        await stack.set_enabled(SCOPE, "anthropic", False)
        assert applied.count(subjects.EVENTS_KEYS_DISABLED) == 2
        await stack.set_enabled(SCOPE, "anthropic", True)
        fake_providers.revoke(ANT)
        await stack.report(key.key_id, 401)
        assert applied.count(subjects.EVENTS_KEYS_REVOKED) == 2
        await stack.remove(SCOPE, "anthropic")
        assert applied.count(subjects.EVENTS_KEYS_REMOVED) == 2
    finally:
        for replica in replicas:
            await replica.stop()


async def test_cli_reads_the_key_from_stdin_never_argv(
    stack: ByokClient, fake_providers: FakeProviders, nats_server: NatsServer
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
