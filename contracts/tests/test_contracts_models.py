"""The v1 messages: round trips, strictness, hostile ids, provider aliases."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from byok_contracts import (
    Catalog,
    Keypair,
    KeyRejected,
    Unprocessable,
    check_provider,
    detect_provider,
)
from byok_contracts.v1 import (
    ConfigureKey,
    ErrorReply,
    KeyConfigured,
    QueryUsage,
    Resolve,
    Scope,
    ScopeType,
    UsageRecorded,
)

KEY32 = Keypair.generate().public_b64
LOW_ORDER = "A" * 43 + "="  # 32 zero bytes


def configure_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "scope": {"type": "workspace", "id": "acme"},
        "sealed_key": "c2VhbGVk",
        "kid": "0123456789abcdef",
        "actor": "user:42",
    }
    body.update(overrides)
    return body


def test_request_round_trip_through_json() -> None:
    request = ConfigureKey.model_validate_json(json.dumps(configure_body(provider="claude")))
    assert request.provider == "anthropic"
    again = ConfigureKey.model_validate_json(request.model_dump_json())
    assert again == request


def test_unknown_request_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        ConfigureKey.model_validate_json(json.dumps(configure_body(api_key="sk-xyz")))


def test_requests_do_not_coerce_types() -> None:
    with pytest.raises(ValidationError):
        Resolve.model_validate_json(
            json.dumps(
                {"account": 42, "chain": [{"type": "session", "id": "s1"}], "recipient_key": KEY32}
            )
        )


def test_replies_ignore_fields_added_later_in_v1() -> None:
    reply = KeyConfigured.model_validate(
        {
            "status": "configured",
            "provider": "openai",
            "key_id": "k1",
            "hint": "sk-...abcd",
            "model": "gpt-4o-mini",
            "scope": {"type": "account", "id": "a1"},
            "added_in_v1_1": True,
        }
    )
    assert reply.provider == "openai"


@pytest.mark.parametrize(
    "ident",
    ["", "a.b", "a*", "a>", "a b", "../etc", "-leading", "x" * 129, "ünï", "a\nb", "$JS"],
)
def test_hostile_scope_ids_are_rejected(ident: str) -> None:
    with pytest.raises(ValidationError):
        Scope.model_validate_json(json.dumps({"type": "workspace", "id": ident}))


def test_unknown_scope_type_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Scope.model_validate_json(json.dumps({"type": "galaxy", "id": "x"}))


def test_scope_forms() -> None:
    scope = Scope.parse("workspace:acme")
    assert scope.type is ScopeType.WORKSPACE
    assert scope.key == "workspace.acme"
    assert str(scope) == "workspace:acme"
    assert Scope.platform().key == "platform.default"
    with pytest.raises(ValueError, match="type:id"):
        Scope.parse("workspace")


def test_recipient_key_must_be_32_bytes_of_base64() -> None:
    body = {"account": "a1", "chain": [{"type": "session", "id": "s1"}]}
    Resolve.model_validate_json(json.dumps({**body, "recipient_key": KEY32}))
    with pytest.raises(ValidationError):  # issue 10: a low-order point is a 400, not a 500
        Resolve.model_validate_json(json.dumps({**body, "recipient_key": LOW_ORDER}))
    for bad in ["not base64!", "QUJD", "A" * 200]:
        with pytest.raises(ValidationError):
            Resolve.model_validate_json(json.dumps({**body, "recipient_key": bad}))


def test_chain_must_not_be_empty_or_huge() -> None:
    for chain in ([], [{"type": "session", "id": f"s{i}"} for i in range(17)]):
        with pytest.raises(ValidationError):
            Resolve.model_validate_json(
                json.dumps({"account": "a1", "chain": chain, "recipient_key": KEY32})
            )


def test_usage_query_needs_exactly_one_target() -> None:
    QueryUsage.model_validate_json(json.dumps({"account": "a1"}))
    with pytest.raises(ValidationError, match="exactly one"):
        QueryUsage.model_validate_json(json.dumps({"account": "a1", "key_id": "k1"}))
    with pytest.raises(ValidationError, match="exactly one"):
        QueryUsage.model_validate_json("{}")


def test_usage_event_rejects_negative_tokens() -> None:
    event = {
        "request_id": "r1",
        "account": "a1",
        "chain": [{"type": "session", "id": "s1"}],
        "source": "byok",
        "provider": "openai",
        "model": "gpt-4o",
        "input_tokens": -1,
        "output_tokens": 3,
        "occurred_at": "2026-11-24T00:00:00Z",
    }
    with pytest.raises(ValidationError):
        UsageRecorded.model_validate_json(json.dumps(event))


def test_error_reply_shape() -> None:
    reply = ErrorReply(
        code=404, error="not_found", message="No API key configured for this session"
    )
    assert json.loads(reply.model_dump_json()) == {
        "status": "error",
        "code": 404,
        "error": "not_found",
        "message": "No API key configured for this session",
    }


@pytest.mark.parametrize(
    ("key", "provider"),
    [("sk-ant-api03-abc", "anthropic"), ("sk-proj-abc", "openai"), ("AIzaSyabc", "gemini")],
)
def test_provider_detection(key: str, provider: str) -> None:
    assert detect_provider(key) == provider
    assert check_provider(key, None) == provider
    assert check_provider(key, provider) == provider


def test_reseller_key_is_422_and_mismatch_is_401() -> None:
    with pytest.raises(Unprocessable) as unknown:
        detect_provider("rk-live-123")
    assert unknown.value.code == 422
    with pytest.raises(KeyRejected, match="Invalid openai key") as mismatch:
        check_provider("sk-ant-api03-abc", "openai")
    assert mismatch.value.code == 401


def test_catalog_defaults_and_checks() -> None:
    catalog = Catalog.load()
    assert set(catalog.providers()) == {"anthropic", "openai", "gemini"}
    for provider in catalog.providers():
        assert catalog.is_curated(provider, catalog.default_model(provider))
    assert catalog.check_model("openai", "gpt-4.1") == "gpt-4.1"
    with pytest.raises(Unprocessable) as outside:
        catalog.check_model("openai", "my-finetune")
    assert outside.value.error == "model_not_allowed"
    assert catalog.check_model("openai", "my-finetune", allow_custom=True) == "my-finetune"


def test_catalog_rejects_a_default_outside_its_models(tmp_path: object) -> None:
    with pytest.raises(ValueError, match="default"):
        Catalog.from_dict({"openai": {"default": "x", "models": {"gpt-4o": None}}})
