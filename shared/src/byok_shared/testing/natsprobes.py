"""Subjects to probe a NATS permission table with (the natsauth unit tests and the
tests that check a real server enforces the table)."""

from __future__ import annotations

from byok_contracts import subjects

__all__ = ["CONTRACT_SUBJECTS", "PUBLISH_PROBES", "SUBSCRIBE_PROBES"]

# Every byok subject, plus what a role could use to read or forge state behind the services.
CONTRACT_SUBJECTS = sorted(
    value
    for name in subjects.__all__
    if isinstance(value := getattr(subjects, name), str)
    and value.startswith(f"{subjects.PREFIX}.")
    and not name.endswith("_PREFIX")
    and name != "KEYS_VALIDATE"  # a prefix: keys_validate_for(replica) is the subject
)
PUBLISH_PROBES = (
    *CONTRACT_SUBJECTS,
    *(subjects.health(s) for s in subjects.SERVICES),
    subjects.keys_validate_for("replica-1"),
    subjects.ledger_journal("acme"),
    "byok.v1.events.anything.else",
    "$KV.byok-keys.workspace.acme.anthropic",
    "$KV.byok-sealing.current",
    "$KV.byok-accounts.acme",
    "$KV.byok-credits.acme",
    "$KV.byok-resolvers.replica-1",
    "$JS.API.STREAM.INFO.KV_byok-keys",
    "$JS.API.STREAM.DELETE.BYOK_EVENTS",
    "$JS.API.STREAM.PURGE.BYOK_LEDGER",
    "$JS.API.DIRECT.GET.KV_byok-keys.$KV.byok-keys.workspace.acme.anthropic",
    "$JS.API.STREAM.MSG.GET.KV_byok-sealing",
    "$JS.API.CONSUMER.CREATE.BYOK_EVENTS",
    "$JS.API.CONSUMER.CREATE.BYOK_USAGE",
    "$JS.ACK.BYOK_USAGE.ledger.1.1.1.0.0",
    "_INBOX.abc",
    "_INBOX_runtime.abc",
    "_INBOX_backend.abc",
    "_INBOX_key-vault.abc",
)
SUBSCRIBE_PROBES = (*PUBLISH_PROBES, ">", "byok.>", "byok.v1.events.>", "$KV.>", "_INBOX.>")
