"""``Service.serve``: the operations table decides the model, the queue group and the
tenant check; every request still gets a reply (real nats-server). Each test runs on
faststream's subscriber and on the direct nats-py one (``direct=True``)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NatsClient

from byok_contracts import subjects
from byok_contracts.v1 import Reply, Resolve
from byok_shared import ByokSettings, Service
from byok_shared.edge import Started
from byok_shared.testing import running


class Echo(Reply):
    account: str


BODY: dict[str, object] = {
    "account": "acme",
    "chain": [{"type": "workspace", "id": "w1"}],
    "recipient_key": base64.b64encode(b"k" * 32).decode(),
}


WORKERS = 4


@pytest.fixture(params=[False, True], ids=["faststream", "direct"])
async def resolver(
    byok_settings: ByokSettings, request: pytest.FixtureRequest
) -> AsyncIterator[Service]:
    """A service named like the resolver (the owner of ``resolve``), with a handler that
    crashes on one scope, waits for ``WORKERS`` requests at once on another, and otherwise
    echoes the account it was asked for."""
    svc = Service("resolver", byok_settings)
    calls: Started[list[str]] = Started("the calls")
    waiting: list[asyncio.Event] = []

    @svc.on_started
    async def start() -> None:
        calls.set([])

    async def handler(request: Resolve) -> Echo:
        if request.chain[0].id == "crash":
            raise RuntimeError("boom with sk-ant-api03-SHOULDNOTLEAK0000000000")
        if request.chain[0].id == "together":  # answers only once WORKERS are in here
            arrived = asyncio.Event()
            waiting.append(arrived)
            if len(waiting) == WORKERS:
                for event in waiting:
                    event.set()
            await arrived.wait()
        calls().append(request.account)
        return Echo(account=request.account)

    svc.serve(subjects.resolve_for("{account}"), handler, workers=WORKERS, direct=request.param)
    async with running(svc.app):
        yield svc


async def _ask(nc: NatsClient, subject: str, body: dict[str, object]) -> dict[str, object]:
    msg = await nc.request(subject, json.dumps(body).encode(), timeout=3)
    reply: dict[str, object] = json.loads(msg.data)
    return reply


async def test_a_per_account_subject_serves_its_own_account(
    resolver: Service, nc: NatsClient
) -> None:
    reply = await _ask(nc, subjects.resolve_for("acme"), BODY)
    assert reply == {"account": "acme"}


async def test_a_body_for_another_account_is_refused_at_the_edge(
    resolver: Service, nc: NatsClient
) -> None:
    """The attack: a tenant allowed ``resolve.acme`` asks for globex's keys in the body."""
    reply = await _ask(nc, subjects.resolve_for("acme"), {**BODY, "account": "globex"})
    assert reply["code"] == 403
    assert reply["error"] == "wrong_account"
    assert "globex" not in str(reply["message"])  # never the caller's input


async def test_a_crashing_handler_still_replies_500_without_the_input(
    resolver: Service, nc: NatsClient
) -> None:
    body = {**BODY, "chain": [{"type": "workspace", "id": "crash"}]}
    reply = await _ask(nc, subjects.resolve_for("acme"), body)
    assert reply["code"] == 500
    assert "SHOULDNOTLEAK" not in json.dumps(reply)


async def test_workers_requests_run_at_once(resolver: Service, nc: NatsClient) -> None:
    body = {**BODY, "chain": [{"type": "workspace", "id": "together"}]}
    replies = await asyncio.gather(
        *(_ask(nc, subjects.resolve_for("acme"), body) for _ in range(WORKERS))
    )
    assert replies == [{"account": "acme"}] * WORKERS


async def test_health_is_served_per_replica(resolver: Service, nc: NatsClient) -> None:
    reply = await _ask(nc, subjects.health("resolver"), {})
    assert reply["service"] == "resolver"


def test_a_service_serves_only_what_the_contract_says_it_owns(byok_settings: ByokSettings) -> None:
    svc = Service("usage-tracker", byok_settings)

    async def handler(request: Resolve) -> Echo:
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="does not serve"):
        svc.serve(subjects.RESOLVE, handler)
    with pytest.raises(KeyError, match="not an operation"):
        svc.serve("byok.v1.nothing", handler)
    with pytest.raises(ValueError, match="does not serve"):
        svc.serve(subjects.USAGE_RECORDED, handler)  # an event, not a request


def test_started_is_empty_until_the_start_hook_set_it() -> None:
    cell: Started[int] = Started("the answer")
    with pytest.raises(RuntimeError, match="before the service started"):
        cell()
    assert cell.set(42) == 42
    assert cell() == 42
    assert cell.take() == 42
    assert cell.take() is None
