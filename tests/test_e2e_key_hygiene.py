"""No key bytes anywhere, and hostile input answered: key-vault + validator in-process.

The bus (a tap on ``>``), the logs and the JetStream store on disk never hold a
key's secret part; every malformed body on every subject gets a 4xx error reply
and the services stay healthy.
"""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from byok_client import ByokClient
from byok_contracts import KeyRejected, subjects
from byok_shared.natsserver import NatsServer
from byok_shared.testing.fake_providers import FakeProviders

ANT = "sk-ant-api03-" + "H7g6F5e4D3c2B1a0Z9y8" * 4 + "-hygAA"
ANT_BAD = "sk-ant-api03-" + "Qq1Ww2Ee3Rr4Tt5Yy6Uu" * 4 + "-badAA"
OAI = "sk-proj-" + "M1n2B3v4C5x6Z7l8K9j0" * 3
GEM = "AIzaSy" + "H1g2F3e4D5c6B7a8Z9y0X1w2V3"
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


def _key_fragments() -> list[bytes]:
    """The secret part of every test key (prefixes are public), raw and base64-able forms."""
    return [k.encode()[8:40] for k in (ANT, OAI, GEM, ANT_BAD)]


async def test_no_key_bytes_on_the_bus_in_logs_or_on_disk(
    key_stack: ByokClient,
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
    ant = await key_stack.configure(SCOPE, ANT)
    await key_stack.configure(SCOPE, OAI, model="gpt-4.1")
    await key_stack.configure("account:acme", GEM)
    with pytest.raises(KeyRejected):
        await key_stack.configure("session:x", ANT_BAD)
    await key_stack.list_keys(SCOPE)
    await key_stack.set_enabled(SCOPE, "openai", False)
    await key_stack.rotate_keys()
    fake_providers.revoke(ANT)
    assert (await key_stack.report(ant.key_id, 401)).outcome == "revoked"
    await key_stack.remove(SCOPE, "openai")
    await nc.flush()
    await asyncio.sleep(0.2)  # not a synchronisation: only lets late events join the tap
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
    key_stack: ByokClient, nc: NatsClient
) -> None:
    reply = await nc.request(subjects.INTERNAL_VALIDATOR_PUBLIC_KEY, b"{}", timeout=10)
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
            msg = await nc.request(subject, body, timeout=10)
            data = json.loads(msg.data)
            if body in (b"", b"null") and data.get("status") != "error":
                continue  # an empty body is {} — fine for the requests that take no fields
            assert data["status"] == "error", (subject, body[:60], data)
            assert 400 <= data["code"] < 500, (subject, body[:60], data)
    for service in ("key-vault", "validator"):
        assert (await key_stack.health(service)).status == "ok"
