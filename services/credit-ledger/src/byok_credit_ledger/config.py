"""The credit-ledger's own settings (``BYOK_LEDGER_*``), next to the shared ``ByokSettings``."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LedgerConfig"]


class LedgerConfig(BaseSettings):
    """How the ledger consumes ``byok.v1.usage.recorded``."""

    model_config = SettingsConfigDict(env_prefix="BYOK_LEDGER_", extra="ignore", frozen=True)

    durable: str = "credit-ledger"
    ack_wait: float = 30.0
    batch: int = 256
    max_ack_pending: int = 8192
    fetch_timeout: float = 1.0
    retries: int = 20
    # Under load, credits events and byok-credits records are published at most this often
    # (and whenever the stream is idle): one write per touched account, not one per debit.
    flush_interval: float = 0.1
