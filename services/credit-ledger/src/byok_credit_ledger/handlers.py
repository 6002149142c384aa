"""Use cases of the ledger: grant, debit, balance, verify.

:class:`Ledger` keeps each account it touched as the fold of its journal and
appends through the journal's optimistic concurrency: a decision is only
written if no entry landed since the state it was taken on. Side effects
(the ``byok-credits`` record and the exhausted/restored events) follow the
journal and are retried until published, so a crash between the append and
the effect only delays it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime

from byok_contracts.pricing import Pricing
from byok_contracts.v1 import (
    Balance,
    BalanceRequest,
    CreditsChanged,
    CreditState,
    Grant,
    Granted,
    Mode,
    UsageRecorded,
    utcnow,
)
from byok_contracts.v1.ledger import (
    LedgerDifference,
    LedgerEntry,
    LedgerVerification,
    VerifyLedger,
)

from .domain import Account, crossing, fold, verify_journal
from .errors import JournalUnavailable, StaleAccount
from .ports import AccountDirectory, CreditStates, Journal, Notifier, StoredEntry

__all__ = ["Ledger"]

log = logging.getLogger(__name__)

Decide = Callable[[Account], LedgerEntry | None]


class Ledger:
    """The credit ledger of every account, over a :class:`Journal`."""

    def __init__(
        self,
        journal: Journal,
        states: CreditStates,
        notifier: Notifier,
        directory: AccountDirectory,
        pricing: Pricing,
        *,
        credits_per_usd: int,
        retries: int = 20,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.journal = journal
        self.states = states
        self.notifier = notifier
        self.directory = directory
        self.pricing = pricing
        self.credits_per_usd = credits_per_usd
        self.retries = retries
        self.clock = clock
        self._accounts: dict[str, Account] = {}
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._published: dict[str, CreditState] = {}
        self._pending: dict[str, tuple[int, int]] = {}  # account -> (balance, seq) to record
        self._seen: dict[str, int] = {}  # account -> balance after the last entry judged
        self._events: dict[str, list[tuple[CreditsChanged, str]]] = {}  # due, in order

    # -- use cases ---------------------------------------------------------

    async def grant(self, cmd: Grant) -> Granted:
        """Add credits once per ``idempotency_key``; a replay returns the current balance."""
        now = self.clock()
        state, _ = await self._append(cmd.account, lambda acct: acct.grant(cmd, now))
        balance = state.balance
        await self._flush_quietly([cmd.account])
        return Granted(balance=balance)

    async def debit(self, usage: UsageRecorded) -> LedgerEntry | None:
        """Debit a platform call once per ``request_id``; BYOK calls debit nothing."""
        if usage.source != "platform":
            return None
        cost = self.pricing.estimate(
            usage.provider, usage.model, usage.input_tokens, usage.output_tokens, usage.occurred_at
        )
        now = self.clock()
        _, entry = await self._append(
            usage.account, lambda acct: acct.debit(usage, cost, self.credits_per_usd, now)
        )
        if entry is not None and cost.usd is None:
            log.warning(
                "unpriced platform model %s/%s: request %s debited 0 credits",
                usage.provider,
                usage.model,
                usage.request_id,
            )
        return entry

    async def balance(self, req: BalanceRequest) -> Balance:
        """The account's balance as of its journal now, with mode and ``credits_paused``."""
        async with self._locks[req.account]:
            state = await self._current(req.account)
            if await self._read_last_seq(req.account) > state.last_seq:
                await self._catch_up(state)
            balance = state.balance
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
        journals: dict[str, list[StoredEntry]] = defaultdict(list)
        try:
            if req.account is not None:
                journals[req.account] = await self.journal.read(req.account)
            else:
                async for account, seq, entry in self.journal.read_all():
                    journals[account].append((seq, entry))
            stored = await self.states.get_all()
        except JournalUnavailable:
            raise
        except Exception as exc:
            raise JournalUnavailable(f"cannot read the journal: {exc}") from exc
        differences: list[LedgerDifference] = []
        balances: dict[str, int] = {}
        entries = 0
        for account, stored_entries in sorted(journals.items()):
            folded, problems = verify_journal(account, stored_entries)
            differences += problems
            balances[account] = folded.balance
            entries += folded.entries
            differences += self._compare(folded, stored.get(account))
        return LedgerVerification(
            accounts=len(journals),
            entries=entries,
            consistent=not differences,
            balances=balances,
            differences=differences,
        )

    # -- effects -----------------------------------------------------------

    async def start(self) -> None:
        """Publish whatever effects a previous process appended but did not publish."""
        self._published = await self.states.get_all()
        for account, (seq, entry) in (await self.journal.last_entries()).items():
            known = self._published.get(account)
            if known is None or known.journal_seq < seq:
                self._judge(account, entry.balance, seq)
            else:
                self._seen[account] = known.balance
        if self._pending:
            log.info("publishing credit state of %d accounts left behind", len(self._pending))
        await self.flush()

    def _judge(self, account: str, balance: int, seq: int) -> None:
        """Queue the credits event an entry causes and the record that follows it."""
        before = self._seen.get(account)
        if before is None and account in self._published:
            before = self._published[account].balance
        change = crossing(before, balance)
        if change is not None:
            event = CreditsChanged(event=change, account=account, balance=balance)
            self._events.setdefault(account, []).append((event, f"credits-{account}-{seq}"))
        self._seen[account] = balance
        self._pending[account] = (balance, seq)

    async def flush(self, accounts: Iterable[str] | None = None) -> None:
        """Publish the credits events and ``byok-credits`` records that are due."""
        chosen = list(self._pending if accounts is None else accounts)
        results = await asyncio.gather(
            *(self._publish(account) for account in chosen), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _publish(self, account: str) -> None:
        queued = self._events.get(account, [])
        while queued:
            event, msg_id = queued[0]
            await self.notifier.credits_changed(event, msg_id=msg_id)
            queued.pop(0)
        figure = self._pending.get(account)
        if figure is None:
            return
        balance, seq = figure
        record = CreditState(
            account=account, balance=balance, updated_at=self.clock(), journal_seq=seq
        )
        await self.states.put(record)
        self._published[account] = record
        if self._pending.get(account) == figure:
            del self._pending[account]

    @property
    def pending_effects(self) -> int:
        return len(self._pending) + sum(len(q) for q in self._events.values())

    async def _flush_quietly(self, accounts: Iterable[str] | None = None) -> None:
        try:
            await self.flush(accounts)
        except Exception:  # the journal has it; the next flush publishes it
            log.warning("credit state not published yet; will retry", exc_info=True)

    # -- the journal -------------------------------------------------------

    async def _append(self, account: str, decide: Decide) -> tuple[Account, LedgerEntry | None]:
        """Decide on the account's full history and append, retrying on concurrent writes."""
        async with self._locks[account]:
            for attempt in range(self.retries):
                state = await self._current(account)
                entry = decide(state)
                if entry is None:
                    return state, None
                try:
                    seq = await self.journal.append(entry, state.last_seq)
                except StaleAccount:
                    await self._catch_up(state)
                    continue
                except JournalUnavailable:
                    # The entry may or may not have landed: forget what we know and re-read.
                    self._accounts.pop(account, None)
                    await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
                    continue
                state.apply(seq, entry)
                self._judge(account, state.balance, seq)
                return state, entry
        raise JournalUnavailable(f"Could not append to the journal of {account}; try again")

    async def _current(self, account: str) -> Account:
        state = self._accounts.get(account)
        if state is None:
            state = fold(account, await self._read(account, 0))
            self._accounts[account] = state
        return state

    async def _catch_up(self, state: Account) -> None:
        try:
            for seq, entry in await self._read(state.account, state.last_seq):
                state.apply(seq, entry)
        except JournalUnavailable:
            self._accounts.pop(state.account, None)
            raise

    async def _read(self, account: str, after: int) -> list[StoredEntry]:
        try:
            return await self.journal.read(account, after)
        except JournalUnavailable:
            raise
        except Exception as exc:
            raise JournalUnavailable(f"cannot read the journal of {account}: {exc}") from exc

    async def _read_last_seq(self, account: str) -> int:
        try:
            return await self.journal.last_seq(account)
        except Exception as exc:
            raise JournalUnavailable(f"cannot read the journal of {account}: {exc}") from exc

    def _compare(self, folded: Account, stored: CreditState | None) -> list[LedgerDifference]:
        out: list[LedgerDifference] = []
        served = self._accounts.get(folded.account)
        if (
            served is not None
            and served.last_seq == folded.last_seq
            and served.balance != folded.balance
        ):
            out.append(
                LedgerDifference(
                    account=folded.account,
                    check="served_balance",
                    expected=folded.balance,
                    found=served.balance,
                    seq=folded.last_seq,
                )
            )
        if stored is None:
            out.append(
                LedgerDifference(
                    account=folded.account,
                    check="credit_state_missing",
                    expected=folded.balance,
                    detail="no byok-credits record",
                )
            )
        elif stored.journal_seq != folded.last_seq or stored.balance != folded.balance:
            out.append(
                LedgerDifference(
                    account=folded.account,
                    check="credit_state",
                    expected=folded.balance,
                    found=stored.balance,
                    seq=stored.journal_seq,
                    detail=f"byok-credits follows entry {stored.journal_seq}, "
                    f"journal ends at {folded.last_seq}",
                )
            )
        return out
