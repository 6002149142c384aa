"""validator's own knobs (``BYOK_VALIDATOR_*``); base URLs are in ``ByokSettings``."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ValidatorSettings"]


class ValidatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BYOK_VALIDATOR_", extra="ignore", frozen=True)

    # One provider call (connect + read). Three attempts stay under key-vault's wait.
    http_timeout: float = 2.5
    attempts: int = 3
    backoff: float = 0.2  # seconds before the 2nd attempt; doubles after that
    # Periodic re-validation of stored keys: how old a validation may get (0 = off),
    # how often to sweep, and at most this many provider calls per second.
    revalidate_interval: float = 6 * 3600.0
    sweep_every: float = 60.0
    revalidate_rate: float = 2.0
    # keys.report: at most one re-validation per key in this window (others are deduplicated).
    report_window: float = 30.0
    workers: int = 32
