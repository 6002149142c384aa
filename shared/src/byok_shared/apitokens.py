"""Gateway API tokens: issued by the operator, stored hashed in a KV bucket.

A token reads ``byok_<token_id>_<secret>``: ``token_id`` (12 hex digits) is its
public name (listed, revoked by), the secret part is 256 random bits. The bucket
``byok-api-tokens`` maps ``token_id`` to an :class:`ApiTokenRecord` holding the
SHA-256 of the whole token, never the token itself, so a copy of the bucket lets
nobody in. The operator's tools write the bucket (``byok tokens ...``); the
gateway only reads it, and a revoked token (its entry deleted) stops working on
every gateway replica at once (they watch the bucket).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Annotated, Literal

from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, NotFoundError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from byok_contracts.v1 import ScopeType, utcnow

from .jetstream import BUCKET_API_TOKENS, bucket_keys

__all__ = [
    "ALL_ACCOUNTS",
    "ApiTokenRecord",
    "ApiTokenStore",
    "TokenRole",
    "digest",
    "new_token",
    "scope_allowed",
    "token_id_of",
    "verify",
]

TokenRole = Literal["backend", "viewer", "operator"]
ALL_ACCOUNTS = "*"
"""The account of an operator token valid for every account."""

_TOKEN = re.compile(r"^byok_(?P<id>[0-9a-f]{12})_[A-Za-z0-9_-]{43}$")
ScopePrefix = Annotated[
    str,
    StringConstraints(
        pattern=r"^(session|agent|chatbot|workspace|account|user|platform):[A-Za-z0-9_-]{0,128}$"
    ),
]


class ApiTokenRecord(BaseModel):
    """What the bucket holds for one token (no secret: only the token's digest)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    token_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{12}$")]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    account: Annotated[str, StringConstraints(pattern=r"^(\*|[A-Za-z0-9][A-Za-z0-9_-]{0,127})$")]
    role: TokenRole = "backend"
    scopes: list[ScopePrefix] = Field(default_factory=list)
    label: Annotated[str, Field(max_length=128)] = ""
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and (now or utcnow()) >= self.expires_at

    def public(self) -> dict[str, object]:
        """The record as ``byok tokens list`` shows it."""
        return self.model_dump(mode="json", exclude={"sha256"})


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh ``(token, token_id)``."""
    token_id = secrets.token_hex(6)
    return f"byok_{token_id}_{secrets.token_urlsafe(32)}", token_id


def token_id_of(token: str) -> str | None:
    """The public id of a well-formed token, else None."""
    match = _TOKEN.match(token)
    return match.group("id") if match else None


def verify(token: str, record: ApiTokenRecord) -> bool:
    """Constant-time check of ``token`` against the stored digest."""
    return hmac.compare_digest(digest(token), record.sha256)


def scope_allowed(prefixes: list[str], scope_type: str, scope_id: str) -> bool:
    """A token without prefixes reaches every scope of its account; else one must match."""
    if not prefixes:
        return True
    for prefix in prefixes:
        kind, _, start = prefix.partition(":")
        if kind == scope_type and scope_id.startswith(start):
            return True
    return False


class ApiTokenStore:
    """The bucket of token records (write access: operator; read: gateway)."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js
        self._kv: KeyValue | None = None

    async def kv(self) -> KeyValue:
        if self._kv is None:
            self._kv = await self.js.key_value(BUCKET_API_TOKENS)
        return self._kv

    async def create(
        self,
        account: str,
        *,
        role: TokenRole = "backend",
        scopes: list[str] | None = None,
        expires_at: datetime | None = None,
        label: str = "",
    ) -> tuple[str, ApiTokenRecord]:
        """Issue a token; the token itself is returned once and stored nowhere."""
        if account == ALL_ACCOUNTS and role != "operator":
            raise ValueError("only an operator token may span every account")
        for prefix in scopes or []:
            kind = prefix.partition(":")[0]
            if kind not in {t.value for t in ScopeType}:
                raise ValueError(f"unknown scope type {kind!r} (type:id-prefix)")
        token, token_id = new_token()
        record = ApiTokenRecord(
            token_id=token_id,
            sha256=digest(token),
            account=account,
            role=role,
            scopes=list(scopes or []),
            label=label,
            expires_at=expires_at,
        )
        await (await self.kv()).create(token_id, record.model_dump_json().encode())
        return token, record

    async def get(self, token_id: str) -> ApiTokenRecord | None:
        try:
            entry = await (await self.kv()).get(token_id)
        except (KeyNotFoundError, NotFoundError):
            return None
        if entry.value is None:
            return None
        try:
            return ApiTokenRecord.model_validate_json(entry.value)
        except ValidationError:
            return None

    async def list(self) -> list[ApiTokenRecord]:
        records = []
        for token_id in await bucket_keys(self.js, BUCKET_API_TOKENS):
            record = await self.get(token_id)
            if record is not None:
                records.append(record)
        return records

    async def revoke(self, token_id: str) -> bool:
        """Delete the record (and its history); False if there was none."""
        if await self.get(token_id) is None:
            return False
        await (await self.kv()).purge(token_id)
        return True
