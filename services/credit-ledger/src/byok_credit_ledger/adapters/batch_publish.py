"""Many JetStream publishes awaited together: one inbox subscription, one future per batch.

``js.publish`` awaits each message on its own (a future, a timer and an inbox
token per message), which is most of what a debit costs in Python. A batch of
request-index claims needs every outcome at once, so the messages go out
back to back with reply subjects ``<inbox>.<batch>.<i>`` and one callback
collects the acks.

:meth:`BatchPublisher.publish_atomic` sends a JetStream atomic batch instead
(``Nats-Batch-Id``/``-Sequence``/``-Commit``, a stream with ``allow_atomic``):
every message is stored or none is, and only the commit is acknowledged, so
receiving the acks no longer costs one message per publish.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import count

from nats import nuid
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from ..errors import JournalUnavailable

__all__ = ["MAX_ATOMIC", "BatchPublisher", "Published"]

MAX_ATOMIC = 1000  # messages in one atomic batch (the server's default ceiling)

# A publish whose ack does not say otherwise: no stream took it (no responders), or it
# was refused without an error code.
UNKNOWN_ERROR = -1


@dataclass(frozen=True, slots=True)
class Published:
    """The ack of one message: stored (``error`` None), or the server's ``err_code``."""

    error: int | None = None


_STORED = Published()


@dataclass
class _Batch:
    results: list[Published | None]
    missing: int
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class BatchPublisher:
    def __init__(self, nc: NatsClient, *, timeout: float = 5.0) -> None:
        self._nc = nc
        self._timeout = timeout
        self._inbox = ""
        self._sub: Subscription | None = None
        self._batches: dict[str, _Batch] = {}
        self._ids = count()
        self._subscribing = asyncio.Lock()

    async def publish(
        self, messages: Sequence[tuple[str, bytes, dict[str, str]]]
    ) -> list[Published]:
        """Publish ``(subject, payload, headers)`` in order; every ack, in the same order.

        Raises ``JournalUnavailable`` when an ack does not come in time (the
        outcome of the messages without one is unknown).
        """
        if not messages:
            return []
        await self._subscribe()
        name = str(next(self._ids))
        batch = _Batch([None] * len(messages), len(messages))
        self._batches[name] = batch
        prefix = f"{self._inbox}.{name}."
        try:
            for i, (subject, payload, headers) in enumerate(messages):
                await self._nc.publish(subject, payload, reply=f"{prefix}{i}", headers=headers)
            await asyncio.wait_for(batch.done, self._timeout)
        except TimeoutError as exc:
            raise JournalUnavailable(
                f"{batch.missing} of {len(messages)} publishes not acknowledged"
            ) from exc
        except Exception as exc:
            raise JournalUnavailable(f"publish failed: {exc!r}") from exc
        finally:
            del self._batches[name]
        return [result or Published(error=UNKNOWN_ERROR) for result in batch.results]

    async def publish_atomic(
        self, messages: Sequence[tuple[str, bytes, dict[str, str]]]
    ) -> Published:
        """Publish ``messages`` as one atomic batch: the commit's ack (``error`` None when
        every message is stored; otherwise none is). At most :data:`MAX_ATOMIC` messages.

        Raises ``JournalUnavailable`` when the ack does not come in time (whether the
        batch was committed is unknown).
        """
        assert 0 < len(messages) <= MAX_ATOMIC
        await self._subscribe()
        name = str(next(self._ids))
        batch = _Batch([None], 1)
        self._batches[name] = batch
        batch_id = nuid.NUID().next().decode()
        last = len(messages) - 1
        try:
            for i, (subject, payload, headers) in enumerate(messages):
                marks = {"Nats-Batch-Id": batch_id, "Nats-Batch-Sequence": str(i + 1)}
                if i == last:
                    marks["Nats-Batch-Commit"] = "1"
                reply = f"{self._inbox}.{name}.0" if i == last else ""
                await self._nc.publish(subject, payload, reply=reply, headers=headers | marks)
            await asyncio.wait_for(batch.done, self._timeout)
        except TimeoutError as exc:
            raise JournalUnavailable("atomic batch not acknowledged") from exc
        except Exception as exc:
            raise JournalUnavailable(f"publish failed: {exc!r}") from exc
        finally:
            del self._batches[name]
        return batch.results[0] or Published(error=UNKNOWN_ERROR)

    async def _subscribe(self) -> None:
        if self._sub is not None:
            return
        async with self._subscribing:  # concurrent first publishes share one inbox
            if self._sub is None:
                inbox = self._nc.new_inbox()
                self._sub = await self._nc.subscribe(f"{inbox}.>", cb=self._on_ack)
                self._inbox = inbox

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
            self._sub = None

    async def _on_ack(self, msg: Msg) -> None:
        name, _, index = msg.subject[len(self._inbox) + 1 :].partition(".")
        batch = self._batches.get(name)
        if batch is None or not index.isdigit():
            return  # a late ack of a batch that timed out
        i = int(index)
        if i >= len(batch.results) or batch.results[i] is not None:
            return
        batch.results[i] = _parse(msg.data)
        batch.missing -= 1
        if batch.missing == 0 and not batch.done.done():
            batch.done.set_result(None)


def _parse(data: bytes) -> Published:
    if data.startswith(b'{"stream"') and b'"error"' not in data:
        return _STORED  # the common case, without decoding the ack (only errors matter here)
    try:
        ack = json.loads(data) if data else {}
    except ValueError:
        return Published(error=UNKNOWN_ERROR)
    if not isinstance(ack, dict):
        return Published(error=UNKNOWN_ERROR)
    error = ack.get("error")
    if isinstance(error, dict):
        code = error.get("err_code")
        return Published(error=code if isinstance(code, int) else UNKNOWN_ERROR)
    return _STORED if isinstance(ack.get("seq"), int) else Published(error=UNKNOWN_ERROR)
