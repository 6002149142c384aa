"""Reading the audit trail (operators): who touched which key, when, with what outcome.

Entries live on the BYOK_AUDIT stream under
``byok.v1.audit.<account>.<scope.type>.<scope.id>.<operation>``; the filters pick
the subjects server-side (``key_id`` is matched on the entries themselves).
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from byok_contracts import subjects
from byok_contracts.v1 import AuditEntry, Scope

from .base import BaseClient

__all__ = ["STREAM_AUDIT", "AuditMixin", "audit_filter"]

STREAM_AUDIT = "BYOK_AUDIT"


def audit_filter(*, scope: Scope | str | None = None, account: str | None = None) -> str:
    """The subject filter of the entries of ``scope`` and/or ``account``."""
    where = Scope.parse(scope) if isinstance(scope, str) else scope
    return ".".join(
        (
            subjects.AUDIT_PREFIX,
            account or "*",
            where.type.value if where else "*",
            where.id if where else "*",
            "*",
        )
    )


class AuditMixin(BaseClient):
    async def audit(
        self,
        *,
        scope: Scope | str | None = None,
        key_id: str | None = None,
        account: str | None = None,
        since: datetime | None = None,
        limit: int = 10_000,
    ) -> list[AuditEntry]:
        """Audit entries, oldest first, filtered by scope, key and/or account."""
        js = self.nc.jetstream()
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.BY_START_TIME if since else DeliverPolicy.ALL,
            opt_start_time=since,
            filter_subject=audit_filter(scope=scope, account=account),
            inactive_threshold=30.0,
        )
        sub = await js.pull_subscribe(
            config.filter_subject or "", durable=None, stream=STREAM_AUDIT, config=config
        )
        entries: list[AuditEntry] = []
        try:
            while len(entries) < limit:
                try:
                    batch = await sub.fetch(256, timeout=1.0)
                except TimeoutError:  # nats-py raises its own or, near the deadline, asyncio's
                    # A slow server is not the end of the trail: stop only when the
                    # consumer says nothing is left to deliver.
                    if (await sub.consumer_info()).num_pending == 0:
                        break
                    continue
                for msg in batch:
                    entry = AuditEntry.model_validate_json(msg.data)
                    if key_id is None or entry.key_id == key_id:
                        entries.append(entry)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        return entries[:limit]
