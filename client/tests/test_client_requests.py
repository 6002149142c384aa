"""The one request edge (:mod:`byok_shared.request`) as the client and the hops meet it."""

from __future__ import annotations

import nats
import pytest
from nats.aio.client import Client as NatsClient

from byok_client import (
    ByokClient,
    ByokError,
    Forbidden,
    MalformedRequest,
    NotFound,
    Unavailable,
)
from byok_contracts import Keypair, subjects
from byok_contracts.v1 import ListKeys, Scope, UnsealKey
from byok_shared import calls
from byok_shared.natsserver import NatsServer
from byok_shared.request import Requester, call

from .conftest import ScriptedByok

SCOPE = Scope.parse("workspace:w1")


async def test_no_service_is_503_no_responders(client: ByokClient) -> None:
    with pytest.raises(Unavailable) as caught:
        await client.list_keys("workspace:w1")
    assert (caught.value.code, caught.value.error) == (503, "no_responders")


async def test_a_silent_service_is_503_timeout(byok: ScriptedByok, nc: NatsClient) -> None:
    async def never(_: object) -> None:
        return None

    await byok.answer(subjects.KEYS_LIST, never)
    client = ByokClient(nc, timeout=0.2, account="acme")
    with pytest.raises(Unavailable) as caught:
        await client.list_keys("workspace:w1")
    assert caught.value.error == "timeout"


async def test_a_closed_connection_is_503_unavailable(nats_server: NatsServer) -> None:
    nc = await nats.connect(nats_server.url)
    client = ByokClient(nc, timeout=2.0, account="acme")
    await nc.close()
    with pytest.raises(Unavailable) as caught:
        await client.list_keys("workspace:w1")
    assert caught.value.error == "unavailable"


async def test_an_error_reply_is_the_typed_error_with_its_word(
    byok: ScriptedByok, client: ByokClient
) -> None:
    await byok.reply(
        subjects.KEYS_LIST,
        {"status": "error", "code": 403, "error": "wrong_account", "message": "Not yours"},
    )
    with pytest.raises(Forbidden) as caught:
        await client.list_keys("workspace:w1")
    assert (caught.value.error, caught.value.message) == ("wrong_account", "Not yours")


@pytest.mark.parametrize("reply", [b"not json", b'{"status": "ok"}', b'{"status": "error"}'])
async def test_an_unusable_reply_is_503_unavailable(
    byok: ScriptedByok, client: ByokClient, reply: bytes
) -> None:
    await byok.reply(subjects.KEYS_LIST, reply)
    with pytest.raises(Unavailable) as caught:
        await client.list_keys("workspace:w1")
    assert caught.value.error == "unavailable"


async def test_a_hop_names_the_word_of_its_own_subject(nc: NatsClient) -> None:
    """An internal hop raises its registered word, not the client-side one."""

    class KeySourceUnavailable(Unavailable, word="key_source_unavailable"):
        """The resolver's word for 'key-vault is gone'."""

    hop = Requester(nc, timeout=1.0, unavailable=KeySourceUnavailable)
    body = UnsealKey(key_id="k1", recipient_key=Keypair.generate().public_b64)
    with pytest.raises(KeySourceUnavailable) as caught:
        await hop.request(calls.KEYS_UNSEAL, body)
    assert caught.value.error == "key_source_unavailable"


@pytest.mark.parametrize(
    "scope",
    [
        "workspace:sk-ant-api03-" + "A" * 40 + "!",
        {"type": "galaxy", "id": "sk-ant-secret-x"},
        {"type": "workspace", "id": "w1", "sk-ant-api03-in-a-key": "x"},
    ],
)
async def test_bad_input_is_refused_before_sending_and_never_echoed(
    byok: ScriptedByok, client: ByokClient, scope: str | dict[str, str]
) -> None:
    await byok.reply(subjects.KEYS_LIST, {"status": "ok", "keys": []})
    with pytest.raises(MalformedRequest) as caught:
        await client.list_keys(scope)
    assert caught.value.error == "malformed_request"
    assert "sk-ant" not in str(caught.value)
    assert "galaxy" not in str(caught.value)
    assert byok.received == {}


async def test_a_call_must_match_the_contract_table() -> None:
    with pytest.raises(TypeError):
        call(subjects.KEYS_LIST, ListKeys, ListKeys)
    with pytest.raises(KeyError):
        call("byok.v1.nothing", ListKeys, ListKeys)


async def test_every_error_is_one_tree(byok: ScriptedByok, client: ByokClient) -> None:
    await byok.reply(
        subjects.KEYS_LIST,
        {"status": "error", "code": 404, "error": "key_not_found", "message": "No such key"},
    )
    with pytest.raises(ByokError) as caught:
        await client.list_keys(SCOPE)
    assert isinstance(caught.value, NotFound)
