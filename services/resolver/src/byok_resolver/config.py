"""Resolver settings from ``BYOK_RESOLVER_*`` (the shared ``BYOK_*`` ones come from ByokSettings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ResolverConfig"]


class ResolverConfig(BaseSettings):
    """Cache bounds and timeouts of one resolver replica. Built once, in ``create_app``."""

    model_config = SettingsConfigDict(env_prefix="BYOK_RESOLVER_", extra="ignore", frozen=True)

    replica_id: str | None = None
    """Presence id in ``byok-resolvers`` (default: ``resolver-<random>``, new per start)."""
    material_ttl: float = 300.0
    """Seconds a key's material, unsealed from key-vault, stays in memory (enforced on time)."""
    material_max: int = 10_000
    """Most keys whose material is held; the least recently used go first."""
    sealed_ttl: float = 300.0
    """Seconds a reply-ready sealed blob per (key, revision, recipient) is reused."""
    sealed_max: int = 10_000
    """Most sealed blobs kept; the least recently used go first."""
    expiry_tick: float = 1.0
    """Seconds between two sweeps of expired material and sealed blobs."""
    max_scopes: int = Field(100_000, ge=64)
    """Most scopes (settings and keys) held; the least recently used go first."""
    max_accounts: int = Field(100_000, ge=64)
    """Most accounts (policy and balance) held; the least recently used go first."""
    unseal_timeout: float = 2.0
