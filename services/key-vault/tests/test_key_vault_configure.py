"""keys.configure's order of checks: nothing reaches the provider before the request is
known good, and the provider's verdict answers before anything else that runs with it."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from key_vault_helpers import KEY, configure_cmd

from byok_contracts import KeyRejected, Unavailable, Unprocessable, WrongAccount, seal, subjects
from byok_contracts.v1 import AccountPolicy
from byok_key_vault import handlers
from byok_key_vault.adapters.local_cipher import LocalCipher
from byok_key_vault.adapters.memory import (
    MemoryOwnerStore,
    MemorySettingsStore,
    MemoryValidator,
)
from byok_key_vault.errors import CipherUnavailable, SealedKeyUnreadable, StaleKid
from byok_key_vault.ports import Versioned
from byok_shared.testing.polling import eventually


async def test_configure_errors(deps: handlers.Deps) -> None:
    validator = deps.validator
    assert isinstance(validator, MemoryValidator)
    with pytest.raises(Unprocessable):
        await handlers.configure(await configure_cmd(deps, "rk-12345678901234567890"), deps)
    with pytest.raises(KeyRejected):
        await handlers.configure(await configure_cmd(deps, provider="openai"), deps)
    with pytest.raises(Unprocessable):
        await handlers.configure(await configure_cmd(deps, model="gpt-4o"), deps)
    assert validator.calls == []  # none of these reached the provider
    validator.answers[KEY.encode()] = "rejected"
    with pytest.raises(KeyRejected):
        await handlers.configure(await configure_cmd(deps), deps)
    validator.answers[KEY.encode()] = "unavailable"
    with pytest.raises(Unavailable):
        await handlers.configure(await configure_cmd(deps), deps)
    assert await deps.keys.slots() == []
    bad = (await configure_cmd(deps)).model_copy(update={"kid": "0123456789abcdef"})
    with pytest.raises(StaleKid):
        await handlers.configure(bad, deps)
    pk = await handlers.public_key(deps)
    wrong_subject = (await configure_cmd(deps)).model_copy(
        update={"sealed_key": seal(KEY.encode(), pk.public_key, subjects.RESOLVE)}
    )
    with pytest.raises(SealedKeyUnreadable):
        await handlers.configure(wrong_subject, deps)


async def test_the_providers_verdict_decides_before_the_cipher(deps: handlers.Deps) -> None:
    """The key is encrypted while the validator checks it; a rejection still answers first,
    and a cipher failure on a valid key stores nothing."""

    class DownCipher(LocalCipher):
        async def encrypt(self, plaintext: bytes, context: str) -> str:
            raise CipherUnavailable("cipher down")

    assert isinstance(deps.cipher, LocalCipher)
    down = dataclasses.replace(deps, cipher=DownCipher(deps.cipher.path))
    validator = deps.validator
    assert isinstance(validator, MemoryValidator)
    validator.answers[KEY.encode()] = "rejected"
    with pytest.raises(KeyRejected):
        await handlers.configure(await configure_cmd(down), down)
    validator.answers[KEY.encode()] = "valid"
    with pytest.raises(CipherUnavailable):
        await handlers.configure(await configure_cmd(down), down)
    assert await deps.keys.slots() == []


class _GatedOwners(MemoryOwnerStore):
    """An owner store whose claims answer only when the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def claim(self, scope_key: str, account: str) -> str:
        await self.gate.wait()
        return await super().claim(scope_key, account)


async def test_a_catalog_model_is_validated_while_the_reads_are_in_flight(
    deps: handlers.Deps,
) -> None:
    """The provider round trip overlaps the owner, read-only and single-use reads (configure's
    latency is one of them, not their sum), and the reads' refusal still answers first."""
    owners = _GatedOwners()
    gated = dataclasses.replace(deps, owners=owners)
    validator = deps.validator
    assert isinstance(validator, MemoryValidator)

    async def called() -> bool:
        return bool(validator.calls)

    pending = asyncio.create_task(handlers.configure(await configure_cmd(gated), gated))
    await eventually(called, 5, "the provider asked while the reads are held")
    assert not pending.done()
    owners.gate.set()
    assert (await pending).model == "claude-sonnet-4-6"

    validator.calls.clear()
    owners.gate.clear()
    owners.owners["workspace.acme"] = "other"  # another account's scope
    validator.answers[KEY.encode()] = "rejected"
    refused = asyncio.create_task(handlers.configure(await configure_cmd(gated), gated))
    await eventually(called, 5, "the provider asked while the reads are held")
    owners.gate.set()
    with pytest.raises(WrongAccount):
        await refused


async def test_a_custom_model_waits_for_the_policy_before_the_provider(
    deps: handlers.Deps,
) -> None:
    """Only the account's policy can allow a model outside the catalog: such a request
    reaches the provider after the reads, and never when the policy refuses it."""
    owners = _GatedOwners()
    gated = dataclasses.replace(deps, owners=owners)
    validator = deps.validator
    assert isinstance(validator, MemoryValidator)
    pending = asyncio.create_task(
        handlers.configure(await configure_cmd(gated, model="claude-custom-1"), gated)
    )
    for _ in range(20):
        await asyncio.sleep(0)
    assert validator.calls == []
    owners.gate.set()
    with pytest.raises(Unprocessable):
        await pending
    assert validator.calls == []


class _CountedSettings(MemorySettingsStore):
    """Settings that count the account-policy reads."""

    def __init__(self, inner: MemorySettingsStore) -> None:
        super().__init__()
        self.scopes, self.accounts = inner.scopes, inner.accounts
        self.policy_reads = 0

    async def get_account(self, account: str) -> Versioned[AccountPolicy] | None:
        self.policy_reads += 1
        return await super().get_account(account)


async def test_the_policy_is_read_only_for_a_model_asked_for(deps: handlers.Deps) -> None:
    """Without a model the provider's default is stored, which no policy can refuse: the
    common configure costs no policy read. A model asked for is checked against it."""
    assert isinstance(deps.settings, MemorySettingsStore)
    counted = _CountedSettings(deps.settings)
    with_count = dataclasses.replace(deps, settings=counted)
    await with_count.settings.put_account(
        AccountPolicy(account="acme", allow_custom_models=True), None
    )
    reply = await handlers.configure(await configure_cmd(with_count), with_count)
    assert (reply.model, counted.policy_reads) == ("claude-sonnet-4-6", 0)
    custom = await configure_cmd(with_count, model="claude-custom-1")
    assert (await handlers.configure(custom, with_count)).model == "claude-custom-1"
    assert counted.policy_reads == 1
