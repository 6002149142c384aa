"""key-vault's own knobs (``BYOK_KEY_VAULT_*``); the shared ones are in ``ByokSettings``."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["KeyVaultSettings"]


class KeyVaultSettings(BaseSettings):
    """Read once in ``create_app``; tests pass values directly."""

    model_config = SettingsConfigDict(env_prefix="BYOK_KEY_VAULT_", extra="ignore", frozen=True)

    # key-vault -> validator round trip; the validator retries transient provider errors
    # (about 3 x 2.5 s worst case), so this waits a little longer than that.
    validate_timeout: float = 9.5
    # Sealing keypairs kept after a rotation, so blobs sealed to a recent kid still open.
    sealing_keep: int = 3
    # Concurrent configure requests one replica handles (each waits on a provider call).
    configure_workers: int = 32
    # How long remove/disable/revoke waits for every resolver replica to ack the change.
    barrier_timeout: float = 2.0
