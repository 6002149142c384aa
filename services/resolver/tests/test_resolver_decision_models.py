"""The decision of DESIGN.md section 5, model choice (scenario 10): provider
defaults, key overrides, the catalog, custom models."""

from __future__ import annotations

import pytest
from decision_world import CATALOG, World

from byok_resolver.errors import (
    ModelNotAllowed,
)

# --- scenario 10: model choice -------------------------------------------------------


def test_provider_default_model() -> None:
    assert World().key("account:acme", "anthropic").resolve("account:acme").model == (
        CATALOG.default_model("anthropic")
    )


def test_key_override_model() -> None:
    w = World().key("account:acme", "anthropic", model="claude-opus-4-5")
    d = w.resolve("account:acme")
    assert d.model == "claude-opus-4-5"
    assert "the key's model" in d.reason


def test_requested_curated_model_wins() -> None:
    w = World().key("account:acme", "anthropic", model="claude-opus-4-5")
    assert w.resolve("account:acme", model="claude-haiku-4-5").model == "claude-haiku-4-5"


def test_model_outside_catalog_is_422() -> None:
    w = World().key("account:acme", "anthropic")
    with pytest.raises(ModelNotAllowed) as caught:
        w.resolve("account:acme", model="claude-imaginary-9")
    assert caught.value.code == 422
    assert caught.value.error == "model_not_allowed"


def test_model_of_another_provider_is_422() -> None:
    w = World().key("account:acme", "anthropic")
    with pytest.raises(ModelNotAllowed):
        w.resolve("account:acme", provider="anthropic", model="gpt-4o")


def test_requested_model_selects_its_provider() -> None:
    w = World().key("account:acme", "anthropic").key("account:acme", "openai")
    d = w.resolve("account:acme", model="gpt-4.1")
    assert (d.key.provider, d.model) == ("openai", "gpt-4.1")


def test_custom_model_only_when_allowed() -> None:
    w = World().key("account:acme", "openai").account(allow_custom_models=True)
    d = w.resolve("account:acme", model="ft-gpt-4o:acme:2025")
    assert d.model == "ft-gpt-4o:acme:2025"
    assert "custom" in d.reason


def test_model_check_applies_to_platform_too() -> None:
    w = World().credits(5).key("platform:default", "gemini")
    assert w.resolve("account:acme", model="gemini-2.5-pro").model == "gemini-2.5-pro"
    with pytest.raises(ModelNotAllowed):
        w.resolve("account:acme", provider="gemini", model="gemini-0")
