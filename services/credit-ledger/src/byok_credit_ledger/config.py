"""The credit-ledger's own settings (``BYOK_LEDGER_*``), next to the shared ``ByokSettings``."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from byok_shared.consume import PullConfig

__all__ = ["LedgerConfig"]


class LedgerConfig(PullConfig):
    """How the ledger consumes ``byok.v1.usage.recorded`` and how much it keeps in memory."""

    model_config = SettingsConfigDict(env_prefix="BYOK_LEDGER_", extra="ignore", frozen=True)

    durable: str = "credit-ledger"
    # Messages per fetch: each account's debits in one fetch share one journal append and
    # one batch of request-index claims, so larger batches cost less per debit.
    batch: int = Field(1024, ge=1)
    retries: int = 20
    # Under load, credits events and byok-credits records are published at most this often
    # (and whenever the stream is idle): one write per touched account, not one per debit.
    # Usage messages are acked after the flush that follows their debit.
    flush_interval: float = 0.1
    # Accounts kept folded in memory (least recently used ones are dropped first).
    accounts_in_memory: int = 10_000
    # An account is snapshotted once it holds this many entries since its last snapshot
    # (and every account with any, when the stream is idle).
    snapshot_every: int = 64
    # USD per million tokens (input and output) for platform calls on a model without a
    # known price; unset: the provider's most expensive catalog rate.
    unpriced_usd_per_mtok: float | None = Field(
        default=None,
        gt=0,
        validation_alias=AliasChoices("BYOK_UNPRICED_USD_PER_MTOK", "unpriced_usd_per_mtok"),
    )
