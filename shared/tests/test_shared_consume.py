"""The shared pull loop: batches handed over in order, a flush when idle and on stop,
fetch failures retried, and acks that fail only mean a redelivery."""

from __future__ import annotations

import asyncio

import nats.errors
import pytest
from nats.aio.msg import Msg

from byok_shared.consume import PullLoop, settle, stream_seq


class Feed:
    """Two batches, then a broken fetch, then idle forever."""

    def __init__(self) -> None:
        self.batches: list[list[Msg]] = [[Msg(None, data=b"1")], [Msg(None, data=b"2")]]  # type: ignore[arg-type]
        self.broke = False

    async def fetch(self) -> list[Msg]:
        await asyncio.sleep(0)
        if self.batches:
            return self.batches.pop(0)
        if not self.broke:
            self.broke = True
            raise nats.errors.ConnectionClosedError
        raise nats.errors.TimeoutError


async def test_the_loop_hands_batches_over_and_flushes_when_idle_and_on_stop() -> None:
    feed = Feed()
    handled: list[bytes] = []
    flushes: list[bool] = []
    went_idle = asyncio.Event()

    async def handle(msgs: list[Msg]) -> None:
        handled.extend(m.data for m in msgs)

    async def flush(*, idle: bool = False) -> None:
        flushes.append(idle)
        if idle:
            went_idle.set()

    loop = PullLoop("test-consumer", feed.fetch, handle, flush, flush_interval=3600)
    loop.start()
    await asyncio.wait_for(went_idle.wait(), timeout=5)  # after the retried fetch failure
    await loop.stop()
    assert handled == [b"1", b"2"]
    assert feed.broke
    assert flushes[0] is False  # the first batch is flushed at once (then every hour)
    assert True in flushes
    assert flushes[-1] is False  # stop flushes what was handled


async def test_a_lost_ack_is_not_an_error() -> None:
    async def lost() -> None:
        raise nats.errors.ConnectionClosedError

    await settle(lost())  # logged at debug: the message is redelivered, a no-op


@pytest.mark.parametrize("msg", [Msg(None, data=b"")])  # type: ignore[arg-type]
def test_a_core_message_has_no_stream_sequence(msg: Msg) -> None:
    assert stream_seq(msg) is None
