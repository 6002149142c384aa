"""Use cases of the usage-tracker: record a call, answer ``usage.query``."""

from __future__ import annotations

from byok_contracts.pricing import Pricing
from byok_contracts.v1 import QueryUsage, UsageRecorded, UsageReport

from .aggregates import Aggregates
from .domain import as_utc, call_of, dimension_of_query, dimensions, report
from .errors import BadWindow

__all__ = ["UsageTracker"]


class UsageTracker:
    def __init__(self, aggregates: Aggregates, pricing: Pricing) -> None:
        self.aggregates = aggregates
        self.pricing = pricing
        self._next_seq = 0  # for callers without a stream sequence (tests, tools)

    async def record(self, event: UsageRecorded, seq: int | None = None) -> bool:
        """Count one call (priced now); False when (account, request_id) was already counted."""
        if seq is None:
            self._next_seq += 1
            seq = self._next_seq
        cost = self.pricing.estimate(
            event.provider, event.model, event.input_tokens, event.output_tokens, event.occurred_at
        )
        return await self.aggregates.add(
            call_of(event, cost), dimensions(event), event.account, seq
        )

    async def checkpoint(self, seq: int) -> None:
        await self.aggregates.flush(seq)

    async def query(self, query: QueryUsage) -> UsageReport:
        since = as_utc(query.since) if query.since is not None else None
        until = as_utc(query.until) if query.until is not None else None
        if since is not None and until is not None and since > until:
            raise BadWindow()
        return report(await self.aggregates.sums(dimension_of_query(query), since, until))
