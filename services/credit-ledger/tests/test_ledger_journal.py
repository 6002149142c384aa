"""One journal test suite, run against the in-memory fake and the real JetStream stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest

from byok_contracts.v1.ledger import LedgerEntry
from byok_credit_ledger.adapters.jetstream import JetStreamJournal
from byok_credit_ledger.adapters.memory import MemoryJournal
from byok_credit_ledger.errors import StaleAccount
from byok_credit_ledger.ports import Journal
from byok_shared.jetstream import ensure_jetstream
from byok_shared.natsserver import NatsServer


@pytest.fixture(params=["memory", "jetstream"])
async def journal(request: pytest.FixtureRequest) -> AsyncIterator[Journal]:
    if request.param == "memory":
        yield MemoryJournal()
        return
    server: NatsServer = request.getfixturevalue("nats_server")
    nc = await nats.connect(server.url)
    js = nc.jetstream()
    await ensure_jetstream(js)
    yield JetStreamJournal(js, timeout=2.0, batch=7)
    await nc.drain()


def entry(account: str, n: int, amount: int = 10, balance: int = 0) -> LedgerEntry:
    return LedgerEntry(
        entry_id=f"{account}-{n}",
        account=account,
        kind="grant",
        amount=amount,
        balance=balance,
        idempotency_key=f"k{n}",
    )


async def test_empty_account_has_nothing(journal: Journal) -> None:
    assert await journal.last_seq("acme") == 0
    assert await journal.read("acme") == []
    assert await journal.last_entries() == {}
    assert [x async for x in journal.read_all()] == []


async def test_appends_in_order_per_account(journal: Journal) -> None:
    s1 = await journal.append(entry("acme", 1, balance=10), 0)
    s2 = await journal.append(entry("other", 1), 0)
    s3 = await journal.append(entry("acme", 2, balance=20), s1)
    assert s1 < s2 < s3
    assert await journal.last_seq("acme") == s3
    read = await journal.read("acme")
    assert [(seq, e.entry_id) for seq, e in read] == [(s1, "acme-1"), (s3, "acme-2")]
    assert [e.entry_id for _, e in await journal.read("acme", after=s1)] == ["acme-2"]
    assert await journal.read("acme", after=s3) == []


async def test_first_append_expects_an_empty_account(journal: Journal) -> None:
    await journal.append(entry("acme", 1), 0)
    with pytest.raises(StaleAccount):
        await journal.append(entry("acme", 2), 0)


async def test_stale_expected_sequence_is_refused(journal: Journal) -> None:
    s1 = await journal.append(entry("acme", 1), 0)
    await journal.append(entry("acme", 2), s1)
    with pytest.raises(StaleAccount):
        await journal.append(entry("acme", 3), s1)
    assert len(await journal.read("acme")) == 2


async def test_other_accounts_do_not_conflict(journal: Journal) -> None:
    await journal.append(entry("acme", 1), 0)
    assert await journal.append(entry("beta", 1), 0) > 0


async def test_the_same_entry_twice_is_refused(journal: Journal) -> None:
    s1 = await journal.append(entry("acme", 1), 0)
    with pytest.raises(StaleAccount):
        await journal.append(entry("acme", 1), s1)
    assert len(await journal.read("acme")) == 1


async def test_read_all_and_last_entries(journal: Journal) -> None:
    last = 0
    for n in range(1, 21):  # more than one fetch batch on JetStream
        last = await journal.append(entry("acme", n, balance=10 * n), last)
    await journal.append(entry("beta", 1, balance=10), 0)
    everything = [x async for x in journal.read_all()]
    assert [a for a, _, _ in everything].count("acme") == 20
    assert [a for a, _, _ in everything].count("beta") == 1
    seqs = [seq for _, seq, _ in everything]
    assert seqs == sorted(seqs)
    lasts = await journal.last_entries()
    assert lasts["acme"][1].balance == 200
    assert lasts["acme"][0] == last
    assert lasts["beta"][1].entry_id == "beta-1"
    assert len(await journal.read("acme")) == 20
