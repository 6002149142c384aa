"""Estimated cost of one provider call, in USD.

One figure for every service: the credit ledger debits from it and the usage
tracker reports it. The maintained ``genai-prices`` dataset comes first (it
knows tiered and dated prices), the curated catalog's fallback prices second;
a model neither knows is *unpriced* (``None``), never silently $0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from .catalog import Catalog

__all__ = ["CostEstimate", "PriceSource", "Pricing", "credits_for"]

PriceSource = Literal["genai-prices", "catalog", "unpriced"]

# byok provider names -> genai-prices provider ids
_GENAI_PROVIDER = {"anthropic": "anthropic", "openai": "openai", "gemini": "google"}
_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """``usd`` is None exactly when no price is known (``source == "unpriced"``)."""

    usd: Decimal | None
    source: PriceSource

    @property
    def priced(self) -> bool:
        return self.usd is not None


def _genai_price(
    provider: str, model: str, input_tokens: int, output_tokens: int, day: str | None
) -> Decimal | None:
    try:
        from genai_prices import Usage, calc_price
    except ImportError:  # pragma: no cover - it is a dependency; the catalog still answers
        return None
    provider_id = _GENAI_PROVIDER.get(provider, provider)
    at = datetime.fromisoformat(day) if day else None
    try:
        result = calc_price(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            model,
            provider_id=provider_id,
            genai_request_timestamp=at,
        )
    except LookupError:
        return None
    total = result.total_price
    return total if isinstance(total, Decimal) else Decimal(str(total))


class Pricing:
    """Cost estimates: genai-prices first, the curated catalog as fallback."""

    def __init__(self, catalog: Catalog, *, use_genai_prices: bool = True) -> None:
        self._catalog = catalog
        self._use_genai = use_genai_prices
        # Calls repeat the same (model, tokens, day) a lot; the dataset lookup is ~100 us.
        self._genai = lru_cache(maxsize=65_536)(_genai_price)

    def estimate(
        self,
        provider: str,
        model: str,
        input_tokens: int,
        output_tokens: int,
        at: datetime | None = None,
    ) -> CostEstimate:
        """Estimated USD cost of one call; prices in force on ``at``'s day (UTC)."""
        if self._use_genai:
            day = at.date().isoformat() + "T12:00:00+00:00" if at is not None else None
            usd = self._genai(provider, model, input_tokens, output_tokens, day)
            if usd is not None:
                return CostEstimate(usd, "genai-prices")
        price = self._catalog.fallback_price(provider, model)
        if price is None:
            return CostEstimate(None, "unpriced")
        usd = (
            Decimal(str(price.input_per_mtok)) * input_tokens
            + Decimal(str(price.output_per_mtok)) * output_tokens
        ) / _MILLION
        return CostEstimate(usd, "catalog")


def credits_for(usd: Decimal, credits_per_usd: int) -> int:
    """``ceil(usd * credits_per_usd)``, computed exactly (no float rounding)."""
    return math.ceil(usd * credits_per_usd)
