"""The resolve use case: one decision path, from caches, then the key sealed to the runtime.

:meth:`Resolver.reply` is the hot path, synchronous (no await, so no cache
change can interleave between the decision and the reply bytes). It returns
the encoded reply, or says what is missing:

- :data:`NOT_LOADED`: a scope or the account of the request is not present in
  this replica's cache yet;
- a :class:`~byok_resolver.domain.Decision` whose key material is not cached.

:meth:`Resolver.complete` fetches what is missing (a KV load, or the unseal
hop) and then calls :meth:`Resolver.reply` once more, so a miss decides once
more after the await (and again only if the state changed meanwhile).

Identical requests (same account, chain, provider, model, source and
recipient) reuse the encoded reply while its scopes are present, the cache's
``generation`` is unchanged (any change to present state, and any load, bumps
it) and its sealed blob has not expired, so a memoised reply always equals
what a fresh decision would answer.
"""

from __future__ import annotations

import time
from typing import Final, Protocol

from byok_contracts import Catalog, seal, subjects
from byok_contracts.v1 import Resolve, Resolved
from byok_shared.responder import encode

from .cache import ResolverCache, SecretCache
from .domain import Decision, decide
from .errors import KeySourceUnavailable, NotInSync
from .ports import KeySource, StateLoader

__all__ = ["NOT_LOADED", "Miss", "Ready", "Resolver"]

_INFO = subjects.RESOLVE
_ATTEMPTS = 3


class Ready(Protocol):
    """The one notion of "ready and fresh": serving, registered, and in sync with changes."""

    @property
    def fresh(self) -> bool: ...


class _AlwaysReady:
    fresh = True


class _NotLoaded:
    def __repr__(self) -> str:
        return "NOT_LOADED"


NOT_LOADED: Final = _NotLoaded()
Miss = _NotLoaded | Decision
"""What :meth:`Resolver.reply` could not answer from caches alone."""


class _NoLoader:
    async def load(self, request: Resolve) -> None:
        raise KeySourceUnavailable("This replica cannot load state; retry")


class Resolver:
    """Resolve requests against one replica's caches."""

    def __init__(
        self,
        cache: ResolverCache,
        secrets: SecretCache,
        keys: KeySource,
        catalog: Catalog,
        ready: Ready | None = None,
        *,
        loader: StateLoader | None = None,
        max_replies: int = 10_000,
    ) -> None:
        self.cache = cache
        self.secrets = secrets
        self.keys = keys
        self.catalog = catalog
        self.ready: Ready = ready or _AlwaysReady()
        self.loader: StateLoader = loader or _NoLoader()
        self.max_replies = max_replies
        self._replies: dict[tuple[object, ...], tuple[int, float, bytes]] = {}

    def check_fresh(self) -> None:
        if not self.ready.fresh:
            raise NotInSync("This resolver replica is not in sync with key changes; retry")

    def reply(self, request: Resolve) -> bytes | Miss:
        """Encoded reply from caches alone (memoised per identical request), or the miss."""
        self.check_fresh()
        scope_keys = tuple(scope.key for scope in request.chain)
        memo = (
            request.account,
            scope_keys,
            request.provider,
            request.model,
            request.source,
            request.recipient_key,
        )
        cache = self.cache
        if not cache.covers_keys(request.account, scope_keys):  # also keeps them recent
            return NOT_LOADED
        hit = self._replies.get(memo)
        if hit is not None and hit[0] == cache.generation and hit[1] > time.monotonic():
            return hit[2]
        generation = cache.generation
        decision = decide(request, cache, self.catalog)
        answer = self._answer(decision, request.recipient_key)
        if answer is None:
            return decision
        out = encode(answer)
        key = decision.key
        until = self.secrets.sealed_until(key.key_id, key.revision, request.recipient_key)
        if len(self._replies) >= self.max_replies:
            self._replies.clear()
        self._replies[memo] = (generation, until, out)
        return out

    async def complete(self, request: Resolve, miss: Miss) -> bytes:
        """Fetch what ``miss`` lacks, then decide once more (again only if state moved)."""
        for _ in range(_ATTEMPTS):
            if isinstance(miss, Decision):
                await self._fetch(miss)
            else:
                await self.loader.load(request)
            result = self.reply(request)
            if isinstance(result, bytes):
                return result
            miss = result
        raise KeySourceUnavailable("The keys of this request kept changing; retry")

    async def resolve(self, request: Resolve) -> bytes:
        """The whole path for one request (tests, callers without a fast path)."""
        result = self.reply(request)
        return result if isinstance(result, bytes) else await self.complete(request, result)

    async def _fetch(self, decision: Decision) -> None:
        generation = self.cache.generation
        material = await self.keys.unseal(decision.key.key_id)
        if self.cache.generation == generation or self.cache.still_serves(decision.key):
            self.secrets.put_material(material)
        # else the key changed while we waited: the next reply() decides again

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
