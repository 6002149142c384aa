"""keys.configure's order of checks: nothing reaches the provider before the request is
known good, and the provider's verdict answers before anything else that runs with it."""

from __future__ import annotations

import dataclasses

import pytest
from key_vault_helpers import KEY, configure_cmd

from byok_contracts import KeyRejected, Unavailable, Unprocessable, seal, subjects
from byok_key_vault import handlers
from byok_key_vault.adapters.local_cipher import LocalCipher
from byok_key_vault.adapters.memory import MemoryValidator
from byok_key_vault.errors import CipherUnavailable, SealedKeyUnreadable, StaleKid


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
