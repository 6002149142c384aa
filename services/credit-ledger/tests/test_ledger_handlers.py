"""Use cases against the in-memory adapters."""

from __future__ import annotations

import asyncio

import pytest
from ledger_helpers import memory_ledger, usage

from byok_contracts import Conflict
from byok_contracts.v1 import AccountPolicy, BalanceRequest, Grant, Mode
from byok_contracts.v1.ledger import VerifyLedger
from byok_credit_ledger.adapters.memory import (
    MemoryDirectory,
    MemoryRequestIndex,
    MemorySnapshots,
    MemoryStates,
)
from byok_credit_ledger.domain import Snapshot


def grant(account: str, key: str, amount: int) -> Grant:
    return Grant(account=account, amount=amount, reason="monthly", idempotency_key=key)


async def test_grant_then_debits_then_balance() -> None:
    ledger, journal, _ = memory_ledger()
    assert (await ledger.grant(grant("acme", "m1", 100))).balance == 100
    await ledger.debit(usage("r1"))  # gpt-4o-mini 1000/500 tokens = $0.00045 -> 1 credit
    await ledger.debit(usage("r2", model="gpt-4o"))  # $0.0075 -> 8 credits
    reply = await ledger.balance(BalanceRequest(account="acme"))
    assert reply.balance == 100 - 1 - 8
    assert reply.balance == sum(e.amount for _, _, e in journal.log)


async def test_grant_replay_and_conflict() -> None:
    ledger, journal, _ = memory_ledger()
    await ledger.grant(grant("acme", "m1", 100))
    assert (await ledger.grant(grant("acme", "m1", 100))).balance == 100
    with pytest.raises(Conflict):
        await ledger.grant(grant("acme", "m1", 101))
    assert len(journal.log) == 1


async def test_each_request_id_debits_once_whatever_the_replays() -> None:
    ledger, journal, _ = memory_ledger()
    events = [usage(f"r{i}") for i in range(20)]
    for _ in range(3):
        await asyncio.gather(*(ledger.debit(e) for e in events))
    assert len(journal.log) == 20
    # a new process (fresh state from the same journal) changes nothing either
    again, _, _ = memory_ledger(journal=journal)
    for e in events:
        assert await again.debit(e) is None
    assert (await again.balance(BalanceRequest(account="acme"))).balance == -20


async def test_byok_usage_debits_nothing() -> None:
    ledger, journal, _ = memory_ledger()
    await ledger.grant(grant("acme", "m1", 100))
    assert await ledger.debit(usage("r1", source="byok")) is None
    assert len(journal.log) == 1


async def test_unpriced_platform_model_is_debited_at_the_fallback_rate() -> None:
    ledger, _, _ = memory_ledger()
    entry = await ledger.debit(usage("r1", model="mystery-model"))
    assert entry is not None
    # 1500 tokens at openai's most expensive catalog rate ($10/M): $0.015 -> 15 credits
    assert entry.amount == -15
    assert entry.price_source == "unpriced"
    assert entry.flags == ["unpriced_fallback"]


async def test_exhausted_and_restored_events() -> None:
    ledger, _, notifier = memory_ledger(credits_per_usd=1000)
    await ledger.grant(grant("acme", "m1", 10))
    assert [e.event for e in notifier.events] == ["restored"]
    for i in range(12):  # 1 credit each
        await ledger.debit(usage(f"r{i}"))
        await ledger.flush()
    assert [e.event for e in notifier.events] == ["restored", "exhausted"]
    assert notifier.events[-1].balance == 0
    await ledger.grant(grant("acme", "m2", 1))  # -2 + 1: still not above zero
    assert [e.event for e in notifier.events] == ["restored", "exhausted"]
    await ledger.grant(grant("acme", "m3", 50))
    assert [e.event for e in notifier.events] == ["restored", "exhausted", "restored"]
    assert notifier.events[-1].balance == 49


async def test_concurrent_writers_on_one_journal() -> None:
    """Two ledger processes share a journal: optimistic concurrency keeps it exact."""
    first, journal, _ = memory_ledger()
    second, _, _ = memory_ledger(journal=journal)
    await first.grant(grant("acme", "m1", 1000))
    events = [usage(f"r{i}") for i in range(50)]
    await asyncio.gather(*(first.debit(e) for e in events), *(second.debit(e) for e in events))
    debits = [e for _, _, e in journal.log if e.kind == "debit"]
    assert len(debits) == 50
    assert (await second.balance(BalanceRequest(account="acme"))).balance == 950
    report = await first.verify(VerifyLedger())
    assert report.consistent, report.differences


async def test_unknown_append_outcome_is_resolved_by_rereading() -> None:
    ledger, journal, _ = memory_ledger()
    journal.fail_next = 3  # appends land but the ledger hears "unknown"
    for i in range(5):
        await ledger.debit(usage(f"r{i}"))
    assert len(journal.log) == 5
    assert (await ledger.balance(BalanceRequest(account="acme"))).balance == -5


async def test_verify_reports_a_stale_credit_state() -> None:
    ledger, _, _ = memory_ledger()
    await ledger.grant(grant("acme", "m1", 10))
    assert (await ledger.verify(VerifyLedger())).consistent
    states = ledger.effects.states
    assert isinstance(states, MemoryStates)
    states.states["acme"] = states.states["acme"].model_copy(update={"balance": 7})
    report = await ledger.verify(VerifyLedger(account="acme"))
    assert not report.consistent
    assert report.differences[0].check == "credit_state"
    assert report.balances == {"acme": 10}


async def test_a_redelivery_publishes_effects_a_crash_left_behind() -> None:
    ledger, journal, _ = memory_ledger()
    await ledger.grant(grant("acme", "m1", 1))
    await ledger.debit(usage("r1"))  # appended; "crash" before the flush (and the ack)
    states = ledger.effects.states
    assert isinstance(states, MemoryStates)
    restarted, _, notifier = memory_ledger(journal=journal, states=states)
    assert await restarted.debit(usage("r1")) is None  # the redelivery: no second debit
    await restarted.flush()
    assert [e.event for e in notifier.events] == ["exhausted"]
    assert (await restarted.verify(VerifyLedger())).consistent


async def test_credits_paused_follows_policy_and_keys() -> None:
    ledger, _, _ = memory_ledger()
    directory = ledger.directory
    assert isinstance(directory, MemoryDirectory)
    reply = await ledger.balance(BalanceRequest(account="acme"))
    assert (reply.balance, reply.mode, reply.credits_paused) == (0, Mode.BYOK_FIRST, False)
    directory.byok.add("acme")
    assert (await ledger.balance(BalanceRequest(account="acme"))).credits_paused
    directory.policies["acme"] = AccountPolicy(account="acme", mode=Mode.CREDITS_FIRST)
    reply = await ledger.balance(BalanceRequest(account="acme"))
    assert reply.mode == Mode.CREDITS_FIRST
    assert not reply.credits_paused
    directory.policies["acme"] = AccountPolicy(account="acme", byok_allowed=False)
    assert not (await ledger.balance(BalanceRequest(account="acme"))).credits_paused


async def test_claims_and_snapshots_keep_each_request_debited_once_for_ever() -> None:
    index = MemoryRequestIndex()
    ledger, journal, _ = memory_ledger(index=index, snapshot_every=2)
    index.claims[("acme", "lost")] = 0  # claimed, then the process died before the append
    for i in range(5):
        await ledger.debit(usage(f"r{i}"))
    await ledger.flush()  # snapshots past the claim: the ids are gone from memory
    assert ledger.folds.cached("acme").unindexed == 0  # type: ignore[union-attr]
    assert await ledger.debit(usage("lost")) is not None  # a claim is not a debit
    assert await ledger.debit(usage("r1")) is None  # debited before the snapshot
    snapshots = ledger.folds.snapshots
    assert isinstance(snapshots, MemorySnapshots)
    again, _, _ = memory_ledger(journal=journal, index=index, snapshots=snapshots)
    for rid in ("r0", "r4", "lost"):
        assert await again.debit(usage(rid)) is None
    assert len(journal.log) == 6
    assert (await again.balance(BalanceRequest(account="acme"))).balance == -6


async def test_verify_checks_snapshots_against_the_journal() -> None:
    ledger, _, _ = memory_ledger(snapshot_every=2)
    for i in range(4):
        await ledger.debit(usage(f"r{i}"))
    await ledger.flush()
    assert (await ledger.verify(VerifyLedger())).consistent
    snapshots = ledger.folds.snapshots
    assert isinstance(snapshots, MemorySnapshots)
    good = snapshots.snapshots["acme"]
    snapshots.snapshots["acme"] = Snapshot("acme", good.balance + 5, good.last_seq, good.entries)
    report = await ledger.verify(VerifyLedger(account="acme"))
    assert [d.check for d in report.differences] == ["snapshot"]
