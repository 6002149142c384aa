"""The end state after faults: keys, balances, the ledger journal and usage totals.

:func:`check_state`: every key is still resolvable, every balance equals the sum of
its journal entries, each platform request debited exactly once, usage totals exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from byok_contracts import subjects
from byok_contracts.v1.ledger import LedgerEntry

from ..jetstream import STREAM_LEDGER, STREAM_USAGE
from ..retry import with_backoff
from .load import World
from .polling import eventually, retrying

if TYPE_CHECKING:
    from byok_client import ByokClient

__all__ = ["check_state", "journal", "settled"]


async def journal(js: JetStreamContext) -> list[LedgerEntry]:
    """Every ledger journal entry, read straight from the stream. Right after a cluster
    restart the read's consumer may answer 503 until its group has a leader: read again."""
    return await with_backoff(partial(_journal, js), what="reading the journal", timeout=60)


async def _journal(js: JetStreamContext) -> list[LedgerEntry]:
    info = await js.stream_info(STREAM_LEDGER)
    if info.state.messages == 0:
        return []
    sub = await js.pull_subscribe(
        f"{subjects.LEDGER_JOURNAL_PREFIX}.>",
        stream=STREAM_LEDGER,
        config=ConsumerConfig(ack_policy=AckPolicy.NONE),
    )
    out: list[LedgerEntry] = []  # one per debit: a batched debit entry counts as its items
    seen = 0
    try:
        while seen < info.state.messages:
            batch = await sub.fetch(1000, timeout=5)
            seen += len(batch)
            out += [d for m in batch for d in LedgerEntry.model_validate_json(m.data).debits()]
    finally:
        await sub.unsubscribe()
    return out


async def settled(js: JetStreamContext, durables: Iterable[str]) -> bool:
    """Every consumer of ``usage.recorded`` has acked everything in the stream."""
    for durable in durables:
        try:
            info = await js.consumer_info(STREAM_USAGE, durable, timeout=2)
        except Exception:
            return False
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def check_state(
    client: ByokClient,
    js: JetStreamContext,
    world: World,
    *,
    tracker_durables: Iterable[str] = ("usage-tracker-r0",),
    timeout: float = 30.0,
) -> dict[str, Any]:
    """The end state after the faults; returns the figures it checked."""
    # Keys: every workspace key is listed, active, and resolves to its own material.
    for workspace, key_id in world.key_ids.items():
        account = world.account_of(workspace)
        listed = await retrying(partial(client.list_keys, workspace, account=account))
        assert [(k.key_id, k.state) for k in listed] == [(key_id, "active")], (workspace, listed)
        chain: list[Any] = [f"session:final-{workspace[-1]}", workspace]
        route = await retrying(partial(client.resolve, account, chain, provider="anthropic"))
        assert (route.key_id, route.api_key) == (key_id, world.keys[workspace])
    # Churned session keys: exactly what the replies said, or (unsure) whatever is listed.
    for session in set(world.churned) | world.unsure:
        owner = world.owners[session]
        listed = await retrying(partial(client.list_keys, session, account=owner))
        ids = [k.key_id for k in listed]
        if session in world.unsure:  # a 503 on configure or remove: either outcome is fine
            assert len(ids) <= 1, (session, listed)
            assert not ids or session not in world.churned or ids == [world.churned[session]]
        else:
            assert ids == [world.churned[session]], (session, listed)
    # Ledger and usage: wait until both consumers acked the whole stream.
    durables = ["credit-ledger", *tracker_durables]

    async def caught_up() -> bool:
        return await settled(js, durables)

    await eventually(caught_up, timeout, f"consumers {durables} caught up")
    entries = await journal(js)
    debits = Counter(e.request_id for e in entries if e.kind == "debit")
    expected = world.debited_requests()
    lost = expected - set(debits)
    extra = set(debits) - expected
    doubled = {rid: n for rid, n in debits.items() if n > 1}
    assert not lost, f"{len(lost)} lost debits, e.g. {sorted(lost)[:3]}"
    assert not extra, f"{len(extra)} debits for requests never sent as platform usage"
    assert not doubled, f"double debits: {doubled}"
    verification = await retrying(client.verify_ledger)
    assert verification.consistent, verification.differences
    for account in sorted(set(world.accounts)):
        balance = await retrying(partial(client.balance, account))
        mine = sum(e.amount for e in entries if e.account == account)
        assert balance.balance == mine, (account, balance.balance, mine)
        report = await retrying(partial(client.usage, account=account))
        assert (report.calls, report.input_tokens, report.output_tokens) == world.totals(account)
    return {
        "usage_events": len(world.events),
        "debits": sum(debits.values()),
        "lost_debits": len(lost),
        "double_debits": sum(n - 1 for n in doubled.values()),
        "journal_entries": len(entries),
        "balance_equals_journal": True,
        "churned_keys_left": len(world.churned),
    }
