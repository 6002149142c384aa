"""The stored shapes of usage aggregates: one dimension's day, its day totals, its request ids.

- ``day.<digest(dim)>.<day>``: ``{"seq", "minutes": {minute: {model: sums}}}``, the minute
  record (edge days of a window are answered from it). Records written before the totals
  and request records existed may also hold ``requests`` (account days only).
- ``tot.<digest(dim)>.<day>``: ``{"seq", "models": {model: sums}}``, the day's totals per
  model, written in the same flush as the minute record (whole days of a window).
- ``req.<digest(account)>.<day>``: ``{request id digest: stream sequence}``, the dedupe
  of an account's day; only the consumer reads it.

``sums`` are ``[calls, input tokens, output tokens, usd, priced calls]``; usd is stored as
a decimal string. In memory a day record keeps its stored minutes as the compact JSON bytes
and only the calls added since as objects: a dense day costs its bytes, not a dict per minute.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from .domain import Call

__all__ = ["DayRecord", "Minutes", "Sums", "Totals", "add_into", "load_totals", "merge_minutes"]

Sums = list[int | Decimal]  # [calls, input tokens, output tokens, usd, priced calls]
Totals = dict[str, Sums]  # per model
Minutes = dict[int, Totals]  # per minute, per model

_COMPACT = (",", ":")


def zero() -> Sums:
    return [0, 0, 0, Decimal(0), 0]


def add_into(into: Totals, model: str, sums: Sums) -> None:
    target = into.get(model)
    if target is None:
        target = into[model] = zero()
    for i in range(5):
        target[i] += sums[i]


def _sums_of(raw: list[Any]) -> Sums:
    return [int(raw[0]), int(raw[1]), int(raw[2]), Decimal(raw[3]), int(raw[4])]


def _dump_sums(s: Sums) -> list[Any]:
    return [*s[:3], str(s[3]), s[4]]


def _minutes_of(data: dict[str, Any]) -> Minutes:
    return {
        int(m): {model: _sums_of(s) for model, s in models.items()}
        for m, models in data.get("minutes", {}).items()
    }


def totals_of(minutes: Minutes) -> Totals:
    out: Totals = {}
    for models in minutes.values():
        for model, sums in models.items():
            add_into(out, model, sums)
    return out


def merge_minutes(into: Minutes, more: Minutes) -> None:
    for minute, models in more.items():
        target = into.setdefault(minute, {})
        for model, sums in models.items():
            add_into(target, model, sums)


def _dump_minutes(minutes: Minutes) -> bytes:
    return json.dumps(
        {m: {model: _dump_sums(s) for model, s in models.items()} for m, models in minutes.items()},
        separators=_COMPACT,
    ).encode()


def load_totals(raw: bytes) -> Totals:
    return {model: _sums_of(s) for model, s in json.loads(raw)["models"].items()}


def requests_of_old_day(raw: bytes | None) -> dict[str, int]:
    """The request ids an account day record of the previous layout carried (upgrade)."""
    if not raw:
        return {}
    return {str(k): int(v) for k, v in json.loads(raw).get("requests", {}).items()}


_HEAD = re.compile(rb'\{"seq":(\d+),"last":(-?\d+),"minutes":')


@dataclass
class DayRecord:
    """One dimension's day: stored minutes (bytes), minutes added since, day totals.

    ``last`` is the latest stored minute: calls mostly arrive in time order, so the
    minutes added since are usually all later and are appended to the stored bytes as
    they are, without reading them back (otherwise the two are merged)."""

    seq: int = 0
    stored: bytes = b"{}"  # the stored minutes, compact JSON
    last: int = -1
    added: Minutes = field(default_factory=dict)  # calls counted since ``stored``
    totals: Totals = field(default_factory=dict)

    def add(self, minute: int, call: Call) -> None:
        sums: Sums = [
            1,
            call.input_tokens,
            call.output_tokens,
            call.usd if call.usd is not None else Decimal(0),
            1 if call.usd is not None else 0,
        ]
        add_into(self.added.setdefault(minute, {}), call.model, sums)
        add_into(self.totals, call.model, sums)

    def minutes(self) -> Minutes:
        out = {
            int(m): {model: _sums_of(s) for model, s in models.items()}
            for m, models in json.loads(self.stored).items()
        }
        merge_minutes(out, self.added)
        return out

    def dump(self) -> tuple[bytes, bytes]:
        """The minute record and the totals record; the calls added are folded in."""
        if self.added:
            if min(self.added) > self.last:
                more = _dump_minutes(self.added)
                self.stored = more if self.stored == b"{}" else self.stored[:-1] + b"," + more[1:]
            else:
                self.stored = _dump_minutes(self.minutes())
            self.last = max(self.last, *self.added)
            self.added = {}
        day = b'{"seq":%d,"last":%d,"minutes":%s}' % (self.seq, self.last, self.stored)
        models = {model: _dump_sums(s) for model, s in self.totals.items()}
        tot = json.dumps({"seq": self.seq, "models": models}, separators=_COMPACT).encode()
        return day, tot

    @classmethod
    def load(cls, raw: bytes, tot: bytes | None = None) -> DayRecord:
        """From a stored minute record and its totals record, read without parsing the
        minutes when both are of this layout and agree (a crash between the two writes
        leaves them apart); otherwise from the minutes. Request ids are not kept here."""
        head = _HEAD.match(raw)
        if head is not None and tot and raw.endswith(b"}"):
            data = json.loads(tot)
            if int(data["seq"]) == int(head[1]):
                totals = {model: _sums_of(s) for model, s in data["models"].items()}
                return cls(int(head[1]), raw[head.end() : -1], int(head[2]), {}, totals)
        full = json.loads(raw)
        minutes = _minutes_of(full)
        return cls(
            int(full["seq"]),
            _dump_minutes(minutes),
            max(minutes, default=-1),
            {},
            totals_of(minutes),
        )

    @staticmethod
    def minutes_of(raw: bytes) -> Minutes:
        return _minutes_of(json.loads(raw))
