"""Pulls a durable consumer ahead of the handler: the next batch arrives while this one is debited.

``PullSubscription.fetch`` asks for a batch only when the previous one is handled, so the
ledger waited for every delivery, and it takes each message through ``next_msg`` (two
tasks and a uuid per message): about a tenth of the ledger's CPU. Here pull requests for
up to ``window`` messages are kept open on the consumer; messages land in a buffer
through one subscription callback, and ``fetch`` hands over what is buffered.

Every request carries ``expires``, so each one ends with a status (408 and the count it
did not deliver) or by being filled; the count still owed is what keeps the window from
growing. Nothing about delivery changes: the server's ``ack_wait`` and
``max_ack_pending`` rule what is redelivered, and the handler acks as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

__all__ = ["Prefetcher", "PullFailed"]


_HEARTBEAT = "100"
_ENDED = ("404", "408", "409")  # no messages, expired, cleared (leadership change...): ask again
_GONE = ("Consumer Deleted", "Consumer is push based")  # 409s that asking again cannot cure


class PullFailed(Exception):
    """The server ended a pull request with an error status (a deleted consumer, a
    leadership change): the caller's loop waits a little and pulls again."""


class Prefetcher:
    """Fetch from durable ``consumer`` of ``stream`` with pull requests kept open ahead."""

    def __init__(
        self,
        nc: NatsClient,
        stream: str,
        consumer: str,
        *,
        batch: int,
        expires: float,
        idle_after: float | None = None,
        window: int | None = None,
    ) -> None:
        self._nc = nc
        self._next = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._batch = batch
        self._expires = expires
        # How long ``fetch`` waits for a first message before reporting idle: the loop's
        # idle flush acks what was debited, so a burst's last acks need not wait ``expires``.
        self._idle_after = min(expires, idle_after or expires)
        self._window = window or 2 * batch
        self._inbox = ""
        self._sub: Subscription | None = None
        self._buffer: list[Msg] = []
        self._owed = 0  # messages asked for that are neither delivered nor known expired
        self._asked_at = 0.0
        self._ready = asyncio.Event()
        self._failure: str | None = None

    async def fetch(self) -> list[Msg]:
        """Up to ``batch`` messages, in delivery order; TimeoutError when none came within
        ``idle_after`` (the open requests stay: what they bring is for the next call)."""
        if self._sub is None:
            self._inbox = self._nc.new_inbox()
            self._sub = await self._nc.subscribe(self._inbox, cb=self._on_msg)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._idle_after
        while not self._buffer:
            await self._top_up()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError
            self._ready.clear()
            await asyncio.wait_for(self._ready.wait(), remaining)
            if self._failure is not None and not self._buffer:
                failure, self._failure = self._failure, None
                raise PullFailed(failure)  # not asked again at once: no busy loop
        msgs = self._buffer[: self._batch]
        del self._buffer[: self._batch]
        await self._top_up()  # the next batch is delivered while these are handled
        return msgs

    async def stop(self) -> None:
        """Stop receiving; what was delivered but not handled goes back at once.

        The open requests end first (at most ``expires``): one still open would take
        what is given back, or published meanwhile, to an inbox nobody reads, and the
        server would redeliver it only after ``ack_wait``.
        """
        if self._sub is not None:
            loop = asyncio.get_running_loop()
            deadline = self._asked_at + self._expires + 0.2
            while self._owed and loop.time() < deadline:
                self._ready.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ready.wait(), deadline - loop.time())
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None
        left, self._buffer = self._buffer, []
        for msg in left:
            with contextlib.suppress(Exception):
                await msg.nak()

    async def _top_up(self) -> None:
        now = asyncio.get_running_loop().time()
        if self._owed and now - self._asked_at > self._expires + 1.0:
            # Every request made by then has expired; its status was lost (a reconnect).
            self._owed = 0
        want = self._window - self._owed - len(self._buffer)
        if want < max(1, self._batch // 2):
            return  # enough is on its way: fewer, larger requests
        body = json.dumps({"batch": want, "expires": int(self._expires * 1e9)}).encode()
        await self._nc.publish(self._next, body, reply=self._inbox)
        self._owed += want
        self._asked_at = now

    async def _on_msg(self, msg: Msg) -> None:
        status = msg.headers.get("Status") if msg.headers else None
        if status is None:
            self._buffer.append(msg)
            self._owed = max(0, self._owed - 1)
        elif status != _HEARTBEAT:
            # A request ended (408 expired, 409 and the like): what it still owed is off.
            assert msg.headers is not None
            left = msg.headers.get("Nats-Pending-Messages", "")
            self._owed = max(0, self._owed - int(left)) if left.isdigit() else 0
            description = msg.headers.get("Description", "")
            if status not in _ENDED or description in _GONE:
                self._failure = f"{status} {description}".strip()
        self._ready.set()
