"""Use cases of the ledger: grant, debit, balance, verify.

Each decision is taken on the account's current state (:mod:`accounts`) and
appended through the journal's optimistic concurrency: it is only written if
no entry landed since the state it was taken on. Effects follow through the
outbox (:mod:`effects`); the audit reads the whole journal (:mod:`audit`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from byok_contracts.v1 import (
    Balance,
    BalanceRequest,
    Grant,
    Granted,
    Mode,
    UsageRecorded,
    utcnow,
)
from byok_contracts.v1.ledger import LedgerEntry, LedgerVerification, VerifyLedger

from .accounts import AccountFolds
from .audit import Audit
from .charges import Charge, Charger
from .domain import Account
from .effects import Effects
from .errors import JournalUnavailable, StaleAccount
from .ports import AccountDirectory, CreditStates, Journal, Notifier, RequestIndex, Snapshots

__all__ = ["Ledger", "PreparedDebit"]

log = logging.getLogger(__name__)

Decide = Callable[[Account], Awaitable[LedgerEntry | None]]


@dataclass(frozen=True, slots=True)
class PreparedDebit:
    """A usage event with its charge and what the index said (read ahead, in parallel)."""

    usage: UsageRecorded
    charge: Charge
    base_seq: int = -1  # the snapshot the index answer holds for (-1: not asked)
    debited_before: bool = False


class Ledger:
    """The credit ledger of every account, over a :class:`Journal`."""

    def __init__(
        self,
        journal: Journal,
        states: CreditStates,
        notifier: Notifier,
        directory: AccountDirectory,
        charger: Charger,
        snapshots: Snapshots,
        index: RequestIndex,
        *,
        retries: int = 20,
        capacity: int = 10_000,
        snapshot_every: int = 64,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.journal = journal
        self.directory = directory
        self.charger = charger
        self.retries = retries
        self.clock = clock
        self.folds = AccountFolds(
            journal, snapshots, index, capacity=capacity, snapshot_every=snapshot_every
        )
        self.effects = Effects(states, notifier, clock)
        self.audit = Audit(journal, states, snapshots, self.folds.cached)

    # -- use cases ---------------------------------------------------------

    async def grant(self, cmd: Grant) -> Granted:
        """Add credits once per ``idempotency_key``; a replay returns the current balance."""
        now = self.clock()
        state = await self._state(cmd.account)
        before = await self.folds.granted_before(state, cmd.idempotency_key)
        base = state.base_seq

        async def decide(acct: Account) -> LedgerEntry | None:
            known = before
            if acct.base_seq != base:
                known = await self.folds.granted_before(acct, cmd.idempotency_key)
            return acct.grant(cmd, now, known)

        state, _ = await self._append(cmd.account, decide)
        balance = state.balance
        await self._flush_quietly([cmd.account])
        return Granted(balance=balance)

    async def prepare(self, usage: UsageRecorded) -> PreparedDebit:
        """Price the call, derive its source from the key, and ask the index ahead."""
        platform_key = usage.key_id is not None and await self._platform(usage)
        charge = self.charger.charge(usage, platform_key)
        if charge.source != "platform":
            return PreparedDebit(usage, charge)
        state = await self._state(usage.account)
        base = state.base_seq
        before = await self.folds.claim(state, usage.request_id)
        return PreparedDebit(usage, charge, base, before)

    async def prepare_many(self, usages: list[UsageRecorded]) -> list[PreparedDebit | Exception]:
        """:meth:`prepare` for calls of one account, the index asked once for all of them."""
        out: list[PreparedDebit | Exception] = []
        platform_keys: dict[tuple[str, str], bool] = {}  # a batch mostly repeats a few keys
        for usage in usages:
            try:
                platform_key = False
                if usage.key_id is not None:
                    key = (usage.key_id, usage.provider)
                    known = platform_keys.get(key)
                    if known is None:
                        known = platform_keys[key] = await self._platform(usage)
                    platform_key = known
                out.append(PreparedDebit(usage, self.charger.charge(usage, platform_key)))
            except Exception as exc:  # this call waits for its redelivery; the others go on
                out.append(exc)
        platform = [
            (i, p)
            for i, p in enumerate(out)
            if isinstance(p, PreparedDebit) and p.charge.source == "platform"
        ]
        if not platform:
            return out
        try:
            state = await self._state(platform[0][1].usage.account)
            base = state.base_seq
            rids = [call.usage.request_id for _, call in platform]
            answers = await self.folds.claim_many(state, rids)
        except Exception as exc:
            for i, _ in platform:
                out[i] = exc
            return out
        for (i, call), before in zip(platform, answers, strict=True):
            out[i] = PreparedDebit(call.usage, call.charge, base, before)
        return out

    async def debit(self, usage: UsageRecorded | PreparedDebit) -> LedgerEntry | None:
        """Debit a platform call once per (account, request_id); BYOK calls debit nothing."""
        prepared = usage if isinstance(usage, PreparedDebit) else await self.prepare(usage)
        return await self.debit_many([prepared])

    async def debit_many(self, calls: list[PreparedDebit]) -> LedgerEntry | None:
        """Debit several calls of one account with one append (see ``Account.debit_many``).

        Returns the entry appended (None when nothing was due): the calls debited are
        ``debited_ids(entry)``; the others were BYOK calls or debited already.
        """
        platform = [c for c in calls if c.charge.source == "platform"]
        if not platform:
            return None
        account = platform[0].usage.account
        assert all(c.usage.account == account for c in platform)
        now = self.clock()

        async def decide(acct: Account) -> LedgerEntry | None:
            dropped: dict[str, int] = {}
            oldest = min(c.base_seq for c in platform)
            if acct.base_seq > oldest:
                # a snapshot since the claims dropped the entries up to it from memory
                dropped = await self.folds.debited_since(acct, oldest)
            due: list[tuple[UsageRecorded, Charge, bool]] = []
            for call in platform:
                rid = call.usage.request_id
                before = call.debited_before or dropped.get(rid, -1) > call.base_seq
                if acct.base_seq < call.base_seq:  # reloaded from an older snapshot
                    before = await self.folds.claim(acct, rid)
                due.append((call.usage, call.charge, before))
            return acct.debit_many(due, now)

        _, entry = await self._append(account, decide)
        if entry is not None:
            debits: list[tuple[str | None, int, list[str]]]
            debits = [(i.request_id, i.amount, i.flags) for i in entry.items]
            for rid, amount, flags in debits or [(entry.request_id, entry.amount, entry.flags)]:
                if flags:
                    log.info(
                        "request %s of %s debited %d credits, flagged %s",
                        rid,
                        account,
                        -amount,
                        ",".join(flags),
                    )
        return entry

    async def balance(self, req: BalanceRequest) -> Balance:
        """The account's balance as of its journal now, with mode and ``credits_paused``."""
        async with self.folds.lock(req.account):
            state = await self._state(req.account)
            if await self._read_last_seq(req.account) > state.last_seq:
                await self.folds.catch_up(state)
            balance = state.balance
            self.effects.judge(req.account, state.balance, state.last_seq)
        policy = await self.directory.policy(req.account)
        paused = (
            policy.byok_allowed
            and policy.mode == Mode.BYOK_FIRST
            and await self.directory.byok_active(req.account)
        )
        return Balance(balance=balance, mode=policy.mode, credits_paused=paused)

    async def verify(self, req: VerifyLedger) -> LedgerVerification:
        """Recompute balances from the journal; compare with entries, served and stored figures."""
        await self._flush_quietly()
        return await self.audit.verify(req.account)

    # -- effects and snapshots ----------------------------------------------

    async def start(self) -> None:
        """Accounts are read on first use, from their snapshot; only prices load now."""
        await asyncio.to_thread(self.charger.warm)

    @property
    def pending_effects(self) -> int:
        return self.effects.pending

    async def flush(self, accounts: Iterable[str] | None = None) -> None:
        """Publish due effects, snapshot accounts with enough new entries, bound memory."""
        await self.effects.flush(accounts)
        await self.folds.checkpoint(accounts)
        self.effects.trim(lambda account: self.folds.cached(account) is not None)

    async def checkpoint_all(self) -> None:
        """Snapshot every account with any entry since its snapshot (when idle)."""
        await self.folds.checkpoint(every=1)

    async def _flush_quietly(self, accounts: Iterable[str] | None = None) -> None:
        try:
            await self.effects.flush(accounts)
        except Exception:  # the journal has it; the next flush publishes it
            log.warning("credit state not published yet; will retry", exc_info=True)

    # -- the journal -------------------------------------------------------

    async def _state(self, account: str) -> Account:
        if self.effects.known(account):
            return await self.folds.get(account)
        state, _ = await asyncio.gather(self.folds.get(account), self.effects.remember(account))
        return state

    async def _platform(self, usage: UsageRecorded) -> bool:
        assert usage.key_id is not None
        try:
            return await self.directory.is_platform_key(usage.key_id, usage.provider)
        except Exception as exc:
            raise JournalUnavailable(f"cannot read the platform keys: {exc!r}") from exc

    async def _append(self, account: str, decide: Decide) -> tuple[Account, LedgerEntry | None]:
        """Decide on the account's current state and append, retrying on concurrent writes."""
        async with self.folds.lock(account):
            for attempt in range(self.retries):
                state = await self._state(account)
                entry = await decide(state)
                if entry is None:
                    # A no-op on a state some replica appended but maybe never published.
                    self.effects.judge(account, state.balance, state.last_seq)
                    return state, None
                try:
                    seq = await self.journal.append(entry, state.last_seq)
                except StaleAccount:
                    await self.folds.catch_up(state)
                    continue
                except JournalUnavailable:
                    # The entry may or may not have landed: forget what we know and re-read.
                    self.folds.forget(account)
                    await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
                    continue
                state.apply(seq, entry)
                self.effects.judge(account, state.balance, seq)
                return state, entry
        raise JournalUnavailable(f"Could not append to the journal of {account}; try again")

    async def _read_last_seq(self, account: str) -> int:
        try:
            return await self.journal.last_seq(account)
        except Exception as exc:
            raise JournalUnavailable(f"cannot read the journal of {account}: {exc}") from exc
