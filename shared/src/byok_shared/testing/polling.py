"""Waiting for a condition with a deadline, instead of sleeping a guessed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import nats.errors

from byok_contracts import Unavailable

if TYPE_CHECKING:
    from byok_client import ByokClient

__all__ = ["eventually", "resolve_until", "retrying"]

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[bool]], timeout: float, what: str = "condition"
) -> None:
    """Poll ``check`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout:.0f}s")
        await asyncio.sleep(0.05)


async def retrying(call: Callable[[], Awaitable[T]], timeout: float = 20.0) -> T:
    """``call()`` until it answers other than 503 (services may still be reconnecting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except Unavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def resolve_until(
    client: ByokClient,
    account: str,
    chain: list[str],
    want: str,
    never: str | None = None,
    timeout: float = 60.0,
) -> int:
    """Resolve until ``want`` is served; any answer naming ``never`` fails. Returns tries."""
    deadline = time.monotonic() + timeout
    tries = 0
    while True:
        tries += 1
        try:
            scopes: list[Any] = list(chain)
            route = await client.resolve(account, scopes, provider="anthropic")
        except (Unavailable, nats.errors.Error):
            route = None
        if route is not None:
            assert route.key_id != never, f"{chain}: removed key {never} served"
            if route.key_id == want:
                return tries
        assert time.monotonic() < deadline, f"{chain}: {want} never served"
        await asyncio.sleep(0.01)
