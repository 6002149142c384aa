"""Growth of the usage-tracker: usage history, small vs large (issue 13).

For each size M, on its own nats-server: M valid ``usage.recorded`` events are
published raw (256 in flight, ``Nats-Msg-Id`` = ``<account>:<request_id>``;
100 accounts, 1,000 sessions, 100 workspaces and keys, in time order over 30 days). A usage-tracker process counts them
all and checkpoints. Then, 3 times: it is stopped, 100 more events arrive, and a
new process starts. We time each restart until the tracker has caught up (its
durable has nothing pending: every event is counted), then the first query of
each of 3 accounts not queried before (30 days of aggregates, checked against the
full count), and read its RSS after the last restart. The figures are the medians
over the restarts (9 first queries): one sample on a shared machine is noise,
while a cost that grows with history shows in every one of them. The very first
query after each restart is reported too (it shares the process with the
catch-up's flush).
Figures at the small and the large size are printed with their ratio.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from byok_contracts import subjects
from byok_contracts.v1 import usage_msg_id
from byok_shared.jetstream import STREAM_USAGE
from byok_shared.stack import wait_healthy
from byok_usage_tracker.adapters.jetstream import USAGE_BUCKETS

from ._growth_support import Proc, one_server, publish_all, ratio, until

ACCOUNTS = 100
DURABLE = "usage-tracker-main"
T0 = datetime(2025, 5, 1, tzinfo=UTC)
AFTER = 100  # events published while the tracker is down
RESTARTS = 3
QUERIED = 3  # accounts queried after each restart, each for the first time


def _event(i: int, total: int) -> tuple[bytes, str]:
    account = f"acct{i % ACCOUNTS}"
    rid = f"u-{i}"
    body = {
        "request_id": rid,
        "account": account,
        "chain": [
            {"type": "session", "id": f"s{i % 1000}"},
            {"type": "workspace", "id": f"w{i % 100}"},
        ],
        "key_id": f"key_{i % 100}",
        "source": "byok" if i % 3 else "platform",
        "provider": "openai",
        "model": "gpt-4o-mini" if i % 7 else "gpt-4o",
        "input_tokens": 100 + i % 1000,
        "output_tokens": 10 + i % 300,
        # calls arrive in time order, spread over 30 days whatever the size
        "occurred_at": (T0 + timedelta(seconds=i * 30 * 86_400 / total)).isoformat(),
    }
    return json.dumps(body).encode(), usage_msg_id(account, rid)


async def _caught_up(js: JetStreamContext, total: int) -> bool:
    try:
        info = await js.consumer_info(STREAM_USAGE, DURABLE, timeout=5)
    except Exception:
        return False
    floor = info.ack_floor.stream_seq if info.ack_floor else 0
    return not info.num_pending and not info.num_ack_pending and (floor or 0) >= total


async def _calls(nc: NatsClient, account: str) -> int:
    body = json.dumps({"account": account}).encode()
    try:
        return int(
            json.loads((await nc.request(subjects.USAGE_QUERY, body, timeout=30)).data)["calls"]
        )
    except Exception:
        return -1


async def measure(m: int) -> dict[str, Any]:
    total = m + AFTER * RESTARTS
    async with one_server("byok-growth-usage-", extra_buckets=USAGE_BUCKETS) as (
        server,
        nc,
        js,
        data,
        procs,
    ):
        t0 = time.perf_counter()
        await publish_all(js, subjects.USAGE_RECORDED, (_event(i, total) for i in range(m)))
        fill_s = time.perf_counter() - t0

        tracker = Proc("byok_usage_tracker", server.url, data)
        procs.append(tracker)
        await wait_healthy(server.url, ["usage-tracker"], timeout=120)

        async def all_counted() -> bool:
            return await _caught_up(js, m)

        first_pass_s = await until(all_counted, 3_600, "first pass")
        await asyncio.sleep(2.5)  # idle: the tracker checkpoints
        first_rss = tracker.rss_mb()
        published = m
        caught_up_ms: list[float] = []
        first_queries_ms: list[list[float]] = []
        for restart in range(RESTARTS):
            tracker.stop()
            more = range(published, published + AFTER)
            await publish_all(js, subjects.USAGE_RECORDED, (_event(i, total) for i in more))
            published += AFTER
            tracker.start()

            async def restarted(published: int = published) -> bool:
                return await _caught_up(js, published)

            await until(restarted, 3_600, "caught up after restart")
            caught_up_ms.append(round((time.perf_counter() - tracker.started) * 1000))
            queries = []
            for account in range(restart * QUERIED, (restart + 1) * QUERIED):
                t1 = time.perf_counter()
                calls = await _calls(nc, f"acct{account}")
                queries.append(round((time.perf_counter() - t1) * 1000, 1))
                assert calls == len(range(account, published, ACCOUNTS)), (account, calls)
            first_queries_ms.append(queries)
        rss = tracker.rss_mb()
    every = [ms for queries in first_queries_ms for ms in queries]
    return {
        "events": m,
        "fill_s": round(fill_s, 1),
        "first_pass_s": round(first_pass_s, 1),
        "rss_first_pass_mb": first_rss,
        "caught_up_after_restart_ms": statistics.median(caught_up_ms),
        "caught_up_after_each_restart_ms": caught_up_ms,
        "first_account_query_ms": statistics.median(every),
        "very_first_query_ms": statistics.median(queries[0] for queries in first_queries_ms),
        "first_queries_ms": first_queries_ms,
        "rss_after_restart_mb": rss,
    }


async def run(quick: bool) -> dict[str, Any]:
    small_m, large_m = (2_000, 50_000) if quick else (10_000, 1_000_000)
    # a shared or slow machine: BYOK_GROWTH_USAGE_LARGE=200000 (the first pass is the cost)
    large_m = int(os.environ.get("BYOK_GROWTH_USAGE_LARGE", large_m))
    small = await measure(small_m)
    large = await measure(large_m)
    ratios = {
        f"{k}_ratio": ratio(float(large[k]), float(small[k]))
        for k in ("caught_up_after_restart_ms", "first_account_query_ms", "rss_after_restart_mb")
    }
    return {
        "small": small,
        "large": large,
        **ratios,
        "within_2x": all(v <= 2 for v in ratios.values()),
    }
