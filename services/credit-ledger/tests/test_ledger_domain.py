"""The pure credit rules."""

from __future__ import annotations

from decimal import Decimal

import pytest
from ledger_helpers import AT, usage

from byok_contracts.pricing import CostEstimate
from byok_contracts.v1 import Grant
from byok_credit_ledger.domain import (
    Account,
    crossing,
    debit_amount,
    entry_id,
    fold,
    verify_journal,
)
from byok_credit_ledger.errors import GrantConflict


def grant(key: str, amount: int) -> Grant:
    return Grant(account="acme", amount=amount, reason="monthly", idempotency_key=key)


def test_debit_is_the_ceiling_of_cost_times_rate() -> None:
    assert debit_amount(CostEstimate(Decimal("0.00045"), "genai-prices"), 1000) == 1
    assert debit_amount(CostEstimate(Decimal("0.0105"), "genai-prices"), 1000) == 11
    assert debit_amount(CostEstimate(Decimal("0.002"), "catalog"), 1000) == 2
    assert debit_amount(CostEstimate(Decimal(0), "catalog"), 1000) == 0
    assert debit_amount(CostEstimate(None, "unpriced"), 1000) == 0


def test_entry_ids_are_deterministic_and_distinct() -> None:
    assert entry_id("debit", "acme", "r1") == entry_id("debit", "acme", "r1")
    assert entry_id("debit", "acme", "r1") != entry_id("grant", "acme", "r1")
    assert entry_id("debit", "acme", "r1") != entry_id("debit", "beta", "r1")


def test_grant_is_idempotent_per_key() -> None:
    account = Account("acme")
    entry = account.grant(grant("m1", 100), AT)
    assert entry is not None
    assert entry.amount == 100
    assert entry.balance == 100
    account.apply(1, entry)
    assert account.grant(grant("m1", 100), AT) is None
    with pytest.raises(GrantConflict) as err:
        account.grant(grant("m1", 50), AT)
    assert err.value.code == 409


def test_debit_once_per_request_and_never_for_byok() -> None:
    account = Account("acme")
    cost = CostEstimate(Decimal("0.0105"), "genai-prices")
    entry = account.debit(usage("r1"), cost, 1000, AT)
    assert entry is not None
    assert entry.amount == -11
    assert entry.balance == -11
    account.apply(1, entry)
    assert account.debit(usage("r1"), cost, 1000, AT) is None
    assert account.debit(usage("r2", source="byok"), cost, 1000, AT) is None


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
            lambda a: a.grant(grant("m1", 100), AT),
            lambda a: a.debit(usage("r1"), CostEstimate(Decimal("0.01"), "catalog"), 1000, AT),
            lambda a: a.debit(usage("r2"), CostEstimate(Decimal("0.5"), "catalog"), 1000, AT),
        ],
        start=1,
    ):
        entry = make(account)
        assert entry is not None
        account.apply(seq, entry)
        journal.append((seq, entry))
    folded, problems = verify_journal("acme", journal)
    assert problems == []
    assert folded.balance == fold("acme", journal).balance == 100 - 10 - 500
    assert folded.balance == sum(e.amount for _, e in journal)


def test_verify_reports_a_tampered_journal() -> None:
    account = Account("acme")
    first = account.debit(usage("r1"), CostEstimate(Decimal("0.01"), "catalog"), 1000, AT)
    assert first is not None
    bad_balance = first.model_copy(update={"balance": 999})
    _, problems = verify_journal("acme", [(1, first), (2, first), (3, bad_balance)])
    checks = [p.check for p in problems]
    assert "double_debit" in checks
    assert "entry_balance" in checks
