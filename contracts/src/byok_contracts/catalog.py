"""The curated model catalog: allowed models and the default per provider.

Operators edit it by pointing ``BYOK_CATALOG_FILE`` at a JSON file of the same
shape as the packaged ``catalog.json``. Prices here are only the fallback for
models the maintained price dataset does not know.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .errors import Unprocessable

__all__ = ["Catalog", "ModelPrice"]


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float


@dataclass(frozen=True, slots=True)
class ProviderModels:
    default: str
    models: dict[str, ModelPrice | None]


class Catalog:
    """Curated models per provider."""

    def __init__(self, providers: dict[str, ProviderModels]) -> None:
        self._providers = providers

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalog:
        """Load ``path``, or the packaged default catalog when ``path`` is None."""
        if path is None:
            text = resources.files(__package__).joinpath("catalog.json").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, object]]) -> Catalog:
        providers: dict[str, ProviderModels] = {}
        for provider, entry in data.items():
            raw_models = entry.get("models", {})
            if not isinstance(raw_models, dict):
                raise ValueError(f"catalog: {provider}.models must be an object")
            models = {
                name: ModelPrice(**price) if isinstance(price, dict) else None
                for name, price in raw_models.items()
            }
            default = entry.get("default")
            if not isinstance(default, str) or default not in models:
                raise ValueError(f"catalog: {provider}.default must be one of its models")
            providers[provider] = ProviderModels(default=default, models=models)
        return cls(providers)

    def providers(self) -> list[str]:
        return list(self._providers)

    def default_model(self, provider: str) -> str:
        return self._providers[provider].default

    def models(self, provider: str) -> list[str]:
        entry = self._providers.get(provider)
        return list(entry.models) if entry else []

    def is_curated(self, provider: str, model: str) -> bool:
        entry = self._providers.get(provider)
        return entry is not None and model in entry.models

    def check_model(self, provider: str, model: str, *, allow_custom: bool = False) -> str:
        """Return ``model`` if allowed for ``provider``, else raise a 422."""
        if self.is_curated(provider, model) or allow_custom:
            return model
        allowed = ", ".join(self.models(provider))
        raise Unprocessable(
            f"Model {model} is not allowed for {provider}; choose one of: {allowed}",
            error="model_not_allowed",
        )

    def fallback_price(self, provider: str, model: str) -> ModelPrice | None:
        entry = self._providers.get(provider)
        return entry.models.get(model) if entry else None

    def highest_rate(self, provider: str) -> float | None:
        """The provider's most expensive catalog rate (USD per million tokens, in or out)."""
        entry = self._providers.get(provider)
        rates = [
            rate
            for price in (entry.models.values() if entry else ())
            if price is not None
            for rate in (price.input_per_mtok, price.output_per_mtok)
        ]
        return max(rates, default=None)
