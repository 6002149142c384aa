"""Start-up retries on a forming cluster: what waits, what fails at once, how long."""

from __future__ import annotations

import time

import nats.errors
import pytest
from nats.js import errors as js_errors

from byok_shared.retry import is_transient, with_backoff


def _api(code: int, err_code: int | None = None, description: str = "") -> js_errors.APIError:
    return js_errors.APIError(code=code, err_code=err_code, description=description)


@pytest.mark.parametrize(
    "exc",
    [
        js_errors.NoStreamResponseError(),
        nats.errors.NoRespondersError(),
        nats.errors.TimeoutError(),
        TimeoutError(),
        _api(503, 10008, "JetStream system temporarily unavailable"),
        _api(500, 10005, "no suitable peers for placement"),
        _api(500, None, "stream has no leader"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_cluster_electing_its_leaders_is_waited_for(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize(
    "exc",
    [
        _api(400, 10058, "stream name already in use with a different configuration"),
        js_errors.NotFoundError(code=404, err_code=10059, description="stream not found"),
        _api(403, None, "permissions violation"),
        ValueError("a bug"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_real_error_is_raised_at_once(exc: BaseException) -> None:
    assert not is_transient(exc)


async def test_with_backoff_retries_transient_errors_then_answers() -> None:
    failures = [js_errors.NoStreamResponseError(), nats.errors.NoRespondersError()]

    async def call() -> str:
        if failures:
            raise failures.pop(0)
        return "written"

    assert await with_backoff(call, what="test", first=0.01) == "written"
    assert failures == []


async def test_with_backoff_raises_a_real_error_at_once_and_gives_up_after_its_timeout() -> None:
    calls = 0

    async def refused() -> None:
        nonlocal calls
        calls += 1
        raise _api(403, None, "permissions violation")

    with pytest.raises(js_errors.APIError):
        await with_backoff(refused, what="test", first=0.01)
    assert calls == 1

    async def electing() -> None:
        raise js_errors.NoStreamResponseError()

    started = time.monotonic()
    with pytest.raises(js_errors.NoStreamResponseError):
        await with_backoff(electing, what="test", timeout=0.3, first=0.01, most=0.05)
    assert 0.2 < time.monotonic() - started < 2.0
