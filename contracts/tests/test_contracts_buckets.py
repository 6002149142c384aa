"""The shared KV layouts: a slot is derived and parsed by the contract, both ways."""

from __future__ import annotations

import pytest

from byok_contracts.v1 import (
    SHARED_BUCKETS,
    Scope,
    key_slot,
    parse_key_slot,
    parse_scope_key,
    platform_key_slot,
)


@pytest.mark.parametrize(
    ("scope", "provider"),
    [
        (Scope.model_validate({"type": "workspace", "id": "acme"}), "anthropic"),
        (Scope.model_validate({"type": "session", "id": "s_1-2"}), "openai"),
        (Scope.platform(), "gemini"),
    ],
)
def test_a_slot_parses_back_to_its_scope_and_provider(scope: Scope, provider: str) -> None:
    assert parse_key_slot(key_slot(scope, provider)) == (scope, provider)
    assert parse_scope_key(scope.key) == scope


def test_the_platform_slot_is_the_platform_scopes() -> None:
    assert platform_key_slot("openai") == "platform.default.openai"


@pytest.mark.parametrize("slot", ["", "anthropic", "galaxy.acme.openai", "workspace..openai"])
def test_what_is_no_slot_is_refused(slot: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (pydantic's ValidationError is one)
        parse_key_slot(slot)


def test_each_shared_bucket_has_writers_that_are_not_readers() -> None:
    names = [bucket.name for bucket in SHARED_BUCKETS]
    assert len(names) == len(set(names))
    for bucket in SHARED_BUCKETS:
        assert bucket.readers
        assert bucket.writers
        assert not set(bucket.writers) & set(bucket.readers)
