"""JetStream adapters: the journal stream, the ``byok-credits`` bucket, events, policy.

The journal is the ``BYOK_LEDGER`` stream, one subject per account
(``byok.v1.ledger.journal.<account>``). An append carries
``Nats-Expected-Last-Subject-Sequence`` (the server refuses it when another
writer appended to that account first) and ``Nats-Msg-Id`` = the entry's
deterministic id (a retried append inside the duplicate window is a no-op).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from collections.abc import AsyncIterator

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import (
    APIError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
    NotFoundError,
)
from nats.js.kv import KeyValue

from byok_contracts import PROVIDERS, subjects
from byok_contracts.v1 import (
    AccountPolicy,
    CreditsChanged,
    CreditState,
    KeyRecord,
    KeyState,
    Scope,
    ScopeSettings,
    ScopeType,
    key_slot,
    platform_key_slot,
)
from byok_contracts.v1.ledger import LedgerEntry
from byok_shared.jetstream import (
    BUCKET_ACCOUNTS,
    BUCKET_CREDITS,
    BUCKET_KEYS,
    BUCKET_SCOPES,
    STREAM_LEDGER,
    bucket_keys,
)

from ..errors import JournalUnavailable, StaleAccount
from ..ports import StoredEntry

__all__ = ["JetStreamDirectory", "JetStreamJournal", "JetStreamNotifier", "KvCreditStates"]

WRONG_LAST_SEQUENCE = 10071  # JSStreamWrongLastSequenceErrF
_PREFIX = subjects.LEDGER_JOURNAL_PREFIX + "."
_TRANSIENT = (
    nats.errors.TimeoutError,
    nats.errors.ConnectionClosedError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    asyncio.TimeoutError,
    APIError,
)


def _account_of(subject: str) -> str:
    return subject.removeprefix(_PREFIX)


class JetStreamJournal:
    """The journal on the ``BYOK_LEDGER`` stream."""

    def __init__(self, js: JetStreamContext, *, timeout: float = 5.0, batch: int = 1000) -> None:
        self._js = js
        self._timeout = timeout
        self._batch = batch

    async def append(self, entry: LedgerEntry, expected_last_seq: int) -> int:
        headers = {
            "Nats-Msg-Id": entry.entry_id,
            "Nats-Expected-Last-Subject-Sequence": str(expected_last_seq),
        }
        try:
            ack = await self._js.publish(
                subjects.ledger_journal(entry.account),
                entry.model_dump_json().encode(),
                timeout=self._timeout,
                stream=STREAM_LEDGER,
                headers=headers,
            )
        except APIError as exc:
            if exc.err_code == WRONG_LAST_SEQUENCE:
                raise StaleAccount(entry.account, expected_last_seq) from None
            raise JournalUnavailable(f"journal append failed: {exc}") from exc
        except _TRANSIENT as exc:
            raise JournalUnavailable(f"journal append outcome unknown: {exc!r}") from exc
        if ack.duplicate:
            # This very entry is already in the journal (a retried append).
            raise StaleAccount(entry.account, expected_last_seq)
        return ack.seq

    async def last_seq(self, account: str) -> int:
        try:
            msg = await self._js.get_last_msg(STREAM_LEDGER, subjects.ledger_journal(account))
        except NotFoundError:
            return 0
        except _TRANSIENT as exc:
            raise JournalUnavailable(f"journal read failed: {exc!r}") from exc
        return int(msg.seq or 0)

    async def read(self, account: str, after: int = 0) -> list[StoredEntry]:
        last = await self.last_seq(account)
        if last <= after:
            return []
        return [
            (seq, entry)
            async for _, seq, entry in self._scan(subjects.ledger_journal(account), after, last)
        ]

    async def read_all(self) -> AsyncIterator[tuple[str, int, LedgerEntry]]:
        try:
            info = await self._js.stream_info(STREAM_LEDGER)
        except _TRANSIENT as exc:
            raise JournalUnavailable(f"journal read failed: {exc!r}") from exc
        if info.state.messages == 0:
            return
        async for item in self._scan(f"{_PREFIX}>", 0, info.state.last_seq):
            yield item

    async def last_entries(self) -> dict[str, StoredEntry]:
        try:
            info = await self._js.stream_info(STREAM_LEDGER, subjects_filter=f"{_PREFIX}>")
            out: dict[str, StoredEntry] = {}
            for subject in info.state.subjects or {}:
                msg = await self._js.get_last_msg(STREAM_LEDGER, subject)
                assert msg.data is not None
                out[_account_of(subject)] = (
                    int(msg.seq or 0),
                    LedgerEntry.model_validate_json(msg.data),
                )
            return out
        except _TRANSIENT as exc:
            raise JournalUnavailable(f"journal read failed: {exc!r}") from exc

    async def _scan(
        self, subject: str, after: int, last: int
    ) -> AsyncIterator[tuple[str, int, LedgerEntry]]:
        """Entries on ``subject`` with ``after < seq <= last``, through a short-lived consumer."""
        name = f"ledger-read-{nats.nuid.NUID().next().decode()}"
        config = ConsumerConfig(
            name=name,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after + 1,
            ack_policy=AckPolicy.NONE,
            filter_subject=subject,
            inactive_threshold=30.0,
            mem_storage=True,
            num_replicas=1,
        )
        try:
            await self._js.add_consumer(STREAM_LEDGER, config)
            sub = await self._js.pull_subscribe_bind(consumer=name, stream=STREAM_LEDGER)
        except _TRANSIENT as exc:
            raise JournalUnavailable(f"journal read failed: {exc!r}") from exc
        try:
            seq = after
            while seq < last:
                try:
                    msgs = await sub.fetch(self._batch, timeout=self._timeout)
                except _TRANSIENT as exc:
                    raise JournalUnavailable(f"journal read failed: {exc!r}") from exc
                for msg in msgs:
                    seq = msg.metadata.sequence.stream
                    if seq > last:
                        break
                    yield _account_of(msg.subject), seq, LedgerEntry.model_validate_json(msg.data)
                if msgs and msgs[-1].metadata.num_pending == 0:
                    break
        finally:
            try:
                await sub.unsubscribe()
                await self._js.delete_consumer(STREAM_LEDGER, name)
            except Exception:  # noqa: S110 - it expires on its own (inactive_threshold)
                pass


class KvCreditStates:
    """``byok-credits``: the latest balance per account, for resolver warm starts.

    A record only moves forward: ``put`` compares-and-sets on the key's revision
    and keeps a record that follows a later journal entry.
    """

    def __init__(self, js: JetStreamContext, kv: KeyValue) -> None:
        self._js = js
        self._kv = kv
        # account -> (revision, journal seq) of the record this replica last wrote
        self._revisions: OrderedDict[str, tuple[int, int]] = OrderedDict()

    @classmethod
    async def open(cls, js: JetStreamContext) -> KvCreditStates:
        return cls(js, await js.key_value(BUCKET_CREDITS))

    async def get(self, account: str) -> CreditState | None:
        found = await self._versioned(account)
        return found[0] if found is not None else None

    async def get_all(self) -> AsyncIterator[CreditState]:
        for key in await bucket_keys(self._js, BUCKET_CREDITS):
            state = await self.get(key)
            if state is not None:
                yield state

    async def put(self, state: CreditState) -> int:
        body = state.model_dump_json().encode()
        known = self._revisions.get(state.account)
        if known is not None:  # the usual case: this replica wrote the record last
            revision, seq = known
            if seq >= state.journal_seq:
                return seq
            with contextlib.suppress(KeyWrongLastSequenceError):
                revision = await self._kv.update(state.account, body, last=revision)
                self._remember(state.account, revision, state.journal_seq)
                return state.journal_seq
        for _ in range(10):
            found = await self._versioned(state.account)
            try:
                if found is None:
                    revision = await self._kv.create(state.account, body)
                else:
                    current, revision = found
                    if current.journal_seq >= state.journal_seq:
                        self._remember(state.account, revision, current.journal_seq)
                        return current.journal_seq
                    revision = await self._kv.update(state.account, body, last=revision)
                self._remember(state.account, revision, state.journal_seq)
                return state.journal_seq
            except KeyWrongLastSequenceError:
                continue  # another replica wrote it meanwhile: compare again
        raise JournalUnavailable("byok-credits record kept moving; will retry")

    def _remember(self, account: str, revision: int, seq: int) -> None:
        self._revisions[account] = (revision, seq)
        self._revisions.move_to_end(account)
        if len(self._revisions) > 100_000:
            self._revisions.popitem(last=False)

    async def _versioned(self, account: str) -> tuple[CreditState, int] | None:
        try:
            entry = await self._kv.get(account)
        except KeyNotFoundError:
            return None
        if not entry.value:
            return None
        return CreditState.model_validate_json(entry.value), int(entry.revision or 0)


class JetStreamNotifier:
    """Publishes credits events into ``BYOK_EVENTS``, deduplicated by message id."""

    def __init__(self, js: JetStreamContext, *, timeout: float = 5.0) -> None:
        self._js = js
        self._timeout = timeout

    async def credits_changed(self, event: CreditsChanged, msg_id: str) -> None:
        subject = (
            subjects.EVENTS_CREDITS_EXHAUSTED
            if event.event == "exhausted"
            else subjects.EVENTS_CREDITS_RESTORED
        )
        await self._js.publish(
            subject,
            event.model_dump_json().encode(),
            timeout=self._timeout,
            headers={"Nats-Msg-Id": msg_id},
        )


class JetStreamDirectory:
    """Account policy (``byok-accounts``), account-scope BYOK state (``byok-scopes``,
    ``byok-keys``) and which key ids are platform keys (``byok-keys`` ``platform.*``).

    key-vault's buckets, read on purpose and read only, through the layouts of the
    contract (:mod:`byok_contracts.v1.buckets`)."""

    def __init__(
        self, accounts: KeyValue, scopes: KeyValue, keys: KeyValue, *, remember: int = 100_000
    ) -> None:
        self._accounts = accounts
        self._scopes = scopes
        self._keys = keys
        self._remember = remember
        # A key id is derived from its slot, so "is a platform key" never changes for an id.
        self._platform: set[str] = set()
        self._not_platform: OrderedDict[str, None] = OrderedDict()

    @classmethod
    async def open(cls, js: JetStreamContext) -> JetStreamDirectory:
        return cls(
            await js.key_value(BUCKET_ACCOUNTS),
            await js.key_value(BUCKET_SCOPES),
            await js.key_value(BUCKET_KEYS),
        )

    async def policy(self, account: str) -> AccountPolicy:
        raw = await _get(self._accounts, account)
        if raw is None:
            return AccountPolicy(account=account)
        return AccountPolicy.model_validate(json.loads(raw) | {"account": account})

    async def byok_active(self, account: str) -> bool:
        scope = Scope(type=ScopeType.ACCOUNT, id=account)
        raw = await _get(self._scopes, scope.key)
        if raw is not None and not ScopeSettings.model_validate_json(raw).byok_enabled:
            return False
        for provider in PROVIDERS:
            raw = await _get(self._keys, key_slot(scope, provider))
            if raw is not None and KeyRecord.model_validate_json(raw).state == KeyState.ACTIVE:
                return True
        return False

    async def is_platform_key(self, key_id: str, provider: str) -> bool:
        if key_id in self._platform:
            return True
        if key_id in self._not_platform:
            self._not_platform.move_to_end(key_id)
            return False
        slot = platform_key_slot(provider)
        seen = set()
        raw = await _get(self._keys, slot)
        if raw is not None:
            seen.add(KeyRecord.model_validate_json(raw).key_id)
        if key_id not in seen:  # a platform key removed or replaced since (kept history)
            with contextlib.suppress(NoKeysError, KeyNotFoundError):
                for entry in await self._keys.history(slot):
                    if entry.value:
                        seen.add(KeyRecord.model_validate_json(entry.value).key_id)
        self._platform |= seen
        if key_id in self._platform:
            return True
        self._not_platform[key_id] = None
        if len(self._not_platform) > self._remember:
            self._not_platform.popitem(last=False)
        return False


async def _get(kv: KeyValue, key: str) -> bytes | None:
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None
    return entry.value or None
