"""The throughput path keeps its promises: request-index claims of many accounts go in one
atomic batch (and fall back to one by one when a key exists or the stream refuses atomic
batches), provisioning gives an existing index bucket ``allow_atomic``, with batches
pulled ahead and in flight together each account is still debited in stream order, and
what is pulled ahead but not handled goes back at once on stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from ledger_helpers import usage
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, ConsumerInfo, StreamConfig

from byok_contracts import subjects
from byok_contracts.v1.ledger import LedgerEntry
from byok_credit_ledger.adapters.batch_publish import BatchPublisher, Published
from byok_credit_ledger.adapters.kv_state import BUCKET_LEDGER_REQUESTS, KvRequestIndex
from byok_credit_ledger.adapters.prefetch import Prefetcher, PullFailed
from byok_credit_ledger.app import create_app
from byok_credit_ledger.config import LedgerConfig
from byok_shared.jetstream import STREAM_LEDGER, STREAM_USAGE, ensure_jetstream
from byok_shared.natsserver import NatsServer
from byok_shared.provision import provision_jetstream
from byok_shared.testing import running, settings_for

STREAM_REQUESTS = f"KV_{BUCKET_LEDGER_REQUESTS}"


async def _claims_stored(js: JetStreamContext) -> int:
    return int((await js.stream_info(STREAM_REQUESTS)).state.messages)


def _count_commits(monkeypatch: pytest.MonkeyPatch) -> list[Published]:
    commits: list[Published] = []
    real = BatchPublisher.publish_atomic

    async def counted(
        self: BatchPublisher, messages: list[tuple[str, bytes, dict[str, str]]]
    ) -> Published:
        ack = await real(self, messages)
        commits.append(ack)
        return ack

    monkeypatch.setattr(BatchPublisher, "publish_atomic", counted)
    return commits


async def test_claims_of_several_accounts_commit_together(
    js: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ensure_jetstream(js)
    commits = _count_commits(monkeypatch)
    index = await KvRequestIndex.open(js)
    answers = await asyncio.gather(
        index.claim_many("acme", ["a1", "a2", "a3"], 4),
        index.claim_many("beta", ["b1", "b2"], 0),
    )
    assert answers == [[None, None, None], [None, None]]
    assert [c.error for c in commits] == [None]  # one atomic batch for both accounts
    assert await _claims_stored(js) == 5
    # claimed again (a redelivery): the batch fails whole, each id is then found one by one
    answers = await asyncio.gather(
        index.claim_many("acme", ["a2", "a9"], 6),
        index.claim_many("beta", ["b3", "b4"], 1),
    )
    assert answers == [[4, None], [None, None]]
    assert len(commits) == 2
    assert commits[1].error is not None
    assert await _claims_stored(js) == 8  # a9, b3, b4: nothing claimed twice


async def test_without_allow_atomic_claims_go_one_by_one(js: JetStreamContext) -> None:
    await ensure_jetstream(js)
    config = (await js.stream_info(STREAM_REQUESTS)).config
    await js.update_stream(replace(config, allow_atomic=False))
    index = await KvRequestIndex.open(js)
    assert await index.claim_many("acme", ["x", "y"], 3) == [None, None]
    assert await index.claim_many("acme", ["y", "z"], 5) == [3, None]
    assert await _claims_stored(js) == 3
    # provisioning again brings the flag back on an existing bucket (and keeps its claims)
    assert f"updated bucket {BUCKET_LEDGER_REQUESTS}" in await provision_jetstream(js)
    assert (await js.stream_info(STREAM_REQUESTS)).config.allow_atomic
    assert await _claims_stored(js) == 3
    assert await provision_jetstream(js) == []  # idempotent


async def test_each_account_is_debited_in_stream_order(
    nats_server: NatsServer, js: JetStreamContext, tmp_path: Path
) -> None:
    await ensure_jetstream(js)
    accounts = ["acme", "beta"]
    for i in range(90):
        event = usage(f"r{i:02d}", account=accounts[i % 2])
        await js.publish(
            subjects.USAGE_RECORDED,
            event.model_dump_json().encode(),
            headers={"Nats-Msg-Id": f"m{i}"},
        )
    # small batches: many in flight at once, several per account
    config = LedgerConfig(batch=4, fetch_timeout=0.3, flush_interval=0.02)
    async with running(create_app(settings_for(nats_server.url, tmp_path), config)):
        for _ in range(400):
            info = await js.consumer_info(STREAM_USAGE, config.durable)
            if not info.num_pending and not info.num_ack_pending:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("usage not settled")
    info = await js.stream_info(STREAM_LEDGER)
    debited: dict[str, list[str | None]] = {a: [] for a in accounts}
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        entry = LedgerEntry.model_validate_json((await js.get_msg(STREAM_LEDGER, seq)).data or b"")
        debited[entry.account] += [d.request_id for d in entry.debits()]
    for n, account in enumerate(accounts):
        assert debited[account] == [f"r{i:02d}" for i in range(n, 90, 2)]


async def _prefetch_stream(js: JetStreamContext, count: int) -> None:
    await js.add_stream(StreamConfig(name="PREFETCH", subjects=["prefetch"]))
    for i in range(count):
        await js.publish("prefetch", str(i).encode())
    await js.add_consumer(
        "PREFETCH",
        ConsumerConfig(durable_name="c", ack_policy=AckPolicy.EXPLICIT, ack_wait=60),
    )


async def _until(js: JetStreamContext, done: Callable[[ConsumerInfo], bool]) -> None:
    for _ in range(500):
        if done(await js.consumer_info("PREFETCH", "c")):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the consumer never got there")


async def test_prefetcher_hands_over_in_order_and_gives_back_what_it_holds(
    nc: NatsClient, js: JetStreamContext
) -> None:
    await _prefetch_stream(js, 10)
    first = Prefetcher(nc, "PREFETCH", "c", batch=4, expires=1.0, idle_after=0.2)
    msgs = await first.fetch()
    assert [m.data for m in msgs] == [b"0", b"1", b"2", b"3"]
    for msg in msgs:
        await msg.ack()
    await _until(js, lambda info: info.num_pending == 0)  # the rest is pulled ahead
    await first.stop()  # ... and handed back: redelivered now, not after ack_wait (60 s)
    second = Prefetcher(nc, "PREFETCH", "c", batch=10, expires=1.0, idle_after=0.2)
    seen: list[bytes] = []
    for _ in range(20):  # a few seconds at most, far below ack_wait
        with contextlib.suppress(TimeoutError):
            seen += [m.data for m in await second.fetch()]
        if len(seen) >= 6:
            break
    assert sorted(seen) == [str(i).encode() for i in range(4, 10)]
    await second.stop()


async def test_a_deleted_consumer_fails_the_fetch(nc: NatsClient, js: JetStreamContext) -> None:
    await _prefetch_stream(js, 0)
    prefetch = Prefetcher(nc, "PREFETCH", "c", batch=4, expires=5.0, idle_after=2.0)
    fetching = asyncio.create_task(prefetch.fetch())
    await _until(js, lambda info: info.num_waiting > 0)  # its pull request is open
    await js.delete_consumer("PREFETCH", "c")
    with pytest.raises(PullFailed):
        await fetching
    await prefetch.stop()
