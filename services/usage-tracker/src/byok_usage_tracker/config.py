"""The usage-tracker's own settings (``BYOK_USAGE_TRACKER_*``)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from byok_shared.consume import PullConfig

__all__ = ["TrackerConfig"]


class TrackerConfig(PullConfig):
    """How this replica follows ``byok.v1.usage.recorded``.

    Every replica keeps its own aggregates (KV keys under ``<replica>.``) and its
    own durable consumer, named after ``replica`` (set it per replica when running several).
    """

    model_config = SettingsConfigDict(env_prefix="BYOK_USAGE_TRACKER_", extra="ignore", frozen=True)

    replica: str = "main"
    batch: int = 512
    # Aggregates and the stream sequence they include are stored this often (and when idle).
    checkpoint_interval: float = 1.0
    # Day records (one dimension, one day) kept in memory, least recently used dropped first.
    records_in_memory: int = 4096

    @property
    def durable(self) -> str:
        return f"usage-tracker-{self.replica}"
