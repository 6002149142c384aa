"""Estimated cost of one provider call, in USD.

One figure for every service: the credit ledger debits from it and the usage
tracker reports it. The maintained ``genai-prices`` dataset comes first (it
knows tiered and dated prices), the curated catalog's fallback prices second;
a model neither knows is *unpriced* (``None``), never silently $0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
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


Rates = tuple[Decimal, Decimal]  # USD per million input / output tokens


def _genai_model_price(provider: str, model: str, day: str | None) -> object | None:
    """The dataset's price entry for ``model`` on ``day`` (None when it does not know it)."""
    try:
        from genai_prices import data_snapshot
    except ImportError:  # pragma: no cover - it is a dependency; the catalog still answers
        return None
    at = datetime.fromisoformat(day) if day else datetime.now(UTC)
    try:
        _, found = data_snapshot.get_snapshot().find_provider_model(
            model, None, _GENAI_PROVIDER.get(provider, provider), None
        )
    except LookupError:
        return None
    return found.get_prices(at)


def _linear_rates(price: object) -> Rates | None:
    """Flat per-token rates when the price has no tiers and no per-request fee."""
    values = {k: v for k, v in vars(price).items() if not k.startswith("_") and v is not None}
    rates = (values.get("input_mtok"), values.get("output_mtok"))
    if "requests_kusd" in values or not all(isinstance(v, Decimal) for v in values.values()):
        return None
    if not all(isinstance(r, Decimal) for r in rates):
        return None
    return rates  # type: ignore[return-value]


def _genai_full(price: object, input_tokens: int, output_tokens: int) -> Decimal:
    from genai_prices import Usage

    result = price.calc_price(Usage(input_tokens=input_tokens, output_tokens=output_tokens))  # type: ignore[attr-defined]
    total = result["total_price"]
    return total if isinstance(total, Decimal) else Decimal(str(total))


class Pricing:
    """Cost estimates: genai-prices first, the curated catalog as fallback."""

    def __init__(self, catalog: Catalog, *, use_genai_prices: bool = True) -> None:
        self._catalog = catalog
        self._use_genai = use_genai_prices
        # The dataset's own calc_price costs ~0.1-0.4 ms a call: look the price up once per
        # (model, day) and apply flat rates directly; tiered prices go through calc_price.
        self._price = lru_cache(maxsize=4096)(_genai_model_price)
        self._full = lru_cache(maxsize=65_536)(self._tiered)
        # Reading the flat rates out of a price entry was most of an estimate (the ledger
        # prices every platform call): once per (model, day) too.
        self._rates = lru_cache(maxsize=4096)(self._flat_rates)

    def _flat_rates(self, provider: str, model: str, day: str | None) -> tuple[bool, Rates | None]:
        """(the dataset knows the model that day, its flat rates when it has them)."""
        price = self._price(provider, model, day)
        return price is not None, _linear_rates(price) if price is not None else None

    def _tiered(
        self, provider: str, model: str, day: str | None, input_tokens: int, output_tokens: int
    ) -> Decimal:
        return _genai_full(self._price(provider, model, day), input_tokens, output_tokens)

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
            day = at.astimezone(UTC).date().isoformat() + "T12:00:00+00:00" if at else None
            known, rates = self._rates(provider, model, day)
            if known:
                if rates is not None:
                    usd = (rates[0] * input_tokens + rates[1] * output_tokens) / _MILLION
                else:
                    usd = self._full(provider, model, day, input_tokens, output_tokens)
                return CostEstimate(usd, "genai-prices")
        fallback = self._catalog.fallback_price(provider, model)
        if fallback is None:
            return CostEstimate(None, "unpriced")
        usd = (
            Decimal(str(fallback.input_per_mtok)) * input_tokens
            + Decimal(str(fallback.output_per_mtok)) * output_tokens
        ) / _MILLION
        return CostEstimate(usd, "catalog")


def credits_for(usd: Decimal, credits_per_usd: int) -> int:
    """``ceil(usd * credits_per_usd)``, computed exactly (no float rounding)."""
    return math.ceil(usd * credits_per_usd)
