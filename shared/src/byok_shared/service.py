"""The service runner: one faststream app per service, with the reply guarantee.

A service module builds a :class:`Service` in its ``create_app(settings)``, builds
what its handlers need in an :meth:`Service.on_started` hook (held in an
:class:`byok_shared.edge.Started`), serves each operation it owns in the contract's
table with :meth:`Service.serve` (the table names the request model, the queue group
and the tenant check) and returns :attr:`Service.app`. Nothing connects at import
time; ``run_service`` is each ``__main__``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from typing import Any, TypeVar

import nats.errors
from faststream import FastStream
from faststream.message import StreamMessage
from faststream.nats import NatsBroker, NatsMessage
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from pydantic import BaseModel

from byok_contracts import subjects
from byok_contracts.operations import Operation, operation
from byok_contracts.v1 import Health, HealthRequest

from .connect import broker_security
from .direct import DirectResponder
from .edge import AccountCheck, account_check
from .jetstream import Bucket
from .logs import configure_logging, correlation_id, quiet_framework
from .metrics import Metrics, serve_metrics
from .provision import NotProvisioned, verify_jetstream
from .responder import respond
from .retry import with_backoff
from .settings import ByokSettings
from .tracing import telemetry_middlewares

__all__ = ["Service", "run_service"]

log = logging.getLogger(__name__)

Req = TypeVar("Req", bound=BaseModel)
D = TypeVar("D")


def _bound(
    handler: Callable[[Any, D], Awaitable[BaseModel]], deps: Callable[[], D]
) -> Callable[[Any], Awaitable[BaseModel]]:
    async def call(request: Any) -> BaseModel:
        return await handler(request, deps())

    return call


def _checked(
    handler: Callable[[Req], Awaitable[BaseModel]], check: AccountCheck, arrived_on: str
) -> Callable[[Req], Awaitable[BaseModel]]:
    """``handler`` behind the tenant check of the subject the request arrived on."""

    async def call(request: Req) -> BaseModel:
        check(arrived_on, request)
        return await handler(request)

    return call


async def keep_raw_body(msg: StreamMessage[Any]) -> Any:
    """The broker's decoder: the raw body, never decoded by the framework."""
    return msg.body


def _version() -> str:
    try:
        return version("byok-shared")
    except PackageNotFoundError:
        return "0.0.0"


class Service:
    """A byok service: broker, app, metrics, health, and request responders."""

    def __init__(
        self,
        name: str,
        settings: ByokSettings,
        *,
        extra_buckets: tuple[Bucket, ...] = (),
    ) -> None:
        self.name = name
        self.settings = settings
        self.version = _version()
        self.metrics = Metrics(name)
        self.queue = f"byok-{name}"
        quiet_framework()
        self.broker = NatsBroker(
            settings.server_urls,
            name=f"byok-{name}",
            max_reconnect_attempts=-1,
            reconnect_time_wait=1,
            log_level=logging.DEBUG,
            security=broker_security(settings),
            inbox_prefix=settings.nats_inbox_prefix,
            middlewares=telemetry_middlewares(name, settings),
            # Bodies stay bytes: byok code parses them (strictly, with depth and size
            # limits). faststream's own JSON decoding raised RecursionError on a deeply
            # nested body before any handler ran, and the caller got no reply.
            decoder=keep_raw_body,
        )
        self.app = FastStream(self.broker, logger=logging.getLogger(f"byok.{name}"))
        self._extra_buckets = extra_buckets
        self._started: list[Callable[[], Awaitable[None]]] = []
        self._stopping: list[Callable[[], Awaitable[None]]] = []
        self._direct: list[DirectResponder] = []
        self.app.on_startup(self._on_startup)
        self.app.after_startup(self._after_startup)
        self.app.on_shutdown(self._on_shutdown)
        self.serve(subjects.health("{service}"), self._health, subject=subjects.health(name))

    @property
    def nc(self) -> NatsClient:
        """The live NATS connection (after start)."""
        connection = self.broker.connection
        assert connection is not None, "the broker is not connected yet"
        return connection

    @property
    def js(self) -> JetStreamContext:
        return self.nc.jetstream()

    def serve(
        self,
        op: Operation | str,
        handler: Callable[[Any], Awaitable[BaseModel]],
        *,
        workers: int = 1,
        subject: str | None = None,
        unanswered: Callable[[bytes], Awaitable[None]] | None = None,
        direct: bool = False,
    ) -> None:
        """Serve one request operation of the contract with ``handler(request) -> reply``.

        The request model, the queue group (none for a per-replica subject) and the
        tenant check of a per-account subject come from the operations table.
        ``subject`` fills a per-replica subject in; ``workers`` requests run at once per
        replica; ``unanswered(body)`` takes a request published without a reply subject
        (by default the handler runs and the reply is dropped). ``direct`` serves it on
        a plain nats-py subscription (:mod:`byok_shared.direct`), for a latency-bound
        hop; with tracing on, faststream's subscriber serves it (it carries the spans).
        """
        row = self._row(op)
        if direct and not self.settings.otel_enabled:
            queue = None if row.per_replica else self.queue
            self._direct.append(
                DirectResponder(
                    subject or row.pattern,
                    row.message,
                    handler,
                    queue=queue,
                    workers=workers,
                    metrics=self.metrics,
                    unanswered=unanswered,
                    check=account_check(row),
                )
            )
            return
        self._subscribe(
            subject or row.pattern,
            row.message,
            handler,
            queue=None if row.per_replica else self.queue,
            workers=workers,
            unanswered=unanswered,
            check=account_check(row),
        )

    async def serve_raw(
        self,
        op: Operation | str,
        callback: Callable[[Msg], Awaitable[None]],
        *,
        subject: str | None = None,
    ) -> Subscription:
        """The fast path of a request at traffic rate (resolve): a plain nats-py
        subscription, made now, without faststream's per-message work. ``callback``
        keeps the reply guarantee itself (:func:`byok_shared.responder.guarded`); the
        caller unsubscribes it when it stops."""
        row = self._row(op)
        queue = "" if row.per_replica else self.queue
        return await self.nc.subscribe(subject or row.pattern, queue=queue, cb=callback)

    def serve_table(
        self,
        table: Mapping[str, Callable[[Any, D], Awaitable[BaseModel]]],
        deps: Callable[[], D],
        *,
        workers: int = 1,
    ) -> None:
        """Serve each ``subject: handler(request, deps)`` of ``table``; ``deps()`` is what
        the start hook built."""
        for subject, handler in table.items():
            self.serve(subject, _bound(handler, deps), workers=workers)

    def _row(self, op: Operation | str) -> Operation:
        row = op if isinstance(op, Operation) else operation(op)
        if row.kind != "request" or row.owner not in (None, self.name):
            raise ValueError(f"{self.name} does not serve {row.subject}")
        return row

    def responder(
        self,
        subject: str,
        model: type[Req],
        *,
        queue: str | None = "",
    ) -> Callable[[Callable[[Req], Awaitable[BaseModel]]], Callable[[Req], Awaitable[BaseModel]]]:
        """Register ``handler(request) -> reply`` on any ``subject`` (tests; services use
        :meth:`serve`). ``queue=None`` subscribes every replica; the default is the
        service's queue group, so replicas share the load."""

        def register(
            handler: Callable[[Req], Awaitable[BaseModel]],
        ) -> Callable[[Req], Awaitable[BaseModel]]:
            group = self.queue if queue == "" else queue
            self._subscribe(subject, model, handler, queue=group, workers=1)
            return handler

        return register

    def _subscribe(
        self,
        subject: str,
        model: type[Req],
        handler: Callable[[Req], Awaitable[BaseModel]],
        *,
        queue: str | None,
        workers: int,
        unanswered: Callable[[bytes], Awaitable[None]] | None = None,
        check: AccountCheck | None = None,
    ) -> None:
        async def subscriber(msg: NatsMessage) -> bytes | None:
            correlation_id.set(msg.correlation_id)
            if unanswered is not None and not msg.reply_to:
                await unanswered(msg.body)
                return None
            served = handler if check is None else _checked(handler, check, msg.raw_message.subject)
            return await respond(msg.body, model, served, subject=subject, metrics=self.metrics)

        subscriber.__name__ = f"{self.name}:{subject}"
        self.broker.subscriber(subject, queue=queue or "", max_workers=workers)(subscriber)

    def on_started(self, hook: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """Run ``hook`` once connected and streams exist, before the request subscribers
        join their queue groups: a replica takes no request until it is ready (a restarted
        replica must not answer its share of the traffic with "starting").

        A hook that fails with a transient JetStream error (no leader yet) runs again,
        so it must undo or tolerate what a failed run left behind."""
        self._started.append(hook)
        return hook

    def on_stopping(self, hook: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        self._stopping.append(hook)
        return hook

    async def _health(self, _: HealthRequest) -> Health:
        return Health(service=self.name, version=self.version)

    async def _on_startup(self) -> None:
        await self.broker.connect()
        # Streams and buckets are the operator's (byok_shared.provision): check, never create.
        try:
            await verify_jetstream(self.js, buckets=self._extra_buckets)
        except NotProvisioned as exc:
            log.critical("%s refuses to start: %s", self.name, exc)
            raise
        # On a cluster a start may meet a Raft group still electing its leader (a fresh
        # R3 bucket, a node that just died): retry each hook with backoff. Hooks are
        # written to be re-run after a transient failure.
        for hook in self._started:
            await with_backoff(hook, what=f"{self.name} start")
        for responder in self._direct:  # like faststream's subscribers: after the hooks
            await responder.start(self.nc)

    async def _after_startup(self) -> None:
        # A PING/PONG round trip: the server has every subscription of this replica before
        # it says "ready", so a request sent right after start finds its responder. Then
        # the server must route a request on the service's health subject: under a loaded
        # CI machine a request sent right after start once met "no responders" regardless.
        await self.nc.flush()
        await self._routable()
        serve_metrics(self.metrics, self.settings.metrics_port)
        log.info("%s ready", self.name, extra={"nats": self.settings.server_url})

    async def _routable(self, timeout: float = 10.0) -> None:
        """Wait until a request on the service's health subject is answered (no responders
        and timeouts are retried with backoff, like any start-up step).

        The subject is queue-grouped, so another replica already serving may answer: the
        probe proves the service is reachable, which is what a first replica lacked when
        "no responders" was seen, not that this replica has the route."""
        ask = partial(self.nc.request, subjects.health(self.name), b"{}", timeout=2.0)
        try:
            await with_backoff(ask, what=f"{self.name} routable", timeout=timeout)
        except nats.errors.Error:
            log.warning("%s: its health subject is not answered yet", self.name)

    async def _on_shutdown(self) -> None:
        for responder in self._direct:  # the requests in flight finish before the hooks
            await responder.stop()
        for hook in reversed(self._stopping):
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook failed")


def run_service(name: str, create_app: Callable[[ByokSettings], Any]) -> None:
    """Entry point of a service process: settings, logging, run until SIGINT/SIGTERM."""
    settings = ByokSettings()
    configure_logging(name, settings.log_level, settings.log_format)
    app: FastStream = create_app(settings)
    try:
        # faststream's "app starting / started / shutting down" lines at DEBUG: the
        # service says "ready" itself, once it is.
        asyncio.run(app.run(log_level=logging.DEBUG))
    except NotProvisioned:
        raise SystemExit(78) from None  # EX_CONFIG; the reason is logged above
    except (nats.errors.ConnectionReconnectingError, nats.errors.ConnectionClosedError):
        # Stopped while the server was gone: nothing in flight could be sent anyway.
        log.warning("%s stopped while NATS was unreachable", name)
