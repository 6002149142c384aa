"""Building configure commands the way a client does (sealed, bound to the request)."""

from __future__ import annotations

from byok_contracts import seal_configure
from byok_contracts.v1 import ConfigureKey
from byok_key_vault import handlers

__all__ = ["KEY", "configure_cmd"]

KEY = "sk-ant-api03-" + "h" * 80


async def configure_cmd(deps: handlers.Deps, key: str = KEY, **extra: object) -> ConfigureKey:
    pk = await handlers.public_key(deps)
    body: dict[str, object] = {
        "scope": {"type": "workspace", "id": "acme"},
        "kid": pk.kid,
        "actor": "alice",
        "account": "acme",
        **extra,
    }
    sealed = seal_configure(
        key,
        pk.public_key,
        account=body["account"],  # type: ignore[arg-type]
        scope=body["scope"],
        request_id=body.get("request_id"),  # type: ignore[arg-type]
    )
    return ConfigureKey.model_validate({"sealed_key": sealed, **body})
