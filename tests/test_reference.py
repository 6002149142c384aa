"""contracts/REFERENCE.md: generated, committed, current, linked, and complete."""

from __future__ import annotations

from pathlib import Path

import pytest

from byok_client import ByokClient
from byok_contracts import MalformedRequest, subjects
from byok_contracts.error_words import ERROR_WORDS, SUBJECT_ERRORS
from byok_contracts.schema import OPERATIONS
from byok_contracts.v1 import KeyList
from byok_shared.natsserver import NatsServer
from byok_shared.reference import render

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "contracts" / "REFERENCE.md"


def test_the_committed_reference_is_current() -> None:
    assert REFERENCE.read_text() == render(), "run `make docs` and commit contracts/REFERENCE.md"


def test_the_readme_links_the_reference() -> None:
    assert "contracts/REFERENCE.md" in (ROOT / "README.md").read_text()


def test_every_public_subject_and_error_word_is_in_it() -> None:
    text = render()
    for op in OPERATIONS:
        assert (f"### `{op.subject}`" in text) is (not op.internal), op.subject
    for word in ERROR_WORDS:
        assert f"`{word}`" in text, word
    for subject, words in SUBJECT_ERRORS.items():
        if not (".internal." in subject or subject.startswith(subjects.KEYS_VALIDATE)):
            assert all(f"`{w}`" in text for w in words)


@pytest.mark.parametrize(
    "fact",
    [
        "DHKEM(X25519,HKDF-SHA256)/HKDF-SHA256/AES-256-GCM",  # the suite string
        "standard base64 with padding",
        "URL-safe base64",
        "32-byte X25519 encapsulated key",
        "AAD: empty",
        '"iat":<unix seconds>',  # the configure envelope
        "409 `stale_kid`",
        "cached for the life of the process",
        "`BYOK_USAGE`",
        "no responders",
        "(account, request_id)",
        "eventually consistent",
        "65536 bytes",
        "1 MiB",
        "1 to 16 scopes",
        "**backend**",
        "**runtime**",
        "defaults to `auto`",
        "not idempotent",
        "402 `credits_exhausted`",
        "ASCII",
    ],
)
def test_the_reference_states(fact: str) -> None:
    assert fact in render()


async def test_a_body_over_max_payload_is_refused_before_it_is_sent(
    nats_server: NatsServer,
) -> None:
    client = await ByokClient.connect(nats_server.url, timeout=2.0)
    try:
        body: dict[str, object] = {"scope": {"type": "workspace", "id": "w"}, "pad": "x" * 2**21}
        with pytest.raises(MalformedRequest) as refused:
            await client.request(subjects.KEYS_LIST, body, KeyList)
        assert refused.value.error == "payload_too_large"
        assert refused.value.code == 400
    finally:
        await client.close()


def test_the_stated_gateway_limits_are_the_defaults() -> None:
    from byok_gateway.config import GatewaySettings

    fields = GatewaySettings.model_fields
    text = render()
    rate, burst = fields["gateway_rate"].default, fields["gateway_burst"].default
    assert f"{rate:g} requests/s sustained, bursts of {burst}" in text
    assert fields["gateway_max_body"].default == 64 * 1024
