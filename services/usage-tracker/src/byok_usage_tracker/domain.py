"""Usage aggregates, pure: calls, the dimensions a call counts in, and reports.

A call counts once in every scope of its chain, under its key and under its
account. A report sums calls; cost comes only from priced calls, and unpriced
calls are counted and named, never folded in as $0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from byok_contracts.pricing import CostEstimate
from byok_contracts.v1 import ModelUsage, QueryUsage, UsageRecorded, UsageReport

__all__ = ["Call", "as_utc", "call_of", "dimension_of_query", "dimensions", "report"]


@dataclass(frozen=True, slots=True)
class Call:
    request_id: str
    at: datetime
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    usd: Decimal | None


def as_utc(moment: datetime) -> datetime:
    """Timestamps without a zone are UTC (runtimes may send naive ISO strings)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def call_of(event: UsageRecorded, cost: CostEstimate) -> Call:
    return Call(
        request_id=event.request_id,
        at=as_utc(event.occurred_at),
        provider=event.provider,
        model=event.model,
        input_tokens=event.input_tokens,
        output_tokens=event.output_tokens,
        usd=cost.usd,
    )


def dimensions(event: UsageRecorded) -> list[str]:
    """Every aggregate a call belongs to: each scope of its chain, its key, its account."""
    dims = list(dict.fromkeys(f"scope:{scope.key}" for scope in event.chain))
    if event.key_id is not None:
        dims.append(f"key:{event.key_id}")
    dims.append(f"account:{event.account}")
    return dims


def dimension_of_query(query: QueryUsage) -> str:
    if query.scope is not None:
        return f"scope:{query.scope.key}"
    if query.key_id is not None:
        return f"key:{query.key_id}"
    return f"account:{query.account}"


@dataclass
class _Sum:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    usd: Decimal = Decimal(0)
    priced_calls: int = 0

    def add(self, call: Call) -> None:
        self.calls += 1
        self.input_tokens += call.input_tokens
        self.output_tokens += call.output_tokens
        if call.usd is not None:
            self.usd += call.usd
            self.priced_calls += 1


def report(calls: Iterable[Call]) -> UsageReport:
    total = _Sum()
    models: dict[str, _Sum] = {}
    for call in calls:
        total.add(call)
        models.setdefault(call.model, _Sum()).add(call)
    unpriced = sorted(m for m, s in models.items() if s.priced_calls < s.calls)
    return UsageReport(
        calls=total.calls,
        input_tokens=total.input_tokens,
        output_tokens=total.output_tokens,
        estimated_cost_usd=float(total.usd),
        by_model={
            model: ModelUsage(
                calls=s.calls,
                input_tokens=s.input_tokens,
                output_tokens=s.output_tokens,
                estimated_cost_usd=float(s.usd) if s.priced_calls else None,
                priced=s.priced_calls == s.calls,
            )
            for model, s in sorted(models.items())
        },
        unpriced_calls=total.calls - total.priced_calls,
        unpriced_models=unpriced,
    )
