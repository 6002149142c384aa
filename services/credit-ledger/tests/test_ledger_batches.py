"""Batched debits (one append per account per fetched batch) keep "debited at most once,
for ever": duplicates inside a batch, across batches, across a snapshot, across a restart,
and after an append whose outcome was lost (the kill between append and ack)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

from ledger_helpers import memory_ledger, usage
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from byok_contracts import subjects
from byok_contracts.v1 import UsageRecorded
from byok_contracts.v1.ledger import DebitItem, LedgerEntry, VerifyLedger
from byok_credit_ledger.adapters.kv_state import LEDGER_BUCKETS, KvRequestIndex
from byok_credit_ledger.adapters.memory import (
    MemoryJournal,
    MemoryRequestIndex,
    MemorySnapshots,
)
from byok_credit_ledger.app import create_app
from byok_credit_ledger.config import LedgerConfig
from byok_credit_ledger.domain import entry_id
from byok_credit_ledger.handlers import Ledger, PreparedDebit
from byok_shared.jetstream import STREAM_LEDGER, STREAM_USAGE, ensure_jetstream
from byok_shared.natsserver import NatsServer
from byok_shared.testing import running, settings_for


async def batch(ledger: Ledger, *rids: str) -> LedgerEntry | None:
    """What the usage consumer does with one account's share of a fetched batch."""
    prepared = await ledger.prepare_many([usage(rid) for rid in rids])
    assert all(isinstance(p, PreparedDebit) for p in prepared), prepared
    return await ledger.debit_many([p for p in prepared if isinstance(p, PreparedDebit)])


def debits(journal: MemoryJournal) -> Counter[str | None]:
    return Counter(d.request_id for _, _, e in journal.log for d in e.debits())


async def test_a_batch_debits_each_new_request_once_in_one_entry() -> None:
    ledger, journal, _ = memory_ledger()
    entry = await batch(ledger, "r1", "r2", "r1", "r3")  # r1 twice in the same fetch
    assert entry is not None
    assert [i.request_id for i in entry.items] == ["r1", "r2", "r3"]
    assert entry.amount == sum(i.amount for i in entry.items) == entry.balance
    assert len(journal.log) == 1
    assert await batch(ledger, "r3", "r2") is None  # the next batch: nothing new
    single = await batch(ledger, "r1", "r4")
    assert single is not None
    assert single.request_id == "r4"
    assert not single.items
    assert debits(journal) == Counter({"r1": 1, "r2": 1, "r3": 1, "r4": 1})
    assert (await ledger.verify(VerifyLedger())).consistent


async def test_batches_stay_exactly_once_across_snapshots_restarts_and_lost_acks() -> None:
    index, snapshots = MemoryRequestIndex(), MemorySnapshots()
    ledger, journal, _ = memory_ledger(index=index, snapshots=snapshots, snapshot_every=2)
    await batch(ledger, "a1", "a2", "a3")
    # claimed by a replica that died before its append: a claim is not a debit
    crashed, _, _ = memory_ledger(journal=journal, index=index, snapshots=snapshots)
    await crashed.prepare_many([usage("lost1"), usage("lost2")])
    await batch(ledger, "a4", "a5")
    await ledger.flush()  # snapshot: a1..a5 now only in the index, not in memory
    assert ledger.folds.cached("acme").unindexed == 0  # type: ignore[union-attr]
    assert await batch(ledger, "a2", "a5") is None
    # the append lands but its outcome is lost (kill between append and ack)
    journal.fail_next = 1
    await batch(ledger, "b1", "b2", "a1")
    await batch(ledger, "b1", "b2", "lost1")  # the redelivery of that batch
    # a new process: state from the snapshot, then the whole history redelivered
    again, _, _ = memory_ledger(journal=journal, index=index, snapshots=snapshots)
    every = ["a1", "a2", "a3", "a4", "a5", "b1", "b2", "lost1", "lost2", "c1"]
    last = await batch(again, *every)
    assert last is not None
    assert sorted(i.request_id for i in last.items) == ["c1", "lost2"]
    assert await batch(again, *every) is None
    assert debits(journal) == Counter({rid: 1 for rid in every})
    report = await again.verify(VerifyLedger())
    assert report.consistent, report.differences
    assert report.balances["acme"] == sum(e.amount for _, _, e in journal.log)


async def test_verify_finds_a_double_debit_hidden_in_a_batch() -> None:
    ledger, journal, _ = memory_ledger()
    first = await batch(ledger, "r1", "r2")
    assert first is not None
    item = first.items[0]
    forged = LedgerEntry(
        entry_id=entry_id("debits", "acme", "forged"),
        account="acme",
        kind="debit",
        amount=item.amount * 2,
        balance=first.balance + item.amount * 2,
        items=[item, DebitItem(request_id="r9", amount=item.amount)],
    )
    await journal.append(forged, journal.log[-1][0])
    report = await ledger.verify(VerifyLedger(account="acme"))
    assert [(d.check, d.found) for d in report.differences][:1] == [("double_debit", "r1")]


async def test_claims_of_a_batch_against_real_kv(js: JetStreamContext) -> None:
    await ensure_jetstream(js, extra_buckets=LEDGER_BUCKETS)
    index = await KvRequestIndex.open(js)
    assert await index.claim_many("acme", ["x", "y", "x"], 7) == [None, None, 7]
    assert await index.claim_many("acme", ["y", "z"], 9) == [7, None]
    assert await index.claim_many("other", ["x", "y"], 1) == [None, None]  # per account


async def _publish(js: JetStreamContext, rid: str, account: str, msg_id: str) -> None:
    event = usage(rid, account=account)
    await js.publish(
        subjects.USAGE_RECORDED, event.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id}
    )


async def _journal(js: JetStreamContext) -> list[LedgerEntry]:
    info = await js.stream_info(STREAM_LEDGER)
    out: list[LedgerEntry] = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(STREAM_LEDGER, seq)
        out += LedgerEntry.model_validate_json(msg.data or b"").debits()
    return out


async def _settled(js: JetStreamContext, durable: str) -> None:
    for _ in range(400):
        info = await js.consumer_info(STREAM_USAGE, durable)
        if not info.num_pending and not info.num_ack_pending:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("usage not settled")


async def test_the_service_debits_batches_once_across_restarts(
    nats_server: NatsServer, nc: NatsClient, js: JetStreamContext, tmp_path: Path
) -> None:
    await ensure_jetstream(js)
    settings = settings_for(nats_server.url, tmp_path)
    config = LedgerConfig(fetch_timeout=0.2, snapshot_every=8)
    accounts = ["acme", "beta", "gamma"]
    for i in range(60):  # published before the ledger starts: each fetch holds many per account
        await _publish(js, f"r{i}", accounts[i % 3], f"m{i}")
    for i in range(0, 60, 4):  # replays beyond the duplicate window (new message ids)
        await _publish(js, f"r{i}", accounts[i % 3], f"again-{i}")
    async with running(create_app(settings, config)):
        await _settled(js, config.durable)
    first = await _journal(js)
    assert len(first) == 60
    appends = (await js.stream_info(STREAM_LEDGER)).state.messages
    assert appends < 60  # batched: fewer appends than debits
    async with running(create_app(settings, config)):  # a new process, snapshots stored
        for i in range(60):
            await _publish(js, f"r{i}", accounts[i % 3], f"third-{i}")
        await _publish(js, "new", "acme", "new")
        await _settled(js, config.durable)
        found = Counter(e.request_id for e in await _journal(js))
        assert found == Counter({**{f"r{i}": 1 for i in range(60)}, "new": 1})
        report = json.loads((await nc.request(subjects.LEDGER_VERIFY, b"{}", timeout=10)).data)
        assert report["consistent"], report
        for account in accounts:
            body = json.dumps({"account": account}).encode()
            reply = json.loads((await nc.request(subjects.LEDGER_BALANCE, body, timeout=5)).data)
            assert reply["balance"] == report["balances"][account]


def test_old_single_debit_entries_still_read_as_one_debit() -> None:
    raw = usage("r1").model_dump_json()
    assert UsageRecorded.model_validate_json(raw).request_id == "r1"
    entry = LedgerEntry(
        entry_id="e", account="acme", kind="debit", amount=-3, balance=-3, request_id="r1"
    )
    stored = json.loads(entry.model_dump_json())
    del stored["items"]  # as written before batched debits existed
    read = LedgerEntry.model_validate(stored)
    assert [(d.request_id, d.amount, d.balance) for d in read.debits()] == [("r1", -3, -3)]
