"""Gateway settings (``BYOK_*`` environment) and the end-user token secret."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["GatewaySettings", "load_secret"]


class GatewaySettings(BaseSettings):
    """What only the gateway reads; NATS, data dir and providers come from ``ByokSettings``."""

    model_config = SettingsConfigDict(env_prefix="BYOK_", extra="ignore", frozen=True)

    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # TLS for uvicorn (compose); make run serves plain HTTP on loopback.
    http_tls_cert: Path | None = None
    http_tls_key: Path | None = None
    # HMAC secret for end-user tokens; every replica needs the same one.
    gateway_secret: SecretStr | None = None
    # Per-token rate limit of each replica: a token bucket (sustained rate, burst).
    gateway_rate: float = 50.0
    gateway_burst: int = 100
    # How long a looked-up API token is trusted without asking the bucket again
    # (revocations arrive sooner through the bucket watch).
    gateway_token_ttl: float = 1.0
    gateway_max_body: int = 64 * 1024
    end_user_ttl_max: int = 3600
    end_user_ttl_default: int = 900


def load_secret(settings: GatewaySettings, data_dir: Path) -> bytes:
    """``BYOK_GATEWAY_SECRET``, else ``<data_dir>/gateway/secret`` (created 0600 once)."""
    if settings.gateway_secret is not None:
        value = settings.gateway_secret.get_secret_value().encode()
        if len(value) < 32:
            raise ValueError("BYOK_GATEWAY_SECRET must be at least 32 characters")
        return value
    path = data_dir / "gateway" / "secret"
    if path.exists():  # also on a read-only volume written by the init job
        return path.read_bytes().strip()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    value = secrets.token_hex(32).encode()
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    return value
