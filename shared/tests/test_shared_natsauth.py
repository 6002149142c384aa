"""NATS authorization without a server: the permission table and the rendered config.

The table in ``byok_shared.natsauth`` is the one source; these tests show that it
denies what each role must never do and gives each request one serving service.
That a real nats-server enforces exactly this table: ``tests/test_nats_auth.py``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from byok_contracts import subjects
from byok_shared.natsauth import (
    CLIENT_ROLES,
    ROLES,
    allows_publish,
    allows_subscribe,
    inbox_prefix,
    password_env,
    subject_matches,
)
from byok_shared.natsconfig import render_config, write_server_config
from byok_shared.natsserver import nats_server_binary
from byok_shared.testing.natsprobes import CONTRACT_SUBJECTS, PUBLISH_PROBES, SUBSCRIBE_PROBES

PASSWORDS = {name: f"pw-{name}" for name in ROLES}
SERVICE_ROLES = tuple(name for name in ROLES if name not in CLIENT_ROLES)


# --- the table itself ---------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("a.b", "a.b", True),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        ("*.b", "a.b", True),
        ("a.b", "a.b.c", False),
    ],
)
def test_subject_matches_follows_nats_wildcards(pattern: str, subject: str, expected: bool) -> None:
    assert subject_matches(pattern, subject) is expected


def test_runtime_may_only_resolve_report_publish_usage_and_ask_health() -> None:
    runtime = ROLES["runtime"]
    allowed = {subjects.RESOLVE, subjects.KEYS_REPORT, subjects.USAGE_RECORDED}
    for subject in PUBLISH_PROBES:
        expected = subject in allowed or subject_matches(subjects.health("*"), subject)
        assert allows_publish(runtime, subject) is expected, subject
    for subject in SUBSCRIBE_PROBES:
        assert allows_subscribe(runtime, subject) is subject.startswith("_INBOX_runtime."), subject


def test_backend_cannot_reach_resolve_internals_or_usage() -> None:
    backend = ROLES["backend"]
    for subject in (
        subjects.RESOLVE,
        subjects.KEYS_REPORT,
        subjects.USAGE_RECORDED,
        subjects.INTERNAL_KEYS_UNSEAL,
        subjects.INTERNAL_RESOLVER_SYNC,
        subjects.INTERNAL_VALIDATOR_PUBLIC_KEY,
        subjects.keys_validate_for("replica-1"),
        subjects.EVENTS_KEYS_REMOVED,
        "$KV.byok-keys.workspace.acme.anthropic",
        "$JS.API.STREAM.INFO.KV_byok-keys",
    ):
        assert not allows_publish(backend, subject), subject
    assert allows_subscribe(backend, subjects.EVENTS_KEYS_CONFIGURED)
    assert allows_subscribe(backend, subjects.EVENTS_KEYS_REJECTED)
    for subject in ("byok.v1.events.>", subjects.EVENTS_KEYS_REVOKED, subjects.KEYS_CONFIGURE):
        assert not allows_subscribe(backend, subject), subject


def test_only_key_vault_publishes_internal_sync_and_key_events() -> None:
    for role in ROLES.values():
        is_vault = role.name == "key-vault"
        assert allows_publish(role, subjects.INTERNAL_RESOLVER_SYNC) is is_vault, role.name
        assert allows_publish(role, subjects.EVENTS_KEYS_REMOVED) is is_vault, role.name
        assert allows_publish(role, "$KV.byok-keys.workspace.acme.anthropic") is is_vault


def test_every_request_subject_has_exactly_one_serving_service_and_a_caller() -> None:
    events_or_streams = (subjects.EVENTS_PREFIX, subjects.USAGE_RECORDED)
    requests = [s for s in CONTRACT_SUBJECTS if not s.startswith(events_or_streams)]
    requests += [subjects.health(s) for s in subjects.SERVICES]
    requests.append(subjects.keys_validate_for("replica-1"))
    for subject in requests:
        servers = [n for n in SERVICE_ROLES if allows_subscribe(ROLES[n], subject)]
        callers = [n for n, r in ROLES.items() if allows_publish(r, subject)]
        assert len(servers) == 1, (subject, servers)
        assert callers, subject
        # Health checks ask themselves, and a resolver probes its queue group at start.
        if not subject.startswith(f"{subjects.PREFIX}.health.") and subject != subjects.RESOLVE:
            assert servers[0] not in callers, subject


def test_every_event_has_one_publishing_service() -> None:
    events = [s for s in CONTRACT_SUBJECTS if s.startswith(subjects.EVENTS_PREFIX)]
    assert events
    for subject in events:
        publishers = [n for n in SERVICE_ROLES if allows_publish(ROLES[n], subject)]
        assert len(publishers) == 1, (subject, publishers)
    usage = [n for n, r in ROLES.items() if allows_publish(r, subjects.USAGE_RECORDED)]
    assert usage == ["runtime"]


def test_clients_never_touch_internal_subjects_or_jetstream() -> None:
    for name in CLIENT_ROLES:
        role = ROLES[name]
        assert not role.allow_responses
        for pattern in (*role.publish, *role.subscribe):
            if name == "operator" and pattern.endswith(("BYOK_AUDIT", "BYOK_AUDIT.>")):
                continue  # ``byok audit`` reads the audit trail (and nothing else of JetStream)
            if name == "operator" and "byok-api-tokens" in pattern:
                continue  # ``byok tokens`` writes the gateway's token bucket (digests only)
            if name == "operator" and pattern.startswith("$JS.API.STREAM."):
                # provisioning: create, inspect, update; never delete, purge or read messages
                assert pattern.split(".")[3] in ("INFO", "CREATE", "UPDATE"), pattern
                continue
            if name == "operator" and pattern == "$JS.API.INFO":
                continue
            assert not pattern.startswith(("$JS", "$KV")), (name, pattern)
            if name != "operator":  # the operator rotates keys and probes resolver replicas
                assert ".internal." not in pattern, (name, pattern)


def test_each_role_receives_replies_only_on_its_own_inbox() -> None:
    for role in ROLES.values():
        inboxes = [p for p in role.subscribe if p.startswith("_INBOX")]
        assert inboxes == [f"{inbox_prefix(role.name)}.>"], role.name


def test_rendered_config_is_valid_for_nats_server(tmp_path: Path) -> None:
    literal = tmp_path / "literal.conf"
    literal.write_text(render_config(PASSWORDS))
    from_env = tmp_path / "env.conf"
    from_env.write_text(render_config())
    env = dict(os.environ) | {password_env(name): "x" for name in ROLES}
    for path in (literal, from_env):
        check = subprocess.run(
            [nats_server_binary(), "-c", str(path), "-t"], capture_output=True, env=env, check=False
        )
        assert check.returncode == 0, check.stderr.decode()


def test_generated_passwords_are_private_and_stable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(password_env("runtime"), "from-env")
    path, first = write_server_config(tmp_path)
    _, second = write_server_config(tmp_path)
    assert first == second
    assert first["runtime"] == "from-env"
    assert len(first["backend"]) >= 24
    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "nats-auth" / "passwords.json").stat().st_mode & 0o777 == 0o600
    # the server config holds bcrypt hashes, never a clear password
    config = path.read_text()
    assert first["resolver"] not in config
    assert config.count('password: "$2b$11$') == len(ROLES)
