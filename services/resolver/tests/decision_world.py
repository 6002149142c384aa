"""The decision's test world: a StateView built the way the feed builds it.

Shared by the ``test_resolver_decision*.py`` modules (importable through this
directory's conftest).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from byok_contracts import Catalog, Keypair
from byok_contracts.v1 import AccountPolicy, KeyState, Resolve, Scope, ScopeSettings
from byok_resolver.adapters.memory import InMemoryStateLoader
from byok_resolver.cache import ResolverCache
from byok_resolver.domain import Decision, KeyEntry, decide

__all__ = ["CATALOG", "World", "pick", "sc", "sessionist", "sprintrr"]

CATALOG = Catalog.load()
RECIPIENT = Keypair.generate().public_b64


def sc(text: str) -> Scope:
    return Scope.parse(text)


@dataclass
class World:
    """A StateView built the way the feed builds it: on the real in-memory cache."""

    cache: ResolverCache = field(default_factory=ResolverCache)
    revision: int = 0

    def __post_init__(self) -> None:
        self.loader = InMemoryStateLoader(self.cache)

    def key(
        self,
        scope: str,
        provider: str,
        *,
        state: KeyState = KeyState.ACTIVE,
        model: str = "",
        owner: str = "acme",
    ) -> World:
        self.revision += 1
        where = sc(scope)
        key_id = f"k-{where.type.value}-{where.id}-{provider}"
        account = None if where.type.value == "platform" else owner
        entry = KeyEntry(key_id, where, provider, model, state, self.revision, account)
        self.loader.present(where)
        self.cache.apply_key(where, provider, self.revision, entry)
        return self

    def drop(self, scope: str, provider: str) -> World:
        self.revision += 1
        self.loader.present(sc(scope))
        self.cache.apply_key(sc(scope), provider, self.revision, None)
        return self

    def scope(self, scope: str, **values: Any) -> World:
        self.revision += 1
        settings = ScopeSettings(scope=sc(scope), **values)
        self.loader.present(sc(scope))
        self.cache.apply_settings(settings, self.revision, sc(scope))
        return self

    def account(self, account: str = "acme", **values: Any) -> World:
        self.revision += 1
        self.loader.present_account(account)
        self.cache.apply_policy(AccountPolicy(account=account, **values), self.revision, account)
        return self

    def credits(self, balance: int, account: str = "acme") -> World:
        self.loader.present_account(account)
        self.cache.apply_balance(account, balance, float(self.revision))
        return self

    def resolve(self, *chain: str, **fields: Any) -> Decision:
        body: dict[str, Any] = {
            "account": "acme",
            "chain": [{"type": s.split(":")[0], "id": s.split(":")[1]} for s in chain],
            "recipient_key": RECIPIENT,
        }
        body.update(fields)
        return decide(Resolve.model_validate(body, strict=False), self.cache, CATALOG)


def pick(d: Decision) -> tuple[str, str, str]:
    return d.source, str(d.key.scope), d.key.provider


# Worlds of the seeds, used by more than one theme.


def sprintrr() -> World:
    """BYOK first: credits paused while a BYOK key serves."""
    return World().credits(1000).key("platform:default", "anthropic").key("account:acme", "gemini")


def sessionist() -> World:
    """Credits first, BYOK as overflow."""
    w = World().account(mode="credits_first", plan="starter").credits(10)
    return w.key("platform:default", "anthropic").key("user:u1", "anthropic")
