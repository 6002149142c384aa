"""Growth of the credit ledger: one account's journal, small vs large (issue 13).

For each size N, on its own nats-server:

1. One account's journal is filled with N debit entries (valid entries with
   consistent balances, published 256 in flight), and the ledger's own stores
   record what the ledger itself would have: each request's claim in the request
   index (``KvRequestIndex``) and a snapshot (``KvSnapshots``) a few dozen entries
   before the end (the ledger snapshots every ``snapshot_every`` entries, so a
   restart always replays a short tail).
2. A credit-ledger process starts; we time its start-up, then the first debit
   of a new usage event (publish -> entry N+1 in the journal) and the RSS.
3. It restarts; we time the first ``ledger.balance`` reply and the RSS.

Figures at the small and the large size are printed with their ratio (target:
within 2x). ``verify`` checks balance == sum of entries at the end.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from byok_contracts import subjects
from byok_contracts.v1 import UsageRecorded, usage_msg_id
from byok_contracts.v1.ledger import LedgerEntry
from byok_credit_ledger.adapters.kv_state import LEDGER_BUCKETS, KvRequestIndex, KvSnapshots
from byok_credit_ledger.domain import Snapshot, entry_id
from byok_shared.jetstream import STREAM_LEDGER
from byok_shared.stack import wait_healthy
from byok_shared.testing.processes import ServiceProcess

from ._growth_support import Proc, one_server, publish_all, ratio, until

ACCOUNT = "growth-acct"
AT = datetime(2025, 6, 1, tzinfo=UTC)
TAIL = 37  # entries after the last snapshot (the ledger snapshots every 64)
ROUNDS = 3  # restarts per size; each figure is their median (one sample is mostly noise)


def _entries(n: int) -> list[tuple[bytes, str | None]]:
    out: list[tuple[bytes, str | None]] = []
    for i in range(n):
        rid = f"old-{i}"
        entry = LedgerEntry(
            entry_id=entry_id("debit", ACCOUNT, rid),
            account=ACCOUNT,
            kind="debit",
            amount=-1,
            balance=-(i + 1),
            reason="usage",
            request_id=rid,
            provider="openai",
            model="gpt-4o-mini",
            input_tokens=1000,
            output_tokens=500,
            estimated_cost_usd="0.00045",
            price_source="genai-prices",
            occurred_at=AT,
            recorded_at=AT,
        )
        out.append((entry.model_dump_json().encode(), entry.entry_id))
    return out


def _usage(rid: str) -> bytes:
    event = UsageRecorded.model_validate(
        {
            "request_id": rid,
            "account": ACCOUNT,
            "chain": [{"type": "workspace", "id": "w1"}],
            "key_id": "key_bench",
            "source": "platform",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "input_tokens": 1000,
            "output_tokens": 500,
            "occurred_at": AT,
        }
    )
    return event.model_dump_json().encode()


async def _fill(js: JetStreamContext, n: int) -> None:
    await publish_all(js, subjects.ledger_journal(ACCOUNT), _entries(n))
    indexed = max(0, n - TAIL)
    index, snapshots = await KvRequestIndex.open(js), await KvSnapshots.open(js)
    chunk = 2_000
    for start in range(0, indexed, chunk):  # each debit's claim, as the ledger makes it
        await asyncio.gather(
            *(
                index.claim(ACCOUNT, f"old-{i}", i)
                for i in range(start, min(indexed, start + chunk))
            )
        )
    if indexed:
        await snapshots.put(Snapshot(ACCOUNT, -indexed, indexed, indexed))


async def _journal_size(js: JetStreamContext) -> int:
    return int((await js.stream_info(STREAM_LEDGER)).state.messages)


async def measure(n: int) -> dict[str, Any]:
    async with one_server("byok-growth-ledger-", extra_buckets=LEDGER_BUCKETS) as (
        server,
        nc,
        js,
        data,
        procs,
    ):
        await _fill(js, n)
        assert await _journal_size(js) == n

        rounds = [
            await _restart_round(server.url, data, procs, js, nc, n, k) for k in range(ROUNDS)
        ]
        verify = json.loads(
            (
                await nc.request(
                    subjects.LEDGER_VERIFY,
                    json.dumps({"account": ACCOUNT}).encode(),
                    timeout=120,
                )
            ).data
        )
    figures = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    balance = rounds[-1]["balance"]
    return {
        "entries": n,
        "rounds": ROUNDS,
        "start_up_ms": round(figures["start_up_ms"]),
        "first_debit_ms": round(figures["first_debit_ms"], 1),
        "rss_after_first_debit_mb": figures["rss_after_first_debit_mb"],
        "first_balance_ms": round(figures["first_balance_ms"], 1),
        "rss_after_first_balance_mb": figures["rss_after_first_balance_mb"],
        "balance": balance,
        "balance_is_sum_of_entries": balance == -(n + ROUNDS) and verify.get("consistent") is True,
    }


async def _restart_round(
    url: str,
    data: Path,
    procs: list[ServiceProcess],
    js: JetStreamContext,
    nc: NatsClient,
    n: int,
    k: int,
) -> dict[str, float]:
    """Start a ledger and time its first debit (entry ``n + k + 1``), restart it and time
    its first ``ledger.balance``: one sample of each figure."""
    ledger = Proc("byok_credit_ledger", url, data)
    procs.append(ledger)
    await wait_healthy(url, ["credit-ledger"], timeout=120)
    started_s = time.perf_counter() - ledger.started
    rid = f"new-{k}"
    await js.publish(
        subjects.USAGE_RECORDED, _usage(rid), headers={"Nats-Msg-Id": usage_msg_id(ACCOUNT, rid)}
    )

    async def debited() -> bool:
        return await _journal_size(js) == n + k + 1

    first_debit_s = await until(debited, 300, "first debit")
    debit_rss = ledger.rss_mb()
    ledger.stop()

    again = Proc("byok_credit_ledger", url, data)
    procs.append(again)
    await wait_healthy(url, ["credit-ledger"], timeout=120)
    body = json.dumps({"account": ACCOUNT}).encode()
    t0 = time.perf_counter()
    reply = json.loads((await nc.request(subjects.LEDGER_BALANCE, body, timeout=60)).data)
    first_balance_s = time.perf_counter() - t0
    balance_rss = again.rss_mb()
    if k < ROUNDS - 1:  # the last one stays up for verify
        again.stop()
    return {
        "start_up_ms": started_s * 1000,
        "first_debit_ms": first_debit_s * 1000,
        "rss_after_first_debit_mb": debit_rss,
        "first_balance_ms": first_balance_s * 1000,
        "rss_after_first_balance_mb": balance_rss,
        "balance": float(reply.get("balance", 0)),
    }


async def run(quick: bool) -> dict[str, Any]:
    small_n, large_n = (50, 5_000) if quick else (50, 100_000)
    small = await measure(small_n)
    large = await measure(large_n)
    keys = ["start_up_ms", "first_debit_ms", "rss_after_first_debit_mb", "first_balance_ms"]
    keys.append("rss_after_first_balance_mb")
    ratios = {f"{k}_ratio": ratio(float(large[k]), float(small[k])) for k in keys}
    return {
        "small": small,
        "large": large,
        **ratios,
        "within_2x": all(v <= 2.0 for v in ratios.values()),
    }
