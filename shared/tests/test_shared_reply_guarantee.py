"""Every request gets a reply on a real server: bad bodies, schema violations, handler crashes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NatsClient

from byok_contracts import Conflict, subjects
from byok_contracts.v1 import Health, ListKeys, Reply
from byok_shared import ByokSettings, Service
from byok_shared.testing import running

SUBJECT = "byok.v1.test.echo"


class Echo(Reply):
    status: str = "ok"
    scope: str


@pytest.fixture
async def service(byok_settings: ByokSettings) -> AsyncIterator[Service]:
    svc = Service("test-svc", byok_settings)

    @svc.responder(SUBJECT, ListKeys)
    async def handle(request: ListKeys) -> Echo:
        if request.scope.id == "crash":
            raise RuntimeError("boom with sk-ant-api03-SHOULDNOTLEAK0000000000")
        if request.scope.id == "conflict":
            raise Conflict("Already there", error="duplicate")
        return Echo(scope=str(request.scope))

    async with running(svc.app):
        yield svc


async def ask(nc: NatsClient, body: bytes) -> dict[str, object]:
    msg = await nc.request(SUBJECT, body, timeout=3)
    reply: dict[str, object] = json.loads(msg.data)
    return reply


async def test_success(service: Service, nc: NatsClient) -> None:
    reply = await ask(nc, b'{"scope": {"type": "workspace", "id": "acme"}}')
    assert reply == {"status": "ok", "scope": "workspace:acme"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "scope: Field required"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"[]", "object"),
        (b'"text"', "object"),
        (b'{"scope": {"type": "workspace", "id": "a.b"}}', "scope.id"),
        # An unknown field is not named: its name may be anything (a pasted key, issue 10).
        (b'{"scope": {"type": "workspace", "id": "acme"}, "extra": 1}', "unknown field"),
        (b'{"scope": {"type": "workspace", "id": "acme"}, "sk-proj-AAAABBBBCCCC": 1}', "unknown"),
        (b'{"scope": "workspace:acme"}', "scope"),
        (b"{" + b'"a":' * 5000 + b"1" + b"}" * 5000, ""),
        (b'{"scope": {"type": "workspace", "id": "' + b"x" * 70_000 + b'"}}', "larger than"),
    ],
)
async def test_malformed_requests_get_400(
    service: Service, nc: NatsClient, body: bytes, fragment: str
) -> None:
    reply = await ask(nc, body)
    assert reply["status"] == "error"
    assert reply["code"] == 400
    assert reply["error"] == "malformed_request"
    assert fragment in str(reply["message"])
    assert "AAAABBBBCCCC" not in str(reply["message"])


async def test_handler_errors_become_the_error_contract(service: Service, nc: NatsClient) -> None:
    reply = await ask(nc, b'{"scope": {"type": "workspace", "id": "conflict"}}')
    assert reply == {
        "status": "error",
        "code": 409,
        "error": "duplicate",
        "message": "Already there",
    }


async def test_a_crashing_handler_still_replies_and_leaks_nothing(
    service: Service, nc: NatsClient, caplog: pytest.LogCaptureFixture
) -> None:
    reply = await ask(nc, b'{"scope": {"type": "workspace", "id": "crash"}}')
    assert reply["code"] == 500
    assert reply["error"] == "internal"
    assert "SHOULDNOTLEAK" not in json.dumps(reply)
    assert "unhandled error" in caplog.text
    assert "SHOULDNOTLEAK" not in caplog.text
    # and the service keeps answering
    assert (await ask(nc, b'{"scope": {"type": "user", "id": "u1"}}'))["status"] == "ok"


async def test_health_answers_and_metrics_count_codes(service: Service, nc: NatsClient) -> None:
    msg = await nc.request(subjects.health("test-svc"), b"{}", timeout=3)
    assert Health.model_validate_json(msg.data).service == "test-svc"
    await ask(nc, b"{")
    sample = service.metrics.registry.get_sample_value(
        "byok_requests_total", {"service": "test-svc", "subject": SUBJECT, "code": "400"}
    )
    assert sample == 1.0
