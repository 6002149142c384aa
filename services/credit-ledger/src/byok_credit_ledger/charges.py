"""What one call costs the account, and which source it really was.

The runtime's ``source`` is a claim. A call on a platform-scope key is
platform usage whatever is claimed (flagged ``source_mismatch``). A platform
call on a model without a known price is debited at the operator's fallback
rate (``BYOK_UNPRICED_USD_PER_MTOK``; by default the provider's most expensive
catalog rate) and flagged ``unpriced_fallback``: never 0 credits.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from byok_contracts import Catalog
from byok_contracts.pricing import CostEstimate, Pricing, credits_for
from byok_contracts.v1 import UsageRecorded

__all__ = ["Charge", "Charger"]

_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Charge:
    source: Literal["byok", "platform"]
    credits: int
    usd: str | None
    price_source: str
    flags: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        if "unpriced_fallback" in self.flags:
            return "usage (unpriced model: fallback rate)"
        return "usage"


class Charger:
    def __init__(
        self,
        pricing: Pricing,
        catalog: Catalog,
        *,
        credits_per_usd: int,
        unpriced_usd_per_mtok: float | None = None,
    ) -> None:
        self._pricing = pricing
        self._catalog = catalog
        self._credits_per_usd = credits_per_usd
        self._unpriced = unpriced_usd_per_mtok

    def warm(self) -> None:
        """Load the price dataset now (its first use costs a few hundred ms), not on a debit."""
        self._pricing.estimate("openai", "", 0, 0)

    def fallback_rate(self, provider: str) -> Decimal:
        """USD per million tokens (in and out) for a platform call on an unpriced model."""
        rate = self._unpriced if self._unpriced is not None else self._highest(provider)
        return Decimal(str(rate))

    def _highest(self, provider: str) -> float:
        own = self._catalog.highest_rate(provider)
        if own is not None:
            return own
        rates = (self._catalog.highest_rate(p) for p in self._catalog.providers())
        return max((r for r in rates if r is not None), default=0.0) or 100.0

    def charge(self, usage: UsageRecorded, platform_key: bool) -> Charge:
        flags: list[str] = []
        source = usage.source
        if platform_key and source != "platform":
            source = "platform"
            flags.append("source_mismatch")
        if source != "platform":
            return Charge("byok", 0, None, "byok", tuple(flags))
        cost: CostEstimate = self._pricing.estimate(
            usage.provider, usage.model, usage.input_tokens, usage.output_tokens, usage.occurred_at
        )
        usd = cost.usd
        if usd is None:
            tokens = usage.input_tokens + usage.output_tokens
            usd = self.fallback_rate(usage.provider) * tokens / _MILLION
            flags.append("unpriced_fallback")
        credits = credits_for(usd, self._credits_per_usd)
        return Charge("platform", credits, str(usd), cost.source, tuple(flags))
