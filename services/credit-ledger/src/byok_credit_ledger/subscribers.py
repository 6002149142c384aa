"""Edges of the ledger: request responders and the ``usage.recorded`` consumer.

They translate (decode, call a handler, reply or ack); the rules are in
:mod:`handlers` and :mod:`domain`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import Counter, defaultdict, deque
from collections.abc import Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError

from byok_contracts import subjects
from byok_contracts.v1 import UsageRecorded
from byok_shared import Metrics, Service
from byok_shared.consume import PullLoop
from byok_shared.consume import settle as _settle
from byok_shared.consume import stream_seq as _seq
from byok_shared.jetstream import STREAM_USAGE, usage_consumer

from .adapters.prefetch import Prefetcher
from .config import LedgerConfig
from .domain import debited_ids
from .handlers import Ledger, PreparedDebit

__all__ = ["UsageConsumer", "register"]

log = logging.getLogger(__name__)

# Fetched batches being debited at once: the next batch is parsed and claimed while the
# previous one is appended (each account's appends stay in stream order).
_BATCHES_IN_FLIGHT = 2


def register(service: Service, ledger: Callable[[], Ledger]) -> None:
    """Serve the ledger's requests; ``ledger()`` is the ledger the start hook built."""
    service.serve(subjects.LEDGER_GRANT, lambda cmd: ledger().grant(cmd))
    service.serve(subjects.LEDGER_BALANCE, lambda req: ledger().balance(req))
    service.serve(subjects.LEDGER_VERIFY, lambda req: ledger().verify(req))


class UsageConsumer:
    """Pulls ``byok.v1.usage.recorded`` from the shared durable consumer and debits.

    A message is acked only after its debit is in the journal (or known to be
    there already); anything else is left for redelivery, which the ledger
    turns into a no-op for a request_id it has debited.
    """

    def __init__(
        self, js: JetStreamContext, ledger: Ledger, config: LedgerConfig, metrics: Metrics
    ) -> None:
        self._js = js
        self._ledger = ledger
        self._config = config
        self._metrics = metrics
        self._loop: PullLoop | None = None
        self._sub: JetStreamContext.PullSubscription | None = None
        self._prefetch: Prefetcher | None = None
        self._unacked: list[Msg] = []  # debited, acked once their effects are published
        self._tails: dict[str, asyncio.Task[None]] = {}  # account -> its latest debit task
        self._batches: deque[asyncio.Future[list[BaseException | None]]] = deque()

    async def start(self) -> None:
        config = self._config
        self._sub = await usage_consumer(
            self._js,
            config.durable,
            ack_wait=config.ack_wait,
            max_ack_pending=config.max_ack_pending,
        )
        # The durable is made (or bound) by ``usage_consumer``; batches are pulled ahead.
        self._prefetch = prefetch = Prefetcher(
            self._js._nc,
            STREAM_USAGE,
            config.durable,
            batch=config.batch,
            # short-lived requests: a stop waits for its open ones to end (see stop)
            expires=min(config.fetch_timeout, 4 * config.flush_interval),
            idle_after=config.flush_interval,
        )
        self._loop = PullLoop(
            "ledger-usage-consumer",
            prefetch.fetch,
            self.handle,
            self._flush,
            flush_interval=config.flush_interval,
        )
        self._loop.start()

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()
        if self._batches:  # debits still in flight: let them land, then publish and ack
            await asyncio.wait(self._batches)
            await self._flush()
        if self._prefetch is not None:
            await self._prefetch.stop()
        if self._sub is not None:
            # An open pull request would hold the connection's drain until it times out.
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()

    async def handle(self, msgs: list[Msg]) -> None:
        """Debit a batch: accounts in parallel, one journal append per account.

        Each account's calls are claimed in the index at once, then go into one entry,
        appended after that account's entry of the previous batch (stream order). The
        previous batch may still be in flight when this one starts: ``handle`` returns
        once at most ``_BATCHES_IN_FLIGHT`` are. Messages are acked after the effects
        of their debits are published (:meth:`_flush`).
        """
        by_account: defaultdict[str, list[tuple[Msg, UsageRecorded]]] = defaultdict(list)
        for msg in msgs:
            try:
                usage = UsageRecorded.model_validate_json(msg.data)
            except ValidationError:
                log.error("dropping malformed usage event (stream seq %s)", _seq(msg))
                self._metrics.count_event(subjects.USAGE_RECORDED, "malformed")
                await _settle(msg.term())
                continue
            by_account[usage.account].append((msg, usage))
        tasks = []
        for account, items in by_account.items():
            task = asyncio.create_task(self._debit_in_order(items, self._tails.get(account)))
            task.add_done_callback(functools.partial(self._untail, account))
            self._tails[account] = task
            tasks.append(task)
        if tasks:
            self._batches.append(asyncio.gather(*tasks, return_exceptions=True))
        while len(self._batches) >= _BATCHES_IN_FLIGHT or (
            self._batches and self._batches[0].done()
        ):
            # shielded: a stop cancels the loop, not a debit halfway through its append
            failures = await asyncio.shield(self._batches[0])
            self._batches.popleft()
            for failure in failures:
                if failure is not None:
                    log.error("usage debit failed; left for redelivery", exc_info=failure)

    def _untail(self, account: str, task: asyncio.Task[None]) -> None:
        if self._tails.get(account) is task:
            del self._tails[account]

    async def _debit_in_order(
        self, items: list[tuple[Msg, UsageRecorded]], after: asyncio.Task[None] | None
    ) -> None:
        """One account's messages: claims in parallel, then one append for all of them,
        once the account's previous debit (``after``) is done."""
        prepared = await self._ledger.prepare_many([usage for _, usage in items])
        ready: list[tuple[Msg, PreparedDebit]] = []
        for (msg, usage), outcome in zip(items, prepared, strict=True):
            if isinstance(outcome, Exception):
                log.warning("debit of %s deferred (%r)", usage.request_id, outcome)
                await _settle(msg.nak(delay=1.0))
            else:
                ready.append((msg, outcome))
        if after is not None:
            await asyncio.wait([after])  # its failures are its own: it naks what it left
        try:
            entry = await self._ledger.debit_many([call for _, call in ready])
        except Exception as exc:  # nothing acked: every message comes back, a no-op if debited
            log.warning("debits of %d calls deferred (%r)", len(ready), exc)
            for msg, _ in ready:
                await _settle(msg.nak(delay=1.0))
            return
        applied = set(debited_ids(entry)) if entry is not None else set()
        outcomes: Counter[str] = Counter()
        for msg, call in ready:
            rid = call.usage.request_id
            if rid in applied:
                applied.discard(rid)
                outcomes["applied"] += 1
            else:
                outcomes["byok" if call.charge.source == "byok" else "duplicate"] += 1
            self._unacked.append(msg)
        self._count(outcomes)
        if ready:  # the oldest message of the batch stands for it
            with contextlib.suppress(Exception):  # metadata is absent on core messages
                self._metrics.observe_lag(subjects.USAGE_RECORDED, ready[0][0].metadata.timestamp)

    def _count(self, outcomes: Counter[str]) -> None:
        """Per outcome, not per message: the batch is counted once."""
        metrics, service = self._metrics, self._metrics.service
        for debit, n in outcomes.items():
            counted = "debited" if debit == "applied" else "no_debit"
            metrics.events.labels(service, subjects.USAGE_RECORDED, counted).inc(n)
            metrics.ledger_debits.labels(service, debit).inc(n)

    async def _flush(self, *, idle: bool = False) -> None:
        """Publish due effects (and snapshot), then ack the messages they follow.

        Only messages debited before the flush starts are acked by it: debits of the
        batches in flight may land meanwhile, with effects this flush may not include.
        """
        done, self._unacked = self._unacked, []
        try:
            if self._ledger.pending_effects or done:
                await self._ledger.flush()
            if idle:
                await self._ledger.checkpoint_all()
        except Exception as exc:
            log.warning("credit state not published yet (%r); will retry", exc)
            self._unacked[:0] = done
            return
        for msg in done:
            await _settle(msg.ack())
