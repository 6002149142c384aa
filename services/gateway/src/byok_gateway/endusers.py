"""Short-lived end-user tokens: signed by the gateway, verified by any replica without state.

``byokeu.<payload>.<signature>``: the payload (base64url JSON) names the account,
the exact scopes (one end-user scope plus optional agent scopes), the expiry and
the API token that minted it; the signature is HMAC-SHA256 under the gateway
secret. Revoking the minting token revokes every end-user token it minted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

__all__ = ["EndUserClaims", "EndUserTokens"]

_PREFIX = "byokeu."


@dataclass(frozen=True, slots=True)
class EndUserClaims:
    account: str
    scopes: tuple[str, ...]
    parent: str
    expires_at: int
    jti: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class EndUserTokens:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"byok.gateway.end-user.v1" + secret).digest()

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, (_PREFIX + payload).encode(), hashlib.sha256).digest())

    def mint(self, *, account: str, scopes: list[str], parent: str, ttl: int) -> EndUserClaims:
        now = int(time.time())
        return EndUserClaims(
            account=account,
            scopes=tuple(scopes),
            parent=parent,
            expires_at=now + ttl,
            jti=secrets.token_hex(8),
        )

    def encode(self, claims: EndUserClaims) -> str:
        body = {
            "v": 1,
            "acct": claims.account,
            "scopes": list(claims.scopes),
            "parent": claims.parent,
            "exp": claims.expires_at,
            "jti": claims.jti,
        }
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{_PREFIX}{payload}.{self._sign(payload)}"

    @staticmethod
    def looks_like(token: str) -> bool:
        return token.startswith(_PREFIX)

    def decode(self, token: str, now: float | None = None) -> EndUserClaims | None:
        """The claims of a genuine, unexpired token, else None."""
        if not token.startswith(_PREFIX) or len(token) > 4096:
            return None
        payload, _, signature = token[len(_PREFIX) :].partition(".")
        if not hmac.compare_digest(self._sign(payload), signature):
            return None
        try:
            body = json.loads(_unb64(payload))
            claims = EndUserClaims(
                account=str(body["acct"]),
                scopes=tuple(str(s) for s in body["scopes"]),
                parent=str(body["parent"]),
                expires_at=int(body["exp"]),
                jti=str(body["jti"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if claims.expires_at <= (time.time() if now is None else now):
            return None
        return claims
