"""validator use cases and rules against in-memory fakes, plus the httpx adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from byok_contracts import Keypair, NotFound, seal, subjects
from byok_contracts.v1 import ReportKey, ValidateKey
from byok_validator import domain, handlers
from byok_validator.adapters.http import HttpxProviders
from byok_validator.adapters.memory import (
    MemoryClaims,
    MemoryKeyVault,
    MemoryProviders,
    MemoryStoredKeys,
)
from byok_validator.domain import Check, Outcome
from byok_validator.errors import ProviderRejected, ProviderUnavailable, SealedKeyUnreadable
from byok_validator.ports import StoredKey

KEY = "sk-ant-api03-" + "v" * 40
OK = Check(Outcome.VALID)
NO = Check(Outcome.REJECTED, "invalid x-api-key")
BUSY = Check(Outcome.TRANSIENT, "HTTP 429")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(clock: Clock) -> handlers.Deps:
    return handlers.Deps(
        providers=MemoryProviders(),
        key_vault=MemoryKeyVault(),
        stored=MemoryStoredKeys(),
        claims=MemoryClaims(),
        keypair=Keypair.generate(),
        replica="r1",
        attempts=3,
        backoff=0.1,
        gate=domain.ReportGate(30.0),
        sleep=clock.sleep,
        clock=lambda: clock.now,
    )


def validate_cmd(deps: handlers.Deps, subject: str | None = None) -> ValidateKey:
    sealed = seal(
        KEY.encode(), deps.keypair.public_key, subject or subjects.keys_validate_for("r1")
    )
    return ValidateKey.model_validate({"provider": "anthropic", "sealed_key": sealed})


@pytest.mark.parametrize(
    ("provider", "status", "body", "outcome"),
    [
        ("anthropic", 200, b"{}", Outcome.VALID),
        (
            "anthropic",
            401,
            b'{"type":"error","error":{"message":"invalid x-api-key"}}',
            Outcome.REJECTED,
        ),
        ("openai", 403, b'{"error":{"message":"forbidden"}}', Outcome.REJECTED),
        (
            "gemini",
            400,
            b'{"error":{"details":[{"reason":"API_KEY_INVALID"}],"message":"bad"}}',
            Outcome.REJECTED,
        ),
        ("gemini", 400, b'{"error":{"message":"bad request"}}', Outcome.UNEXPECTED),
        ("openai", 429, b"{}", Outcome.TRANSIENT),
        ("openai", 500, b"oops", Outcome.TRANSIENT),
        ("openai", 529, b"{}", Outcome.TRANSIENT),
        ("openai", 404, b"{}", Outcome.UNEXPECTED),
    ],
)
def test_classify(provider: str, status: int, body: bytes, outcome: Outcome) -> None:
    assert domain.classify(provider, status, body).outcome is outcome


def test_provider_message_never_echoes_the_key() -> None:
    body = b'{"error":{"message":"Incorrect API key provided: ' + KEY.encode() + b'"}}'
    message = domain.provider_message(body, KEY)
    assert KEY not in message
    assert message.startswith("Incorrect API key provided:")


async def test_validate_valid_rejected_and_retries(deps: handlers.Deps, clock: Clock) -> None:
    providers = deps.providers
    assert isinstance(providers, MemoryProviders)
    providers.set(KEY, OK)
    assert (await handlers.validate(validate_cmd(deps), deps)).status == "valid"
    providers.set(KEY, NO)
    with pytest.raises(ProviderRejected, match="Invalid anthropic key: invalid x-api-key"):
        await handlers.validate(validate_cmd(deps), deps)
    providers.set(KEY, BUSY, BUSY, OK)
    assert (await handlers.validate(validate_cmd(deps), deps)).status == "valid"
    assert clock.slept == [0.1, 0.2]
    providers.set(KEY, BUSY)
    with pytest.raises(ProviderUnavailable):
        await handlers.validate(validate_cmd(deps), deps)


async def test_validate_refuses_a_blob_sealed_for_another_subject(deps: handlers.Deps) -> None:
    with pytest.raises(SealedKeyUnreadable):
        await handlers.validate(validate_cmd(deps, subjects.keys_validate_for("r2")), deps)


async def test_report_revokes_only_on_rejection_and_dedupes(
    deps: handlers.Deps, clock: Clock
) -> None:
    vault = deps.key_vault
    providers = deps.providers
    assert isinstance(vault, MemoryKeyVault)
    assert isinstance(providers, MemoryProviders)
    vault.add("key_1", "anthropic", KEY)

    def report(code: int) -> ReportKey:
        return ReportKey.model_validate({"key_id": "key_1", "status_code": code})

    assert (await handlers.report(report(429), deps)).outcome == "ignored"
    assert (await handlers.report(report(503), deps)).outcome == "ignored"
    providers.set(KEY, BUSY)
    assert (await handlers.report(report(401), deps)).outcome == "transient"
    assert (await handlers.report(report(401), deps)).outcome == "deduplicated"
    assert vault.revoked == []
    clock.now += 31
    providers.set(KEY, NO)
    assert (await handlers.report(report(401), deps)).outcome == "revoked"
    assert vault.revoked[0][0] == "key_1"
    clock.now += 31
    assert (await handlers.report(report(403), deps)).outcome == "revoked"
    assert len(vault.revoked) == 1
    with pytest.raises(NotFound):
        await handlers.report(
            ReportKey.model_validate({"key_id": "key_2", "status_code": 401}), deps
        )


async def test_sweep_revalidates_stale_keys_once(deps: handlers.Deps) -> None:
    vault = deps.key_vault
    providers = deps.providers
    assert isinstance(vault, MemoryKeyVault)
    assert isinstance(providers, MemoryProviders)
    old = datetime.now(UTC) - timedelta(days=2)
    deps.stored = MemoryStoredKeys(
        [
            StoredKey("key_old", "active", old),
            StoredKey("key_new", "active", datetime.now(UTC)),
            StoredKey("key_dead", "revoked", old),
        ]
    )
    vault.add("key_old", "openai", "sk-old-0123456789")
    providers.set("sk-old-0123456789", NO)
    assert await handlers.sweep(deps, interval=3600, rate=10) == {"revoked": 1}
    assert await handlers.sweep(deps, interval=3600, rate=10) == {}  # claimed already
    assert providers.calls == [("openai", "sk-old-0123456789")]


@pytest.mark.parametrize(
    ("provider", "path", "header", "value"),
    [
        ("anthropic", "/v1/models", "x-api-key", KEY),
        ("openai", "/v1/models", "authorization", f"Bearer {KEY}"),
        ("gemini", "/v1beta/models", "x-goog-api-key", KEY),
    ],
)
async def test_httpx_adapter_calls_each_provider_as_documented(
    provider: str, path: str, header: str, value: str
) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": []})

    client = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    adapter = HttpxProviders(client, {provider: f"https://{provider}.example/"})
    assert (await adapter.check(provider, KEY)).outcome is Outcome.VALID
    await adapter.close()
    [request] = seen
    assert request.url.path == path
    assert request.headers[header] == value
    if provider == "anthropic":
        assert request.headers["anthropic-version"] == "2023-06-01"


async def test_httpx_adapter_timeouts_are_transient() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    adapter = HttpxProviders(
        httpx.AsyncClient(transport=httpx.MockTransport(answer)), {"openai": "https://x"}
    )
    assert (await adapter.check("openai", "sk-x")).outcome is Outcome.TRANSIENT
    await adapter.close()


async def test_sweep_reaches_keys_past_the_first_pages(deps: handlers.Deps) -> None:
    vault = deps.key_vault
    providers = deps.providers
    assert isinstance(vault, MemoryKeyVault)
    assert isinstance(providers, MemoryProviders)
    fresh = datetime.now(UTC)
    old = fresh - timedelta(days=2)
    keys = [StoredKey(f"key_{n:03d}", "active", fresh) for n in range(25)]
    keys.append(StoredKey("key_last", "active", old))  # on the last, partial page
    deps.stored = MemoryStoredKeys(keys, page_size=4)
    vault.add("key_last", "openai", "sk-last-0123456789")
    providers.set("sk-last-0123456789", NO)
    assert await handlers.sweep(deps, interval=3600, rate=0) == {"revoked": 1}
