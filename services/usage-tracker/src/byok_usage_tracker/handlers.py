"""Use cases of the usage-tracker: record a call, answer ``usage.query``."""

from __future__ import annotations

from byok_contracts.pricing import Pricing
from byok_contracts.v1 import QueryUsage, UsageRecorded, UsageReport

from .domain import as_utc, call_of, dimension_of_query, dimensions, report
from .errors import BadWindow
from .ports import UsageStore

__all__ = ["UsageTracker"]


class UsageTracker:
    def __init__(self, store: UsageStore, pricing: Pricing) -> None:
        self.store = store
        self.pricing = pricing

    def record(self, event: UsageRecorded) -> bool:
        """Count one call (priced now); False when its request_id was already counted."""
        cost = self.pricing.estimate(
            event.provider, event.model, event.input_tokens, event.output_tokens, event.occurred_at
        )
        return self.store.add(call_of(event, cost), dimensions(event))

    def query(self, query: QueryUsage) -> UsageReport:
        since = as_utc(query.since) if query.since is not None else None
        until = as_utc(query.until) if query.until is not None else None
        if since is not None and until is not None and since > until:
            raise BadWindow()
        return report(self.store.calls(dimension_of_query(query), since, until))
