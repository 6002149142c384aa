"""The stored shapes of usage aggregates: a dimension's months, days and hours, its request ids.

- ``mon.<digest(dim)>.<month>``: ``{"seq", "days": {day: {model: sums}}}``, the totals of
  each day of a calendar month (whole days of a window). A window of a month reads one or
  two of them: one a dimension rewrites as it goes lives in the newest blocks of the
  bucket's stream, where 30 day records would be spread over 30 blocks the server must
  load from disk when cold (the first query after a restart).
- ``tot.<digest(dim)>.<day>``: ``{"seq", "models": {model: sums}, "hours": {hour: {model:
  sums}}}``, the day's totals and each hour's (the days a window cuts through).
- ``min.<digest(dim)>.<hour>``: ``{"seq", "minutes": {minute: {model: sums}}}``, the minute
  record of one hour (the at most two hours a window cuts through). A flush writes only the
  hours that changed, so neither a flush nor a query pays for a dense day's other hours.
- ``req.<digest(account)>.<day>``: ``{request id digest: stream sequence}``, the dedupe
  of an account's day; only the consumer reads it.

Days first stored by earlier code have a ``day.<digest(dim)>.<day>`` minute record of the
whole day (``{"seq", "minutes", ...}``, account days may hold ``requests`` too) and a totals
record without ``hours``, or none, and no month record names them: such a day is read from
its own records, and the first call counted in it moves the day to this layout
(:meth:`Day.from_legacy`) and into its month record.

``seq`` is the last stream sequence a record includes; each record has its own, so a
crash between two writes of a flush is repaired by the replay (a record skips what it has).
``sums`` are ``[calls, input tokens, output tokens, usd, priced calls]``; usd is stored as
a decimal string.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

__all__ = [
    "DAY",
    "HOUR",
    "Day",
    "DayTotals",
    "HourRecord",
    "Minutes",
    "Month",
    "Sums",
    "Totals",
    "add_into",
    "day_key",
    "digest",
    "hour_totals",
    "legacy_minutes",
    "minute_of",
    "month_of",
    "requests_of_old_day",
    "totals_of",
    "window_totals",
]

Sums = list[int | Decimal]  # [calls, input tokens, output tokens, usd, priced calls]
Totals = dict[str, Sums]  # per model
Minutes = dict[int, Totals]  # per minute (or hour), per model

_COMPACT = (",", ":")
HOUR = 60  # minutes
DAY = 1440  # minutes
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = date(1970, 1, 1)


@lru_cache(maxsize=65_536)
def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def minute_of(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds() // 60)


def day_key(dim: str, period: int) -> str:
    """``<dim digest>.<day or month>``: a record's key after its kind."""
    return f"{digest(dim)}.{period}"


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


def _load_totals(raw: dict[str, Any]) -> Totals:
    return {model: _sums_of(s) for model, s in raw.items()}


def _load_keyed(raw: dict[str, Any]) -> Minutes:
    return {int(k): _load_totals(models) for k, models in raw.items()}


def _dump_totals(totals: Totals) -> dict[str, Any]:
    return {model: _dump_sums(s) for model, s in totals.items()}


def _dump_keyed(keyed: Minutes) -> dict[str, Any]:
    return {str(k): _dump_totals(models) for k, models in keyed.items()}


def totals_of(minutes: Minutes) -> Totals:
    out: Totals = {}
    for models in minutes.values():
        for model, sums in models.items():
            add_into(out, model, sums)
    return out


def legacy_minutes(raw: bytes) -> tuple[int, Minutes]:
    """The stream sequence and the minutes of a whole-day ``day.`` record (earlier code)."""
    data = json.loads(raw)
    return int(data["seq"]), _load_keyed(data.get("minutes", {}))


def month_of(day: int) -> int:
    """The calendar month (``year * 12 + month - 1``) of a day counted from 1970-01-01."""
    moment = _EPOCH_DAY + timedelta(days=day)
    return moment.year * 12 + moment.month - 1


def requests_of_old_day(raw: bytes | None) -> dict[str, int]:
    """The request ids an account day record of the first layout carried (upgrade)."""
    if not raw:
        return {}
    return {str(k): int(v) for k, v in json.loads(raw).get("requests", {}).items()}


def hour_totals(minutes: Minutes) -> Minutes:
    """Per hour totals of minutes (for a day of an earlier layout)."""
    out: Minutes = {}
    for minute, models in minutes.items():
        target = out.setdefault(minute // HOUR, {})
        for model, sums in models.items():
            add_into(target, model, sums)
    return out


def window_totals(hours: Minutes, minutes: Minutes, lo: int | None, hi: int | None) -> Totals:
    """The totals of ``lo <= minute < hi``: whole hours from ``hours``, the hours the
    window cuts through from ``minutes`` (which must hold theirs)."""
    out: Totals = {}
    for hour, models in hours.items():
        start, end = hour * HOUR, (hour + 1) * HOUR
        if (lo is not None and end <= lo) or (hi is not None and start >= hi):
            continue
        if (lo is None or lo <= start) and (hi is None or end <= hi):
            for model, sums in models.items():
                add_into(out, model, sums)
            continue
        inside = {
            m: per_model
            for m, per_model in minutes.items()
            if start <= m < end and (lo is None or m >= lo) and (hi is None or m < hi)
        }
        for model, sums in totals_of(inside).items():
            add_into(out, model, sums)
    return out


@dataclass
class HourRecord:
    """The minutes of one dimension's hour (at most 60 of them, whatever the call rate)."""

    seq: int = 0
    minutes: Minutes = field(default_factory=dict)

    def dump(self) -> bytes:
        body = {"seq": self.seq, "minutes": _dump_keyed(self.minutes)}
        return json.dumps(body, separators=_COMPACT).encode()

    @classmethod
    def load(cls, raw: bytes | None) -> HourRecord:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(int(data["seq"]), _load_keyed(data["minutes"]))


@dataclass
class DayTotals:
    """A dimension's day: totals per model and per hour (at most 24 hours)."""

    seq: int = 0
    models: Totals = field(default_factory=dict)
    hours: Minutes = field(default_factory=dict)

    def dump(self) -> bytes:
        body = {
            "seq": self.seq,
            "models": _dump_totals(self.models),
            "hours": _dump_keyed(self.hours),
        }
        return json.dumps(body, separators=_COMPACT).encode()

    @classmethod
    def load(cls, raw: bytes | None) -> DayTotals | None:
        """The totals, or None for a record of an earlier layout (no hours) or none."""
        if not raw:
            return None
        data = json.loads(raw)
        if "hours" not in data:
            return None
        return cls(int(data["seq"]), _load_totals(data["models"]), _load_keyed(data["hours"]))

    @staticmethod
    def models_of(raw: bytes) -> Totals:
        """The day's totals per model, of this layout or the one before (no hours)."""
        return _load_totals(json.loads(raw)["models"])


@dataclass
class Day:
    """The consumer's copy of a dimension's day: its totals and the hours it has loaded."""

    totals: DayTotals = field(default_factory=DayTotals)
    hours: dict[int, HourRecord] = field(default_factory=dict)
    dirty_hours: set[int] = field(default_factory=set)

    def add(self, minute: int, model: str, sums: Sums, seq: int) -> bool:
        """Count ``sums`` (stream sequence ``seq``) into each record that lacks it; the
        hour's record must be loaded. False when every record had it (a replay)."""
        hour = minute // HOUR
        record = self.hours[hour]
        changed = False
        if record.seq < seq:
            add_into(record.minutes.setdefault(minute, {}), model, sums)
            record.seq = seq
            self.dirty_hours.add(hour)
            changed = True
        if self.totals.seq < seq:
            add_into(self.totals.models, model, sums)
            add_into(self.totals.hours.setdefault(hour, {}), model, sums)
            self.totals.seq = seq
            changed = True
        return changed

    def dump(self) -> tuple[bytes, dict[int, bytes]]:
        """The totals record and the changed hours' minute records (see :meth:`stored`)."""
        return self.totals.dump(), {hour: self.hours[hour].dump() for hour in self.dirty_hours}

    def stored(self) -> None:
        """What :meth:`dump` returned is stored: all is clean, and only the latest hour
        stays loaded (calls arrive mostly in time order; the others are read back if needed)."""
        self.dirty_hours.clear()
        if self.hours:
            latest = max(self.hours)
            self.hours = {latest: self.hours[latest]}

    @classmethod
    def from_legacy(cls, raw: bytes) -> Day:
        """A day stored by earlier code as one minute record: every hour it holds is
        loaded and marked changed, so the next flush stores the day in this layout."""
        seq, minutes = legacy_minutes(raw)
        hours: dict[int, HourRecord] = {}
        for minute, models in minutes.items():
            hours.setdefault(minute // HOUR, HourRecord(seq)).minutes[minute] = models
        totals = DayTotals(seq, totals_of(minutes), hour_totals(minutes))
        return cls(totals, hours, set(hours))


@dataclass
class Month:
    """A dimension's calendar month: the totals of each day it saw calls in (at most 31)."""

    seq: int = 0
    days: Minutes = field(default_factory=dict)

    def add(self, day: int, model: str, sums: Sums, seq: int) -> bool:
        if self.seq >= seq:
            return False
        add_into(self.days.setdefault(day, {}), model, sums)
        self.seq = seq
        return True

    def adopt(self, day: int, totals: Totals) -> bool:
        """Name a day moved from an earlier layout, with its totals so far (the calls
        counted after them are added as they come); False when already named."""
        if day in self.days:
            return False
        self.days[day] = {model: list(sums) for model, sums in totals.items()}
        return True

    def dump(self) -> bytes:
        body = {"seq": self.seq, "days": _dump_keyed(self.days)}
        return json.dumps(body, separators=_COMPACT).encode()

    @classmethod
    def load(cls, raw: bytes | None) -> Month:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(int(data["seq"]), _load_keyed(data["days"]))
