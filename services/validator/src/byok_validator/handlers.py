"""validator use cases: validate a new key, handle a runtime's report, sweep stored keys."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from byok_contracts import Conflict, Keypair, NotFound, SealingError, subjects
from byok_contracts.v1 import KeyReportAccepted, KeyValid, ReportKey, ValidateKey

from . import domain
from .domain import Check, Outcome, ReportGate
from .errors import ProviderRejected, ProviderUnavailable, SealedKeyUnreadable
from .ports import KeyVault, Providers, StoredKeys, SweepClaims

__all__ = ["Deps", "check_live", "report", "sweep", "validate"]

log = logging.getLogger(__name__)


@dataclass
class Deps:
    providers: Providers
    key_vault: KeyVault
    stored: StoredKeys
    claims: SweepClaims
    keypair: Keypair
    replica: str
    attempts: int = 3
    backoff: float = 0.2
    gate: ReportGate = field(default_factory=lambda: ReportGate(30.0))
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    inflight: dict[str, asyncio.Task[str]] = field(default_factory=dict)


async def check_live(provider: str, key: str, deps: Deps) -> Check:
    """One verdict: retry transient answers with backoff; VALID, REJECTED or the last failure."""
    delays = domain.backoff_delays(deps.attempts, deps.backoff)
    result = Check(Outcome.TRANSIENT, "not attempted")
    for attempt in range(max(1, deps.attempts)):
        result = await deps.providers.check(provider, key)
        if result.outcome is not Outcome.TRANSIENT or attempt >= len(delays):
            return result
        await deps.sleep(delays[attempt])
    return result


def _raise_for(provider: str, result: Check) -> None:
    if result.outcome is Outcome.REJECTED:
        raise ProviderRejected(f"Invalid {provider} key: {result.message}")
    if result.outcome is not Outcome.VALID:
        raise ProviderUnavailable(f"{provider} could not check the key: {result.message}")


async def validate(cmd: ValidateKey, deps: Deps) -> KeyValid:
    """A new key from key-vault, sealed to this replica."""
    try:
        raw = deps.keypair.open(cmd.sealed_key, subjects.keys_validate_for(deps.replica))
    except SealingError as exc:
        raise SealedKeyUnreadable(f"sealed_key does not open: {exc}") from None
    result = await check_live(cmd.provider, raw.decode("utf-8", "replace"), deps)
    _raise_for(cmd.provider, result)
    return KeyValid(provider=cmd.provider)


async def report(cmd: ReportKey, deps: Deps) -> KeyReportAccepted:
    """A runtime saw ``status_code``: re-validate on auth failures, revoke only on rejection."""
    if not domain.should_revalidate(cmd.status_code):
        return KeyReportAccepted(outcome="ignored")
    running = deps.inflight.get(cmd.key_id)
    if running is not None:  # a burst of reports for one key shares one re-validation
        return KeyReportAccepted(outcome=await asyncio.shield(running))
    if not deps.gate.admit(cmd.key_id, deps.clock()):
        return KeyReportAccepted(outcome="deduplicated")
    task = asyncio.ensure_future(_revalidate(cmd.key_id, f"runtime saw {cmd.status_code}", deps))
    deps.inflight[cmd.key_id] = task
    try:
        outcome = await asyncio.shield(task)
    except NotFound:
        deps.gate.forget(cmd.key_id)
        raise
    finally:
        deps.inflight.pop(cmd.key_id, None)
    return KeyReportAccepted(outcome=outcome)


async def _revalidate(key_id: str, why: str, deps: Deps) -> str:
    try:
        stored = await deps.key_vault.unseal(key_id)
    except Conflict as exc:
        if exc.error == "key_revoked":  # key-vault unseals no revoked key (issue 10)
            return "revoked"
        raise
    if stored.state == "revoked":
        return "revoked"
    result = await check_live(stored.provider, stored.key, deps)
    if result.outcome is Outcome.REJECTED:
        await deps.key_vault.revoke(key_id, f"Invalid {stored.provider} key: {result.message}")
        log.warning("key revoked after re-validation", extra={"key_id": key_id, "why": why})
        return "revoked"
    if result.outcome is Outcome.VALID:
        return "valid"
    log.info("re-validation inconclusive", extra={"key_id": key_id, "detail": result.message})
    return "transient"


async def sweep(deps: Deps, *, interval: float, rate: float) -> dict[str, int]:
    """Re-validate stored keys whose last check is older than ``interval``, ``rate`` per second."""
    counts: dict[str, int] = {}
    now = datetime.now(UTC)
    async for page in deps.stored.pages():
        for stored in page:
            if stored.state == "revoked":
                continue
            if (
                stored.validated_at is not None
                and (now - stored.validated_at).total_seconds() < interval
            ):
                continue
            if not await deps.claims.claim(stored.key_id, interval):
                continue
            try:
                outcome = await _revalidate(stored.key_id, "periodic re-validation", deps)
            except NotFound:
                outcome = "gone"
            except ProviderUnavailable:
                outcome = "transient"
            counts[outcome] = counts.get(outcome, 0) + 1
            if rate > 0:
                await deps.sleep(1.0 / rate)
    return counts
