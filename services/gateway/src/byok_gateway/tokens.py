"""Bearer tokens to principals: API tokens from the bucket, end-user tokens by signature.

API token records are cached for ``ttl`` seconds per replica and dropped as soon
as the bucket watch reports a change to them (a revocation), so a revoked token
stops working at once; should the watch lag, within ``ttl`` at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import ClassVar

from nats.js.errors import BadRequestError, NotFoundError

from byok_contracts import ByokError
from byok_shared.apitokens import ApiTokenRecord, ApiTokenStore, token_id_of, verify

from .endusers import EndUserTokens
from .principal import Principal

__all__ = ["TokenVerifier", "Unauthorized"]

log = logging.getLogger("byok.gateway")


class Unauthorized(ByokError):
    code: ClassVar[int] = 401
    default_error: ClassVar[str] = "invalid_token"
    headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class TokenVerifier:
    def __init__(self, store: ApiTokenStore, end_users: EndUserTokens, ttl: float = 1.0) -> None:
        self.store = store
        self.end_users = end_users
        self.ttl = ttl
        self._cache: dict[str, tuple[float, ApiTokenRecord | None]] = {}
        self._watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._watch = asyncio.create_task(self._follow(), name="gateway-token-watch")

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch

    async def _follow(self) -> None:
        """Drop cached records the moment their bucket entry changes (revocations)."""
        while True:
            try:
                kv = await self.store.kv()
                watcher = await kv.watchall(meta_only=True)
                async for entry in watcher:
                    if entry is not None:
                        self._cache.pop(entry.key, None)
            except asyncio.CancelledError:
                raise
            except (NotFoundError, BadRequestError, Exception) as exc:
                log.warning("token bucket watch restarting: %s", type(exc).__name__)
                self._cache.clear()
                self.store._kv = None
                await asyncio.sleep(1.0)

    async def _record(self, token_id: str) -> ApiTokenRecord | None:
        now = time.monotonic()
        cached = self._cache.get(token_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached[1]
        try:
            record = await self.store.get(token_id)
        except (NotFoundError, BadRequestError):
            self.store._kv = None  # the bucket does not exist (yet): nobody has a token
            record = None
        if len(self._cache) > 50_000:
            self._cache.clear()
        self._cache[token_id] = (now, record)
        return record

    async def api_principal(self, token: str) -> Principal:
        token_id = token_id_of(token)
        record = await self._record(token_id) if token_id is not None else None
        if record is None or not verify(token, record):
            raise Unauthorized("Unknown or revoked token")
        if record.expired():
            raise Unauthorized("This token has expired", error="token_expired")
        expires = int(record.expires_at.timestamp()) if record.expires_at else None
        return Principal(
            token_id=record.token_id,
            account=record.account,
            role=record.role,
            scopes=tuple(record.scopes),
            expires_at=expires,
        )

    async def principal(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized("An Authorization: Bearer token is required", error="missing_token")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("An Authorization: Bearer token is required", error="missing_token")
        if not self.end_users.looks_like(token):
            return await self.api_principal(token)
        claims = self.end_users.decode(token)
        if claims is None:
            raise Unauthorized("Invalid or expired end-user token")
        parent = await self._record(claims.parent)
        if parent is None or parent.expired():
            raise Unauthorized("The token that minted this end-user token was revoked")
        return Principal(
            token_id=f"eu.{claims.jti}",
            account=claims.account,
            role="end_user",
            scopes=claims.scopes,
            exact=True,
            expires_at=claims.expires_at,
        )
