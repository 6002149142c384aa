"""Use cases of key-vault against in-memory fakes (no NATS, no Vault, no HTTP)."""

from __future__ import annotations

import pytest
from key_vault_helpers import KEY, configure_cmd

from byok_contracts import (
    SUITE,
    NotFound,
    Unprocessable,
    seal,
    seal_configure,
    subjects,
)
from byok_contracts.v1 import (
    ConfigureAccount,
    ConfigureScope,
    KeyChanged,
    ListKeys,
    RemoveKey,
    RevokeKey,
    RotateKeys,
    Scope,
    SetKeyEnabled,
)
from byok_key_vault import domain, handlers
from byok_key_vault.adapters.memory import (
    MemoryBarrier,
    MemoryKeyStore,
    MemoryRecipients,
)
from byok_key_vault.bulk import write_records
from byok_key_vault.errors import (
    KeyRevokedError,
    ReadOnlyScope,
)


def test_hint_never_shows_more_than_a_few_characters() -> None:
    assert domain.make_hint(KEY) == "sk-ant...hhhh"
    assert domain.make_hint("sk-abcdefgh") == "sk...gh"
    assert domain.make_hint("abc") == "..."  # nothing of a short key shows
    assert domain.make_hint(KEY).isascii()


def test_key_ids_are_deterministic_and_fingerprints_keyed() -> None:
    fp = domain.fingerprint(b"s" * 32, KEY)
    assert domain.fingerprint(b"t" * 32, KEY) != fp
    assert domain.key_id_for("workspace.acme.anthropic", fp) == domain.key_id_for(
        "workspace.acme.anthropic", fp
    )
    assert domain.key_id_for("workspace.other.anthropic", fp) != domain.key_id_for(
        "workspace.acme.anthropic", fp
    )


@pytest.mark.parametrize("raw", [b"", b"   ", b"sk-ant-a b", b"\xff\xfe", b"sk-" + b"x" * 600])
def test_clean_key_rejects_non_keys(raw: bytes) -> None:
    with pytest.raises(Unprocessable):
        domain.clean_key(raw)


async def test_public_key(deps: handlers.Deps) -> None:
    pk = await handlers.public_key(deps)
    assert pk.suite == SUITE
    assert len(pk.kid) == 16


async def test_configure_stores_ciphertext_and_publishes(deps: handlers.Deps) -> None:
    reply = await handlers.configure(await configure_cmd(deps), deps)
    assert (reply.provider, reply.model) == ("anthropic", "claude-sonnet-4-6")
    stored = await deps.keys.get("workspace.acme.anthropic")
    assert stored is not None
    assert KEY not in stored.value.model_dump_json()
    assert stored.value.fingerprint != KEY
    [(subject, event)] = deps.events.published  # type: ignore[attr-defined]
    assert subject == subjects.EVENTS_KEYS_CONFIGURED
    assert isinstance(event, KeyChanged)
    assert event.revision == stored.revision


async def test_configure_same_key_twice_keeps_the_id(deps: handlers.Deps) -> None:
    first = await handlers.configure(await configure_cmd(deps), deps)
    again = await handlers.configure(await configure_cmd(deps, KEY + "\n"), deps)
    assert first.key_id == again.key_id


async def test_read_only_scope(deps: handlers.Deps) -> None:
    await handlers.configure(await configure_cmd(deps), deps)
    await handlers.configure_scope(
        ConfigureScope.model_validate(
            {"scope": {"type": "workspace", "id": "acme"}, "read_only": True, "account": "acme"}
        ),
        deps,
    )
    with pytest.raises(ReadOnlyScope):
        await handlers.configure(await configure_cmd(deps), deps)
    remove = RemoveKey.model_validate(
        {
            "scope": {"type": "workspace", "id": "acme"},
            "provider": "anthropic",
            "actor": "a",
            "account": "acme",
        }
    )
    with pytest.raises(ReadOnlyScope):
        await handlers.remove(remove, deps)


async def test_state_changes_confirm_through_the_barrier(deps: handlers.Deps) -> None:
    reply = await handlers.configure(await configure_cmd(deps), deps)
    scope = {"type": "workspace", "id": "acme"}
    toggle = SetKeyEnabled.model_validate(
        {"scope": scope, "provider": "anthropic", "enabled": False, "actor": "a", "account": "acme"}
    )
    assert (await handlers.set_enabled(toggle, deps)).state == "disabled"
    revoked = await handlers.revoke(RevokeKey.model_validate({"key_id": reply.key_id}), deps)
    assert revoked.status == "revoked"
    with pytest.raises(KeyRevokedError):
        await handlers.set_enabled(toggle.model_copy(update={"enabled": True}), deps)
    listed = await handlers.list_keys(ListKeys.model_validate({"scope": scope}), deps)
    assert [k.state for k in listed.keys] == ["revoked"]
    await handlers.remove(
        RemoveKey.model_validate(
            {"scope": scope, "provider": "anthropic", "actor": "a", "account": "acme"}
        ),
        deps,
    )
    barrier = deps.barrier
    assert isinstance(barrier, MemoryBarrier)
    assert [s for s, _ in barrier.confirmed] == [
        subjects.EVENTS_KEYS_DISABLED,
        subjects.EVENTS_KEYS_REVOKED,
        subjects.EVENTS_KEYS_REMOVED,
    ]
    with pytest.raises(NotFound):
        await handlers.revoke(RevokeKey.model_validate({"key_id": reply.key_id}), deps)


async def test_settings_merge_and_events(deps: handlers.Deps) -> None:
    scope = {"type": "agent", "id": "buddy-1"}
    first = await handlers.configure_scope(
        ConfigureScope.model_validate(
            {"scope": scope, "route": "byok:anthropic", "account": "acme"}
        ),
        deps,
    )
    second = await handlers.configure_scope(
        ConfigureScope.model_validate({"scope": scope, "byok_enabled": False, "account": "acme"}),
        deps,
    )
    assert (first.route, second.route, second.byok_enabled) == (
        "byok:anthropic",
        "byok:anthropic",
        False,
    )
    policy = await handlers.configure_account(
        ConfigureAccount.model_validate({"account": "acme", "mode": "credits_first"}, strict=False),
        deps,
    )
    assert (policy.mode, policy.byok_allowed) == ("credits_first", True)
    assert deps.events.subjects()[-3:] == [  # type: ignore[attr-defined]
        subjects.EVENTS_SCOPES_CHANGED,
        subjects.EVENTS_SCOPES_CHANGED,
        subjects.EVENTS_ACCOUNTS_CHANGED,
    ]


async def test_rotate_rewraps_records_and_sealing_material(deps: handlers.Deps) -> None:
    await handlers.configure(await configure_cmd(deps), deps)
    old_kid = (await handlers.public_key(deps)).kid
    result = await handlers.rotate(RotateKeys.model_validate({"sealing": True}), deps)
    assert result.rewrapped >= 3  # the record, the fingerprint secret, the keypair
    assert result.kid != old_kid
    stored = await deps.keys.get("workspace.acme.anthropic")
    assert stored is not None
    assert stored.value.ciphertext.startswith("local:v2:")
    assert await deps.cipher.decrypt(stored.value.ciphertext, "workspace.acme") == KEY.encode()


# --- tenancy -----------------------------------------------------------------------


async def test_the_first_write_fixes_the_owner(deps: handlers.Deps) -> None:
    from byok_contracts import MalformedRequest, WrongAccount

    await handlers.configure(await configure_cmd(deps), deps)
    with pytest.raises(WrongAccount) as caught:
        await handlers.configure(await configure_cmd(deps, account="globex"), deps)
    assert (caught.value.code, caught.value.error) == (403, "wrong_account")
    scope = {"type": "workspace", "id": "acme"}
    for cmd in (
        RemoveKey.model_validate(
            {"scope": scope, "provider": "anthropic", "actor": "a", "account": "globex"}
        ),
        SetKeyEnabled.model_validate(
            {
                "scope": scope,
                "provider": "anthropic",
                "enabled": False,
                "actor": "a",
                "account": "globex",
            }
        ),
        ConfigureScope.model_validate({"scope": scope, "read_only": True, "account": "globex"}),
        ListKeys.model_validate({"scope": scope, "account": "globex"}),
    ):
        with pytest.raises(WrongAccount):
            await {
                RemoveKey: handlers.remove,
                SetKeyEnabled: handlers.set_enabled,
                ConfigureScope: handlers.configure_scope,
                ListKeys: handlers.list_keys,
            }[type(cmd)](cmd, deps)  # type: ignore[operator]
    with pytest.raises(MalformedRequest) as missing:
        await handlers.configure(await configure_cmd(deps, account=None), deps)
    assert missing.value.error == "account_required"
    stored = await deps.keys.get("workspace.acme.anthropic")
    assert stored is not None
    assert stored.value.account == "acme"


# --- bound seals (issue 10, attack 2) ------------------------------------------------


async def test_a_seal_for_one_scope_is_refused_at_another(deps: handlers.Deps) -> None:
    from byok_contracts import MalformedRequest

    captured = await configure_cmd(deps)
    replay = captured.model_copy(update={"scope": Scope.parse("workspace:victim-2")})
    with pytest.raises(MalformedRequest) as caught:
        await handlers.configure(replay, deps)
    assert (caught.value.code, caught.value.error) == (400, "seal_mismatch")
    other_request = captured.model_copy(update={"request_id": "req-2"})
    with pytest.raises(MalformedRequest, match="another scope"):
        await handlers.configure(other_request, deps)
    assert await deps.keys.slots() == []


async def test_a_seal_is_good_for_one_request(deps: handlers.Deps) -> None:
    """The same body twice, to the same scope: the second is a replay (a captured body
    must not bring back a key its owner replaced or removed); a new seal is fine."""
    from byok_contracts import MalformedRequest

    first = await configure_cmd(deps)
    await handlers.configure(first, deps)
    await handlers.remove(
        RemoveKey.model_validate(
            {
                "scope": {"type": "workspace", "id": "acme"},
                "provider": "anthropic",
                "actor": "a",
                "account": "acme",
            }
        ),
        deps,
    )
    with pytest.raises(MalformedRequest) as caught:
        await handlers.configure(first, deps)
    assert (caught.value.code, caught.value.error) == (400, "seal_replayed")
    assert await deps.keys.slots() == []
    assert (await handlers.configure(await configure_cmd(deps), deps)).provider == "anthropic"


async def test_an_old_or_future_seal_is_refused(deps: handlers.Deps) -> None:
    import time

    from byok_contracts import MalformedRequest

    pk = await handlers.public_key(deps)
    scope = {"type": "workspace", "id": "acme"}
    for iat in (int(time.time()) - 301, int(time.time()) + 120):
        sealed = seal_configure(KEY, pk.public_key, account="acme", scope=scope, iat=iat)
        cmd = (await configure_cmd(deps)).model_copy(update={"sealed_key": sealed})
        with pytest.raises(MalformedRequest) as caught:
            await handlers.configure(cmd, deps)
        assert caught.value.error == "seal_expired"
    raw = seal(KEY.encode(), pk.public_key, subjects.KEYS_CONFIGURE)  # the pre-0.2 raw key
    cmd = (await configure_cmd(deps)).model_copy(update={"sealed_key": raw})
    with pytest.raises(MalformedRequest) as caught:
        await handlers.configure(cmd, deps)
    assert caught.value.error == "malformed_seal"
    assert KEY not in caught.value.message


# --- unseal only to registered parties, and the audit trail (issue 10) -----------------


async def test_unseal_only_to_registered_recipients_and_active_keys(
    deps: handlers.Deps,
) -> None:
    from byok_contracts import Conflict, Forbidden, Keypair
    from byok_contracts.v1 import UnsealKey

    stored = await handlers.configure(await configure_cmd(deps), deps)
    stranger, resolver_pair = Keypair.generate(), Keypair.generate()
    ask = UnsealKey.model_validate({"key_id": stored.key_id, "recipient_key": stranger.public_b64})
    with pytest.raises(Forbidden) as refused:
        await handlers.unseal(ask, deps)
    assert refused.value.error == "unregistered_recipient"

    recipients = deps.recipients
    assert isinstance(recipients, MemoryRecipients)
    recipients.roles[resolver_pair.public_b64] = "resolver"
    ok = await handlers.unseal(
        ask.model_copy(update={"recipient_key": resolver_pair.public_b64}), deps
    )
    assert resolver_pair.open(ok.sealed_key, subjects.INTERNAL_KEYS_UNSEAL) == KEY.encode()
    assert ok.account == "acme"

    scope = {"type": "workspace", "id": "acme"}
    disable = SetKeyEnabled.model_validate(
        {"scope": scope, "provider": "anthropic", "enabled": False, "actor": "a", "account": "acme"}
    )
    await handlers.set_enabled(disable, deps)
    as_resolver = ask.model_copy(update={"recipient_key": resolver_pair.public_b64})
    with pytest.raises(Conflict) as disabled:
        await handlers.unseal(as_resolver, deps)
    assert disabled.value.error == "key_disabled"
    await handlers.revoke(RevokeKey.model_validate({"key_id": stored.key_id}), deps)
    recipients.roles[resolver_pair.public_b64] = "validator"
    with pytest.raises(KeyRevokedError):
        await handlers.unseal(as_resolver, deps)


async def test_rotate_rewraps_every_page_of_records(deps: handlers.Deps) -> None:
    store = deps.keys
    assert isinstance(store, MemoryKeyStore)
    store.page_size = 7  # the paging logic, with pages small enough to count
    scopes = [Scope.parse(f"session:s{n:03d}") for n in range(30)]
    assert await write_records(store, deps.cipher, scopes, window=8) == 30
    result = await handlers.rotate(RotateKeys.model_validate({}), deps)
    assert result.rewrapped >= 30
    for scope in scopes:
        stored = await store.get(f"{scope.key}.anthropic")
        assert stored is not None
        assert stored.value.ciphertext.startswith("local:v2:")
