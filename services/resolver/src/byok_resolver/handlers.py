"""The resolve use case: decision on the caches, then the key sealed to the runtime.

:meth:`Resolver.reply_cached` adds one more layer for identical requests
(same account, chain, provider, model, source and recipient): the encoded reply,
reused only while the caches' ``generation`` is unchanged (any change to any
key, setting, policy or balance bumps it) and its sealed blob has not expired,
so it always equals what a fresh decision would answer.

:meth:`Resolver.resolve_cached` is the hot path: synchronous, no await, so no
cache change can interleave between the decision and the reply bytes. It
returns None when the key's material is not cached; :meth:`Resolver.resolve`
then asks the :class:`~byok_resolver.ports.KeySource` and decides again if any
cache changed while it waited.
"""

from __future__ import annotations

import time
from typing import Protocol

from byok_contracts import Catalog, seal, subjects
from byok_contracts.v1 import Resolve, Resolved
from byok_shared.responder import encode

from .cache import ResolverCache, SecretCache
from .domain import Decision, decide
from .errors import KeySourceUnavailable, NotInSync
from .ports import KeySource

__all__ = ["Freshness", "Resolver"]

_INFO = subjects.RESOLVE


class Freshness(Protocol):
    @property
    def fresh(self) -> bool: ...


class _AlwaysFresh:
    fresh = True


class Resolver:
    """Resolve requests against one replica's caches."""

    def __init__(
        self,
        cache: ResolverCache,
        secrets: SecretCache,
        keys: KeySource,
        catalog: Catalog,
        freshness: Freshness | None = None,
        *,
        ready: Freshness | None = None,
        max_replies: int = 10_000,
    ) -> None:
        self.cache = cache
        self.secrets = secrets
        self.keys = keys
        self.catalog = catalog
        self.freshness: Freshness = freshness or _AlwaysFresh()
        self.ready: Freshness = ready or _AlwaysFresh()
        self.max_replies = max_replies
        self._replies: dict[tuple[object, ...], tuple[int, float, bytes]] = {}

    def check_fresh(self) -> None:
        if not (self.freshness.fresh and self.ready.fresh):
            raise NotInSync("This resolver replica is not in sync with key changes; retry")

    def resolve_cached(self, request: Resolve) -> Resolved | None:
        """The answer from caches alone, or None when key material must be fetched."""
        self.check_fresh()
        decision = decide(request, self.cache, self.catalog)
        return self._answer(decision, request.recipient_key)

    def reply_cached(self, request: Resolve) -> bytes | None:
        """Encoded reply from caches alone (memoised per identical request), or None."""
        self.check_fresh()
        memo = (
            request.account,
            tuple((scope.type, scope.id) for scope in request.chain),
            request.provider,
            request.model,
            request.source,
            request.recipient_key,
        )
        generation = self.cache.generation
        now = time.monotonic()
        hit = self._replies.get(memo)
        if hit is not None and hit[0] == generation and hit[1] > now:
            return hit[2]
        decision = decide(request, self.cache, self.catalog)
        answer = self._answer(decision, request.recipient_key)
        if answer is None:
            return None
        out = encode(answer)
        key = decision.key
        until = self.secrets.sealed_until(key.key_id, key.revision, request.recipient_key)
        if len(self._replies) >= self.max_replies:
            self._replies.clear()
        self._replies[memo] = (generation, until, out)
        return out

    def _answer(self, decision: Decision, recipient: str) -> Resolved | None:
        key = decision.key
        now = time.monotonic()
        sealed = self.secrets.sealed(key.key_id, key.revision, recipient, now)
        if sealed is None:
            material = self.secrets.material(key.key_id, now)
            if material is None:
                return None
            sealed = seal(material.secret, recipient, _INFO)
            self.secrets.put_sealed(key.key_id, key.revision, recipient, sealed, now)
        return Resolved(
            source=decision.source,
            provider=key.provider,  # type: ignore[arg-type]
            model=decision.model,
            key_id=key.key_id,
            scope=key.scope,
            sealed_key=sealed,
            credits_paused=decision.credits_paused,
            reason=decision.reason,
        )

    async def resolve(self, request: Resolve) -> Resolved:
        """Full path: fetch material when needed, never answer with a key that changed meanwhile."""
        for _ in range(3):
            answer = self.resolve_cached(request)
            if answer is not None:
                return answer
            decision = decide(request, self.cache, self.catalog)
            generation = self.cache.generation
            material = await self.keys.unseal(decision.key.key_id)
            if self.cache.generation != generation and not self.cache.still_serves(decision.key):
                continue  # the key changed while we waited: decide again
            self.secrets.put_material(material)
        answer = self.resolve_cached(request)
        if answer is None:
            raise KeySourceUnavailable("Key material kept changing; retry")
        return answer
