"""Usage aggregates, pure: calls, the dimensions a call counts in, and reports.

A call counts once in every scope of its chain, under its key and under its
account. A report sums the aggregates; cost comes only from priced calls, and
unpriced calls are counted and named, never folded in as $0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def report(models: Mapping[str, Sequence[int | Decimal]]) -> UsageReport:
    """A report from per-model ``[calls, input, output, usd, priced_calls]`` sums."""
    calls = sum(int(m[0]) for m in models.values())
    priced_calls = sum(int(m[4]) for m in models.values())
    unpriced = sorted(name for name, m in models.items() if int(m[4]) < int(m[0]))
    return UsageReport(
        calls=calls,
        input_tokens=sum(int(m[1]) for m in models.values()),
        output_tokens=sum(int(m[2]) for m in models.values()),
        estimated_cost_usd=float(sum((Decimal(m[3]) for m in models.values()), Decimal(0))),
        by_model={
            name: ModelUsage(
                calls=int(m[0]),
                input_tokens=int(m[1]),
                output_tokens=int(m[2]),
                estimated_cost_usd=float(m[3]) if int(m[4]) else None,
                priced=int(m[4]) == int(m[0]),
            )
            for name, m in sorted(models.items())
        },
        unpriced_calls=calls - priced_calls,
        unpriced_models=unpriced,
    )
