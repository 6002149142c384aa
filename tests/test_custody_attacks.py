"""Issue 10's attacks that key-vault and the resolver answer, against real nats-server.

Each test replays an attack that worked on the code before 0.2 (a captured configure
body replayed to another scope, a stranger's recipient key on the unseal hop, one
tenant resolving another's workspace, a key pasted into the wrong field, a low-order
recipient key, a non-ASCII kid) and checks the new outcome. Also the audit trail.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from byok_client import ByokClient
from byok_contracts import Keypair, seal_configure, subjects
from byok_credit_ledger.app import create_app as credit_ledger
from byok_key_vault.app import create_app as key_vault
from byok_resolver.app import create_app as resolver
from byok_shared.natsserver import NatsServer
from byok_shared.testing import running, settings_for
from byok_shared.testing.fake_providers import FakeProviders
from byok_shared.testing.polling import eventually
from byok_validator.app import create_app as validator

VICTIM_KEY = "sk-ant-api03-" + "Vict1mK3yOfT3nantB" * 4 + "-vvAA"
STRAY = "sk-proj-" + "Str4yK3yPast3dInAF1eld" * 2
STRAY_SLICE = STRAY[10:30]


@pytest.fixture
async def stack(
    nats_server: NatsServer, tmp_path: Path, fake_providers: FakeProviders
) -> AsyncIterator[ByokClient]:
    config = settings_for(nats_server.url, tmp_path / "data", **fake_providers.settings_overrides())
    fake_providers.add_key(VICTIM_KEY, "valid")
    async with running(*(f(config) for f in (key_vault, validator, resolver, credit_ledger))):
        client = await ByokClient.connect(nats_server.url, timeout=5.0, account="tenant-b")
        try:
            yield client
        finally:
            await client.close()


async def ask(nc: NatsClient, subject: str, body: dict[str, Any] | bytes) -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    msg = await nc.request(subject, raw, timeout=5.0)
    reply: dict[str, Any] = json.loads(msg.data)
    return reply


async def test_a_captured_configure_body_does_not_replay_to_another_scope(
    stack: ByokClient, nc: NatsClient
) -> None:
    """Attack 2: the victim's sealed key, replayed at the attacker's scope."""
    vault = await stack.public_key()
    victim_scope = {"type": "workspace", "id": "victim"}
    captured = {
        "scope": victim_scope,
        "sealed_key": seal_configure(
            VICTIM_KEY, vault.public_key, account="tenant-b", scope=victim_scope
        ),
        "kid": vault.kid,
        "actor": "victim",
        "account": "tenant-b",
    }
    assert (await ask(nc, subjects.KEYS_CONFIGURE, captured))["status"] == "configured"

    for scope, account in (
        ({"type": "workspace", "id": "attacker"}, "tenant-a"),
        ({"type": "workspace", "id": "attacker-b"}, "tenant-b"),
    ):
        replay = {**captured, "scope": scope, "account": account}
        reply = await ask(nc, subjects.KEYS_CONFIGURE, replay)
        assert (reply["code"], reply["error"]) == (400, "seal_mismatch"), reply
        assert await stack.list_keys(scope, account=account) == []
    # A replay for another request id is refused too.
    reply = await ask(nc, subjects.KEYS_CONFIGURE, {**captured, "request_id": "other-1"})
    assert reply["error"] == "seal_mismatch"
    # And the very same body again, to the victim's own scope, inside the seal's five
    # minutes (it would bring back a key the victim replaced or removed meanwhile).
    assert (await stack.remove("workspace:victim", "anthropic", account="tenant-b")).key_id
    reply = await ask(nc, subjects.KEYS_CONFIGURE, captured)
    assert (reply["code"], reply["error"]) == (400, "seal_replayed"), reply
    assert await stack.list_keys(victim_scope, account="tenant-b") == []


async def test_the_unseal_hop_seals_to_registered_replicas_only(
    stack: ByokClient, nc: NatsClient
) -> None:
    """Attack 1 (key-vault's part): any process on the bus asked for any key."""
    stored = await stack.configure("workspace:w1", VICTIM_KEY)
    stranger = Keypair.generate()
    reply = await ask(
        nc,
        subjects.INTERNAL_KEYS_UNSEAL,
        {"key_id": stored.key_id, "recipient_key": stranger.public_b64},
    )
    assert (reply["code"], reply["error"]) == (403, "unregistered_recipient")
    assert "sealed_key" not in reply
    # The registered resolver still gets it: resolving works end to end.
    route = await stack.resolve("tenant-b", ["workspace:w1"], source="byok")
    assert route.api_key == VICTIM_KEY


async def test_tenants_cannot_resolve_or_write_each_others_scopes(
    stack: ByokClient, nc: NatsClient
) -> None:
    """Attack 3: resolve {account: A, chain: [B's workspace]}, and writes across tenants."""
    await stack.configure("workspace:b-ws", VICTIM_KEY)  # tenant-b's first write owns it
    for account in ("tenant-a", "no-such-account"):
        with pytest.raises(Exception) as caught:  # noqa: PT011 - the typed error is checked
            await stack.resolve(account, ["workspace:b-ws"])
        assert getattr(caught.value, "error", None) == "wrong_account"
    for call in (
        stack.configure("workspace:b-ws", VICTIM_KEY, account="tenant-a"),
        stack.remove("workspace:b-ws", "anthropic", account="tenant-a"),
        stack.set_enabled("workspace:b-ws", "anthropic", False, account="tenant-a"),
        stack.configure_scope("workspace:b-ws", read_only=True, account="tenant-a"),
    ):
        with pytest.raises(Exception) as refused:  # noqa: PT011
            await call
        assert (getattr(refused.value, "code", None), refused.value.error) == (  # type: ignore[attr-defined]
            403,
            "wrong_account",
        )
    missing = await ask(
        nc,
        subjects.KEYS_REMOVE,
        {"scope": {"type": "workspace", "id": "b-ws"}, "provider": "anthropic", "actor": "x"},
    )
    assert (missing["code"], missing["error"]) == (400, "account_required")
    body = {
        "account": "tenant-a",
        "chain": [{"type": "workspace", "id": "b-ws"}],
        "recipient_key": Keypair.generate().public_b64,
    }
    wrong_subject = await ask(nc, subjects.resolve_for("tenant-b"), body)
    assert (wrong_subject["code"], wrong_subject["error"]) == (403, "wrong_account")


async def test_a_key_in_the_wrong_field_is_never_echoed_stored_or_published(
    stack: ByokClient, nc: NatsClient
) -> None:
    """Attack 5: a key in ``kid``, as a field name, in ``actor``, in a rejected outbox publish."""
    seen: list[Msg] = []

    async def tap(msg: Msg) -> None:
        seen.append(msg)

    await nc.subscribe(">", cb=tap)
    vault = await stack.public_key()
    scope = {"type": "workspace", "id": "stray"}
    sealed = seal_configure(VICTIM_KEY, vault.public_key, account="tenant-b", scope=scope)
    base = {"scope": scope, "sealed_key": sealed, "kid": vault.kid, "actor": "ops"}
    replies = [
        await ask(nc, subjects.KEYS_CONFIGURE, {**base, "account": "tenant-b", "kid": STRAY}),
        await ask(nc, subjects.KEYS_CONFIGURE, {**base, "account": "tenant-b", STRAY: 1}),
        await ask(nc, subjects.KEYS_LIST, {"scope": {"type": "workspace", "id": STRAY}}),
        await ask(nc, subjects.KEYS_REPORT, {"key_id": STRAY, "status_code": 401}),
    ]
    assert [r["code"] for r in replies] == [400, 400, 400, 400]
    # The actor is stored and published redacted; the configure itself works.
    ok = await ask(nc, subjects.KEYS_CONFIGURE, {**base, "account": "tenant-b", "actor": STRAY})
    assert ok["status"] == "configured", ok
    # Fire and forget with a bad kid: the rejected event carries no key either.
    await nc.publish(subjects.KEYS_CONFIGURE, json.dumps({**base, "kid": STRAY}).encode())
    await asyncio.sleep(0.5)
    await nc.flush()
    assert [m for m in seen if m.subject == subjects.EVENTS_KEYS_REJECTED]
    assert STRAY.encode() not in json.dumps(replies).encode()
    # The key shows up only in the attacker's own requests: no reply, event, KV write,
    # journal or audit entry carries it (in full or in part).
    for needle in (STRAY.encode(), STRAY_SLICE.encode()):
        carriers = {m.subject for m in seen if needle in m.data}
        assert carriers <= {subjects.KEYS_CONFIGURE, subjects.KEYS_LIST, subjects.KEYS_REPORT}


async def test_low_order_recipient_and_non_ascii_kid_are_400(
    stack: ByokClient, nc: NatsClient
) -> None:
    """Attack 8: a 500 and a 503 before."""
    zero = base64.b64encode(bytes(32)).decode()
    resolve = {
        "account": "tenant-b",
        "chain": [{"type": "session", "id": "s"}],
        "recipient_key": zero,
    }
    assert (await ask(nc, subjects.RESOLVE, resolve))["code"] == 400
    unseal = {"key_id": "key_x", "recipient_key": zero}
    assert (await ask(nc, subjects.INTERNAL_KEYS_UNSEAL, unseal))["code"] == 400
    vault = await stack.public_key()
    scope = {"type": "workspace", "id": "kid"}
    body = {
        "scope": scope,
        "sealed_key": seal_configure(VICTIM_KEY, vault.public_key, account="tenant-b", scope=scope),
        "kid": "é" * 16,
        "actor": "ops",
        "account": "tenant-b",
    }
    reply = await ask(nc, subjects.KEYS_CONFIGURE, body)
    assert reply["code"] == 400
    assert "é" not in reply["message"]


async def test_the_audit_trail_answers_who_touched_my_key(
    stack: ByokClient, nats_server: NatsServer
) -> None:
    stored = await stack.configure("workspace:aud", VICTIM_KEY, actor=f"alice {STRAY}")
    await stack.set_enabled("workspace:aud", "anthropic", False, actor="bob")
    await stack.set_enabled("workspace:aud", "anthropic", True, actor="bob")
    await stack.resolve("tenant-b", ["workspace:aud"], source="byok")  # an unseal
    await stack.remove("workspace:aud", "anthropic", actor="carol")
    with pytest.raises(Exception):  # noqa: PT011 - refused: audited too
        await stack.remove("workspace:aud", "anthropic", account="tenant-a")
    await asyncio.sleep(0.2)

    entries = await stack.audit(key_id=stored.key_id)
    ops = [(e.operation, e.outcome) for e in entries]
    assert ops == [
        ("configure", "ok"),
        ("disable", "ok"),
        ("enable", "ok"),
        ("unseal", "ok"),
        ("remove", "ok"),
    ], ops
    configure, *_, unseal, removed = entries
    assert configure.role is not None
    assert "backend" in configure.role.split("|")
    assert configure.actor is not None
    assert configure.actor.startswith("alice ")
    assert STRAY_SLICE not in configure.actor
    assert unseal.role == "resolver"
    assert (removed.account, str(removed.scope), removed.actor) == (
        "tenant-b",
        "workspace:aud",
        "carol",
    )
    by_scope = await stack.audit(scope="workspace:aud")
    [attempt] = [e for e in by_scope if e.outcome == "wrong_account"]
    assert (attempt.operation, attempt.code, attempt.account, attempt.requested_account) == (
        "remove",
        403,
        "tenant-b",
        "tenant-a",
    )
    assert await stack.audit(account="tenant-a") == []
    assert len(await stack.audit(account="tenant-b")) >= len(entries)
    raw = json.dumps([e.model_dump(mode="json") for e in by_scope]).encode()
    assert VICTIM_KEY.encode() not in raw
    assert VICTIM_KEY[10:34].encode() not in raw

    # The CLI reads the same trail.
    import sys

    byok = str(Path(sys.executable).parent / "byok")
    proc = await asyncio.create_subprocess_exec(
        byok,
        "--nats",
        nats_server.url,
        "audit",
        "--key",
        stored.key_id,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err
    assert [e["operation"] for e in json.loads(out)] == [op for op, _ in ops]


async def test_revocation_and_rotation_are_on_the_audit_trail(
    stack: ByokClient, fake_providers: FakeProviders
) -> None:
    """The provider revoked a key (a runtime's 401, confirmed by re-validation) and an
    operator rotated the cipher key: both are in the trail, with who and what, no material."""
    stored = await stack.configure("workspace:aud-rr", VICTIM_KEY)
    fake_providers.revoke(VICTIM_KEY)
    assert (await stack.report(stored.key_id, 401, "invalid x-api-key")).outcome == "revoked"
    rotated = await stack.rotate_keys(actor="ops-oncall")

    async def on_trail() -> bool:
        ops = [(e.operation, e.outcome) for e in await stack.audit(key_id=stored.key_id)]
        return ops == [("configure", "ok"), ("unseal", "ok"), ("revoke", "ok")]

    await eventually(on_trail, 10, "the revocation on the key's trail")
    _, revalidation, revoked = await stack.audit(key_id=stored.key_id)
    assert revalidation.role == "validator"  # re-validation unsealed it to the validator
    assert (str(revoked.scope), revoked.account, revoked.provider) == (
        "workspace:aud-rr",
        "tenant-b",
        "anthropic",
    )
    everything = await stack.audit()
    [rotation] = [e for e in everything if e.operation == "rotate"]
    assert (rotation.outcome, rotation.actor) == ("ok", "ops-oncall")
    assert rotated.status == "rotated"
    assert rotated.rewrapped >= 1
    raw = json.dumps([e.model_dump(mode="json") for e in everything]).encode()
    assert VICTIM_KEY.encode() not in raw
