"""Settings from ``BYOK_*`` environment variables (DESIGN.md section 7)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ByokSettings", "parse_server_urls"]

_GIB = 1024**3


def parse_server_urls(text: str | None) -> list[str]:
    """``BYOK_NATS_URL`` as a server list: one URL or a comma-separated cluster.

    The one place byok parses it; every connect (services, ``make run``, the CLI,
    health checks) passes the list on (nats-py takes a list of servers).
    """
    return [url.strip() for url in (text or "").split(",") if url.strip()]


class ByokSettings(BaseSettings):
    """Everything a byok process reads from its environment. Built once, in bootstrap."""

    model_config = SettingsConfigDict(env_prefix="BYOK_", extra="ignore", frozen=True)

    nats_url: str | None = None
    # NATS authorization (deploy/README.md): a user and password, or a .creds file
    # (operator mode), and the inbox prefix this user may receive replies on.
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    nats_creds: Path | None = None
    nats_inbox_prefix: str = "_INBOX"
    data_dir: Path = Path(".byok")
    cipher: Literal["local", "vault"] = "local"
    vault_addr: str | None = Field(
        default=None, validation_alias=AliasChoices("VAULT_ADDR", "BYOK_VAULT_ADDR")
    )
    vault_token: str | None = Field(
        default=None, validation_alias=AliasChoices("VAULT_TOKEN", "BYOK_VAULT_TOKEN")
    )
    # A file holding the token (mode 0600), read at start: what the embedded OpenBao and
    # compose's init job hand to key-vault instead of a token in the environment.
    vault_token_file: Path | None = None
    vault_mount: str = "transit"
    vault_key: str = "byok"
    anthropic_base_url: str = "https://api.anthropic.com"
    openai_base_url: str = "https://api.openai.com"
    gemini_base_url: str = "https://generativelanguage.googleapis.com"
    credits_per_usd: int = 1000
    catalog_file: Path | None = None
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    metrics_port: int | None = None
    stream_replicas: int = 1
    # Byte limits of BYOK_USAGE and BYOK_EVENTS (set by the provisioning step; a full
    # stream refuses new publishes rather than dropping what is stored).
    usage_max_bytes: int = Field(default=4 * _GIB, gt=0)
    events_max_bytes: int = Field(default=1 * _GIB, gt=0)
    request_timeout: float = 5.0
    # OpenTelemetry tracing through faststream's middleware (needs byok-shared[otel]);
    # the exporter reads the standard OTEL_EXPORTER_OTLP_* variables.
    otel_enabled: bool = False

    @property
    def server_urls(self) -> list[str]:
        """``BYOK_NATS_URL`` may list several servers of a cluster, comma-separated."""
        return parse_server_urls(self.server_url)

    @property
    def server_url(self) -> str:
        """The NATS URL to connect to (``make run`` exports the embedded server's URL)."""
        return self.nats_url or "nats://127.0.0.1:4222"
