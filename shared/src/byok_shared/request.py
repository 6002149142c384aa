"""The one way to make a request over NATS: the client and every internal hop use it.

A :class:`Call` names one request operation of :data:`byok_contracts.operations.OPERATIONS`
with its request and reply models (checked against the table when the call is
defined). :class:`Requester` sends a body and returns the typed reply; every
failure becomes an error of the :mod:`byok_contracts.errors` tree, mapped here
once:

- an error reply ``{"status": "error", ...}`` -> the typed error of its ``code``,
  carrying the reply's registered ``error`` word;
- no responders, a timeout, a closed or draining connection, an unusable reply ->
  :class:`~byok_contracts.Unavailable`. A product backend's client raises it with the
  client-side words (``no_responders``, ``timeout``, ``unavailable``); an internal
  hop names the registered word its own subject answers for "my peer is gone"
  (``unavailable=``, e.g. the resolver's ``key_source_unavailable``);
- a body larger than the server's ``max_payload`` -> 400 ``payload_too_large``,
  before anything is sent.

Messages name the operation, never the body: errors never repeat what a caller sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json

from byok_contracts import ByokError, MalformedRequest, Unavailable, error_for_code
from byok_contracts.operations import operation

__all__ = ["Call", "Requester", "build", "call"]

Q = TypeVar("Q", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Call(Generic[Q, R]):
    """One request operation: its subject (maybe a ``{template}``) and its two models."""

    subject: str
    message: type[Q]
    reply: type[R]

    def body(self, fields: Mapping[str, Any]) -> Q:
        """The request model from ``fields``, as strictly as the receiving service parses it."""
        return build(self.message, fields, f"The {self.subject} body")


def call(subject: str, message: type[Q], reply: type[R]) -> Call[Q, R]:
    """The request operation at ``subject``; refuses models the contract table does not name."""
    op = operation(subject)  # KeyError for a subject the table does not hold
    if (op.kind, op.message, op.reply) != ("request", message, reply):
        raise TypeError(f"{subject} takes {op.message.__name__} -> {op.reply!r}")
    return Call(subject, message, reply)


def build(model: type[Q], fields: Mapping[str, Any], what: str = "The body") -> Q:
    """``model`` from ``fields`` through JSON, so the sender checks exactly what the receiver
    will (strict types, unknown fields refused); a 400 naming the fields, never their values.

    A ``None`` field is left out: in a request it means "not given".
    """
    given = {name: value for name, value in fields.items() if value is not None}
    try:
        return model.model_validate_json(to_json(given))
    except ValidationError as exc:
        where = ", ".join(sorted({_place(e) for e in exc.errors()}))
        raise MalformedRequest(f"{what} breaks the v1 contract at: {where}") from None


def _place(error: Any) -> str:
    """Where a field failed: the model's own path, never an unknown key the caller sent."""
    if error["type"] == "extra_forbidden":
        return "an unknown field"
    return ".".join(map(str, error["loc"])) or "body"


class Requester:
    """Typed request/reply over one NATS connection, with the error mapping above.

    ``unavailable``: the error a hop raises when its peer does not answer (a subclass of
    :class:`~byok_contracts.Unavailable` whose ``default_error`` is the registered word of
    the caller's own subject). Without it, the client-side words are used.
    """

    def __init__(
        self,
        nc: NatsClient,
        *,
        timeout: float,
        unavailable: type[Unavailable] | None = None,
    ) -> None:
        self.nc = nc
        self.timeout = timeout
        self.unavailable = unavailable

    async def request(self, op: Call[Q, R], body: Q, *, subject: str | None = None) -> R:
        """Send ``body`` on ``op`` (or on ``subject``, a concrete form of its template)."""
        payload = body.model_dump_json(exclude_none=True).encode()
        return await self.send(subject or op.subject, payload, op.reply)

    async def send(self, subject: str, payload: bytes, reply: type[R]) -> R:
        """Send encoded ``payload`` and return ``reply``; the single failure mapping."""
        limit = self.nc.max_payload
        if limit and len(payload) > limit:
            raise MalformedRequest(
                f"The body for {subject} is {len(payload)} bytes; the server accepts {limit}",
                error="payload_too_large",
            )
        try:
            msg = await self.nc.request(subject, payload, timeout=self.timeout)
        except NoRespondersError:
            raise self.failure(f"No service answers {subject}", "no_responders") from None
        except NatsTimeout:
            raise self.failure(f"No reply on {subject} within {self.timeout}s", "timeout") from None
        except NatsError:  # closed, draining, reconnect buffer full
            raise self.failure(
                f"The connection cannot carry {subject} now", "unavailable"
            ) from None
        return self._decode(subject, msg.data, reply)

    def _decode(self, subject: str, data: bytes, reply: type[R]) -> R:
        try:
            parsed = json.loads(data)
            if isinstance(parsed, dict) and parsed.get("status") == "error":
                raise error_for_code(
                    int(parsed["code"]), str(parsed["message"]), str(parsed["error"])
                )
            return reply.model_validate(parsed)
        except ByokError:
            raise
        except (ValueError, KeyError, TypeError):  # ValidationError is a ValueError
            raise self.failure(f"The reply on {subject} is unusable", "unavailable") from None

    def failure(self, message: str, client_word: str = "unavailable") -> Unavailable:
        """The 503 this requester raises when its peer gives nothing usable."""
        if self.unavailable is not None:
            return self.unavailable(message)
        return Unavailable(message, error=client_word)
