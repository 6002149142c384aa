"""The pure credit rules: charges, decisions, folds and the audit."""

from __future__ import annotations

import pytest
from ledger_helpers import AT, charger, usage

from byok_contracts.v1 import Grant
from byok_credit_ledger.audit import verify_journal
from byok_credit_ledger.charges import Charge
from byok_credit_ledger.domain import Account, Snapshot, crossing, entry_id
from byok_credit_ledger.errors import GrantConflict


def grant(key: str, amount: int) -> Grant:
    return Grant(account="acme", amount=amount, reason="monthly", idempotency_key=key)


def platform(credits: int) -> Charge:
    return Charge("platform", credits, "0.01", "catalog")


def test_debit_is_the_ceiling_of_cost_times_rate() -> None:
    # gpt-4o-mini: 1000 in at 0.15/M + 500 out at 0.6/M = $0.00045 -> 1 credit
    assert charger().charge(usage("r1"), platform_key=False).credits == 1
    assert charger(credits_per_usd=100_000).charge(usage("r1"), False).credits == 45
    assert charger().charge(usage("r1", input_tokens=0, output_tokens=0), False).credits == 0


def test_platform_key_is_platform_usage_whatever_is_claimed() -> None:
    claimed_byok = usage("r1", source="byok")
    assert charger().charge(claimed_byok, platform_key=False).source == "byok"
    charge = charger().charge(claimed_byok, platform_key=True)
    assert (charge.source, charge.flags) == ("platform", ("source_mismatch",))
    assert charge.credits == 1


def test_unpriced_platform_model_is_charged_at_the_fallback_rate() -> None:
    event = usage(
        "r1",
        provider="anthropic",
        model="claude-unknown-9",
        input_tokens=1_000_000,
        output_tokens=0,
    )
    charge = charger().charge(event, platform_key=False)
    # the most expensive anthropic catalog rate: claude-opus-4-5 output, $25 per million
    assert (charge.credits, charge.flags) == (25_000, ("unpriced_fallback",))
    assert charger(unpriced=2.0).charge(event, False).credits == 2_000


def test_entry_ids_are_deterministic_and_distinct() -> None:
    assert entry_id("debit", "acme", "r1") == entry_id("debit", "acme", "r1")
    assert entry_id("debit", "acme", "r1") != entry_id("grant", "acme", "r1")
    assert entry_id("debit", "acme", "r1") != entry_id("debit", "beta", "r1")


def test_grant_is_idempotent_per_key() -> None:
    account = Account("acme")
    entry = account.grant(grant("m1", 100), AT, None)
    assert entry is not None
    assert (entry.amount, entry.balance) == (100, 100)
    account.apply(1, entry)
    assert account.grant(grant("m1", 100), AT, None) is None
    with pytest.raises(GrantConflict) as err:
        account.grant(grant("m1", 50), AT, None)
    assert err.value.code == 409
    # before the snapshot: the index's answer decides
    assert Account("acme").grant(grant("m1", 100), AT, granted_before=100) is None


def test_debit_once_per_request_and_never_for_byok() -> None:
    account = Account("acme")
    entry = account.debit(usage("r1"), platform(11), AT, False)
    assert entry is not None
    assert (entry.amount, entry.balance) == (-11, -11)
    account.apply(1, entry)
    assert account.debit(usage("r1"), platform(11), AT, False) is None
    assert account.debit(usage("r2"), Charge("byok", 0, None, "byok"), AT, False) is None
    assert account.debit(usage("r3"), platform(11), AT, debited_before=True) is None


def test_snapshot_round_trip_drops_indexed_ids() -> None:
    account = Account("acme")
    for seq, rid in enumerate(["r1", "r2"], start=1):
        entry = account.debit(usage(rid), platform(3), AT, False)
        assert entry is not None
        account.apply(seq, entry)
    snapshot = account.snapshot()
    assert snapshot == Snapshot("acme", -6, 2, 2)
    account.indexed(snapshot)
    assert (account.unindexed, account.base_seq) == (0, 2)
    again = Account.from_snapshot(snapshot)
    assert (again.balance, again.last_seq, again.base_seq) == (-6, 2, 2)


def test_a_snapshot_keeps_what_it_dropped_for_claims_made_just_before_it() -> None:
    account = Account("acme")
    for seq, rid in enumerate(["r1", "r2", "r3"], start=1):
        entry = account.debit(usage(rid), platform(3), AT, False)
        assert entry is not None
        account.apply(seq, entry)
    assert account.debited_between(1, 3) is None  # no snapshot yet: ask the journal
    account.indexed(account.snapshot())
    assert account.debited_between(1, 3) == {"r2": 2, "r3": 3}
    assert account.debited_between(0, 3) == {"r1": 1, "r2": 2, "r3": 3}
    assert account.debited_between(3, 3) == {}
    entry = account.debit(usage("r4"), platform(3), AT, False)
    assert entry is not None
    account.apply(4, entry)
    account.indexed(account.snapshot())  # a second snapshot: only (3, 4] is still known
    assert account.debited_between(3, 4) == {"r4": 4}
    assert account.debited_between(1, 4) is None
    assert Account.from_snapshot(account.snapshot()).debited_between(3, 4) is None


def test_crossing() -> None:
    assert crossing(None, 0) == "exhausted"
    assert crossing(10, -1) == "exhausted"
    assert crossing(10, 0) == "exhausted"
    assert crossing(-5, -10) is None
    assert crossing(10, 5) is None
    assert crossing(None, 5) == "restored"
    assert crossing(0, 5) == "restored"
    assert crossing(-5, -1) is None


def test_fold_and_verify_agree_on_a_clean_journal() -> None:
    account = Account("acme")
    journal = []
    for seq, make in enumerate(
        [
            lambda a: a.grant(grant("m1", 100), AT, None),
            lambda a: a.debit(usage("r1"), platform(10), AT, False),
            lambda a: a.debit(usage("r2"), platform(500), AT, False),
        ],
        start=1,
    ):
        entry = make(account)
        assert entry is not None
        account.apply(seq, entry)
        journal.append((seq, entry))
    folded, problems = verify_journal("acme", journal)
    assert problems == []
    assert folded.balance == account.balance == 100 - 10 - 500
    assert folded.balance == sum(e.amount for _, e in journal)


def test_verify_reports_a_tampered_journal() -> None:
    first = Account("acme").debit(usage("r1"), platform(10), AT, False)
    assert first is not None
    bad_balance = first.model_copy(update={"balance": 999})
    _, problems = verify_journal("acme", [(1, first), (2, first), (3, bad_balance)])
    checks = [p.check for p in problems]
    assert "double_debit" in checks
    assert "entry_balance" in checks
