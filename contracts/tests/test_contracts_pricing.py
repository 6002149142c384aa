"""One cost figure for every service: genai-prices first, the catalog second, else unpriced."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from byok_contracts import Catalog
from byok_contracts.pricing import Pricing, credits_for

AT = datetime(2025, 6, 1, tzinfo=UTC)
GENAI_ID = {"anthropic": "anthropic", "openai": "openai", "gemini": "google"}


@pytest.mark.parametrize(
    ("provider", "model"),
    [(p, m) for p in Catalog.load().providers() for m in Catalog.load().models(p)],
)
def test_matches_the_dataset_for_every_curated_model(provider: str, model: str) -> None:
    estimate = Pricing(Catalog.load()).estimate(provider, model, 12_345, 678, AT)
    assert estimate.priced
    if estimate.source == "genai-prices":
        expected = calc_price(
            Usage(input_tokens=12_345, output_tokens=678),
            model,
            provider_id=GENAI_ID[provider],
            genai_request_timestamp=AT.replace(hour=12),
        ).total_price
        assert estimate.usd == expected


def test_catalog_fallback_and_unpriced() -> None:
    catalog = Catalog.load()
    offline = Pricing(catalog, use_genai_prices=False)
    estimate = offline.estimate("openai", "gpt-4o", 1_000, 500)
    assert (estimate.usd, estimate.source) == (Decimal("0.0075"), "catalog")
    unknown = Pricing(catalog).estimate("openai", "in-house-model", 1_000, 500)
    assert (unknown.usd, unknown.source, unknown.priced) == (None, "unpriced", False)


def test_credits_are_the_exact_ceiling() -> None:
    assert credits_for(Decimal("0.00045"), 1000) == 1
    assert credits_for(Decimal("0.003"), 1000) == 3  # no float drift to 4
    assert credits_for(Decimal(0), 1000) == 0
