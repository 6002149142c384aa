"""A request operation served on a plain nats-py subscription (``Service.serve(direct=True)``).

faststream's per-message work costs about a millisecond per hop on a busy machine:
its dependency injection hands the ``message`` argument to a worker thread, and a
task group and the middleware chain run around every call. A request on the hot
path of a use case that crosses several services (``keys.configure``: client ->
key-vault -> validator) pays it on each hop. :class:`DirectResponder` keeps what
the faststream subscriber of :class:`byok_shared.service.Service` does (decode with
:func:`respond`, the tenant check, ``workers`` at once, the queue group, the
correlation id, the request metrics, ``unanswered`` for a request without a reply
subject) and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel

from .edge import AccountCheck
from .logs import correlation_id
from .metrics import Metrics
from .responder import respond

__all__ = ["DirectResponder"]

log = logging.getLogger(__name__)


class DirectResponder:
    """``handler(request) -> reply`` on ``subject``; subscribed by :meth:`start`."""

    def __init__(
        self,
        subject: str,
        model: type[BaseModel],
        handler: Callable[[Any], Awaitable[BaseModel]],
        *,
        queue: str | None,
        workers: int,
        metrics: Metrics,
        unanswered: Callable[[bytes], Awaitable[None]] | None = None,
        check: AccountCheck | None = None,
    ) -> None:
        self.subject = subject
        self._model = model
        self._handler = handler
        self._queue = queue or ""
        self._workers = max(1, workers)
        self._slots = asyncio.Semaphore(self._workers)
        self._metrics = metrics
        self._unanswered = unanswered
        self._check = check
        self._tasks: set[asyncio.Task[None]] = set()
        self._sub: Subscription | None = None

    async def start(self, nc: NatsClient) -> None:
        if self._sub is not None:  # already serving (a second start of the same app)
            return
        self._sub = await nc.subscribe(self.subject, queue=self._queue, cb=self._on_msg)

    async def stop(self) -> None:
        """No new request; the ones in flight finish (and reply)."""
        if self._sub is not None:
            sub, self._sub = self._sub, None
            try:
                await sub.unsubscribe()
            except Exception:  # the connection is already gone: nothing more arrives
                log.debug("unsubscribe failed on %s", self.subject, exc_info=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_msg(self, msg: Msg) -> None:
        if self._workers == 1:  # in order, like one faststream worker
            await self._serve(msg)
            return
        await self._slots.acquire()  # back pressure: the subscription waits for a slot
        task = asyncio.create_task(self._serve(msg))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _serve(self, msg: Msg) -> None:
        headers = msg.headers or {}
        correlation_id.set(headers.get("correlation_id") or uuid.uuid4().hex)
        try:
            if not msg.reply and self._unanswered is not None:
                await self._unanswered(msg.data)
                return
            out = await respond(
                msg.data,
                self._model,
                self._call(msg.subject),
                subject=self.subject,
                metrics=self._metrics,
            )
            if msg.reply:
                await msg.respond(out)
        except Exception:  # respond() never raises; the reply or the unanswered path may
            log.exception("request on %s not answered", self.subject)

    def _call(self, arrived_on: str) -> Callable[[Any], Awaitable[BaseModel]]:
        check = self._check
        if check is None:
            return self._handler

        async def checked(request: Any) -> BaseModel:
            check(arrived_on, request)
            return await self._handler(request)

        return checked
