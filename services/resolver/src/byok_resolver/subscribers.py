"""``byok.v1.resolve`` on a raw nats-py subscription: decode -> decide -> reply.

The subject runs at request rate, so it skips faststream's per-message
machinery but keeps its guarantees: strict validation, every request gets a
reply (malformed -> 400), metrics per reply code. The body is parsed once. A
request the caches cannot answer yet (a cold scope, key material not cached)
continues in its own task with what was missing, so it never holds up the others.
"""

from __future__ import annotations

import asyncio
import logging
import time

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from byok_contracts import ByokError, subjects
from byok_contracts.operations import operation
from byok_contracts.v1 import Resolve
from byok_shared.edge import AccountCheck, account_check
from byok_shared.metrics import Metrics
from byok_shared.responder import error_bytes, guarded, parse_request

from .handlers import Miss, Resolver

__all__ = ["ResolveSubscriber"]

log = logging.getLogger(__name__)

SUBJECT = subjects.RESOLVE
_CHECK_ACCOUNT = account_check(operation(subjects.resolve_for("{account}")))


class ResolveSubscriber:
    """The callback of the resolve subscription."""

    def __init__(self, nc: NatsClient, resolver: Resolver, metrics: Metrics) -> None:
        self.nc = nc
        self.resolver = resolver
        self.metrics = metrics
        # Bound once: label lookups cost more than the observation itself.
        self._ok = metrics.requests.labels(metrics.service, SUBJECT, "200")
        self._latency = metrics.latency.labels(metrics.service, SUBJECT)
        self._hits = metrics.cache_hits.labels(metrics.service)
        self._misses = metrics.cache_misses.labels(metrics.service)
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, msg: Msg) -> None:
        await self._handle(msg, None)

    async def handle_for_account(self, msg: Msg) -> None:
        """``byok.v1.resolve.<account>``: the body's account must be the subject's."""
        await self._handle(msg, _CHECK_ACCOUNT)

    async def _handle(self, msg: Msg, check: AccountCheck | None) -> None:
        reply = msg.reply
        if not reply:
            return
        started = time.perf_counter()
        try:
            request = parse_request(msg.data, Resolve)
            if check is not None:
                check(msg.subject, request)
            out = self.resolver.reply(request)
        except ByokError as exc:
            await self.nc.publish(reply, error_bytes(exc))
            self.metrics.observe_request(SUBJECT, exc.code, time.perf_counter() - started)
            return
        except Exception as exc:  # a bug: the 500 of the error contract, logged once
            out = await guarded(
                _failed(exc), subject=SUBJECT, metrics=self.metrics, started=started
            )
            await self.nc.publish(reply, out)
            return
        if not isinstance(out, bytes):
            self._misses.inc()
            task = asyncio.create_task(self._slow(request, out, reply, started))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        await self.nc.publish(reply, out)
        self._hits.inc()
        self._ok.inc()
        self._latency.observe(time.perf_counter() - started)

    async def _slow(self, request: Resolve, miss: Miss, reply: str, started: float) -> None:
        work = self.resolver.complete(request, miss)
        out = await guarded(work, subject=SUBJECT, metrics=self.metrics, started=started)
        try:
            await self.nc.publish(reply, out)
        except Exception:
            log.warning("could not send a resolve reply", exc_info=True)

    async def drain(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _failed(exc: Exception) -> bytes:
    raise exc
